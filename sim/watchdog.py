"""Ending a sweep's worker process when the launcher that started it has died.

Core objects: :func:`watch_parent`, :func:`spawned_by`, :func:`is_watching`.

Hydra's joblib launcher runs a sweep's jobs in loky worker processes, direct
children of the launching ``python -m sim -m ...`` process. When the launcher
is killed outright (SIGKILL, or SIGTERM, which Python does not handle by
default) nothing tells those workers: they are re-parented to init (or the
nearest subreaper) and go on computing the jobs they hold for minutes, for a
sweep nobody is waiting for any more. :func:`watch_parent`, started in each
such worker by :meth:`sim.sweep.SweepCallback.on_job_start`, notices the
re-parenting and ends the worker at once. A run it interrupts is left with
manifest ``status: running`` (:mod:`sim.io`), which no reader takes for a
result, and which the same sweep command recomputes.

Only a worker that is a *direct child* of the launcher may be watched this
way: a Ray or SLURM job's parent is a raylet or a batch daemon, and the basic
launcher runs jobs in the launcher itself — a sweep started with ``nohup``
must go on when its shell exits, so the caller checks this (:func:`spawned_by`) before
starting the watch.

Not covered: a loky worker that never receives a job (more workers than jobs)
runs none of this package's code, so it is not watched; it computes nothing and
loky ends it after its idle timeout (300 s).
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import sys
import threading

_lock = threading.Lock()
#: The pid of the process whose watchdog thread is running (None: none started). Kept as a pid,
#: not a flag, so a process forked from a watched one (which inherits this module's state but not
#: its threads) starts its own watch.
_watching_pid: int | None = None


def is_watching() -> bool:
    """Whether this process runs a parent watchdog (started by :func:`watch_parent`)."""
    return _watching_pid == os.getpid()


def spawned_by(pid: int) -> bool:
    """Whether this process is a direct child of ``pid`` — or was, until ``pid`` exited.

    The second case matters: a loky worker may reach its first job only after the
    launcher has been killed (it was still importing), when ``os.getppid()`` already
    names init. Its multiprocessing parent (recorded when the launcher created the
    worker, and unset for a Ray or SLURM job, or for the launcher's own process)
    still names the launcher.
    """
    if os.getppid() == pid:
        return True
    parent = multiprocessing.parent_process()
    return parent is not None and parent.pid == pid


def watch_parent(expected_parent: int, interval: float = 0.5) -> None:
    """End this process as soon as its parent is no longer ``expected_parent``.

    Starts, once per process (later calls do nothing), a daemon thread that
    compares :func:`os.getppid` with ``expected_parent`` every ``interval``
    seconds. When they differ the parent has exited and this process has been
    re-parented; the thread then SIGKILLs its own process: no cleanup runs, so
    a run in progress keeps its ``running`` manifest and nothing half-done can
    be marked complete.

    Polling is used rather than ``prctl(PR_SET_PDEATHSIG)``: that signal is sent
    when the *thread* that forked the child exits, not the process — and loky
    spawns (and re-spawns) workers from its executor-manager thread as well as
    from the main thread, so a worker could be killed while its launcher lives
    on. It is also Linux-only and racy (the parent may die before the child sets
    it). A ``getppid`` poll is portable POSIX, costs one system call per
    interval, and depends only on the process tree.

    Args:
        expected_parent: the pid of the process whose death must end this one
            (the sweep's launcher). If it is already not our parent, this
            process is ended at once, before this call returns (so the job the
            caller is about to start never begins).
        interval: seconds between two checks; the worst-case delay between the
            launcher's death and this process's end.
    """
    global _watching_pid
    if interval <= 0:
        raise ValueError(f"interval must be positive, got {interval}")
    if os.getppid() != expected_parent:
        _die(expected_parent)   # the launcher is gone already: do not start the job at all
    with _lock:
        if _watching_pid == os.getpid():
            return          # idempotent: every job of a reused loky worker calls this
        _watching_pid = os.getpid()
    thread = threading.Thread(target=_watch, args=(expected_parent, interval),
                              name="exposim-parent-watchdog", daemon=True)
    thread.start()


def _watch(expected_parent: int, interval: float) -> None:
    # A daemon thread: it never keeps the process alive, and it does not wait for the job.
    # threading.Event().wait sleeps without holding the GIL, so the job's thread runs on.
    pause = threading.Event()
    while os.getppid() == expected_parent:
        pause.wait(interval)
    _die(expected_parent)


def _die(expected_parent: int) -> None:
    # Say why on stderr (inherited from the launcher: its terminal or log file), from a helper
    # thread given 0.1 s: a write to a full pipe nobody reads any more could block for ever.
    note = threading.Thread(target=_say_why, args=(expected_parent,), daemon=True)
    note.start()
    note.join(0.1)
    # SIGKILL, not sys.exit or an exception in the job's thread: cleanup code (finally blocks,
    # `except BaseException` writing a manifest, atexit handlers, loky's worker loop) must not
    # run, since it could finish writing a run's tables and mark it complete.
    os.kill(os.getpid(), signal.SIGKILL)
    os._exit(1)      # not reached where SIGKILL exists


def _say_why(expected_parent: int) -> None:
    try:
        print(f"exposim: the sweep's launcher (pid {expected_parent}) has exited; "
              f"ending worker {os.getpid()} (its run stays 'running')", file=sys.stderr, flush=True)
    except Exception:  # noqa: BLE001  (best effort: nothing here may delay the kill)
        pass
