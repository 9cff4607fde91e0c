"""The vocabulary is defined once, in sim.vocabulary, and its codes are positions in its name tuples."""

from __future__ import annotations

import ast
from pathlib import Path

import sim
import sim.vocabulary as vocabulary

PACKAGE = Path(sim.__file__).parent
NAMES = {name for name in vars(vocabulary) if name.isupper()}


def _module_level_assignments(path: Path) -> set[str]:
    names = set()
    for node in ast.parse(path.read_text()).body:
        targets = (node.targets if isinstance(node, ast.Assign)
                   else [node.target] if isinstance(node, (ast.AnnAssign, ast.AugAssign)) else [])
        for target in targets:
            for leaf in ast.walk(target):
                if isinstance(leaf, ast.Name):
                    names.add(leaf.id)
    return names


def test_no_other_module_defines_a_vocabulary_name():
    copies = {str(path.relative_to(PACKAGE)): sorted(_module_level_assignments(path) & NAMES)
              for path in PACKAGE.rglob("*.py") if path.name != "vocabulary.py"}
    assert {path: names for path, names in copies.items() if names} == {}


def test_the_vocabulary_imports_nothing_from_sim():
    tree = ast.parse(Path(vocabulary.__file__).read_text())
    imported = [node.module or "" for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)]
    imported += [alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names]
    assert not [m for m in imported if m == "sim" or m.startswith("sim.")]


def test_codes_are_positions_in_their_name_tuples():
    v = vocabulary
    tables = {
        v.COHORTS: (v.MINOR_13_15, v.MINOR_16_17, v.ADULT, v.DECOY),
        v.ROLE_NAMES: (v.REGULAR, v.CREATOR, v.ADULT_CONTENT_PRODUCER, v.EXPLOITATIVE_SELLER, v.OFFENDER),
        v.HARM_CLASSES: (v.NONE, v.SUGGESTIVE, v.ADULT_SEXUAL, v.EXPLOITATIVE),
        v.CONTACT_KINDS: (v.FOLLOW_REQUEST, v.MESSAGE, v.MESSAGE_REQUEST, v.COMMENT, v.GROUP_ADD),
        v.CHANNELS: (v.SUGGESTION, v.GROUP, v.SEARCH, v.COMMENT_CHANNEL, v.NETWORK, v.ACQUAINTANCE),
        v.SENDERS: (v.S_OFFENDER, v.S_ADULT, v.S_MINOR),
        v.STAGES: (v.CONTACT, v.RAPPORT, v.SOLICITATION, v.ESCALATED, v.ENDED),
        v.VIEW_CAUSES: (v.BEFORE_REMOVAL, v.REVIEW_DELAY, v.LEFT_UP, v.NEVER_DETECTED),
    }
    for names, codes in tables.items():
        assert codes == tuple(range(len(names))) and all(type(c) is int for c in codes)
    assert (v.N_COHORTS, v.N_ROLES, v.N_CLASSES) == (len(v.COHORTS), len(v.ROLE_NAMES), len(v.HARM_CLASSES))
    assert [v.CHANNELS[c] for c in (v.COMMENT_CHANNEL, v.ACQUAINTANCE)] == ["comment", "known"]
    assert "known" not in v.DISCOVERY_CHANNELS and v.DISCOVERY_CHANNELS == v.CHANNELS[:len(v.DISCOVERY_CHANNELS)]
    assert v.HARMFUL_CLASSES == v.HARM_CLASSES[1:] and v.VIOLATING_CLASSES == ("adult_sexual", "exploitative")
    assert v.MIN_AGE < v.YOUNG_BELOW < v.ADULT_AGE == v.MAX_MINOR_AGE + 1
