"""``python -m sim`` (and the ``exposim`` command): check the command, then let Hydra run it.

Exit status: 0 done; 2 the command was refused (bad key, value, file, folder,
or a world too large for memory), with nothing written; 1 a run or a job of a
sweep failed (recorded in its folder's manifest) or could not write its results.
"""

from __future__ import annotations

import sys
from pathlib import Path

from sim import app, preflight
from sim.config import CONFIG_ERROR_EXIT, ConfigError
from sim.sweep import PLAN_HANDOVER, plan_job, sweep_status, write_plan


def main(argv: list[str] | None = None) -> None:
    """Check every run the command line asks for (:func:`sim.preflight.check`), then run it with Hydra."""
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        checked = preflight.check(argv)
    except ConfigError as exc:
        print(f"exposim: configuration error: {exc}", file=sys.stderr)
        sys.exit(CONFIG_ERROR_EXIT)
    plan_file = None
    if checked is not None:
        argv += checked.pinned
        if checked.multirun and checked.runs:
            plan_file = _hand_over_plan(checked)
            argv.append(f"hydra.callbacks.exposim_sweep.plan_file={preflight.quoted(plan_file)}")
    sys.argv = [sys.argv[0], *argv]
    try:
        if plan_file is not None:
            with preflight.jobs_composed_once(checked):
                app.hydra_main()
        else:
            app.hydra_main()
    except SystemExit as exc:
        if exc.code == 1 and checked is not None and checked.multirun:
            # A job failed (Hydra stops before the sweep's end) or left no result: say where things stand.
            _print_sweep_status(checked.out_dir)
        raise
    finally:
        if plan_file is not None:
            Path(plan_file).unlink(missing_ok=True)


def _hand_over_plan(checked: preflight.Checked) -> str:
    """Write the sweep's plan (folders, which runs are complete) into the sweep folder, for the sweep callback."""
    sweep_dir = Path(checked.out_dir)
    sweep_dir.mkdir(parents=True, exist_ok=True)
    path = sweep_dir / PLAN_HANDOVER
    planned = [plan_job(run.overrides, run.config, run.out_dir) for run in checked.runs or []]
    write_plan(sweep_dir, planned, path)
    return str(path.resolve())


def _print_sweep_status(sweep_dir: Path) -> None:
    try:
        print(sweep_status(sweep_dir).describe(), file=sys.stderr)
    except (OSError, ValueError):
        pass               # the sweep stopped before writing its plan: Hydra's own message stands


if __name__ == "__main__":
    main()
