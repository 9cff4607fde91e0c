"""Every study in configs/experiment/ composes, and every value it sweeps makes a valid config."""

from __future__ import annotations

from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf

from sim.compose import CONFIG_DIR
from sim.sweep import plan_sweep

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
def test_every_job_of_the_study_is_valid_and_has_its_own_folder(study):
    """The sweep is expanded exactly as Hydra's sweeper will, and every job's config validates."""
    with initialize_config_dir(config_dir=str(CONFIG_DIR), version_base="1.3"):
        cfg = compose("config", overrides=[f"experiment={study}"], return_hydra_config=True)
        assert cfg.hydra.sweeper.params, f"{study} sweeps nothing"
        assert "${now" not in OmegaConf.to_yaml(cfg.hydra.sweep), "a study's folder must be fixed to resume"
        planned = plan_sweep(cfg)           # raises ConfigError naming any invalid job
    assert planned is not None and len(planned) >= 4
    assert len({job.out_dir for job in planned}) == len(planned)
    assert all(f"/experiments/{study}/" in str(job.out_dir) for job in planned)
