"""A sweep folder in, a comparison out: ``comparison.parquet``, a terminal table, ``report.html``.

Core objects: :func:`compare_sweep`, :class:`Comparison`, :func:`format_table`,
:func:`check_options`, :class:`AnalysisError`.

Runs are pooled only when one code made them: the complete runs of a sweep
must all carry the same source fingerprint (``code.fingerprint`` in their
manifests; a manifest without one counts as code ``unknown``), unless
``mixed_code`` says to compare anyway, and then the table and the report say so.
Nothing is written when the comparison is refused.
"""

from __future__ import annotations

import json
import math
import numbers
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

import pyarrow as pa

from sim.analysis.labels import HEADLINE, TIMELINE_SERIES, scale, setting_label, title
from sim.analysis.runs import (UNKNOWN_CODE, Run, assign_settings, decoy_days, runs_table, scan_runs,
                               summary_dataset)
from sim.analysis.stats import MIN_REPLICATES, compare_settings, decoy_timelines
from sim.analysis.text import (DETECTED, NOT_DETECTED, TOO_FEW, difference_verdict, interval, interval_methods,
                               lacks_interval, number, too_few)
from sim.config import Config
from sim.io import flatten_config, package_version, write_parquet

COMPARISON = "comparison.parquet"
REPORT = "report.html"
_ADDED = ("setting", "order", "replicate_key", "run_dir")
#: Bootstrap resamples allowed (inclusive) for the BCa interval of a relative change (10 pairs or more): fewer
#: give unstable interval ends, more only cost memory and time.
RESAMPLES_RANGE = (100, 100_000)
#: How many hex digits of a source fingerprint messages show.
SHORT = 12


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
    #: source fingerprint (or "unknown") -> number of complete runs it made; more than one only with mixed_code
    code_versions: dict[str, int] | None = None
    #: bootstrap resamples of a BCa interval (a relative change over 10 pairs or more); None: not recorded
    resamples: int | None = None


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


def check_options(resamples: int, level: float) -> None:
    """Raise :class:`AnalysisError` unless ``resamples`` and ``level`` are in range.

    ``resamples``: a whole number from 100 to 100,000 (inclusive); ``level``: strictly between 0 and 1.
    """
    lo, hi = RESAMPLES_RANGE
    if isinstance(resamples, bool) or not isinstance(resamples, numbers.Integral) or not lo <= resamples <= hi:
        raise AnalysisError(f"--resamples={resamples}: must be a whole number between {lo:,} and {hi:,} "
                            "(inclusive; default 2,000)")
    if isinstance(level, bool) or not isinstance(level, numbers.Real) or not 0 < level < 1:
        raise AnalysisError(f"--level={level}: must be strictly between 0 and 1 (e.g. 0.95)")


def _short(fingerprint: str) -> str:
    return fingerprint if fingerprint == UNKNOWN_CODE else fingerprint[:SHORT]


def _installed_fingerprint() -> str | None:
    """The source fingerprint of the code installed now, where sim.io can tell it."""
    try:
        from sim.io import code_identity
        return code_identity().get("fingerprint")
    except Exception:       # an older sim.io without code identity, or no readable source: unknown
        return None


def _runs(n: int) -> str:
    return f"{n} run" + ("" if n == 1 else "s")


def _code_versions(complete: list[Run]) -> dict[str, int]:
    """Source fingerprint -> number of complete runs, most runs first (ties by fingerprint)."""
    counts: dict[str, int] = {}
    for r in complete:
        counts[r.code] = counts.get(r.code, 0) + 1
    return dict(sorted(counts.items(), key=lambda item: (-item[1], item[0])))


def _versions_text(versions: dict[str, int]) -> str:
    return ", ".join(f"{_short(fp)}: {_runs(n)}" for fp, n in versions.items())


def _mixed_code_message(complete: list[Run], versions: dict[str, int]) -> str:
    """Why the complete runs are not compared: which code versions, how many runs each, which settings mix them."""
    installed = _installed_fingerprint()
    lines = [f"the {len(complete)} complete runs were made by {len(versions)} different versions of the code "
             "(source fingerprints); comparing them would pool results of different code:"]
    for fp, n in versions.items():
        note = ""
        if fp == installed:
            note = " (the installed code)"
        elif fp == UNKNOWN_CODE:
            note = " (manifests with no code fingerprint: written before runs recorded one)"
        lines.append(f"  {_short(fp)}: {_runs(n)}{note}")
    by_setting: dict[str, dict[str, int]] = {}
    order: dict[str, int] = {}
    for r in complete:
        counts = by_setting.setdefault(r.setting, {})
        counts[r.code] = counts.get(r.code, 0) + 1
        order[r.setting] = r.order
    settings = sorted(by_setting, key=lambda s: (order[s], s))
    mixed = [s for s in settings if len(by_setting[s]) > 1]

    def versions_of(setting: str) -> str:
        counts = by_setting[setting]
        return ", ".join(f"{_short(fp)}: {_runs(counts[fp])}" for fp in versions if fp in counts)

    if mixed:
        lines.append(f"settings with runs from more than one version ({len(mixed)} of {len(settings)}):")
        lines += [f"  {s} ({versions_of(s)})" for s in mixed]
    else:
        lines.append("no setting has runs from more than one version, but the settings were made by different code:")
        lines += [f"  {s} ({versions_of(s)})" for s in settings]
    stale = "the runs not made by the installed code" if installed in versions else "the stale runs"
    lines.append(f"To proceed, either re-run the sweep's command to recompute {stale} (a finished run is reused "
                 "only when the same code made it), then compare again; or pass --mixed-code (mixed_code=True "
                 "in Python) to compare anyway.")
    return "\n".join(lines)


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


#: ``out`` default of :func:`compare_sweep`: the ``sys.stdout`` of the moment of the call (None: print nothing).
STDOUT = object()


def compare_sweep(sweep_dir: str | Path, *, baseline: str | None = None, metrics: list[str] | None = None,
                  resamples: int = 2000, level: float = 0.95, report: bool = True, mixed_code: bool = False,
                  out: TextIO | None | object = STDOUT) -> Comparison:
    """Compare every setting of the sweep in ``sweep_dir`` with a baseline setting.

    Reads every complete run's ``summary.parquet`` (once, as the runs are checked) into one table,
    computes per-setting means with Student-t intervals over replicates and
    paired differences against ``baseline`` (default: the setting the sweep
    launched first) with paired t intervals, and relative changes with
    Fieller or BCa intervals (:mod:`sim.analysis.stats` says which and why),
    and writes ``comparison.parquet`` and (``report``) ``report.html`` into
    ``sweep_dir``; prints the table to ``out``. ``resamples`` is used only by
    the BCa interval (a relative change over 10 pairs or more).

    The complete runs must all have been made by the same code (one source
    fingerprint; a manifest without one counts as ``unknown``); with
    ``mixed_code`` they are compared anyway and the table and report say from
    how many code versions they come. The fingerprints are recorded in
    comparison.parquet's schema metadata (``exposim.code_fingerprints``, a
    sorted JSON list). Nothing is written when the comparison is refused.

    Raises:
        AnalysisError: a resample count outside 100..100,000 or a level not
            strictly between 0 and 1 (checked before anything is read), no such
            folder, no complete run in it, runs made by different code (without
            ``mixed_code``), two runs of one setting and replicate, or an unknown
            baseline or metric.
    """
    check_options(resamples, level)
    sweep_dir = Path(sweep_dir)
    if not sweep_dir.is_dir():
        raise AnalysisError(f"{sweep_dir} is not a folder")
    runs = scan_runs(sweep_dir)
    assign_settings(runs)
    summary = summary_dataset(runs)
    if summary.num_rows == 0:
        states = ", ".join(f"{sum(r.status == s for r in runs)} {s}" for s in ("failed", "incomplete", "invalid"))
        raise AnalysisError(f"no complete run under {sweep_dir} ({len(runs)} run folders: {states})")
    complete = [r for r in runs if r.status == "complete"]
    code_versions = _code_versions(complete)
    if len(code_versions) > 1 and not mixed_code:
        raise AnalysisError(_mixed_code_message(complete, code_versions))
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
    timelines = decoy_timelines(series, setting_of, display, names, level=level)

    meta = {b"exposim.baseline": baseline.encode(), b"exposim.level": str(level).encode(),
            b"exposim.resamples": str(resamples).encode(),
            b"exposim.code_fingerprints": json.dumps(sorted(code_versions)).encode()}
    page = None
    if report:      # rendered before anything is written: a failure here leaves the folder as it was
        from sim.analysis.report import render_report

        by_setting: dict[str, dict[str, int]] = {}
        for r in complete:
            counts = by_setting.setdefault(r.setting, {})
            counts[r.code] = counts.get(r.code, 0) + 1
        from sim.analysis.trust import load_evidence, sweep_context

        evidence = load_evidence()
        compared, world = sweep_context(summary, (evidence.get("fit") or {}).get("point"))
        page = render_report(table, timelines, runs_table(runs), {
            "title": f"exposim comparison: {sweep_dir.resolve().name}",
            "sweep_dir": str(sweep_dir.resolve()),
            "baseline": baseline,
            "level": level,
            "resamples": resamples,
            "exposim_version": package_version("exposim") or "unknown",
            "metrics": [m for m in HEADLINE if m in metrics],
            "code_versions": code_versions,
            "code_by_setting": {s: by_setting[s] for s in settings if s in by_setting},
            "trust": {"compared": compared, "world": world, "evidence": evidence},
        })
    comparison_path = sweep_dir / COMPARISON
    write_parquet(comparison_path, table.replace_schema_metadata(meta))
    report_path = None
    if page is not None:
        from sim.analysis.report import write_text

        report_path = write_text(sweep_dir / REPORT, page)
    result = Comparison(table, timelines, runs, baseline, settings, list(metrics), comparison_path, report_path,
                        code_versions, resamples)
    if out is STDOUT:
        out = sys.stdout           # looked up now, so redirect_stdout and pytest's capture see the table
    if out is not None:
        print(format_table(result, level), file=out)   # type: ignore[arg-type]
    return result


def _signed_pct(x: float) -> str:
    return f"{x * 100:+.0f}"


def _change(row: dict, k: float = 1.0) -> str:
    """The change column: relative change [interval], or the difference where there is no relative change
    (``k`` rescales it as the figure is shown: 100 for a share, in points), then what the paired difference's
    interval says (* excludes 0; no detectable difference; too few)."""
    if row["is_baseline"]:
        return "baseline"
    rel, lo, hi = row["rel_change"], row["rel_low"], row["rel_high"]
    diff, dlo, dhi = row["diff_mean"], row["diff_low"], row["diff_high"]
    if math.isfinite(rel):
        text = f"{_signed_pct(rel)}%"
        if math.isfinite(lo) and math.isfinite(hi):
            text += f" [{_signed_pct(lo)}, {_signed_pct(hi)}]"
        elif math.isfinite(dlo) and math.isfinite(dhi):
            text += " (relative interval unbounded)"
    elif math.isfinite(diff):
        text = f"{k * diff:+.3g}"
        if math.isfinite(dlo) and math.isfinite(dhi):
            text += f" [{k * dlo:+.3g}, {k * dhi:+.3g}]"
        text += " points" if k == 100.0 else ""
    else:
        return "–"
    verdict = difference_verdict(row["n_pairs"], dlo, dhi)
    if verdict == DETECTED:
        return text + " *"
    if verdict == NOT_DETECTED:
        return text + " no detectable difference"
    if verdict == TOO_FEW:
        return text + ", " + too_few(row["n_pairs"])
    return text


def _mean_interval(row: dict, k: float = 1.0) -> str:
    """The interval column: ``[low, high]`` (times ``k``), or why there is none (in short: a footnote says
    the rest)."""
    if lacks_interval(row["n"], row["ci_low"], row["ci_high"]):
        return f"too few replicates ({row['n']})"
    return interval(k * row["ci_low"], k * row["ci_high"])


def format_table(result: Comparison, level: float = 0.95) -> str:
    """The terminal table: per headline metric, each setting's mean, interval and change vs the baseline.

    Figures and settings have the names the report gives them, and shares are shown in % as there.

    A mean or change from fewer than 3 finite replicates (or pairs) has no interval and says so; a change
    whose paired difference has an interval spanning 0 reads "no detectable difference".
    """
    rows = result.table.to_pylist()
    by_key = {(r["setting"], r["metric"]): r for r in rows}
    metrics = [m for m in HEADLINE if m in result.metrics] or result.metrics[:8]
    names = {s: setting_label(s) for s in result.settings}    # the ideal preset is named as a bound
    width = max(len(n) for n in names.values())
    shown = [by_key[(s, m)] for m in metrics for s in result.settings]
    few = [r for r in shown if lacks_interval(r["n"], r["ci_low"], r["ci_high"])
           or (not r["is_baseline"] and lacks_interval(r["n_pairs"], r["diff_low"], r["diff_high"]))]
    pct = f"{level * 100:g}%"
    complete = sum(r.status == 'complete' for r in result.runs)
    lines = [f"{len(result.settings)} settings, "
             f"{complete} complete runs; means over replicates with {pct} t intervals; "
             f"change vs baseline ({setting_label(result.baseline)}) paired by replicate; "
             "* = the paired difference's interval excludes 0, "
             "no detectable difference = it spans 0 at these replicates; shares in %"]
    versions = result.code_versions or {}
    if len(versions) > 1:
        lines.append(f"MIXED CODE: the {complete} complete runs come from {len(versions)} code versions "
                     f"({_versions_text(versions)}); compared anyway (--mixed-code), so a difference may come "
                     "from the code, not the setting")
    lines += [f"  {names[s]:<{width}}  = {s}" for s in result.settings if names[s] != s]
    for metric in metrics:
        lines.append("")
        lines.append(title(metric))
        k = scale(metric)
        for setting in result.settings:
            r = by_key[(setting, metric)]
            lines.append(f"  {names[setting]:<{width}}  n={r['n']:<3} {number(k * r['mean']):>8} "
                         f"{_mean_interval(r, k):<22} {_change(r, k)}")
    bad = [r for r in result.runs if r.status != "complete"]
    if bad:
        lines.append("")
        lines.append(f"{len(bad)} run folders are not complete and were left out:")
        lines += [f"  {r.rel}: {r.status}" + (f" ({r.error})" if r.error else "") for r in bad[:20]]
    lines.append("")
    lines.append(interval_methods(level, result.resamples) + ".")
    if few:
        lines.append(f"too few replicates (n): fewer than {MIN_REPLICATES} finite replicates (or pairs with the "
                     "baseline), too few for an interval; that mean or change is shown but not tested.")
    lines.append("")
    lines.append(f"comparison: {result.comparison_path}")
    if result.report_path is not None:
        lines.append(f"report:     {result.report_path}")
    return "\n".join(lines)
