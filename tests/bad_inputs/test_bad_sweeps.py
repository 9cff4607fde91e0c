"""Group 3 — Sweeps (``-m``): every job is composed and checked before any runs; one bad job stops them all.

In-process :func:`sim.preflight.check` with ``hydra.sweep.dir`` under the test's
folder; afterwards the folder holds only what the case made (no sweep folder,
no job folder, no ``multirun.yaml``).
"""

from __future__ import annotations

import importlib.util

import pytest

from sim.config import Config
from sim.resources import estimate_peak_bytes
from tests.bad_inputs.helpers import accepted, refused, tree, write_edge_list


def _installed(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except ModuleNotFoundError:
        return False


def test_one_bad_value_among_several_jobs_names_that_job_and_nothing_runs(tmp_path):
    message = refused(tmp_path, ["-m", "population.minor_share=0.1,1.5,0.2"],
                      ["1 of 3 jobs of the sweep have an invalid config", "nothing was run",
                       "job population.minor_share=1.5: population.minor_share=1.5 is out of range",
                       "0 <= minor_share <= 0.95"])
    assert "job population.minor_share=0.1" not in message and "job population.minor_share=0.2" not in message
    assert tree(tmp_path) == []


def test_a_bad_boolean_in_one_job_is_refused(tmp_path):
    refused(tmp_path, ["-m", "moderation.enabled=true,yes"], ["moderation.enabled=yes", "must be true or false"])
    assert tree(tmp_path) == []


def test_an_unknown_plus_key_in_a_sweep_is_refused_with_a_suggestion(tmp_path):
    refused(tmp_path, ["-m", "safeguards=none,all_on", "+populaton.n=600,700"],
            ["+populaton.n=600,700", "did you mean 'population.n'", "'+' cannot add keys"])
    assert tree(tmp_path) == []


def test_a_missing_graph_file_in_one_job_names_that_job(tmp_path):
    good = write_edge_list(tmp_path / "good.csv", 120)
    missing = tmp_path / "missing.csv"
    message = refused(tmp_path, ["-m", "network=file", f"network.path={good},{missing}", "decoys.n=2"],
                      ["1 of 2 jobs", "nothing was run", f"job network=file network.path={missing}",
                       f"network.path='{missing}': no such file"])
    assert f"network.path={good}" not in message
    assert tree(tmp_path) == ["good.csv"]


def test_two_jobs_that_would_write_one_folder_are_refused(tmp_path):
    refused(tmp_path, ["-m", "safeguards=none,all_on", "hydra.sweep.subdir=same"],
            ["2 jobs of the sweep would write the same folder", f"{tmp_path / 'sweep' / 'same'}",
             "safeguards=none; safeguards=all_on"])
    assert tree(tmp_path) == []


@pytest.mark.parametrize("launcher, extra, plugin", [
    pytest.param("ray_local", "ray", "hydra_plugins.hydra_ray_launcher", id="ray_local-without-plugin"),
    pytest.param("slurm", "slurm", "hydra_plugins.hydra_submitit_launcher", id="slurm-without-plugin"),
])
def test_a_launcher_without_its_plugin_says_which_extra_to_install(tmp_path, launcher, extra, plugin):
    if _installed(plugin):
        pytest.skip(f"{plugin} is installed here, so hydra/launcher={launcher} is not a bad input")
    refused(tmp_path, ["-m", "safeguards=none,all_on", f"hydra/launcher={launcher}"],
            [f"hydra/launcher={launcher} needs the '{extra}' extra", f"pip install -e '.[{extra}]'",
             "docs/CLUSTERS.md"])
    assert tree(tmp_path) == []


def test_a_sweep_folder_under_a_file_is_refused(tmp_path):
    (tmp_path / "afile").write_text("not a folder\n")
    refused(tmp_path, ["-m", "safeguards=none,all_on", f"hydra.sweep.dir={tmp_path / 'afile' / 'sweep'}"],
            [f"hydra.sweep.dir={tmp_path / 'afile' / 'sweep'}", f"{tmp_path / 'afile'} is a file, not a folder"])
    assert tree(tmp_path) == ["afile"]
    assert (tmp_path / "afile").read_text() == "not a folder\n"


TWO_SMALL_JOBS = ["-m", "population.n=300", "decoys.n=2", "safeguards=none,all_on"]


@pytest.fixture
def room_for_one_run(monkeypatch) -> int:
    """EXPOSIM_MEMORY_LIMIT set to 1.5 runs of population.n=300: one run fits, two at once do not."""
    cfg = Config()
    cfg.population.n, cfg.decoys.n = 300, 2
    per_run = estimate_peak_bytes(cfg)
    monkeypatch.setenv("EXPOSIM_MEMORY_LIMIT", str(per_run * 3 // 2))
    return per_run


def test_parallel_jobs_that_do_not_fit_in_memory_together_are_refused(tmp_path, room_for_one_run):
    refused(tmp_path, [*TWO_SMALL_JOBS, "hydra/launcher=joblib", "hydra.launcher.n_jobs=2"],
            ["population.n=300", "for the 2 runs in parallel", "run fewer jobs at once (hydra.launcher.n_jobs)",
             "EXPOSIM_MEMORY_LIMIT"])
    assert tree(tmp_path) == []


@pytest.mark.parametrize("launcher", [
    pytest.param(["hydra/launcher=joblib", "hydra.launcher.n_jobs=1"], id="joblib-one-at-a-time"),
    pytest.param([], id="basic-launcher"),
])
def test_the_same_jobs_one_at_a_time_fit(tmp_path, room_for_one_run, launcher):
    checked = accepted(tmp_path, [*TWO_SMALL_JOBS, *launcher])
    assert [r.config.population.n for r in checked.runs] == [300, 300]
    assert tree(tmp_path) == []
