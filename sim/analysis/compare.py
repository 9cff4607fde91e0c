"""A sweep folder in, a comparison out: ``comparison.parquet``, a terminal table, ``report.html``.

Core objects: :func:`compare_sweep`, :class:`Comparison`, :func:`format_table`,
:class:`AnalysisError`.
"""

from __future__ import annotations

import math
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

import pyarrow as pa

from sim.analysis.labels import HEADLINE, TIMELINE_SERIES, label
from sim.analysis.runs import Run, assign_settings, decoy_days, runs_table, scan_runs, summary_dataset
from sim.analysis.stats import compare_settings, decoy_timelines
from sim.analysis.text import excludes_zero, interval, number
from sim.config import Config
from sim.io import flatten_config, package_version, write_parquet

COMPARISON = "comparison.parquet"
REPORT = "report.html"
_ADDED = ("setting", "order", "replicate_key", "run_dir")


class AnalysisError(ValueError):
    """The sweep folder or the options given cannot be compared (the message says why)."""


@dataclass
class Comparison:
    """What :func:`compare_sweep` computed and wrote."""

    table: pa.Table            # COMPARISON_SCHEMA rows
    timelines: pa.Table
    runs: list[Run]
    baseline: str
    settings: list[str]
    metrics: list[str]
    comparison_path: Path
    report_path: Path | None


def summary_metrics(summary: pa.Table) -> list[str]:
    """The summary figures among a summary dataset's columns (config columns and added ones left out)."""
    config_keys = set(flatten_config(Config()))
    return [f.name for f in summary.schema
            if f.name not in config_keys and f.name not in _ADDED and pa.types.is_floating(f.type)]


def _check_one_run_per_replicate(summary: pa.Table) -> None:
    seen: dict[tuple[str, str], str] = {}
    for setting, rep, run_dir in zip(summary["setting"].to_pylist(), summary["replicate_key"].to_pylist(),
                                     summary["run_dir"].to_pylist()):
        if (setting, rep) in seen:
            raise AnalysisError(f"two runs of setting {setting!r} have the same replicate ({rep}): "
                                f"{seen[(setting, rep)]} and {run_dir}; they would be counted twice. "
                                "Compare one sweep at a time, or give them different replicates.")
        seen[(setting, rep)] = run_dir


def _resolve_baseline(requested: str | None, settings: list[str]) -> str:
    if requested is None:
        return settings[0]
    if requested in settings:
        return requested
    matches = [s for s in settings if requested in s]
    if len(matches) == 1:
        return matches[0]
    raise AnalysisError(f"--baseline {requested!r} " + ("matches several settings" if matches else
                        "matches no setting") + "; the settings are: " + "; ".join(settings))


def compare_sweep(sweep_dir: str | Path, *, baseline: str | None = None, metrics: list[str] | None = None,
                  resamples: int = 2000, level: float = 0.95, report: bool = True,
                  out: TextIO | None = sys.stdout) -> Comparison:
    """Compare every setting of the sweep in ``sweep_dir`` with a baseline setting.

    Reads every complete run's ``summary.parquet`` as one pyarrow dataset,
    computes per-setting means with bootstrap intervals over replicates and
    paired differences against ``baseline`` (default: the setting the sweep
    launched first), and writes ``comparison.parquet`` and (``report``)
    ``report.html`` into ``sweep_dir``; prints the table to ``out``.

    Raises:
        AnalysisError: no such folder, no complete run in it, an unknown
            baseline or metric, or an invalid level or resample count.
    """
    sweep_dir = Path(sweep_dir)
    if not sweep_dir.is_dir():
        raise AnalysisError(f"{sweep_dir} is not a folder")
    if not 0 < level < 1:
        raise AnalysisError(f"--level={level}: must be between 0 and 1 (e.g. 0.95)")
    if resamples < 100:
        raise AnalysisError(f"--resamples={resamples}: must be at least 100")
    runs = scan_runs(sweep_dir)
    assign_settings(runs)
    summary = summary_dataset(runs)
    if summary.num_rows == 0:
        states = ", ".join(f"{sum(r.status == s for r in runs)} {s}" for s in ("failed", "incomplete", "invalid"))
        raise AnalysisError(f"no complete run under {sweep_dir} ({len(runs)} run folders: {states})")
    _check_one_run_per_replicate(summary)
    order = dict(zip(summary["setting"].to_pylist(), summary["order"].to_pylist()))
    settings = sorted(order, key=lambda s: (order[s], s))
    baseline = _resolve_baseline(baseline, settings)
    available = summary_metrics(summary)
    if metrics is None:
        metrics = available
    unknown = [m for m in metrics if m not in available]
    if unknown:
        raise AnalysisError(f"unknown metric {unknown[0]!r}; the summary has: {', '.join(available)}")
    table = compare_settings(summary, metrics, baseline, resamples=resamples, level=level)
    display = dict(zip(table["setting"].to_pylist(), table["order"].to_pylist()))
    settings = sorted(display, key=display.get)

    names = {name: i + 1 for i, name in enumerate(TIMELINE_SERIES)}
    series = decoy_days(runs, [column for column, _ in TIMELINE_SERIES.values()])
    setting_of = {r.rel: r.setting for r in runs}
    timelines = decoy_timelines(series, setting_of, display, names, resamples=resamples, level=level)

    meta = {b"exposim.baseline": baseline.encode(), b"exposim.level": str(level).encode(),
            b"exposim.resamples": str(resamples).encode()}
    comparison_path = sweep_dir / COMPARISON
    write_parquet(comparison_path, table.replace_schema_metadata(meta))
    report_path = None
    if report:
        from sim.analysis.report import write_report

        report_path = write_report(sweep_dir / REPORT, table, timelines, runs_table(runs), {
            "title": f"exposim comparison: {sweep_dir.resolve().name}",
            "sweep_dir": str(sweep_dir.resolve()),
            "baseline": baseline,
            "level": level,
            "resamples": resamples,
            "exposim_version": package_version("exposim") or "unknown",
            "metrics": [m for m in HEADLINE if m in metrics],
        })
    result = Comparison(table, timelines, runs, baseline, settings, list(metrics), comparison_path, report_path)
    if out is not None:
        print(format_table(result, level), file=out)
    return result


def _change(row: dict) -> str:
    if row["is_baseline"]:
        return "baseline"
    rel, lo, hi = row["rel_change"], row["rel_low"], row["rel_high"]
    if not math.isfinite(rel):
        text = f"{row['diff_mean']:+.3g}" if math.isfinite(row["diff_mean"]) else "–"
    else:
        text = f"{rel * 100:+.0f}%"
        if math.isfinite(lo) and math.isfinite(hi):
            text += f" [{lo * 100:+.0f}, {hi * 100:+.0f}]"
    return text + (" *" if excludes_zero(row["diff_low"], row["diff_high"]) else "")


def format_table(result: Comparison, level: float = 0.95) -> str:
    """The terminal table: per headline metric, each setting's mean, interval and change vs the baseline."""
    rows = result.table.to_pylist()
    by_key = {(r["setting"], r["metric"]): r for r in rows}
    metrics = [m for m in HEADLINE if m in result.metrics] or result.metrics[:8]
    width = max(len(s) for s in result.settings)
    pct = f"{level * 100:g}%"
    lines = [f"{len(result.settings)} settings, "
             f"{sum(r.status == 'complete' for r in result.runs)} complete runs; means over replicates, "
             f"{pct} bootstrap intervals; change vs baseline ({result.baseline}) paired by replicate, "
             f"* = interval of the difference excludes 0"]
    for metric in metrics:
        lines.append("")
        lines.append(label(metric))
        for setting in result.settings:
            r = by_key[(setting, metric)]
            lines.append(f"  {setting:<{width}}  n={r['n']:<3} {number(r['mean']):>8} "
                         f"{interval(r['ci_low'], r['ci_high']):<22} {_change(r)}")
    bad = [r for r in result.runs if r.status != "complete"]
    if bad:
        lines.append("")
        lines.append(f"{len(bad)} run folders are not complete and were left out:")
        lines += [f"  {r.rel}: {r.status}" + (f" ({r.error})" if r.error else "") for r in bad[:20]]
    lines.append("")
    lines.append(f"comparison: {result.comparison_path}")
    if result.report_path is not None:
        lines.append(f"report:     {result.report_path}")
    return "\n".join(lines)
