"""How a setting is named and described to readers: one name per setting, everywhere.

Core objects: :func:`setting_label`, :func:`preset_title`, :func:`describe`, :class:`Preset`, :func:`preset`,
:data:`SAFEGUARD_TITLES`, :func:`is_ideal`.

A setting is what a sweep varied, written as its overrides (``safeguards=ofcom_2025``,
``recommender.accounts=off, safeguards=none``). Readers see it by a human name drawn
from the files that define it: a safeguard preset's name is the title on the first
line of its file's header,

.. code-block:: yaml

    # Preset "ofcom_2025": Ofcom's children's codes (UK, 2025)
    # Ofcom's codes for services likely to be accessed by children, with highly
    # effective age assurance.
    #
    # Sources: ...

and the lines after it, up to the first bare ``#``, are its summary; every
``docs/SOURCES.md#key`` (or ``#key``) in the header is one of its sources. A
preset a plug-in adds is named the same way once its file follows the
convention, and by its file name until then. Other keys get a short name
(:data:`KEY_TITLES`) and their value in words. The terminal table, the report
and the classroom page all name settings through :func:`setting_label`, and a
setting that runs the ``ideal`` preset (every safeguard perfect) always carries
:data:`IDEAL_NOTE`: it is an analytic bound, not a policy anyone could run.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from pathlib import Path

import yaml

from sim.compose import CONFIG_DIR
from sim.config import field_docs

PRESET_DIR = CONFIG_DIR / "safeguards"
#: The safeguard preset in which every safeguard is perfect, and what is said wherever it is named.
IDEAL_PRESET = "ideal"
IDEAL_NOTE = "an analytic bound, not a policy"
#: Setting keys that name the safeguard preset: a Hydra override, or the config value.
PRESET_KEYS = ("safeguards", "safeguards.preset")
#: Between the parts of a setting's name (a preset title may itself hold commas).
PART_SEPARATOR = "; "

#: Each safeguard in plain words (the catalogue of docs/ODD.md §7.30), in catalogue order.
SAFEGUARD_TITLES = {
    "private_by_default": "Teen accounts private by default",
    "dm_from_connections_only": "Messages only from people a teen follows",
    "suspicious_adult_exclusion": "Keep adults flagged as suspicious away from teens",
    "safety_notices": "Safety notices on messages from strangers",
    "no_minor_suggestions": "Don't suggest teens to adults, or adults to teens",
    "hidden_connections": "Hide teens' follower lists",
    "sensitive_content_control": "Sensitive-content control for teens",
    "feed_filtering": "Filter harmful posts out of teens' feeds",
    "age_assurance": "Age checks",
    "hash_matching": "Block known illegal images at upload",
    "nudity_protection": "Blur explicit images sent to teens",
    "comment_filter": "Hide abusive comments from strangers",
    "group_add_consent": "Ask teens before adding them to groups",
    "usage_limits": "Time limits and quiet hours",
}

#: Short names of the keys studies vary, other than the safeguard preset.
KEY_TITLES = {
    "recommender": "feed policy",
    "recommender.feed": "feed",
    "recommender.accounts": "account suggestions",
    "recommender.groups": "group suggestions",
    "recommender.cold_start_boost": "new-account boost",
    "decoys.declared_age": "decoys' declared age",
    "contact.displacement": "displacement",
    "population.n": "accounts",
}

_HEADER = re.compile(r'^# (?:Preset|Study setting) "(?P<name>[^"]+)": (?P<title>.+)$')
_SOURCE = re.compile(r"(?:docs/SOURCES\.md)?#(?P<key>[a-z0-9][a-z0-9-]*[a-z0-9])\b")


@dataclass(frozen=True)
class Preset:
    """A safeguard preset (or study setting) as its file describes it."""

    name: str
    title: str
    summary: str
    sources: tuple[str, ...]
    #: The safeguards it switches on, in catalogue order.
    enabled: tuple[str, ...]
    path: Path


def _header(text: str) -> list[str]:
    lines = []
    for line in text.splitlines():
        if not line.startswith("#"):
            break
        lines.append(line)
    return lines


@functools.cache
def preset(name: str) -> Preset | None:
    """The preset ``safeguards=<name>`` as its file describes it; None when there is no such file.

    A file whose header does not follow the convention (module docstring) is named by its file name,
    with no summary.
    """
    path = PRESET_DIR / f"{name}.yaml"
    if not re.fullmatch(r"[A-Za-z0-9_\-/]+", name) or not path.is_file():
        return None
    text = path.read_text(encoding="utf-8")
    header = _header(text)
    found = _HEADER.match(header[0]) if header else None
    title, summary = name, ""
    if found and found["name"] == name:
        title = found["title"].strip()
        body = []
        for line in header[1:]:
            if line.strip() == "#":
                break
            body.append(line[1:].strip())
        summary = " ".join(body)
    sources = tuple(dict.fromkeys(m["key"] for line in header for m in _SOURCE.finditer(line)))
    values = yaml.safe_load(text) or {}
    enabled = tuple(key for key in SAFEGUARD_TITLES
                    if isinstance(values.get(key), dict) and values[key].get("enabled") is True)
    enabled += tuple(key for key, value in values.items()
                     if key not in SAFEGUARD_TITLES and isinstance(value, dict) and value.get("enabled") is True)
    return Preset(name=name, title=title, summary=summary, sources=sources, enabled=enabled, path=path)


def _split(part: str) -> tuple[str, str]:
    key, sep, value = part.partition("=")
    return (key.strip().lstrip("+~"), value.strip()) if sep else ("", part.strip())


def _names_ideal(part: str) -> bool:
    key, value = _split(part)
    return key in PRESET_KEYS and value == IDEAL_PRESET


def is_ideal(setting: str) -> bool:
    """Whether a setting's name (``key=value, ...``) runs the safeguard preset ``ideal``."""
    return any(_names_ideal(part) for part in setting.split(", "))


def _value_words(value: str) -> str:
    return value.replace("_", "-")


def part_label(part: str) -> str:
    """One override in words: a preset by its title, another key by its short name and value."""
    key, value = _split(part)
    if key in PRESET_KEYS:
        found = preset(value)
        title = found.title if found else value
        return f"{title} — {IDEAL_NOTE}" if value == IDEAL_PRESET else title
    if not key:
        return value
    return f"{KEY_TITLES.get(key, key)}: {_value_words(value)}"


def preset_title(name: str) -> str:
    """The name readers see for the safeguard preset ``name`` (``ideal`` with its note)."""
    return part_label(f"safeguards={name}")


def setting_label(setting: str) -> str:
    """How a setting is named to readers, everywhere: ``safeguards=ofcom_2025`` reads "Ofcom's children's
    codes (UK, 2025)"; ``safeguards=ideal`` reads "Every safeguard perfect — an analytic bound, not a policy";
    parts of a setting that varies several keys are joined by "; "."""
    return PART_SEPARATOR.join(part_label(part) for part in setting.split(", "))


def _key_doc(key: str) -> str:
    return next((doc for name, _, _, doc in _all_docs() if name == key), "")


@functools.cache
def _all_docs() -> tuple[tuple[str, object, str, str], ...]:
    return tuple(field_docs())


@dataclass(frozen=True)
class Description:
    """What a reader needs to know of one part of a setting."""

    override: str
    title: str
    summary: str
    sources: tuple[str, ...] = ()
    enabled: tuple[str, ...] = ()
    file: str = ""


def describe(setting: str) -> list[Description]:
    """Each part of a setting described from the files that define it: a preset's title, summary, the
    safeguards it switches on and its sources; another key's meaning from the config reference."""
    out = []
    for part in setting.split(", "):
        key, value = _split(part)
        if key in PRESET_KEYS and (found := preset(value)) is not None:
            out.append(Description(override=part.strip(), title=part_label(part), summary=found.summary,
                                   sources=found.sources, enabled=found.enabled,
                                   file=str(found.path.relative_to(CONFIG_DIR.parent))))
        else:
            doc = _key_doc(key) if key else ""
            out.append(Description(override=part.strip(), title=part_label(part),
                                   summary=f"{key}: {doc}." if doc else ""))
    return out
