"""The safeguard presets in configs/safeguards/: they compose, validate, name themselves and set real keys."""

from __future__ import annotations

import copy
import dataclasses
import functools
import re

import pytest
import yaml
from hydra import compose, initialize_config_dir
from hydra.errors import ConfigCompositionException

from sim.compose import CONFIG_DIR, to_config
from sim.config import SAFEGUARD_NAMES, ConfigError, SafeguardsConfig, validate
from sim.model import ExposureModel
from tests.conftest import set_key

PRESET_DIR = CONFIG_DIR / "safeguards"
PRESETS = sorted(p.stem for p in PRESET_DIR.glob("*.yaml"))


@functools.lru_cache(maxsize=None)
def _composed(overrides: tuple[str, ...]):
    with initialize_config_dir(config_dir=str(CONFIG_DIR), version_base="1.3"):
        return validate(to_config(compose("config", overrides=list(overrides))))


def composed(*overrides: str):
    """The validated config Hydra composes from the root config and ``overrides`` (a private copy)."""
    return copy.deepcopy(_composed(overrides))


def preset_yaml(name: str) -> dict:
    return yaml.safe_load((PRESET_DIR / f"{name}.yaml").read_text()) or {}


def leaf_keys(node: dict, prefix: str = "") -> list[str]:
    keys = []
    for key, value in node.items():
        if isinstance(value, dict):
            keys += leaf_keys(value, f"{prefix}{key}.")
        else:
            keys.append(f"{prefix}{key}")
    return keys


def enabled_in(cfg) -> list[str]:
    return [name for name in SAFEGUARD_NAMES if getattr(cfg.safeguards, name).enabled]


def test_the_six_documented_presets_exist():
    assert PRESETS == ["all_on", "dsa_2025", "ideal", "none", "ofcom_2025", "teen_accounts_2024"]


def test_ideal_is_labelled_an_analytic_bound_and_every_other_preset_cites_its_sources():
    assert "AN ANALYTIC BOUND, NOT A POLICY" in (PRESET_DIR / "ideal.yaml").read_text()
    sources = (CONFIG_DIR.parents[1] / "docs" / "SOURCES.md").read_text()
    for name in PRESETS:
        text = (PRESET_DIR / f"{name}.yaml").read_text()
        cited = re.findall(r"SOURCES\.md#([a-z0-9-]+)|#([a-z0-9]+-[a-z0-9-]+)", text)
        anchors = {a or b for a, b in cited}
        assert anchors, f"{name}.yaml cites no source"
        for anchor in anchors:
            assert f'<a id="{anchor}"></a>' in sources, f"{name}.yaml cites {anchor}, which docs/SOURCES.md lacks"


@pytest.mark.parametrize("name", ["teen_accounts_2024", "ofcom_2025", "dsa_2025", "all_on"])
def test_no_sourced_preset_claims_a_perfect_detector(name):
    """Every detection-based safeguard a sourced preset enables misses something or over-flags."""
    cfg = composed(f"safeguards={name}").safeguards
    for section in ("feed_filtering", "sensitive_content_control", "nudity_protection", "comment_filter",
                    "suspicious_adult_exclusion"):
        s = getattr(cfg, section)
        if s.enabled:
            recall = getattr(s, "classifier_recall", getattr(s, "recall", None))
            assert recall < 1 or s.false_positive_rate > 0, (name, section)
    if cfg.hash_matching.enabled:
        assert cfg.hash_matching.known_share * cfg.hash_matching.recall_on_known < 1
    if cfg.age_assurance.enabled:
        a = cfg.age_assurance
        assert a.method != "self_declaration" and (a.estimation_mae_years > 0 or a.evasion_share > 0)


@pytest.mark.parametrize("name", PRESETS)
def test_preset_loads_validates_and_names_itself(name):
    cfg = composed(f"safeguards={name}")
    assert cfg.safeguards.preset == name
    assert preset_yaml(name)["preset"] == name


@pytest.mark.parametrize("name", PRESETS)
def test_every_key_a_preset_sets_is_a_real_parameter(name):
    for dotted in leaf_keys(preset_yaml(name)):
        node = SafeguardsConfig()
        *path, leaf = dotted.split(".")
        for part in path:
            assert dataclasses.is_dataclass(node) and hasattr(node, part), f"{name}.yaml: {dotted} is not a parameter"
            node = getattr(node, part)
        assert dataclasses.is_dataclass(node), f"{name}.yaml: {dotted} sets a whole section to a value"
        assert leaf in {f.name for f in dataclasses.fields(node)}, f"{name}.yaml: {dotted} is not a parameter"


@pytest.mark.parametrize("name", PRESETS)
def test_every_value_a_preset_sets_arrives_in_the_config(name):
    cfg = composed(f"safeguards={name}")
    for dotted in leaf_keys(preset_yaml(name)):
        node = cfg.safeguards
        *path, leaf = dotted.split(".")
        expected = preset_yaml(name)
        for part in path:
            node, expected = getattr(node, part), expected[part]
        assert getattr(node, leaf) == expected[leaf], dotted


@pytest.mark.parametrize("name", PRESETS)
def test_preset_header_states_what_it_is_and_what_it_leaves_out(name):
    text = (PRESET_DIR / f"{name}.yaml").read_text()
    assert text.startswith(f'# Preset "{name}"')
    assert "Leaves out:" in text


@pytest.mark.parametrize("name", [p for p in PRESETS if p != "none"])
def test_every_preset_but_none_enables_a_safeguard(name):
    assert enabled_in(composed(f"safeguards={name}"))


def test_none_enables_nothing_and_all_on_and_ideal_enable_everything():
    assert enabled_in(composed("safeguards=none")) == []
    assert enabled_in(composed("safeguards=all_on")) == list(SAFEGUARD_NAMES)
    assert enabled_in(composed("safeguards=ideal")) == list(SAFEGUARD_NAMES)


def test_presets_compose_with_overrides():
    cfg = composed("safeguards=ofcom_2025", "safeguards.age_assurance.estimation_mae_years=4.3")
    assert cfg.safeguards.preset == "ofcom_2025"
    assert cfg.safeguards.age_assurance.estimation_mae_years == 4.3
    # The rest of the preset is kept: its own age assurance cadence and its other safeguards.
    assert cfg.safeguards.age_assurance.cadence_days == 30 and cfg.safeguards.age_assurance.enabled
    assert cfg.safeguards.feed_filtering.downrank_factor == 0.3
    assert enabled_in(cfg) == enabled_in(composed("safeguards=ofcom_2025"))
    off = composed("safeguards=teen_accounts_2024", "safeguards.age_assurance.enabled=false")
    assert "age_assurance" not in enabled_in(off) and "comment_filter" in enabled_in(off)


def test_bad_overrides_of_a_preset_fail_with_the_key():
    with pytest.raises(ConfigCompositionException, match="recal"):
        composed("safeguards=ofcom_2025", "safeguards.age_assurance.recal=0.5")
    with pytest.raises(ConfigError, match="safeguards.age_assurance.document_adult_pass=1.5 is out of range"):
        composed("safeguards=ofcom_2025", "safeguards.age_assurance.document_adult_pass=1.5")
    with pytest.raises(ConfigError, match="safeguards.age_assurance.method='oracle'"):
        composed("safeguards=ofcom_2025", "safeguards.age_assurance.method=oracle")
    with pytest.raises(ConfigError, match="safeguards.sensitive_content_control.level='pg'"):
        composed("safeguards=teen_accounts_2024", "safeguards.sensitive_content_control.level=pg")


@pytest.mark.parametrize("name", PRESETS)
def test_a_model_built_from_a_preset_runs_exactly_its_enabled_safeguards(name):
    cfg = composed(f"safeguards={name}")
    for key, value in {"population.n": 300, "days": 2, "measure_days": 1, "decoys.n": 2,
                       "decoys.join_day": 1}.items():
        set_key(cfg, key, value)
    model = ExposureModel(cfg)
    model.run()
    assert sorted(model.safeguards.names) == sorted(enabled_in(cfg))
    assert model.metrics.as_array().shape[0] == 2


# ---------------------------------------------------------------- how readers see a preset (sim.analysis.settings)

SINGLE = sorted(f"single/{p.stem}" for p in (PRESET_DIR / "single").glob("*.yaml"))


@pytest.mark.parametrize("name", PRESETS + SINGLE)
def test_every_setting_file_gives_readers_a_title_a_summary_and_its_sources(name):
    """The header convention the report and the page read: line 1 names the file and gives a title; the
    lines up to the first bare '#' are a summary; each cited source is a section of docs/SOURCES.md."""
    from sim.analysis.settings import preset

    found = preset(name)
    first = (PRESET_DIR / f"{name}.yaml").read_text().splitlines()[0]
    assert re.fullmatch(rf'# (Preset|Study setting) "{re.escape(name)}": .+', first), first
    assert found is not None and found.title != name and found.title == first.split('": ', 1)[1]
    assert len(found.summary) > 40 and "#" not in found.summary
    sources = (CONFIG_DIR.parents[1] / "docs" / "SOURCES.md").read_text()
    for key in found.sources:
        assert f'<a id="{key}"></a>' in sources, (name, key)
    assert bool(found.sources) is (name in PRESETS)          # presets cite sources; study settings point at one


@pytest.mark.parametrize("name", PRESETS + SINGLE)
def test_the_safeguards_a_setting_is_said_to_switch_on_are_the_ones_it_switches_on(name):
    from sim.analysis.settings import preset

    assert list(preset(name).enabled) == enabled_in(composed(f"safeguards={name}"))


def test_a_setting_has_one_name_in_the_report_the_terminal_and_the_classroom_page():
    from sim.analysis.settings import SAFEGUARD_TITLES, preset_title, setting_label
    from sim.page.world import PRESET_LABELS, PRESETS as PAGE_PRESETS, SAFEGUARD_LABELS

    assert PRESET_LABELS == {p: setting_label(f"safeguards={p}") for p in PAGE_PRESETS}
    assert all(PRESET_LABELS[p] == preset_title(p) for p in PAGE_PRESETS)
    assert SAFEGUARD_LABELS is SAFEGUARD_TITLES and list(SAFEGUARD_TITLES) == list(SAFEGUARD_NAMES)
    for name in SAFEGUARD_NAMES:
        assert setting_label(f"safeguards=single/{name}") == f"{SAFEGUARD_TITLES[name]} (alone)"
    assert len({preset_title(p) for p in PRESETS}) == len(PRESETS)      # no two presets share a name
