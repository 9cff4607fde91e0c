"""``python -m sim.analysis compare DIR``: compare the settings of a sweep folder.

Writes ``DIR/comparison.parquet`` and ``DIR/report.html`` and prints the table.
Exit status 2, with a message, when the folder or an option cannot be used.
"""

from __future__ import annotations

import argparse
import sys

from sim.analysis.compare import AnalysisError, compare_sweep


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m sim.analysis", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    cmp = sub.add_parser("compare", help="compare the settings of a sweep folder",
                         description="Per-setting means with bootstrap intervals over replicates, paired "
                                     "differences against a baseline setting, comparison.parquet and report.html.")
    cmp.add_argument("dir", help="the sweep folder (hydra.sweep.dir), e.g. outputs/experiments/safeguard_comparison")
    cmp.add_argument("--baseline", default=None,
                     help="the setting to compare against: its label (e.g. 'safeguards=none') or a part of it "
                          "that names one setting; default: the setting the sweep launched first")
    cmp.add_argument("--metrics", default=None,
                     help="comma-separated summary columns to compare (default: every summary figure)")
    cmp.add_argument("--resamples", type=int, default=2000, help="bootstrap resamples (default 2000)")
    cmp.add_argument("--level", type=float, default=0.95, help="interval level (default 0.95)")
    cmp.add_argument("--no-report", action="store_true", help="write comparison.parquet only, not report.html")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    metrics = [m.strip() for m in args.metrics.split(",") if m.strip()] if args.metrics else None
    try:
        compare_sweep(args.dir, baseline=args.baseline, metrics=metrics, resamples=args.resamples,
                      level=args.level, report=not args.no_report)
    except AnalysisError as exc:
        print(f"exposim: cannot compare: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
