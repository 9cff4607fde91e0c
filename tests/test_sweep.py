"""Sweeps: parallel jobs, resume, kills, failures that stay in their job, up-front validation, replicate seeds."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from sim.config import Config, run_seed
from sim.io import read_manifest, verify_run
from sim.runner import run
from sim.compose import job_dir_name
from sim.sweep import progress_line
from tests.conftest import tiny_config

REPO = Path(__file__).resolve().parents[1]
TINY = ["population.n=600", "days=6", "measure_days=3", "decoys.n=2", "decoys.join_day=1", "network.mean_following=15",
        "network.community_size=60"]


def sweep(sweep_dir: Path, *args: str, launcher: str = "basic", compare: bool = False,
          timeout: float = 300, env: dict[str, str] | None = None,
          cwd: Path = REPO) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "sim", "-m", *TINY, *args, f"hydra.sweep.dir={sweep_dir}",
           f"hydra/launcher={launcher}", f"hydra.callbacks.exposim_sweep.compare={str(compare).lower()}"]
    if launcher == "joblib":
        cmd.append("hydra.launcher.n_jobs=2")
    return subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=timeout, env=env)


def run_dirs(sweep_dir: Path) -> dict[str, Path]:
    return {p.name: p for p in sweep_dir.iterdir() if p.is_dir()}


def finished(sweep_dir: Path) -> dict[str, str]:
    """Folder -> the 'finished' time of its complete run (what a recomputation would change)."""
    out = {}
    for name, path in run_dirs(sweep_dir).items():
        m = read_manifest(path)
        if m and m["status"] == "complete":
            out[name] = m["finished"]
    return out


def progress(sweep_dir: Path) -> list[dict]:
    plan = json.loads((sweep_dir / "sweep.json").read_text())
    lines = [json.loads(x) for x in (sweep_dir / "sweep_progress.jsonl").read_text().splitlines()]
    return [e for e in lines if e["invocation"] == plan["invocation"]]


# --- a small sweep on two joblib workers, then resume -------------------------------------------------


@pytest.fixture(scope="module")
def joblib_sweep(tmp_path_factory):
    sweep_dir = tmp_path_factory.mktemp("joblib") / "sweep"
    proc = sweep(sweep_dir, "safeguards=none,all_on", "replicate=0,1", launcher="joblib", compare=True)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return sweep_dir, proc


def test_joblib_sweep_with_two_workers_completes_every_run(joblib_sweep):
    sweep_dir, proc = joblib_sweep
    dirs = run_dirs(sweep_dir)
    assert sorted(dirs) == sorted(f"{','.join(sorted(TINY))},replicate={r},safeguards={s}"
                                  for r in (0, 1) for s in ("none", "all_on"))
    for path in dirs.values():
        manifest = read_manifest(path)
        assert manifest["status"] == "complete"
        assert verify_run(path, _config_of(manifest)) is None
    # Both workers were used: the jobs ran in two different processes.
    assert len({read_manifest(p)["pid"] for p in dirs.values()}) == 2
    # Progress: every job reported, with the running count out of the total.
    entries = progress(sweep_dir)
    assert sorted(e["status"] for e in entries) == ["complete"] * 4
    assert "4/4 runs done" in proc.stdout + proc.stderr
    # The sweep ends with the comparison: the table, comparison.parquet and report.html.
    assert "safeguards=all_on" in proc.stdout and "report:" in proc.stdout
    assert (sweep_dir / "comparison.parquet").is_file() and (sweep_dir / "report.html").is_file()



def _config_of(manifest: dict) -> Config:
    from omegaconf import OmegaConf
    return OmegaConf.to_object(OmegaConf.merge(OmegaConf.structured(Config), manifest["config"]))


def test_paired_replicates_share_a_seed_across_settings(joblib_sweep):
    sweep_dir, _ = joblib_sweep
    seeds = {}
    for path in run_dirs(sweep_dir).values():
        m = read_manifest(path)
        seeds.setdefault(m["replicate"], set()).add(m["run_seed"])
    assert {r: len(s) for r, s in seeds.items()} == {0: 1, 1: 1}
    assert seeds[0] != seeds[1]


def test_rerun_after_deleting_one_run_recomputes_only_that_run(joblib_sweep, tmp_path):
    sweep_dir, _ = joblib_sweep
    before = finished(sweep_dir)
    victim = sorted(before)[1]
    old_files = read_manifest(sweep_dir / victim)["files"]
    (sweep_dir / victim / "summary.parquet").unlink()        # the run is no longer complete
    (sweep_dir / victim / "days.parquet").write_bytes(b"junk")
    proc = sweep(sweep_dir, "safeguards=none,all_on", "replicate=0,1", launcher="joblib")
    assert proc.returncode == 0, proc.stderr[-3000:]
    after = finished(sweep_dir)
    assert set(after) == set(before)
    assert [name for name in before if after[name] != before[name]] == [victim]
    assert sorted(e["status"] for e in progress(sweep_dir)) == ["complete", "kept", "kept", "kept"]
    assert "3 already complete (kept), 1 to run" in proc.stdout + proc.stderr
    # The recomputed run is the same run: byte-identical tables.
    new_files = read_manifest(sweep_dir / victim)["files"]
    assert {k: v["sha256"] for k, v in new_files.items()} == {k: v["sha256"] for k, v in old_files.items()}


# --- kills -----------------------------------------------------------------------------------------------


def _wait_for(predicate, timeout: float, proc: subprocess.Popen) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        if proc.poll() is not None:
            raise AssertionError(f"the process ended before the moment to kill it: {proc.returncode}")
        time.sleep(0.05)
    raise AssertionError("timed out waiting for the moment to kill")


def test_sigkilled_run_leaves_nothing_that_looks_complete_and_reruns_to_completion(tmp_path):
    out = tmp_path / "run"
    args = [sys.executable, "-m", "sim", "population.n=3000", "days=200", "measure_days=7", "decoys.n=2",
            f"hydra.run.dir={out}"]
    proc = subprocess.Popen(args, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        _wait_for(lambda: (read_manifest(out) or {}).get("status") == "running", 60, proc)
        time.sleep(0.5)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    manifest = read_manifest(out)
    assert manifest["status"] == "running"          # what was in progress, not a result
    assert not list(out.glob("*.parquet"))
    cfg = _config_of({"config": {"population": {"n": 3000}, "days": 200, "measure_days": 7, "decoys": {"n": 2}}})
    assert "interrupted" in verify_run(out, cfg)


def test_killed_during_table_writing_leaves_no_complete_manifest(tmp_path, monkeypatch):
    """A crash between two tables: the run is recorded as failed and no table is left to look like a result."""
    import sim.io

    calls = []
    real = sim.io.pq.write_table

    def dies_on_second_table(table, where, **kw):
        calls.append(where)
        if len(calls) == 2:
            real(table.slice(0, 1), where, **kw)   # half a file in the temporary name ...
            raise KeyboardInterrupt                 # ... and the process is stopped
        return real(table, where, **kw)

    monkeypatch.setattr(sim.io.pq, "write_table", dies_on_second_table)
    cfg = tiny_config(days=3, measure_days=2)
    with pytest.raises(KeyboardInterrupt):
        run(cfg, tmp_path)
    assert read_manifest(tmp_path)["status"] == "failed"
    assert verify_run(tmp_path, cfg) == "status is 'failed'"
    assert len(calls) == 2                                        # the first table had been written
    assert sorted(p.name for p in tmp_path.iterdir()) == ["manifest.json"]   # no table, no temporary file


def test_sweep_killed_midway_then_rerun_completes_exactly_the_missing_runs(tmp_path):
    sweep_dir = tmp_path / "sweep"
    cmd = [sys.executable, "-m", "sim", "-m", *TINY, "days=40", "safeguards=none,all_on", "replicate=0,1,2",
           f"hydra.sweep.dir={sweep_dir}", "hydra/launcher=basic", "hydra.callbacks.exposim_sweep.compare=false"]
    proc = subprocess.Popen(cmd, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    try:
        _wait_for(lambda: sweep_dir.is_dir() and len(finished(sweep_dir)) >= 2, 120, proc)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    before = finished(sweep_dir)
    assert 2 <= len(before) < 6
    again = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=300)
    assert again.returncode == 0, again.stderr[-3000:]
    after = finished(sweep_dir)
    assert len(after) == 6
    assert all(after[name] == t for name, t in before.items())      # nothing complete was recomputed
    statuses = [e["status"] for e in progress(sweep_dir)]
    assert statuses.count("kept") == len(before) and statuses.count("complete") == 6 - len(before)


# --- failures and bad input ------------------------------------------------------------------------------


#: Loaded at interpreter start through PYTHONPATH: the run of seed 2 fails inside the model, as a
#: bug or a lost disk would, after the command's checks have passed.
_INJECTED_FAULT = """
import os
if os.environ.get("EXPOSIM_TEST_FAIL_SEED"):
    import sim.model

    _real_run = sim.model.ExposureModel.run

    def _run(self, *args, **kwargs):
        if self.config.seed == int(os.environ["EXPOSIM_TEST_FAIL_SEED"]):
            raise RuntimeError("injected fault in the model")
        return _real_run(self, *args, **kwargs)

    sim.model.ExposureModel.run = _run
"""


def test_a_failing_job_is_recorded_and_the_others_complete(tmp_path):
    hooks = tmp_path / "hooks"
    hooks.mkdir()
    (hooks / "sitecustomize.py").write_text(_INJECTED_FAULT)
    env = {**os.environ, "PYTHONPATH": str(hooks), "EXPOSIM_TEST_FAIL_SEED": "2"}
    sweep_dir = tmp_path / "sweep"
    proc = sweep(sweep_dir, "seed=1,2", env=env)
    assert proc.returncode == 1, proc.stderr[-3000:]
    dirs = run_dirs(sweep_dir)
    states = {name: read_manifest(p)["status"] for name, p in dirs.items()}
    assert sorted(states.values()) == ["complete", "failed"]
    failed = next(p for n, p in dirs.items() if states[n] == "failed")
    assert "seed=2" in failed.name
    manifest = read_manifest(failed)
    assert "injected fault" in manifest["error"] and "Traceback" in manifest["traceback"]
    assert sorted(p.name for p in failed.iterdir() if p.suffix == ".parquet") == []
    assert "failed:" in proc.stderr and "Run the same command again" in proc.stderr
    # Once the fault is gone, the same command computes only the failed run.
    first_ok = finished(sweep_dir)
    again = sweep(sweep_dir, "seed=1,2")
    assert again.returncode == 0, again.stderr[-3000:]
    assert len(finished(sweep_dir)) == 2
    assert all(finished(sweep_dir)[n] == t for n, t in first_ok.items())


def test_an_invalid_value_anywhere_in_the_sweep_stops_it_before_any_run(tmp_path):
    sweep_dir = tmp_path / "sweep"
    proc = sweep(sweep_dir, "population.minor_share=0.2,1.5", "replicate=0,1")
    assert proc.returncode == 2
    assert "population.minor_share=1.5" in proc.stdout + proc.stderr
    assert "2 of 4 jobs" in proc.stdout + proc.stderr
    assert not sweep_dir.exists() or not run_dirs(sweep_dir)


# --- replicate seeds and job folders ---------------------------------------------------------------------


def test_replicate_zero_runs_on_the_root_seed_and_others_on_distinct_hashed_seeds():
    cfg = Config()
    cfg.seed = 11
    assert run_seed(cfg) == 11
    seeds = set()
    for r in range(1, 200):
        cfg.replicate = r
        seeds.add(run_seed(cfg))
    assert len(seeds) == 199 and 11 not in seeds
    assert all(0 <= s < 2**63 for s in seeds)
    other = Config()
    other.seed, other.replicate = 12, 1
    assert run_seed(other) not in seeds


def test_extending_a_sweep_with_replicates_leaves_earlier_runs_unchanged(tmp_path):
    """Replicate 1 gives the same files whether it is swept alone or after replicate 0 (no job numbers)."""
    a = sweep(tmp_path / "a", "replicate=1")
    b = sweep(tmp_path / "b", "replicate=0,1,2")
    assert a.returncode == 0 and b.returncode == 0, (a.stderr + b.stderr)[-3000:]
    name = next(n for n in run_dirs(tmp_path / "a"))
    assert name in run_dirs(tmp_path / "b")
    for table in ("summary.parquet", "days.parquet", "contacts.parquet"):
        assert (tmp_path / "a" / name / table).read_bytes() == (tmp_path / "b" / name / table).read_bytes()


def test_job_folder_names_are_one_stable_path_component():
    assert job_dir_name("replicate=1,safeguards=none") == "replicate=1,safeguards=none"
    assert job_dir_name("") == "default"
    assert "/" not in job_dir_name("network.path=/data/g.csv,replicate=0")
    long = ",".join(f"key{i}=value{i}" for i in range(60))
    name = job_dir_name(long)
    assert len(name.encode()) <= 180 and name != job_dir_name(long + ",x=1")
    assert job_dir_name(long) == name


def test_progress_line_counts_and_estimates_time_left():
    plan = {"total": 10, "already_complete": 2, "started_unix": 1000.0}
    entries = ([{"status": "kept"}] * 2 + [{"status": "complete"}] * 3 + [{"status": "failed"}])
    # 4 runs computed in 120 s, 4 of the 8 to run remain: about 120 s left.
    text = progress_line(plan, entries, now=1120.0)
    assert text.startswith("6/10 runs done (2 kept, 3 run, 1 failed)")
    assert "2 min 00 s elapsed" in text and "about 2 min 00 s left" in text


def test_a_change_to_the_source_recomputes_every_run_and_says_why(tmp_path):
    """A study's command after a change to sim/: nothing is kept; after no change: everything is."""
    import shutil

    pkg = tmp_path / "pkg"
    shutil.copytree(REPO / "sim", pkg / "sim", ignore=shutil.ignore_patterns("__pycache__"))
    # This copy shadows the installed package (run from a folder that holds no other sim/).
    env = {**os.environ, "PYTHONPATH": str(pkg)}
    sweep_dir = tmp_path / "sweep"
    first = sweep(sweep_dir, "seed=1,2", env=env, cwd=tmp_path)
    assert first.returncode == 0, first.stderr[-3000:]
    from sim.io import source_fingerprint

    assert {read_manifest(p)["code"]["fingerprint"] for p in run_dirs(sweep_dir).values()} == {
        source_fingerprint(pkg / "sim")}                    # the copy made them
    made = finished(sweep_dir)
    same = sweep(sweep_dir, "seed=1,2", env=env, cwd=tmp_path)
    assert "2 already complete (kept), 0 to run" in same.stdout + same.stderr, same.stderr[-3000:]
    assert finished(sweep_dir) == made
    with open(pkg / "sim" / "model.py", "a") as fh:
        fh.write("\n# a change to the model's source\n")
    changed = sweep(sweep_dir, "seed=1,2", env=env, cwd=tmp_path)
    assert changed.returncode == 0, changed.stderr[-3000:]
    said = changed.stdout + changed.stderr
    assert "0 already complete (kept), 2 to run" in said
    assert "2 run(s) recomputed because it was made by different code" in said
    assert all(finished(sweep_dir)[name] != t for name, t in made.items())


# --- the sweeper takes the preflight's compositions ------------------------------------------------------


class _CountingLoader:
    def __init__(self) -> None:
        self.composed: list[list[str]] = []

    def load_sweep_config(self, master_config, sweep_overrides):
        self.composed.append(list(sweep_overrides))


def test_hydra_composes_only_the_jobs_the_preflight_did_not_check():
    from hydra.core.plugins import Plugins

    from sim.preflight import Checked, PlannedRun, jobs_composed_once

    # The class Hydra instantiates: its plugin scan executes the module again, so not the imported one.
    basic = Plugins.instance().class_name_to_class["hydra._internal.core_plugins.basic_sweeper.BasicSweeper"]
    sweeper = basic(max_batch_size=None, params=None)
    sweeper.config, sweeper.config_loader = object(), _CountingLoader()
    checked = Checked(True, Path("sweep"), [PlannedRun(["seed=1"], Config(), Path("sweep/a")),
                                            PlannedRun(["seed=2"], Config(), Path("sweep/b"))], [])
    with jobs_composed_once(checked):
        sweeper.validate_batch_is_legal([["seed=1"], ["seed=2"]])
        assert sweeper.config_loader.composed == []
        sweeper.validate_batch_is_legal([["seed=2"], ["seed=3"]])
        assert sweeper.config_loader.composed == [["seed=3"]]
    # Outside the block Hydra's own validation is back: every job composed.
    sweeper.config_loader = _CountingLoader()
    sweeper.validate_batch_is_legal([["seed=1"], ["seed=2"]])
    assert sweeper.config_loader.composed == [["seed=1"], ["seed=2"]]


def test_the_launchers_workers_check_the_jobs_as_this_process_does(tmp_path):
    """With the joblib launcher, the preflight composes the jobs in the launcher's worker processes:
    the same runs, configs and folders, in the same order, and the same refusal for a bad value."""
    from sim import preflight
    from sim.config import ConfigError

    args = ["-m", *TINY, "safeguards=none,all_on", "replicate=0,1,2", f"hydra.sweep.dir={tmp_path / 'sweep'}"]
    here = preflight.check([*args, "hydra/launcher=basic"])
    there = preflight.check([*args, "hydra/launcher=joblib", "hydra.launcher.n_jobs=2"])
    assert len(here.runs) == 6
    assert [r.overrides for r in there.runs] == [r.overrides for r in here.runs]
    assert [r.out_dir for r in there.runs] == [r.out_dir for r in here.runs]
    assert [r.config for r in there.runs] == [r.config for r in here.runs]

    bad = [*args, "population.minor_share=0.2,1.5"]
    with pytest.raises(ConfigError) as serial:
        preflight.check([*bad, "hydra/launcher=basic"])
    with pytest.raises(ConfigError) as parallel:
        preflight.check([*bad, "hydra/launcher=joblib", "hydra.launcher.n_jobs=2"])
    assert str(parallel.value) == str(serial.value)
    assert "6 of 12 jobs" in str(serial.value)
