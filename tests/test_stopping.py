"""Stopping a parallel sweep: SIGINT, SIGTERM or SIGKILL of the launcher ends its joblib workers within seconds.

The joblib launcher's loky workers are children of the launcher; killed outright,
it leaves them re-parented to init, still computing. sim.watchdog (started in
each worker by SweepCallback.on_job_start) ends them; every interrupted run is
left ``running`` or ``failed``, never ``complete``.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from hydra.types import RunMode
from omegaconf import OmegaConf

from sim import watchdog
from sim.io import read_manifest, verify_files, write_json
from sim.sweep import PLAN, SweepCallback

REPO = Path(__file__).resolve().parents[1]
# Each run takes ~5-10 s on two busy workers: long enough to be caught mid-run.
#: Runs long enough (several seconds each) that the signal finds them running; they never get to finish.
SIZE = ["population.n=3000", "days=200", "measure_days=5", "decoys.n=2", "network.mean_following=10"]
MARKER = "EXPOSIM_TEST_STOPPING"


def _statuses(sweep_dir: Path) -> dict[str, str]:
    """Run folder -> its manifest status (folders without a manifest left out)."""
    if not sweep_dir.is_dir():
        return {}
    out = {}
    for path in sweep_dir.iterdir():
        manifest = read_manifest(path) if path.is_dir() else None
        if manifest:
            out[path.name] = manifest["status"]
    return out


def _sweep_processes(session: int, marker: str) -> dict[int, str]:
    """Live processes of this sweep: in the launcher's session, or with its marker in their environment."""
    found = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == os.getpid():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
            fields = stat.rsplit(")", 1)[1].split()     # after "pid (comm)": state ppid pgrp session ...
            if fields[0] in ("Z", "X"):
                continue                                  # dead, waiting to be reaped
            ours = int(fields[3]) == session
            if not ours:
                ours = f"{MARKER}={marker}".encode() in Path(f"/proc/{entry}/environ").read_bytes().split(b"\0")
            if ours:
                found[int(entry)] = Path(f"/proc/{entry}/cmdline").read_bytes().replace(b"\0", b" ").decode()
        except (OSError, IndexError, ValueError):
            continue                                      # exited meanwhile, or not ours to read
    return found


def _default_sigint() -> None:
    signal.signal(signal.SIGINT, signal.SIG_DFL)


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM, signal.SIGKILL], ids=lambda s: s.name)
def test_signalled_launcher_leaves_no_worker_and_no_half_written_run(tmp_path, sig):
    sweep_dir = tmp_path / "sweep"
    cmd = [sys.executable, "-m", "sim", "-m", *SIZE, "replicate=0,1,2,3", "hydra/launcher=joblib",
           "hydra.launcher.n_jobs=2", f"hydra.sweep.dir={sweep_dir}", "hydra.callbacks.exposim_sweep.compare=false"]
    env = {**os.environ, MARKER: str(sweep_dir)}
    # A session of its own: the signal goes to the launcher alone, and stragglers are found by session.
    # SIGINT's default action, as in a terminal: a test run started in the background (`cmd &`) inherits
    # SIGINT ignored, and Python then never turns it into KeyboardInterrupt.
    proc = subprocess.Popen(cmd, cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True, preexec_fn=_default_sigint)
    try:
        deadline = time.monotonic() + 45
        while "running" not in _statuses(sweep_dir).values():
            assert proc.poll() is None, f"the sweep ended before a run was caught running: {proc.returncode}"
            assert time.monotonic() < deadline, "no run started within 45 s"
            time.sleep(0.05)
        workers = {pid: cmdline for pid, cmdline in _sweep_processes(proc.pid, str(sweep_dir)).items()
                   if pid != proc.pid}
        assert any("loky" in cmdline for cmdline in workers.values()), workers
        before = _statuses(sweep_dir)
        proc.send_signal(sig)
        # A run that finishes between the snapshot and the signal reaching the launcher was not interrupted.
        at_signal = _statuses(sweep_dir)

        # The launcher exits on its own (joblib ends its workers first, which on a loaded machine takes a while) ...
        proc.wait(timeout=40)
        deadline = time.monotonic() + 10
        while (left := _sweep_processes(proc.pid, str(sweep_dir))) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert not left, f"still running 10 s after {sig.name} of the launcher: {left}"   # ... and its workers
        after = _statuses(sweep_dir)
        for name, status in after.items():
            if before.get(name) != "complete" and at_signal.get(name) != "complete" and status == "complete":
                # A small run can finish in the moment between the signal and its worker's end: then it
                # must be whole (every table its manifest lists, matching its checksum), never half-written.
                manifest = read_manifest(sweep_dir / name)
                assert verify_files(sweep_dir / name, manifest) is None, (name, before.get(name), status)
            else:
                assert status in ("running", "failed", "complete"), (name, status)
        assert "running" in after.values() or "failed" in after.values()
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(timeout=30)
        for pid in _sweep_processes(proc.pid, str(sweep_dir)):
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass


# --- the watchdog itself -------------------------------------------------------------------------------


def test_watch_parent_ends_an_orphaned_child_but_spares_one_whose_parent_lives():
    # test -> parent -> child; the child watches the parent, which exits when the test says so.
    child = ("import sys, time\nfrom sim.watchdog import watch_parent\n"
             "watch_parent(int(sys.argv[1]), interval=0.1)\nwatch_parent(int(sys.argv[1]), interval=0.1)\n"
             "print('watching', flush=True)\ntime.sleep(30)")
    parent = ("import os, subprocess, sys\n"
              f"p = subprocess.Popen([sys.executable, '-c', {child!r}, str(os.getpid())])\n"
              "print(p.pid, flush=True)\nsys.stdin.readline()")
    proc = subprocess.Popen([sys.executable, "-c", parent], cwd=REPO, stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    pid = int(proc.stdout.readline())
    try:
        assert proc.stdout.readline().strip() == "watching"
        time.sleep(0.5)
        assert _alive(pid)                                # parent alive: the watched child runs on
        proc.stdin.close()                                # the parent exits: the child is re-parented ...
        proc.wait(timeout=10)
        deadline = time.monotonic() + 5
        while _alive(pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not _alive(pid)                            # ... and ends itself
    finally:
        if proc.poll() is None:
            proc.kill()
        if _alive(pid):
            os.kill(pid, signal.SIGKILL)
        proc.wait(timeout=10)
        proc.stdout.close()


def _alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] not in ("Z", "X")
    except OSError:
        return False


@pytest.mark.parametrize("launcher", ["self", "not_parent"])
def test_no_watch_in_the_launcher_itself_or_a_job_that_is_not_its_child(tmp_path, launcher):
    # The basic launcher runs jobs in its own process (e.g. a nohup'ed sweep): never watched.
    # A Ray or SLURM job's parent is not the launcher: never watched.
    pid = os.getpid() if launcher == "self" else _not_a_parent_pid()
    write_json(tmp_path / PLAN, {"launcher_pid": pid})
    config = OmegaConf.create({"hydra": {"mode": RunMode.MULTIRUN, "sweep": {"dir": str(tmp_path)}}})
    SweepCallback(compare=False).on_job_start(config, task_function=None)
    assert not watchdog.is_watching()


def _not_a_parent_pid() -> int:
    pid = 1 if os.getppid() != 1 else 2
    assert not watchdog.spawned_by(pid)
    return pid
