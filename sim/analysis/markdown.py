"""A comparison as a Markdown table, with the names and units of the report: for READMEs, papers and notes.

Core objects: :func:`markdown_table` (also ``python -m sim.analysis table DIR``).

Each cell is a setting's mean over replicates with its t interval, then its relative change from the
baseline; "(n.d.)" marks a change whose paired interval spans 0 (no detectable difference at these
replicates), and a mean or change from too few replicates for an interval says so. Shares are in %, as in
the report and the terminal table, and figures and settings have the names they have there
(:mod:`sim.analysis.labels`, :mod:`sim.analysis.settings`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import pyarrow as pa

from sim.analysis.labels import DAY_METRICS, HEADLINE, scale, setting_label, title
from sim.analysis.text import difference_verdict, lacks_interval, number, NOT_DETECTED, TOO_FEW

DASH = "–"


def _pipe(text: str) -> str:
    return text.replace("|", "\\|")


def _cell(row: dict | None, metric: str) -> str:
    if row is None:
        return DASH
    k = scale(metric)
    mean, lo, hi = (row[f] for f in ("mean", "ci_low", "ci_high"))
    if mean is None or not math.isfinite(mean) or not row["n"]:
        return "never" if metric in DAY_METRICS else DASH
    text = number(k * mean)
    if lacks_interval(row["n"], lo, hi):
        text += f" ({row['n']} replicate{'s' if row['n'] != 1 else ''})"
    elif not (lo == hi == mean):
        text += f" [{number(k * lo)}, {number(k * hi)}]"
    if row["is_baseline"]:
        return text
    rel, dlo, dhi = row["rel_change"], row["diff_low"], row["diff_high"]
    if rel is not None and math.isfinite(rel):
        text += f", {rel * 100:+.0f}%"
    elif row["diff_mean"] is not None and math.isfinite(row["diff_mean"]) and row["diff_mean"] != 0:
        text += f", {k * row['diff_mean']:+.3g}" + (" points" if k == 100.0 else "")
    else:
        return text
    verdict = difference_verdict(row["n_pairs"], dlo, dhi)
    if verdict == NOT_DETECTED:
        text += " (n.d.)"
    elif verdict == TOO_FEW:
        text += " (too few pairs)"
    return text


def markdown_table(comparison: pa.Table, metrics: Sequence[str] | None = None, *, figures_down: bool = False) -> str:
    """The comparison as a Markdown table: settings down and figures across, or (``figures_down``) the other
    way round. ``metrics`` defaults to the headline figures present."""
    rows = comparison.to_pylist()
    by_key = {(r["setting"], r["metric"]): r for r in rows}
    order: dict[str, int] = {}
    for r in rows:
        order.setdefault(r["setting"], int(r["order"]))
    settings = sorted(order, key=lambda s: (order[s], s))
    present = {r["metric"] for r in rows}
    chosen = [m for m in (metrics or HEADLINE) if m in present]
    missing = [m for m in (metrics or ()) if m not in present]
    if missing:
        raise ValueError(f"not in the comparison: {', '.join(missing)}")
    names = {s: setting_label(s) + (" (baseline)" if any(r["is_baseline"] for r in rows if r["setting"] == s)
                                     else "") for s in settings}
    if figures_down:
        head = ["figure"] + [names[s] for s in settings]
        body = [[title(m)] + [_cell(by_key.get((s, m)), m) for s in settings] for m in chosen]
    else:
        head = ["setting"] + [title(m) for m in chosen]
        body = [[names[s]] + [_cell(by_key.get((s, m)), m) for m in chosen] for s in settings]
    lines = ["| " + " | ".join(_pipe(h) for h in head) + " |", "|" + " --- |" * len(head)]
    lines += ["| " + " | ".join(_pipe(c) for c in line) + " |" for line in body]
    return "\n".join(lines)
