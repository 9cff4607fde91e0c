"""A wheel built from the project installs and runs from any folder: the config tree ships inside the package."""

from __future__ import annotations

import json
import os
import site
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
TINY = ["population.n=300", "days=2", "measure_days=1", "decoys.n=2", "decoys.join_day=1",
        "network.mean_following=10"]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    # --no-build-isolation: build with the setuptools and wheel the test extra installs, no download.
    proc = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
                           "-w", str(out), str(REPO)], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    (path,) = out.glob("exposim-*.whl")
    return path


@pytest.fixture(scope="module")
def venv(wheel, tmp_path_factory) -> Path:
    """A virtual environment with the wheel installed (dependencies come from this interpreter's site-packages)."""
    root = tmp_path_factory.mktemp("venv")
    subprocess.run([sys.executable, "-m", "venv", str(root)], check=True, timeout=120)
    # The dependencies are those the tests run with: this interpreter's site-packages (a virtual
    # environment's, if the tests run in one), appended as plain paths. Their .pth files are not
    # run, so the editable install of the checkout cannot shadow the wheel.
    inner = next((root / "lib").glob("python3*/site-packages"))
    (inner / "exposim-test-dependencies.pth").write_text("\n".join(site.getsitepackages()) + "\n")
    proc = subprocess.run([str(root / "bin" / "python"), "-m", "pip", "install", "-q", "--no-deps", "--no-index",
                           str(wheel)], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    return root


def test_the_wheel_carries_every_config_file(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    tree = REPO / "sim" / "configs"
    expected = {f"sim/configs/{p.relative_to(tree).as_posix()}" for p in tree.rglob("*.yaml")}
    assert expected and expected <= names


@pytest.mark.parametrize("command", [["bin/exposim"], ["bin/python", "-m", "sim"]])
def test_installed_wheel_runs_a_tiny_world_from_another_folder(venv, tmp_path, command):
    work = tmp_path / "elsewhere"
    work.mkdir()
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    proc = subprocess.run([str(venv / command[0]), *command[1:], *TINY, "hydra.run.dir=run"], cwd=work, env=env,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    manifest = json.loads((work / "run" / "manifest.json").read_text())
    assert manifest["status"] == "complete"
    assert manifest["config"]["population"]["n"] == 300
    # The run used the installed copy, not the checkout the tests run from.
    where = subprocess.run([str(venv / "bin" / "python"), "-c", "import sim; print(sim.__file__)"], cwd=work,
                           env=env, capture_output=True, text=True, timeout=60).stdout.strip()
    assert where.startswith(str(venv)), where


def test_installed_wheel_runs_a_study_config(venv, tmp_path):
    """Experiment overlays come from the package too: a study composes from an unrelated folder."""
    proc = subprocess.run([str(venv / "bin" / "python"), "-m", "sim", "experiment=decoy_audit", "--cfg", "job"],
                          cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "'n': 40" in proc.stdout         # the study sets 40 decoys
