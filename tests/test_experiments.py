"""Every study in configs/experiment/ composes, and every value it sweeps makes a valid config."""

from __future__ import annotations

from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir

from sim.app import CONFIG_DIR, to_config
from sim.config import validate

REPO = Path(__file__).resolve().parents[1]
STUDIES = sorted(p.stem for p in (CONFIG_DIR / "experiment").glob("*.yaml"))


def _compose(overrides: list[str], hydra_config: bool = False):
    with initialize_config_dir(config_dir=str(CONFIG_DIR), version_base="1.3"):
        return compose("config", overrides=overrides, return_hydra_config=hydra_config)


def test_there_are_studies():
    assert STUDIES


@pytest.mark.parametrize("study", STUDIES)
def test_study_has_a_readme(study):
    readme = REPO / "experiments" / study / "README.md"
    assert readme.exists()
    assert f"experiment={study}" in readme.read_text()


@pytest.mark.parametrize("study", STUDIES)
def test_every_swept_value_gives_a_valid_config(study):
    params = _compose([f"experiment={study}"], hydra_config=True).hydra.sweeper.params
    assert params, f"{study} sweeps nothing"
    for key, values in params.items():
        for value in str(values).split(","):
            cfg = _compose([f"experiment={study}", f"{key}={value.strip()}"])
            validate(to_config(cfg))
