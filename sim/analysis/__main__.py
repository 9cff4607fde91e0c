"""``python -m sim.analysis compare DIR``: compare the settings of a sweep folder.

Writes ``DIR/comparison.parquet`` and ``DIR/report.html`` and prints the table.
Exit status 2, with a message and nothing written, when the folder or an option
cannot be used (options are checked before any run is read), or when the runs
were made by different code and ``--mixed-code`` was not given.

``python -m sim.analysis table DIR [--metrics a,b] [--figures-down]`` prints a
compared sweep's ``comparison.parquet`` as a Markdown table, with the report's
names and units (the tables in the READMEs come from it).
"""

from __future__ import annotations

import argparse
import sys

from sim.analysis.compare import RESAMPLES_RANGE, AnalysisError, check_options, compare_sweep


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m sim.analysis", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    cmp = sub.add_parser("compare", help="compare the settings of a sweep folder",
                         description="Per-setting means with Student-t intervals over replicates, paired "
                                     "differences against a baseline setting (paired t intervals; Fieller or "
                                     "BCa intervals for relative changes), comparison.parquet and report.html.")
    cmp.add_argument("dir", help="the sweep folder (hydra.sweep.dir), e.g. outputs/experiments/safeguard_comparison")
    cmp.add_argument("--baseline", default=None,
                     help="the setting to compare against: its label (e.g. 'safeguards=none') or a part of it "
                          "that names one setting; default: the setting the sweep launched first")
    cmp.add_argument("--metrics", default=None,
                     help="comma-separated summary columns to compare (default: every summary figure)")
    cmp.add_argument("--resamples", type=int, default=2000,
                     help=f"bootstrap resamples for the BCa interval of a relative change over 10 or more "
                          f"pairs, {RESAMPLES_RANGE[0]:,} to {RESAMPLES_RANGE[1]:,} (default 2000)")
    cmp.add_argument("--level", type=float, default=0.95,
                     help="interval level, strictly between 0 and 1 (default 0.95)")
    cmp.add_argument("--no-report", action="store_true", help="write comparison.parquet only, not report.html")
    cmp.add_argument("--mixed-code", action="store_true",
                     help="compare even when the runs were made by different versions of the code (different "
                          "source fingerprints in their manifests); the table and the report then say so. "
                          "Without it such a sweep is refused: re-run its command to recompute the stale runs")
    tab = sub.add_parser("table", help="print a compared sweep as a Markdown table",
                         description="A compared sweep's comparison.parquet as a Markdown table: mean [t interval] "
                                     "and change from the baseline per cell, (n.d.) where the paired interval "
                                     "spans 0; the report's names, shares in %.")
    tab.add_argument("dir", help="a sweep folder holding comparison.parquet (run `compare` on it first)")
    tab.add_argument("--metrics", default=None, help="comma-separated summary columns (default: the headline)")
    tab.add_argument("--figures-down", action="store_true", help="one row per figure, one column per setting")
    return parser


def _table(args: argparse.Namespace) -> int:
    from pathlib import Path

    import pyarrow.parquet as pq

    from sim.analysis.compare import COMPARISON
    from sim.analysis.markdown import markdown_table

    path = Path(args.dir) / COMPARISON
    if not path.is_file():
        print(f"exposim: no {COMPARISON} in {args.dir}: run `python -m sim.analysis compare {args.dir}` first",
              file=sys.stderr)
        return 2
    metrics = [m.strip() for m in args.metrics.split(",") if m.strip()] if args.metrics else None
    try:
        print(markdown_table(pq.read_table(path), metrics, figures_down=args.figures_down))
    except ValueError as exc:
        print(f"exposim: --metrics: {exc}", file=sys.stderr)
        return 2
    return 0


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.command == "table":
        return _table(args)
    metrics = [m.strip() for m in args.metrics.split(",") if m.strip()] if args.metrics else None
    try:
        check_options(args.resamples, args.level)       # before any run is read
        compare_sweep(args.dir, baseline=args.baseline, metrics=metrics, resamples=args.resamples,
                      level=args.level, report=not args.no_report, mixed_code=args.mixed_code)
    except AnalysisError as exc:
        print(f"exposim: cannot compare: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
