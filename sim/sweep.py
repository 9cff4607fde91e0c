"""Sweeps: Hydra multirun jobs that are checked up front, resume, fail alone and report progress.

Core objects: :class:`SweepCallback`, :func:`plan_sweep`, :func:`sweep_status`,
:data:`PLAN`, :data:`PROGRESS` (job folder names: :func:`sim.compose.job_dir_name`).

Hydra runs the sweep (its sweeper expands the overrides, its launcher — basic,
joblib, Ray or SLURM — runs the jobs); this module adds what a long sweep needs
around it, as a Hydra callback configured in ``configs/config.yaml``:

* **Before any job runs** ``python -m sim`` has composed and checked every
  job (:mod:`sim.preflight`: a bad value anywhere stops the sweep with exit
  status 2 before any folder is made); :meth:`SweepCallback.on_multirun_start`,
  in the launching process, finds each job's run folder, says which runs are
  kept and why the others are recomputed (changed code, config or input file),
  and writes the plan — jobs, folders, which are already complete — to ``sweep.json``.
* **Each job** runs through :func:`sim.runner.run` with ``resume``: a folder
  that already holds a complete, verified run of the same config is kept, not
  recomputed. Job folders are named after the job's overrides
  (``hydra.sweep.subdir: ${exposim_job_dir:${hydra.job.override_dirname}}``),
  not Hydra's job number, so the same command finds the same folders again.
* **After each job** (:meth:`SweepCallback.on_job_end`, in the worker) a line
  goes to ``sweep_progress.jsonl`` and the log shows runs done out of the total
  with an estimate of the time left.
* **At the end** (:meth:`SweepCallback.on_multirun_end`) the sweep's status is
  printed and, unless ``compare: false``, the comparison table and report
  (:mod:`sim.analysis`).

A job that raises is recorded in its folder (manifest ``status: failed``, with
the error) and Hydra's launcher goes on with the others; the sweep then exits
non-zero, and the same command later recomputes only the runs that are not
complete.
"""

from __future__ import annotations

import json
import logging
import os
import time
import uuid
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from hydra.core.global_hydra import GlobalHydra
from hydra.experimental.callback import Callback
from omegaconf import DictConfig

from sim.compose import sweep_jobs, to_config
from sim.config import CONFIG_ERROR_EXIT, Config, ConfigError, validate
from sim.inputs import resolve_inputs
from sim.io import read_manifest, verify_run, write_json

log = logging.getLogger(__name__)

PLAN = "sweep.json"
#: The plan ``python -m sim`` made while checking the command, read (and removed) by the callback.
PLAN_HANDOVER = ".sweep_plan_checked.json"
PROGRESS = "sweep_progress.jsonl"


@dataclass
class PlannedJob:
    """One job of a sweep as planned before launch."""

    overrides: list[str]
    out_dir: Path
    complete: bool        # the folder already holds a complete, verified run of this config
    why_not: str | None = None   # why a folder holding a run cannot reuse it (None: complete, or no run yet)


def plan_sweep(config: DictConfig) -> list[PlannedJob] | None:
    """Compose and validate every job of the sweep and find its run folder.

    Raises:
        ConfigError: naming every job whose config is invalid, and why.
    Returns None when the sweep is not run by Hydra's basic sweeper (its jobs
    are then only known as they are launched).
    """
    loader = GlobalHydra.instance().config_loader()
    jobs = sweep_jobs(config, loader)
    if jobs is None:
        return None
    planned, errors = [], []
    for overrides in jobs:
        job_cfg = loader.load_sweep_config(config, overrides)
        try:
            cfg = resolve_inputs(validate(to_config(job_cfg)))
        except ConfigError as exc:
            errors.append(f"  job {' '.join(overrides) or '(no overrides)'}: {exc}")
            continue
        planned.append(plan_job(overrides, cfg, Path(str(job_cfg.hydra.sweep.dir)) / str(job_cfg.hydra.sweep.subdir)))
    if errors:
        raise ConfigError(f"{len(errors)} of {len(jobs)} jobs of the sweep have an invalid config; "
                          "nothing was run:\n" + "\n".join(errors))
    return planned


def plan_job(overrides: list[str], cfg: Config, out_dir: Path) -> PlannedJob:
    """One job's folder and whether it already holds a complete run of ``cfg`` (else why not)."""
    why = verify_run(out_dir, cfg) if cfg.output.resume else "output.resume=false"
    return PlannedJob(list(overrides), Path(out_dir).resolve(), why is None,
                      None if why in (None, "no manifest") else why)


def write_plan(sweep_dir: Path, planned: list[PlannedJob], path: Path) -> None:
    """Hand a sweep's plan, made while the command was checked, to :class:`SweepCallback` (``plan_file``)."""
    write_json(path, {"sweep_dir": str(Path(sweep_dir).resolve()), "jobs": [
        {"overrides": j.overrides, "dir": str(j.out_dir), "complete": j.complete, "why_not": j.why_not}
        for j in planned]})


def _read_plan(path: str, sweep_dir: Path) -> list[PlannedJob] | None:
    try:
        plan = json.loads(Path(path).read_text())
        Path(path).unlink()
    except (OSError, ValueError):
        return None
    if plan.get("sweep_dir") != str(sweep_dir):
        return None            # made for another sweep folder: plan afresh
    return [PlannedJob(j["overrides"], Path(j["dir"]), j["complete"], j["why_not"]) for j in plan["jobs"]]


def _log_recomputed(planned: list[PlannedJob]) -> None:
    """Say why runs whose folders hold a run are computed again (changed code, config or input file)."""
    reasons: dict[str, int] = {}
    for job in planned:
        if job.why_not is not None:
            reason = job.why_not.split(" (")[0]
            reasons[reason] = reasons.get(reason, 0) + 1
    for reason, count in sorted(reasons.items(), key=lambda kv: -kv[1]):
        log.info("exposim sweep: %d run(s) recomputed because %s", count, reason)


def format_duration(seconds: float) -> str:
    seconds = max(0, int(round(seconds)))
    if seconds < 60:
        return f"{seconds} s"
    if seconds < 3600:
        return f"{seconds // 60} min {seconds % 60:02d} s"
    return f"{seconds // 3600} h {seconds % 3600 // 60:02d} min"


def _read_progress(sweep_dir: Path, invocation: str) -> list[dict[str, Any]]:
    try:
        lines = (sweep_dir / PROGRESS).read_text().splitlines()
    except OSError:
        return []
    out = []
    for line in lines:
        try:
            entry = json.loads(line)
        except ValueError:
            continue            # a line cut short by a killed worker
        if entry.get("invocation") == invocation:
            out.append(entry)
    return out


def progress_line(plan: dict[str, Any], entries: list[dict[str, Any]], now: float) -> str:
    """``runs done/total`` for this invocation, with kept / run / failed counts and the time left."""
    total = plan.get("total")
    kept = sum(e["status"] == "kept" for e in entries)
    ran = sum(e["status"] == "complete" for e in entries)
    failed = sum(e["status"] == "failed" for e in entries)
    done = kept + ran + failed
    text = f"{done}/{total if total is not None else '?'} runs done ({kept} kept, {ran} run, {failed} failed)"
    elapsed = now - plan["started_unix"]
    text += f", {format_duration(elapsed)} elapsed"
    if total is not None:
        to_run = total - plan.get("already_complete", 0)
        computed = ran + failed
        if 0 < computed < to_run:
            text += f", about {format_duration(elapsed / computed * (to_run - computed))} left"
    return text


class SweepCallback(Callback):
    """Checks a sweep before launch, logs progress after each job, reports and compares at the end.

    Args:
        compare: at the end of a sweep with no failed job, print the comparison
            table and write ``comparison.parquet`` and ``report.html`` into the
            sweep folder (:func:`sim.analysis.compare_sweep`).
        baseline: the setting the comparison measures differences against
            (a label such as ``safeguards=none``); None: the sweep's first setting.
        plan_file: the plan ``python -m sim`` made while checking the command
            (:func:`write_plan`); without it, every job is composed again here.
    """

    def __init__(self, compare: bool = True, baseline: str | None = None, plan_file: str | None = None) -> None:
        self.compare = compare
        self.baseline = baseline
        self.plan_file = plan_file

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        sweep_dir = Path(str(config.hydra.sweep.dir)).resolve()
        try:
            # `python -m sim` composed and checked every job already and hands the plan over;
            # a sweep launched another way is planned here.
            planned = (_read_plan(self.plan_file, sweep_dir) if self.plan_file else None) or plan_sweep(config)
        except ConfigError as exc:
            # `python -m sim` has checked the sweep already; this guards sweeps launched another way.
            print(f"exposim: configuration error: {exc}", flush=True)
            raise SystemExit(CONFIG_ERROR_EXIT) from None
        sweep_dir.mkdir(parents=True, exist_ok=True)
        plan: dict[str, Any] = {
            "invocation": uuid.uuid4().hex,
            "started": datetime.now(timezone.utc).isoformat(),
            "started_unix": time.time(),
            "sweep_dir": str(sweep_dir),
            "launcher_pid": os.getpid(),   # on_job_start: a worker whose parent this is watches it
            "total": None if planned is None else len(planned),
            "already_complete": 0 if planned is None else sum(j.complete for j in planned),
            "jobs": None if planned is None else [
                {"overrides": j.overrides, "dir": os.path.relpath(j.out_dir, sweep_dir), "complete_at_start": j.complete}
                for j in planned],
        }
        write_json(sweep_dir / PLAN, plan)
        if planned is None:
            log.info("exposim sweep in %s (jobs are counted as they finish)", sweep_dir)
        else:
            log.info("exposim sweep: %d runs in %s; %d already complete (kept), %d to run",
                     len(planned), sweep_dir, plan["already_complete"], len(planned) - plan["already_complete"])
            _log_recomputed(planned)

    def on_job_start(self, config: DictConfig, *, task_function: Any, **kwargs: Any) -> None:
        from hydra.types import RunMode

        if config.hydra.mode != RunMode.MULTIRUN:
            return               # a single run has no launcher to outlive
        try:
            plan = json.loads((Path(str(config.hydra.sweep.dir)).resolve() / PLAN).read_text())
            launcher_pid = int(plan["launcher_pid"])
        except (OSError, ValueError, KeyError, TypeError):
            return               # not launched through this callback's on_multirun_start
        # A joblib (loky) worker is a direct child of the launcher (or was, if the launcher died
        # before this job began): when the launcher is killed, end the worker (sim.watchdog) rather
        # than let it finish jobs nobody waits for. Not in the launcher itself (basic launcher: a
        # nohup'ed sweep must outlive its shell), nor in a Ray or SLURM job, whose parent is not it.
        from sim.watchdog import spawned_by, watch_parent

        if os.getpid() != launcher_pid and spawned_by(launcher_pid):
            watch_parent(launcher_pid)

    def on_job_end(self, config: DictConfig, job_return: Any, **kwargs: Any) -> None:
        from hydra.core.utils import JobStatus
        from hydra.types import RunMode

        if config.hydra.mode != RunMode.MULTIRUN:
            return               # a single run is not part of the sweep whose folder it may share
        sweep_dir = Path(str(config.hydra.sweep.dir)).resolve()
        try:
            plan = json.loads((sweep_dir / PLAN).read_text())
        except (OSError, ValueError):
            return               # not launched through this callback's on_multirun_start
        out_dir = Path(str(config.hydra.runtime.output_dir))
        manifest = read_manifest(out_dir) or {}
        if job_return.status == JobStatus.FAILED:
            status = "failed"
        elif manifest.get("finished", "") < plan["started"]:
            status = "kept"      # complete before this invocation began: the job skipped it
        else:
            status = "complete"
        entry = {"invocation": plan["invocation"], "dir": os.path.relpath(out_dir, sweep_dir), "status": status,
                 "time": time.time(), "wall_seconds": manifest.get("wall_seconds")}
        # One short line per write with O_APPEND: concurrent workers' lines do not interleave.
        with open(sweep_dir / PROGRESS, "a") as fh:
            fh.write(json.dumps(entry) + "\n")
        entries = _read_progress(sweep_dir, plan["invocation"])
        message = f"[sweep] {entry['dir']}: {status}; " + progress_line(plan, entries, time.time())
        if status == "failed":
            log.error("%s; error: %s", message, manifest.get("error", "see the job's log"))
        else:
            log.info(message)

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        sweep_dir = Path(str(config.hydra.sweep.dir)).resolve()
        status = sweep_status(sweep_dir)
        if status.failed or status.incomplete:
            # Every job returned, yet some folders hold no result (e.g. a cluster's jobs wrote
            # to a relative sweep folder on another machine): the sweep did not succeed.
            # `python -m sim` prints the status for every exit 1 of a sweep.
            raise SystemExit(1)
        print(status.describe(), flush=True)
        if self.compare and status.complete:
            from sim.analysis import AnalysisError, compare_sweep

            try:
                compare_sweep(sweep_dir, baseline=self.baseline)
            except AnalysisError as exc:
                print(f"exposim: cannot compare: {exc}", flush=True)
                raise SystemExit(2) from None


@dataclass
class SweepStatus:
    """The planned runs of a sweep folder by state, read back from their manifests."""

    sweep_dir: Path
    complete: list[str]
    failed: list[tuple[str, str]]      # (folder, error)
    incomplete: list[str]
    kept: int
    elapsed: float | None

    def describe(self) -> str:
        total = len(self.complete) + len(self.failed) + len(self.incomplete)
        lines = [f"exposim sweep {self.sweep_dir}: {len(self.complete)}/{total} runs complete "
                 f"({self.kept} kept from before, {len(self.complete) - self.kept} run now)"
                 + (f" in {format_duration(self.elapsed)}" if self.elapsed is not None else "")]
        for folder, error in self.failed:
            lines.append(f"  failed: {folder}: {error}")
        for folder in self.incomplete:
            lines.append(f"  not complete: {folder}")
        if self.failed or self.incomplete:
            lines.append("  Run the same command again to compute only the runs that are not complete; "
                         "each failed run's manifest.json holds its traceback.")
        return "\n".join(lines)


def sweep_status(sweep_dir: Path) -> SweepStatus:
    """The state of every run the last invocation planned in ``sweep_dir``."""
    sweep_dir = Path(sweep_dir)
    plan = json.loads((sweep_dir / PLAN).read_text())
    complete, failed, incomplete = [], [], []
    for job in plan.get("jobs") or []:
        manifest = read_manifest(sweep_dir / job["dir"]) or {}
        state = manifest.get("status")
        if state == "complete":
            complete.append(job["dir"])
        elif state == "failed":
            failed.append((job["dir"], manifest.get("error", "")))
        else:
            incomplete.append(job["dir"])
    return SweepStatus(sweep_dir, complete, failed, incomplete, kept=int(plan.get("already_complete", 0)),
                       elapsed=time.time() - plan["started_unix"])
