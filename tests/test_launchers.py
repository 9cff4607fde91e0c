"""Cluster launchers: configs/hydra/launcher/ray_local.yaml and slurm.yaml run a sweep through Hydra's plugins.

The plugins are optional extras, each installed in its own environment
(docs/CLUSTERS.md), so the sweep tests run only where their plugin is
installed and skip elsewhere, saying how to install it. Without the plugin,
selecting the launcher must fail with a clear configuration error (exit 2).
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
RAY_PLUGIN = "hydra_plugins.hydra_ray_launcher"
SUBMITIT_PLUGIN = "hydra_plugins.hydra_submitit_launcher"
TINY = ["population.n=600", "days=6", "measure_days=3", "decoys.n=2", "decoys.join_day=1",
        "network.mean_following=15", "network.community_size=60"]
SWEEP = ["safeguards=none,all_on", "replicate=0,1"]


def installed(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except ModuleNotFoundError:          # hydra_plugins itself missing
        return False


def skip_reason(extra: str, plugin: str) -> str:
    if extra == "ray":
        how = ("in its own environment, e.g. `python3 -m venv .venv-ray && .venv-ray/bin/pip install -e "
               "'.[ray,test]'`, then run `.venv-ray/bin/python -m pytest tests/test_launchers.py`: the Ray "
               "launcher pins cloudpickle<3, which conflicts with this environment's joblib (>=1.6 needs "
               "cloudpickle>=3; the joblib launcher uses it)")
    else:
        how = "with `pip install -e '.[slurm,test]'` (it conflicts with nothing: this environment will do)"
    return f"the {extra!r} extra ({plugin}) is not installed; install it {how}. See docs/CLUSTERS.md."


def sim(cwd: Path, *args: str, timeout: float = 600) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])),
               RAY_USAGE_STATS_ENABLED="0", HYDRA_FULL_ERROR="0")
    return subprocess.run([sys.executable, "-m", "sim", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=timeout)


def output(proc: subprocess.CompletedProcess) -> str:
    return f"exit {proc.returncode}\n--- stdout\n{proc.stdout[-4000:]}\n--- stderr\n{proc.stderr[-4000:]}"


def run_sweep(tmp_path: Path, launcher: str, *extra: str) -> tuple[Path, subprocess.CompletedProcess]:
    sweep_dir = tmp_path / "sweep"
    proc = sim(tmp_path, "-m", f"hydra/launcher={launcher}", *extra, *TINY, *SWEEP,
               f"hydra.sweep.dir={sweep_dir}", "hydra.callbacks.exposim_sweep.compare=false")
    assert proc.returncode == 0, output(proc)
    return sweep_dir, proc


def check_runs(sweep_dir: Path) -> list[dict]:
    """Every planned run is complete; a replicate shares its run_seed across settings."""
    plan = json.loads((sweep_dir / "sweep.json").read_text())
    assert plan["total"] == 4
    manifests = [json.loads((sweep_dir / job["dir"] / "manifest.json").read_text()) for job in plan["jobs"]]
    assert [m["status"] for m in manifests] == ["complete"] * 4
    seeds: dict[int, set[int]] = {}
    settings: dict[int, set[str]] = {}
    for m in manifests:
        seeds.setdefault(m["replicate"], set()).add(m["run_seed"])
        settings.setdefault(m["replicate"], set()).update(o for o in m["overrides"] if o.startswith("safeguards="))
    assert sorted(seeds) == [0, 1]
    for replicate, found in seeds.items():
        assert len(found) == 1, f"replicate {replicate} has run seeds {found} across settings"
        assert len(settings[replicate]) == 2, f"replicate {replicate} did not run both settings"
    assert seeds[0] != seeds[1]
    return manifests


@pytest.mark.skipif(not installed(RAY_PLUGIN), reason=skip_reason("ray", "hydra-ray-launcher"))
def test_ray_launcher_runs_the_sweep_on_a_local_ray_instance(tmp_path):
    composed = sim(tmp_path, "hydra/launcher=ray_local", "--cfg", "hydra", "-p", "hydra.launcher", timeout=120)
    assert composed.returncode == 0, output(composed)
    assert "hydra_plugins.hydra_ray_launcher.ray_launcher.RayLauncher" in composed.stdout
    assert "address: local" in composed.stdout and "num_cpus: 1" in composed.stdout

    # Two CPUs at most, whatever the machine: two jobs at a time.
    sweep_dir, proc = run_sweep(tmp_path, "ray_local", "hydra.launcher.ray.init.num_cpus=2")
    assert "Ray Launcher is launching 4 jobs" in proc.stdout + proc.stderr
    check_runs(sweep_dir)


@pytest.mark.skipif(not installed(SUBMITIT_PLUGIN), reason=skip_reason("slurm", "hydra-submitit-launcher"))
def test_submitit_launcher_runs_the_sweep_as_local_processes_and_resumes(tmp_path):
    sweep_dir, _ = run_sweep(tmp_path, "submitit_local")
    assert (sweep_dir / ".submitit").is_dir()          # the jobs really went through submitit
    first = {m["run_seed"]: m["finished"] for m in check_runs(sweep_dir)}

    # The same command again keeps every complete run.
    _, again = run_sweep(tmp_path, "submitit_local")
    assert "4 already complete (kept), 0 to run" in again.stdout + again.stderr
    assert {m["run_seed"]: m["finished"] for m in check_runs(sweep_dir)} == first


@pytest.mark.skipif(not installed(SUBMITIT_PLUGIN), reason=skip_reason("slurm", "hydra-submitit-launcher"))
def test_slurm_launcher_config_composes(tmp_path):
    # (Hydra refuses --cfg together with -m; the launcher config is the same in both modes.)
    proc = sim(tmp_path, "hydra/launcher=slurm", "hydra.launcher.partition=debug", *TINY,
               "--cfg", "hydra", "-p", "hydra.launcher", timeout=120)
    assert proc.returncode == 0, output(proc)
    text = proc.stdout
    assert "_target_: hydra_plugins.hydra_submitit_launcher.submitit_launcher.SlurmLauncher" in text
    for line in ("partition: debug", "cpus_per_task: 1", "mem_gb: 4", "timeout_min: 60", "setup: null"):
        assert line in text.splitlines(), f"{line!r} not in\n{text}"


@pytest.mark.parametrize(("launcher", "plugin", "missing"), [
    ("ray_local", RAY_PLUGIN, "hydra/launcher/ray"),
    ("slurm", SUBMITIT_PLUGIN, "hydra/launcher/submitit_slurm"),
])
def test_launcher_without_its_plugin_is_a_configuration_error(tmp_path, launcher, plugin, missing):
    if installed(plugin):
        pytest.skip(f"{plugin} is installed here: {launcher} composes (the tests above run it)")
    sweep_dir = tmp_path / "sweep"
    proc = sim(tmp_path, "-m", f"hydra/launcher={launcher}", *TINY, "safeguards=none,all_on",
               f"hydra.sweep.dir={sweep_dir}", timeout=120)
    assert proc.returncode == 2, output(proc)
    assert f"hydra/launcher/{launcher}" in proc.stderr and f"'{missing}'" in proc.stderr, output(proc)
    assert "Traceback" not in proc.stderr
    extra = "ray" if launcher.startswith("ray") else "slurm"
    assert f"needs the '{extra}' extra: python3 -m pip install -e '.[{extra}]'" in proc.stderr, output(proc)
    assert not sweep_dir.exists()            # nothing was planned or run
