"""Group 8 — The real command line, in an empty working folder and with no output folder given.

Refused commands exit 2 and leave the working folder empty (no ``outputs/``,
no ``multirun.yaml``); a good tiny run exits 0 and writes exactly one run
folder under ``outputs/runs/``. The four processes are started together (they
are independent) and each test reads its own.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from sim.io import read_manifest
from tests.bad_inputs.helpers import TABLES, TINY_ARGS, tree

COMMANDS = {
    "readme-example": ["population.minor_share=1.5"],
    "unknown-key": ["populaton.n=600"],
    "bad-sweep": ["-m", "safeguards=none,all_on", "population.minor_share=1.5"],
    "good-tiny-run": TINY_ARGS,
}


@pytest.fixture(scope="module")
def launched(tmp_path_factory) -> dict[str, tuple[Path, subprocess.Popen]]:
    env = {k: v for k, v in os.environ.items() if k != "EXPOSIM_MEMORY_LIMIT"}
    procs = {}
    for name, args in COMMANDS.items():
        cwd = tmp_path_factory.mktemp(name)
        procs[name] = cwd, subprocess.Popen([sys.executable, "-m", "sim", *args], cwd=cwd, env=env, text=True,
                                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    yield procs
    for _, proc in procs.values():
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def result(launched, name: str) -> tuple[Path, int, str, str]:
    cwd, proc = launched[name]
    out, err = proc.communicate(timeout=300)
    assert "Traceback" not in err, err[-3000:]
    return cwd, proc.returncode, out, err


def test_the_readme_example_exits_2_with_the_readme_message_and_writes_nothing(launched):
    cwd, code, _, err = result(launched, "readme-example")
    assert code == 2
    assert ("exposim: configuration error: population.minor_share=1.5 is out of range: "
            "allowed 0 <= minor_share <= 0.95") in err
    assert tree(cwd) == []


def test_an_unknown_key_exits_2_with_a_suggestion_and_writes_nothing(launched):
    cwd, code, _, err = result(launched, "unknown-key")
    assert code == 2
    assert "populaton.n=600: there is no key 'populaton.n' (did you mean 'population.n'?)" in err
    assert tree(cwd) == []


def test_a_bad_sweep_exits_2_naming_the_jobs_and_writes_nothing(launched):
    cwd, code, _, err = result(launched, "bad-sweep")
    assert code == 2
    assert "2 of 2 jobs of the sweep have an invalid config; nothing was run" in err
    assert "job safeguards=none population.minor_share=1.5" in err and "job safeguards=all_on" in err
    assert tree(cwd) == []


def test_a_good_tiny_run_writes_one_complete_run_folder(launched):
    cwd, code, out, err = result(launched, "good-tiny-run")
    assert code == 0, err[-3000:]
    runs = list(cwd.glob("outputs/runs/*/*"))
    assert len(runs) == 1, tree(cwd)
    run = runs[0].relative_to(cwd).as_posix()
    inside = [".hydra", ".hydra/config.yaml", ".hydra/hydra.yaml", ".hydra/overrides.yaml", "app.log",
              "manifest.json", *TABLES]
    assert tree(cwd) == sorted(["outputs", "outputs/runs", str(Path(run).parent), run,
                                *(f"{run}/{name}" for name in inside)])
    manifest = read_manifest(runs[0])
    assert manifest["status"] == "complete" and sorted(manifest["files"]) == sorted(TABLES)
    assert manifest["config"]["population"]["n"] == 300 and manifest["overrides"] == TINY_ARGS
    assert f"results: {cwd / run}  (" in out
