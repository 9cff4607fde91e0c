"""A standalone HTML report of a sweep comparison: run status, tables and figures in one file.

Core objects: :func:`write_report`, :func:`render_report`, :func:`write_text`.

The page needs nothing but a browser: the CSS is inline, every figure is an
inline SVG drawn by matplotlib (text kept as text, so it stays searchable and
sharp on a projector) and there is no JavaScript. Figures are built with
:class:`matplotlib.figure.Figure` directly rather than pyplot, so no backend is
selected and no global state is touched. Nothing time-dependent goes into the
page and SVG ids come from a fixed salt, so the same inputs give a
byte-identical file. Which metrics come first and what they are called comes
from :mod:`sim.analysis.labels`, and so does how a setting is named (the
``ideal`` preset is named as an analytic bound, not a policy); every other
numeric metric still appears in the full table at the end.
"""

from __future__ import annotations

import html
import io
import math
import os
import re
import textwrap
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import matplotlib
import numpy as np
import pyarrow as pa
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from sim.analysis.labels import (CONTACT_METRICS, COST_METRICS, DAY_METRICS, HARM_METRICS, HEADLINE, HEADLINE_GROUPS,
                                 LABELS, SENDER_METRICS, TIMELINE_SERIES, is_share, scale, setting_label, title)
from sim.analysis.settings import SAFEGUARD_TITLES, describe
from sim.analysis.stats import BCA_MIN_PAIRS, MIN_REPLICATES, t_quantile
from sim.analysis.text import (DETECTED, NO_DIFFERENCE, NOT_DETECTED, TOO_FEW, difference_verdict, excludes_zero,
                               interval, lacks_interval, number, too_few)

DASH = "–"
MINUS = "−"
MARK = "◆"
STATUSES = ("complete", "failed", "incomplete", "invalid")
#: At most this many figures (or settings) across one table, so every table fits a printed A4 or Letter page.
COLUMNS = 3

# Okabe–Ito: distinguishable under the common colour-vision deficiencies.
BASELINE_COLOUR = "#000000"
PALETTE = ("#0072B2", "#E69F00", "#009E73", "#CC79A7", "#D55E00", "#56B4E9", "#F0E442")
LINESTYLES = ("-", "--", ":", "-.")
MARKERS = ("o", "s", "^", "D", "v", "P", "X", "*")

_RC = {
    "svg.fonttype": "none",          # text stays <text>, not glyph outlines
    "svg.hashsalt": "exposim-report",  # deterministic ids
    "font.family": "sans-serif",
    "font.size": 11,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.grid": True,
    "grid.color": "#dddddd",
    "grid.linewidth": 0.8,
}

CSS = """
body{margin:0;background:#fafafa;color:#1a1a1a;font:17px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,
"Helvetica Neue",Arial,sans-serif}
main{max-width:1100px;margin:0 auto;padding:1.5rem 2rem 3rem;background:#fff}
h1{font-size:1.9rem;margin:.5rem 0 .25rem}h2{font-size:1.4rem;margin-top:2.2rem;border-bottom:2px solid #0072B2}
.sub{color:#555;margin-top:0}.note{color:#555;font-style:italic}
.scroll{overflow-x:auto}
table{border-collapse:collapse;margin:.75rem 0;font-size:.9rem}
table.fit{table-layout:fixed;width:100%}table.fit col.who{width:28%}
table.fit th,table.fit td{overflow-wrap:anywhere}
caption{text-align:left;font-weight:700;font-size:1.05rem;padding:.4rem 0}
th,td{border:1px solid #ccc;padding:.35rem .5rem;vertical-align:top;text-align:left}
thead th{background:#eef3f8}th[scope=row]{background:#f6f6f6;font-weight:600}
td.num{font-variant-numeric:tabular-nums}
tr.baseline th,tr.baseline td{background:#fff7d6}
.ci{color:#555;white-space:nowrap}.rel{display:block;color:#333;font-size:.85em}.sig .rel{font-weight:700}
.few,.verdict{display:block;color:#555;font-size:.8em;font-style:italic}
.reps{display:block;color:#555;font-size:.8em;font-weight:400}
.mark{color:#D55E00}.tag{font-size:.75em;background:#000;color:#fff;border-radius:3px;padding:0 .3em;
margin-left:.4em;white-space:nowrap}
td.err{white-space:pre-wrap;font-family:ui-monospace,Menlo,Consolas,monospace;font-size:.8em}
.code{font-family:ui-monospace,Menlo,Consolas,monospace;font-size:.8em;color:#555;font-weight:400}
.metric{display:block}
figure{margin:1rem 0}figure svg{max-width:100%;height:auto}figcaption{color:#444;font-size:.9rem}
ul.counts{list-style:none;padding:0;display:flex;gap:1.5rem;flex-wrap:wrap}
details summary{cursor:pointer;font-weight:600}
dl.settings dt{font-weight:700;margin-top:.8rem}dl.settings dd{margin:.2rem 0 0 1.2rem;font-size:.95rem}
.warn{border-left:6px solid #D55E00;background:#fff1e6;padding:.6rem .9rem}.warn ul{margin:.3rem 0}
footer{margin-top:3rem;padding-top:.75rem;border-top:1px solid #ccc;color:#555;font-size:.85rem}
.lead{border-left:6px solid #0072B2;background:#eef3f8;padding:.6rem .9rem}ul.trust>li{margin:.5rem 0}
ul.trust code{font-size:.8em}
@page{margin:12mm}
@media print{
body{background:#fff;font-size:9.5pt;line-height:1.35}
main{max-width:none;padding:0;margin:0}
h1{font-size:16pt}h2{font-size:12.5pt;margin-top:1.2rem;break-after:avoid}
table{font-size:8pt;margin:.4rem 0}caption{font-size:9.5pt;break-after:avoid}
th,td{padding:.2rem .3rem}
table.fit,figure,tr,dl.settings dd{break-inside:avoid}
.scroll{overflow:visible}
details>*{display:block}details summary{display:none}
figure svg{max-height:23cm}
*{-webkit-print-color-adjust:exact;print-color-adjust:exact}
}
"""


def write_report(path: Path, comparison: pa.Table, timelines: pa.Table, runs: pa.Table, meta: dict) -> Path:
    """Write a standalone ``report.html`` (no network access needed: CSS inline, figures inline SVG, no JS).

    The file is written to a temporary name in the same folder and renamed into
    place, so a reader never sees half a page.

    Args:
        path: the HTML file to write; its folder must exist.
        comparison: one row per (setting, metric) with means, intervals and paired differences.
        timelines: one row per (setting, series, day) of cumulative decoy counts; may be empty.
        runs: one row per run folder with its status and error.
        meta: ``title``, ``sweep_dir``, ``baseline``, ``level``, ``resamples``, ``exposim_version``, ``metrics``;
            optionally ``code_versions`` (source fingerprint -> number of complete runs; more than one is
            reported as mixed code) and ``code_by_setting`` (setting -> the same, for that setting's runs).

    Returns:
        ``path``.
    """
    return write_text(path, render_report(comparison, timelines, runs, meta))


def write_text(path: Path, text: str) -> Path:
    """Write ``text`` (UTF-8) to ``path`` atomically: a temporary name in the same folder, then a rename.

    The file gets the mode the user's umask gives any new file (as the run tables do), not 0600.
    """
    path = Path(path)
    tmp = path.parent / f".{path.name}.{uuid.uuid4().hex[:12]}.tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as fh:
            fh.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def render_report(comparison: pa.Table, timelines: pa.Table, runs: pa.Table, meta: dict) -> str:
    """The report's HTML text (see :func:`write_report` for the arguments)."""
    res = _Results(comparison, meta.get("baseline"))
    page_title = str(meta.get("title") or "exposim comparison")
    metrics = list(meta.get("metrics") or HEADLINE)
    level = float(meta.get("level", 0.95))
    resamples = int(meta.get("resamples", 0))
    run_rows = runs.to_pylist()
    e = html.escape
    parts = [
        "<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{e(page_title)}</title><style>{CSS}</style></head><body><main>",
        f"<h1>{e(page_title)}</h1>",
        f'<p class="sub">Sweep <span class="code">{e(str(meta.get("sweep_dir", "")))}</span> · '
        f"{len(res.settings)} settings · baseline <strong>{e(setting_label(res.baseline))}</strong></p>",
        _mixed_code(meta.get("code_versions") or {}, meta.get("code_by_setting") or {}),
        _how_to_read(setting_label(res.baseline), level, resamples),
        _run_status(run_rows),
        "<section id=\"results\"><h2>Main results</h2>", _main_table(res, metrics), _MAIN_NOTE, "</section>",
        _settings_section(res),
        _trust(comparison, metrics, meta.get("trust")),
        _figure_section("harm", "Harm by setting", _interval_figure(res, HARM_METRICS),
                        "Mean and interval per setting; the dashed line is the baseline mean. A filled dot marks a "
                        "paired difference from the baseline whose interval excludes 0; an open dot, no detectable "
                        "difference at these replicates (or too few replicates for an interval)."),
        _figure_section("contact", "Contact by setting", _interval_figure(res, CONTACT_METRICS),
                        "Mean and interval per setting, drawn as for harm."),
        _sender_section(res),
        _timeline_section(timelines, res),
        _costs_section(res),
        _full_table(res),
        f"<footer>exposim {e(str(meta.get('exposim_version', 'unknown')))}{_code_footer(meta)} · "
        f"{len(run_rows)} runs · "
        f"{_level(level)}% intervals: t, paired t, Fieller (BCa with {resamples} bootstrap resamples at "
        f"{BCA_MIN_PAIRS} pairs or more) · sweep folder "
        f'<span class="code">{e(str(meta.get("sweep_dir", "")))}</span></footer>',
        "</main></body></html>", "",
    ]
    return "\n".join(parts)


def _trust(comparison: pa.Table, metrics: Sequence[str], trust: dict | None) -> str:
    """The "How far to trust this" section (:mod:`sim.analysis.trust`); absent when the caller gave no context."""
    if trust is None:
        return ""
    from sim.analysis.trust import trust_section

    return trust_section(comparison.to_pylist(), list(metrics), trust.get("compared") or {},
                         trust.get("world") or {}, trust.get("evidence"))


# ----------------------------------------------------------------------------- data


class _Results:
    """The comparison table indexed by (setting, metric), with settings in display order."""

    def __init__(self, comparison: pa.Table, baseline: str | None) -> None:
        rows = comparison.to_pylist()
        self.cells: dict[tuple[str, str], dict[str, Any]] = {(r["setting"], r["metric"]): r for r in rows}
        order: dict[str, int] = {}
        for r in rows:
            order.setdefault(r["setting"], int(r["order"]))
        self.settings: list[str] = sorted(order, key=lambda s: (order[s], s))
        self.metrics: set[str] = {r["metric"] for r in rows}
        flagged = [r["setting"] for r in rows if r.get("is_baseline")]
        if baseline in order:
            self.baseline = str(baseline)
        elif flagged:
            self.baseline = flagged[0]
        else:
            self.baseline = self.settings[0] if self.settings else str(baseline or "")

    def get(self, setting: str, metric: str, field: str) -> float:
        """One number of a cell, NaN when the cell or the value is missing."""
        row = self.cells.get((setting, metric))
        value = None if row is None else row.get(field)
        return math.nan if value is None else float(value)

    def significant(self, setting: str, metric: str) -> bool:
        """Whether the paired difference from the baseline has an interval excluding 0."""
        lo, hi = self.get(setting, metric, "diff_low"), self.get(setting, metric, "diff_high")
        return setting != self.baseline and excludes_zero(lo, hi)

    def ordered_metrics(self) -> list[str]:
        """Every metric present: the labelled ones in catalogue order, then the rest by name."""
        labelled = [m for m in LABELS if m in self.metrics]
        return labelled + sorted(self.metrics - set(labelled))




# ----------------------------------------------------------------------------- text


def _num(x: float) -> str:
    return number(x, MINUS, DASH)


def _interval(lo: float, hi: float) -> str:
    return interval(lo, hi, MINUS)


def _level(level: float) -> str:
    return f"{level * 100:g}"


def _signed(x: float) -> str:
    return ("+" if math.isfinite(x) and x > 0 else "") + _num(x)


def _count(res: _Results, setting: str, metric: str, field: str) -> int | None:
    value = res.get(setting, metric, field)
    return int(value) if math.isfinite(value) else None


def _cell(res: _Results, setting: str, metric: str) -> str:
    """A ``<td>``: mean [interval], then the relative change vs the baseline [interval] and what it shows.

    A mean or change without an interval because of too few replicates says so; a change whose paired
    difference has an interval spanning 0 reads "no detectable difference at these replicates".
    """
    e = html.escape
    if (setting, metric) not in res.cells:
        return f'<td class="num">{DASH}</td>'
    k = scale(metric)
    mean = res.get(setting, metric, "mean")
    if not math.isfinite(mean) and metric in DAY_METRICS:
        text = "never"
    else:
        lo, hi = res.get(setting, metric, "ci_low"), res.get(setting, metric, "ci_high")
        n = _count(res, setting, metric, "n")
        ci = _interval(k * lo, k * hi)
        text = '<span class="nw">' + _num(k * mean) + (f' <span class="ci">{ci}</span>' if ci else "") + "</span>"
        if n is not None and lacks_interval(n, lo, hi):
            text += f'<span class="few">{e(too_few(n))}</span>'
    if setting == res.baseline:
        return f'<td class="num">{text}<span class="rel">baseline</span></td>'
    rel = 100 * res.get(setting, metric, "rel_change")
    rel_ci = _interval(100 * res.get(setting, metric, "rel_low"), 100 * res.get(setting, metric, "rel_high"))
    diff, dlo, dhi = (k * res.get(setting, metric, f) for f in ("diff_mean", "diff_low", "diff_high"))
    if math.isfinite(rel):
        if not rel_ci and math.isfinite(dlo) and math.isfinite(dhi):
            rel_ci = "(interval unbounded)"       # Fieller: the baseline mean cannot be told from 0
        rel_text = f"{_signed(rel)}% {rel_ci}".rstrip()
    elif math.isfinite(diff):                     # a baseline mean of 0: the difference, not a ratio
        unit = "difference in points" if is_share(metric) else "difference"
        rel_text = f"{_signed(diff)} {_interval(dlo, dhi)}".rstrip() + f" ({unit})"
    else:
        rel_text = DASH
    n_pairs = _count(res, setting, metric, "n_pairs")
    verdict = difference_verdict(n_pairs, dlo, dhi)
    sig = verdict == DETECTED
    mark = f' <span class="mark" title="paired difference interval excludes 0">{MARK}</span>' if sig else ""
    words = ""
    if rel_text != DASH and verdict == NOT_DETECTED:
        words = f'<span class="verdict">{e(NO_DIFFERENCE)}</span>'
    elif rel_text != DASH and verdict == TOO_FEW and n_pairs is not None:
        words = f'<span class="verdict">{e(too_few(n_pairs))}</span>'
    return (f'<td class="num{" sig" if sig else ""}">{text}'
            f'<span class="rel">{e(rel_text)}{mark}</span>{words}</td>')


def _how_to_read(baseline: str, level: float, resamples: int) -> str:
    e = html.escape
    t5 = t_quantile(level, 4)
    return (
        '<section id="how-to-read"><h2>How to read this</h2><p>'
        "Each value is the mean over a setting's replicates; the brackets give its Student-t interval at "
        f"{_level(level)}% over replicates (mean ± t·s/√n, with s the spread between replicates and t the "
        f"quantile of Student's t with n − 1 degrees of freedom: {t5:.2f} on five replicates), which allows for "
        f"how few replicates there are. Under each value is its relative change from the baseline, "
        f"<strong>{e(baseline)}</strong>, with its interval (−30% means 30% below the baseline). Differences are "
        "paired: replicates share seeds across settings, so each setting is compared with the baseline run on the "
        "same simulated world, replicate by replicate. The interval of the difference is a paired t interval on "
        "the replicate-by-replicate differences; the interval of the relative change is Fieller's interval for "
        "the ratio of the two paired means, which excludes 0% exactly when the paired t interval excludes 0 "
        f"(with {BCA_MIN_PAIRS} pairs or more, a BCa bootstrap interval, {resamples} resamples, instead). "
        f"<span class=\"mark\">{MARK}</span> marks a setting whose paired difference from the baseline has an "
        "interval that excludes 0. Where that interval spans 0 the cell reads “"
        f"{e(NO_DIFFERENCE)}”: the replicates run cannot tell the setting from the baseline, which is not "
        f"evidence that the two are the same. With fewer than {MIN_REPLICATES} finite replicates (or pairs) no "
        "interval is given and the cell says “too few replicates (n) for an interval”; its mean or change is "
        "shown but not tested. Shares are shown as percentages. "
        f"{DASH} means no value (no finite replicate, or neither a baseline mean nor a difference to compare "
        "with); where the baseline mean is 0 the change is given as a difference; “(interval unbounded)” means "
        "the baseline mean is too close to 0 for the relative change to have a bounded interval; “never” means "
        "the decoys never met that event during the run.</p></section>"
    )


def _short(fingerprint: str) -> str:
    return fingerprint if fingerprint == "unknown" else fingerprint[:12]


def _runs(n: int) -> str:
    return f"{n} run" + ("" if n == 1 else "s")


def _mixed_code(versions: dict[str, int], by_setting: dict[str, dict[str, int]]) -> str:
    """A warning when the complete runs come from more than one code version (empty otherwise)."""
    if len(versions) < 2:
        return ""
    e = html.escape
    total = sum(versions.values())
    items = "".join(f'<li><span class="code">{e(_short(fp))}</span>: {_runs(n)}</li>' for fp, n in versions.items())
    mixed = [s for s, counts in by_setting.items() if len(counts) > 1]
    settings = ("<p>Settings with runs from more than one version: "
                + "; ".join(f"<strong>{e(setting_label(s))}</strong>" for s in mixed) + ".</p>") if mixed else ""
    return (f'<section id="mixed-code" class="warn"><p><strong>Mixed code: the {total} complete runs come from '
            f"{len(versions)} code versions</strong> (source fingerprints; “unknown” is a run recorded before "
            f"runs kept one). They were compared anyway: a difference below may come from a change in the code, "
            f"not only from what the sweep varied.</p><ul>{items}</ul>{settings}"
            "<p>Re-running the sweep's command recomputes the runs made by other code.</p></section>")


def _code_footer(meta: dict) -> str:
    versions = meta.get("code_versions") or {}
    if len(versions) == 1:
        return f' · code <span class="code">{html.escape(_short(next(iter(versions))))}</span>'
    if len(versions) > 1:
        return f" · {len(versions)} code versions"
    return ""


def _run_status(rows: list[dict[str, Any]]) -> str:
    e = html.escape
    counts = {s: 0 for s in STATUSES}
    for r in rows:
        counts[str(r.get("status"))] = counts.get(str(r.get("status")), 0) + 1
    out = ['<section id="runs"><h2>Runs</h2>']
    bad = [r for r in rows if r.get("status") != "complete"]
    if not bad:
        out.append(f"<p>All {len(rows)} runs are complete.</p></section>")
        return "".join(out)
    out.append('<ul class="counts">' + "".join(f"<li><strong>{n}</strong> {e(s)}</li>" for s, n in counts.items())
               + "</ul>")
    out.append('<p>Runs that are not complete are left out of every figure and table below.</p>'
               '<div class="scroll"><table><thead><tr><th>run folder</th><th>setting</th><th>replicate</th>'
               "<th>status</th><th>error</th></tr></thead><tbody>")
    for r in sorted(bad, key=lambda r: str(r.get("run_dir"))):
        cols = [str(r.get(k) or "") for k in ("run_dir", "setting", "replicate", "status")]
        cols[1] = setting_label(cols[1])
        out.append("<tr>" + "".join(f"<td>{e(c)}</td>" for c in cols)
                   + f'<td class="err">{e(str(r.get("error") or DASH))}</td></tr>')
    out.append("</tbody></table></div></section>")
    return "".join(out)


def _chunks(items: Sequence[str], size: int) -> list[list[str]]:
    return [list(items[i:i + size]) for i in range(0, len(items), size)] or [[]]


def _setting_cell(res: _Results, s: str, replicates: bool) -> str:
    e = html.escape
    tag = '<span class="tag">baseline</span>' if s == res.baseline else ""
    n = ""
    if replicates:
        count = max((int(res.cells[(s, m)]["n"] or 0) for m in res.metrics if (s, m) in res.cells), default=0)
        n = f'<span class="reps">{_runs(count).replace("run", "replicate")}</span>'
    return f'<th scope="row">{e(setting_label(s))}{tag}{n}</th>'


def _settings_table(res: _Results, metrics: Sequence[str], caption: str = "", replicates: bool = False,
                    css: str = "") -> str:
    """Settings down, at most :data:`COLUMNS` figures across (so the table fits a printed A4 page)."""
    e = html.escape
    head = "".join(f'<th scope="col">{e(title(m))}</th>' for m in metrics)
    cap = f"<caption>{e(caption)}</caption>" if caption else ""
    cols = "".join('<col class="fig">' for _ in metrics)
    out = [f'<table class="fit{(" " + css) if css else ""}">{cap}<colgroup><col class="who">{cols}</colgroup>'
           f'<thead><tr><th scope="col">setting</th>{head}</tr></thead><tbody>']
    for s in res.settings:
        out.append(f'<tr{" class=baseline" if s == res.baseline else ""}>{_setting_cell(res, s, replicates)}'
                   + "".join(_cell(res, s, m) for m in metrics) + "</tr>")
    out.append("</tbody></table>")
    return "".join(out)


def _not_in_sweep(metrics: Sequence[str], res: _Results) -> str:
    missing = [m for m in metrics if m not in res.metrics]
    return f'<p class="note">Not in this sweep: {html.escape(", ".join(missing))}.</p>' if missing else ""


def _main_table(res: _Results, metrics: Sequence[str]) -> str:
    """The main results: the headline figures in groups of three, each group a table of every setting."""
    present = [m for m in metrics if m in res.metrics]
    if list(metrics) == list(HEADLINE):
        groups = [(heading, [m for m in group if m in res.metrics]) for heading, group in HEADLINE_GROUPS]
    else:
        groups = [("", chunk) for chunk in _chunks(present, COLUMNS)]
    tables = [_settings_table(res, group, heading, replicates=True, css="main") for heading, group in groups if group]
    return "".join(tables) + _not_in_sweep(metrics, res)


def _settings_section(res: _Results) -> str:
    """What each compared setting is, from the files that define it (sim.analysis.settings)."""
    e = html.escape
    items = []
    for s in res.settings:
        parts = []
        for d in describe(s):
            where = f' (<span class="code">{e(d.file)}</span>)' if d.file else ""
            bits = [f'<span class="code">{e(d.override)}</span>{where}']
            if d.summary:
                bits.append(e(d.summary))
            if d.file:
                on = ", ".join(SAFEGUARD_TITLES.get(k, k) for k in d.enabled) or "none"
                bits.append(f"<em>Safeguards on:</em> {e(on)}.")
            if d.sources:
                bits.append("<em>Sources</em> (docs/SOURCES.md): "
                            + ", ".join(f'<span class="code">{e(k)}</span>' for k in d.sources) + ".")
            parts.append(" ".join(bits))
        tag = " (the baseline)" if s == res.baseline else ""
        items.append(f"<dt>{e(setting_label(s))}{tag}</dt><dd>" + "<br>".join(parts) + "</dd>")
    return ('<section id="settings"><h2>What each setting is</h2><p>Each setting as the files that define it '
            "describe it; the efficacy each safeguard is given, and why, is in the preset's file.</p>"
            f'<dl class="settings">{"".join(items)}</dl></section>')


def _full_table(res: _Results) -> str:
    """Every summary figure, figures down and at most :data:`COLUMNS` settings across per table."""
    e = html.escape
    metrics = res.ordered_metrics()
    out = ['<section id="all-metrics"><h2>All metrics</h2><details>',
           f"<summary>Every summary metric ({len(metrics)}) for every setting</summary>"]
    for chunk in _chunks(res.settings, COLUMNS):
        head = "".join(f'<th scope="col">{e(setting_label(s))}</th>' for s in chunk)
        cols = "".join('<col class="fig">' for _ in chunk)
        out.append(f'<table class="fit full"><colgroup><col class="who">{cols}</colgroup><thead><tr>'
                   f'<th scope="col">metric</th>{head}</tr></thead><tbody>')
        for m in metrics:
            code = f'<span class="code metric">{e(m)}</span>' if m in LABELS else ""
            out.append(f'<tr><th scope="row">{e(title(m))}{code}</th>'
                       + "".join(_cell(res, s, m) for s in chunk) + "</tr>")
        out.append("</tbody></table>")
    out.append("</details></section>")
    return "".join(out)


_MAIN_NOTE = ('<p class="note">Violating content (adult_sexual, exploitative: what moderation removes) and '
              "borderline content (suggestive: allowed, harmful for minors) are shown apart; the all-class "
              "prevalence is in the full table. A sexual advance is an unwanted message, message request or "
              "comment from an adult stranger that carries an explicit image or belongs to a conversation at "
              "solicitation; follow requests are not advances.</p>")


def _metric_table(res: _Results, metrics: Sequence[str], per_table: int = COLUMNS) -> str:
    """Settings down, the given figures across, split into tables of ``per_table`` figures."""
    present = [m for m in metrics if m in res.metrics]
    return ("".join(_settings_table(res, chunk) for chunk in _chunks(present, per_table) if chunk)
            + _not_in_sweep(metrics, res))


def _sender_section(res: _Results) -> str:
    """Unwanted contact split by sender: offenders and other (ordinary) adults side by side."""
    metrics = [m for pair in SENDER_METRICS for m in pair]
    return ('<section id="contact-by-sender"><h2>Unwanted contact by sender</h2>'
            "<p>Offenders and other adults apart: what a safeguard does to offenders' contact is the benefit; "
            "what it does to ordinary adults' contact is mostly a cost, and the two can move differently.</p>"
            + _metric_table(res, metrics, per_table=2) + "</section>")


def _costs_section(res: _Results) -> str:
    """What the safeguards cost everyone else: a table of the cost figures, then the cost–benefit figure."""
    figure = _figure_section("cost-benefit", "Cost–benefit", _cost_benefit_figure(res),
                             "Each point is a setting compared with the baseline on paired replicates, with "
                             "intervals in both directions. Up is more protection; right is more cost.")
    return ('<section id="costs"><h2>Costs</h2>'
            "<p>Ordinary adults' contact with minors stopped by a safeguard or prevented upstream (the "
            "suggestion that would have led to it was withheld), benign items withheld from minors' feeds, "
            "benign messages blurred, adults wrongly treated as minors or flagged, and minors' engagement and "
            "sessions.</p>" + _metric_table(res, COST_METRICS) + "</section>" + figure)


def _figure_section(anchor: str, heading: str, svg: str, caption: str) -> str:
    return (f'<section id="{anchor}"><h2>{html.escape(heading)}</h2><figure>{svg}'
            f"<figcaption>{html.escape(caption)}</figcaption></figure></section>")


def _timeline_section(timelines: pa.Table, res: _Results) -> str:
    if timelines.num_rows == 0:
        return ('<section id="timelines"><h2>Decoy timelines</h2><p class="note">Decoy timelines are not available '
                "for this sweep: its runs were written without daily tables.</p></section>")
    return _figure_section("timelines", "Decoy timelines", _timeline_figure(timelines, res),
                           "Cumulative count per decoy by the end of each simulated day: mean over replicates "
                           f"(line) and its Student-t interval over replicates (band; none with fewer than "
                           f"{MIN_REPLICATES} replicates).")


# ----------------------------------------------------------------------------- figures


def _svg(fig: Figure, prefix: str) -> str:
    """The figure as inline SVG: no XML prologue, comments or metadata, ids prefixed to be unique in the page."""
    buf = io.StringIO()
    with matplotlib.rc_context(_RC):
        fig.savefig(buf, format="svg", metadata={"Date": None})
    fig.clear()
    text = buf.getvalue()
    text = text[text.index("<svg"):]
    text = re.sub(r"<!--.*?-->", "", text, flags=re.S)
    text = re.sub(r"<metadata>.*?</metadata>\s*", "", text, flags=re.S)
    # Several SVGs share one HTML id space: matplotlib's ids (figure_1, clip paths, markers) would collide.
    text = re.sub(r'\bid="([^"]+)"', rf'id="{prefix}-\1"', text)
    text = re.sub(r'href="#([^"]+)"', rf'href="#{prefix}-\1"', text)
    text = re.sub(r"url\(#([^)]+)\)", rf"url(#{prefix}-\1)", text)
    return text.strip()


def _wrap(text: str, width: int = 28) -> str:
    return "\n".join(textwrap.wrap(text, width, break_long_words=False, break_on_hyphens=False)) or text


def _note(ax: Axes, text: str) -> None:
    ax.set_axis_off()
    ax.text(0.5, 0.5, _wrap(text, 40), transform=ax.transAxes, ha="center", va="center", color="#555555")


def _styles(settings: Sequence[str], baseline: str) -> dict[str, dict[str, Any]]:
    """Line colour and style per setting, the same in every figure: baseline black, the rest Okabe–Ito."""
    out = {baseline: {"color": BASELINE_COLOUR, "linestyle": "-"}}
    for i, s in enumerate(s for s in settings if s != baseline):
        out[s] = {"color": PALETTE[i % len(PALETTE)], "linestyle": LINESTYLES[i // len(PALETTE) % len(LINESTYLES)]}
    return out


def _interval_figure(res: _Results, metrics: Sequence[str]) -> str:
    """One panel per metric: point and horizontal interval per setting, settings down the y axis."""
    n = len(res.settings)
    names = [_wrap(setting_label(s), 26) for s in res.settings]
    lines = max((name.count("\n") + 1 for name in names), default=1)
    row = max(0.42, 0.2 * lines + 0.1)              # wrapped setting names never reach the next row's
    with matplotlib.rc_context(_RC):
        fig = Figure(figsize=(2.9 * len(metrics) + 2.6, 1.5 + row * max(n, 1)), layout="constrained")
        axes = fig.subplots(1, len(metrics), sharey=True, squeeze=False)[0]
        for ax, metric in zip(axes, metrics):
            ax.set_title(_wrap(title(metric), 30), fontsize=10.5)
            ax.grid(axis="y", visible=False)
            ax.xaxis.set_major_locator(MaxNLocator(nbins=4))
            if metric not in res.metrics:
                ax.text(0.5, 0.5, "not in this sweep", transform=ax.transAxes, ha="center", color="#555555")
                continue
            k = scale(metric)
            for i, s in enumerate(res.settings):
                base = s == res.baseline
                colour = BASELINE_COLOUR if base else PALETTE[0]
                mean, lo, hi = (k * res.get(s, metric, f) for f in ("mean", "ci_low", "ci_high"))
                if base:
                    ax.axhspan(i - 0.45, i + 0.45, color="#F0E442", alpha=0.25, linewidth=0)
                    if math.isfinite(mean):
                        ax.axvline(mean, color="#777777", linestyle="--", linewidth=1)
                if math.isfinite(lo) and math.isfinite(hi):
                    ax.hlines(i, lo, hi, color=colour, linewidth=2.5)
                if math.isfinite(mean):
                    filled = base or res.significant(s, metric)
                    ax.plot([mean], [i], "o", markersize=7, color=colour,
                            markerfacecolor=colour if filled else "white", markeredgewidth=1.8)
        axes[0].set_yticks(np.arange(n), names)
        axes[0].set_ylim(max(n, 1) - 0.5, -0.5)
        return _svg(fig, f"fig-{metrics[0]}")


def _timeline_figure(timelines: pa.Table, res: _Results) -> str:
    """One panel per series: a line per setting over days with a shaded interval band."""
    rows = timelines.to_pylist()
    order = {s: i for i, s in enumerate(res.settings)}
    for r in rows:
        order.setdefault(r["setting"], len(order) + int(r["order"]))
    settings = sorted({r["setting"] for r in rows}, key=lambda s: (order[s], s))
    styles = _styles(res.settings + [s for s in settings if s not in res.settings], res.baseline)
    with matplotlib.rc_context(_RC):
        fig = Figure(figsize=(12, 5.2 + 0.3 * len(settings) / 3), layout="constrained")
        axes = fig.subplots(1, len(TIMELINE_SERIES), squeeze=False)[0]
        for ax, (series, (_, name)) in zip(axes, TIMELINE_SERIES.items()):
            ax.set_title(_wrap(name, 50), fontsize=11)
            ax.set_xlabel("simulated day")
            series_rows = [r for r in rows if r["series"] == series]
            if not series_rows:
                _note(ax, "no data for this series")
                continue
            for s in settings:
                pts = sorted((r for r in series_rows if r["setting"] == s), key=lambda r: r["day"])
                if not pts:
                    continue
                day = np.array([r["day"] for r in pts], dtype=float)
                mean, lo, hi = (np.array([np.nan if r[f] is None else r[f] for r in pts], dtype=float)
                                for f in ("mean", "ci_low", "ci_high"))
                style = styles[s]
                ok = np.isfinite(lo) & np.isfinite(hi)
                if ok.any():
                    ax.fill_between(day, np.where(ok, lo, 0.0), np.where(ok, hi, 0.0), where=ok,
                                    color=style["color"], alpha=0.15, linewidth=0)
                ax.plot(day, mean, linewidth=2, label=setting_label(s), **style)
        handles, labels = axes[0].get_legend_handles_labels()
        if not handles:
            handles, labels = axes[-1].get_legend_handles_labels()
        if handles:
            fig.legend(handles, [_wrap(t, 40) for t in labels], loc="outside lower center",
                       ncols=min(3, len(handles)), frameon=False)
        return _svg(fig, "fig-timelines")


def _removed(res: _Results, setting: str, metric: str) -> tuple[float, float, float]:
    """How much of the baseline's level a setting removes, in %: −relative change and its interval."""
    rel, lo, hi = (res.get(setting, metric, f) for f in ("rel_change", "rel_low", "rel_high"))
    return -100 * rel, -100 * hi, -100 * lo


def _share(res: _Results, setting: str, metric: str) -> tuple[float, float, float]:
    """A share's mean and interval, in %."""
    mean, lo, hi = (100 * res.get(setting, metric, f) for f in ("mean", "ci_low", "ci_high"))
    return mean, lo, hi


def _whisker(value: float, lo: float, hi: float) -> list[list[float]]:
    """Error-bar lengths below and above; 0 where the bound is missing (or on the wrong side)."""
    below = value - lo if math.isfinite(lo) else 0.0
    above = hi - value if math.isfinite(hi) else 0.0
    return [[max(below, 0.0)], [max(above, 0.0)]]


def _tradeoff_panel(ax: Axes, res: _Results, benefit: str, cost: str, cost_is_share: bool,
                    ylabel: str, xlabel: str) -> None:
    """Benefit (removed, %) against cost, one point per non-baseline setting with whiskers both ways.

    Settings are told apart by colour and marker and named in the figure's legend, never by text beside a
    point, so no two labels can collide however close the points are. A cost that is 0 for every setting
    says so under the axis instead of drawing a scale of zeros.
    """
    missing = [m for m in (benefit, cost) if m not in res.metrics]
    others = [s for s in res.settings if s != res.baseline]
    if missing or not others:
        _note(ax, f"Not available: {', '.join(missing)} not in this sweep" if missing
              else "Not available: no setting besides the baseline")
        return
    styles = _styles(res.settings, res.baseline)
    xs = []
    for i, s in enumerate(others):
        y, ylo, yhi = _removed(res, s, benefit)
        # A share's cost is its level; engagement's cost is how much of the baseline's is lost.
        x, xlo, xhi = _share(res, s, cost) if cost_is_share else _removed(res, s, cost)
        if not (math.isfinite(x) and math.isfinite(y)):
            continue
        xs += [v for v in (x, xlo, xhi) if math.isfinite(v)]
        ax.errorbar([x], [y], xerr=_whisker(x, xlo, xhi), yerr=_whisker(y, ylo, yhi), fmt=MARKERS[i % len(MARKERS)],
                    color=styles[s]["color"], markersize=7, capsize=3, linewidth=1.5, label=setting_label(s))
    ax.axhline(0, color="#999999", linewidth=0.8)
    ax.axvline(0, color="#999999", linewidth=0.8)
    if xs and all(v == 0 for v in xs):
        ax.set_xlim(-1, 1)
        ax.set_xticks([0])
        xlabel += "\n(0 for every setting here)"
    else:
        ax.xaxis.set_major_locator(MaxNLocator(nbins=5))
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.margins(0.15)


def _cost_benefit_figure(res: _Results) -> str:
    with matplotlib.rc_context(_RC):
        fig = Figure(figsize=(11, 5.6), layout="constrained")
        left, right = fig.subplots(1, 2)
        left.set_title("violating content vs engagement", fontsize=11)
        _tradeoff_panel(left, res, "minor_violating_prevalence_per_10k", "minor_engagements_per_minor_day", False,
                        "violating impressions removed (%)", "minors' engagements per minor-day lost (%)")
        right.set_title("offenders' contact vs ordinary adults' contact", fontsize=11)
        _tradeoff_panel(right, res, "unwanted_contact_from_offenders_per_1k_minor_days",
                        "legit_contact_prevented_share", True, "unwanted contacts from offenders removed (%)",
                        title("legit_contact_prevented_share"))
        handles, labels = left.get_legend_handles_labels()
        if not handles:
            handles, labels = right.get_legend_handles_labels()
        if handles:
            fig.legend(handles, [_wrap(t, 40) for t in labels], loc="outside lower center",
                       ncols=min(3, len(handles)), frameon=False)
        return _svg(fig, "fig-cost-benefit")
