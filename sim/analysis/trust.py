"""The report's "How far to trust this": calibration, sensitivity, docking and replicates, in plain words first.

Core objects: :func:`trust_section`, :func:`sweep_context`, :func:`order_held`, :func:`load_evidence`.

The evidence is the project's own, installed with the package:

* ``sim/configs/calibration/fit.json`` — written by ``python3 -m sim.calibrate --install``:
  every target with the calibrated world's mean and interval, fitted or held out;
* ``sim/configs/sensitivity/summary.json`` — written by ``python3 -m sim.sensitivity --install``:
  the parameters that move each harm figure most, and every Morris point's figures per preset;
* the docking of the fast engine against a plain per-agent reference model
  (``tests/test_docking.py``), described by :data:`DOCKING`.

The section says how far each applies to the sweep at hand: whether its runs
used the calibrated world (the calibrated parameters at their calibrated
values), how often the order of *the settings it compares* held across the
parameter space, and how many of its differences its replicates can detect.
"""

from __future__ import annotations

import html
import json
import math
from itertools import combinations
from pathlib import Path
from typing import Any

from sim.analysis.labels import label

CONFIGS = Path(__file__).resolve().parents[1] / "configs"
FIT_FILE = CONFIGS / "calibration" / "fit.json"
SENSITIVITY_FILE = CONFIGS / "sensitivity" / "summary.json"

#: What the docking test establishes (tests/test_docking.py states the margins and runs it in the test suite).
DOCKING = ("An independent, deliberately plain implementation of the core day (Mesa agents and Python loops, "
           "written from the model description: posting, a feed policy, account suggestions, offenders' and "
           "ordinary adults' contact, one content and one contact safeguard) is run beside the fast engine on "
           "tiny worlds over 30 seeds; two one-sided tests show the headline figures equivalent within the "
           "margins stated in tests/test_docking.py, with the safeguards off and on. The test suite fails if "
           "either implementation drifts.")


def load_evidence(fit_file: Path = FIT_FILE, sensitivity_file: Path = SENSITIVITY_FILE) -> dict[str, Any]:
    """The installed evidence files (a missing one is ``None``: the section then says it is missing)."""
    out: dict[str, Any] = {}
    for key, path in (("fit", fit_file), ("sensitivity", sensitivity_file)):
        try:
            out[key] = json.loads(Path(path).read_text())
        except (OSError, ValueError):
            out[key] = None
    return out


def order_held(values: dict[str, list[float | None]], base: list[str]) -> tuple[int, int]:
    """``(points where no pair of ``base`` is strictly reversed, points with every value)``.

    ``base`` lists settings from least to most harm; a tie reverses nothing.
    """
    n = min(len(v) for v in values.values()) if values else 0
    held = total = 0
    for i in range(n):
        point = {s: values[s][i] for s in base}
        if any(v is None or not math.isfinite(v) for v in point.values()):
            continue
        total += 1
        held += not any(point[a] > point[b] for a, b in combinations(base, 2))
    return held, total


def sweep_context(summary: Any, point: dict[str, float] | None) -> tuple[dict[str, str], dict[str, Any]]:
    """From a sweep's summary dataset (a pyarrow table with ``setting`` and config columns):
    setting -> preset, and how its runs' world compares with the calibrated ``point``."""
    cols = set(summary.column_names)
    settings = summary.column("setting").to_pylist()
    presets = summary.column("safeguards.preset").to_pylist() if "safeguards.preset" in cols else [None] * len(settings)
    compared: dict[str, str] = {}
    for s, p in zip(settings, presets):
        if p is not None:
            compared.setdefault(s, p)
    world: dict[str, Any] = {"known": bool(point), "differs": []}
    for key, value in (point or {}).items():
        if key not in cols:
            world["known"] = False
            continue
        seen = sorted({v for v in summary.column(key).to_pylist() if v is not None})
        if any(not math.isclose(v, value, rel_tol=1e-9) for v in seen):
            world["differs"].append((key, seen[0] if len(seen) == 1 else f"{len(seen)} values", value))
    return compared, world


def _pct(x: float) -> str:
    return f"{x:.0%}"


def _calibration(fit: dict | None, world: dict[str, Any]) -> tuple[str, list[str]]:
    e = html.escape
    if not fit:
        return ("the default world has no installed calibration", [
            "No calibration is installed (sim/configs/calibration/fit.json is missing): the parameters are as "
            "set by hand. Run <code>python3 -m sim.calibrate --install</code>."])
    fitted = [t for t in fit["targets"] if t["use"] == "fit"]
    held = [t for t in fit["targets"] if t["use"] == "validation"]
    reached = sum(t["reached"] for t in fitted)
    held_ok = sum(t["reached"] for t in held)
    differs = world.get("differs", [])
    short = (f"the calibrated world reproduces {reached} of {len(fitted)} fitted targets and {held_ok} of "
             f"{len(held)} held-out checks")
    items = []
    if differs:
        items.append("<strong>These runs do not use the calibrated world</strong>: " + ", ".join(
            f"<code>{e(k)}</code> = {e(_fmt(v))} (calibrated {e(_fmt(c))})" for k, v, c in differs[:6])
            + (" and more" if len(differs) > 6 else "") + ". The calibration below describes the default world, "
            "not this one.")
    elif world.get("known"):
        items.append("These runs use the calibrated world (every calibrated parameter at its calibrated value).")

    def row(t: dict) -> str:
        mean = t.get("mean")
        got = "not measured" if mean is None else _fmt(mean)
        if t.get("ci_low") is not None:
            got += f" ({_fmt(t['ci_low'])}–{_fmt(t['ci_high'])})"
        verdict = "within" if t["reached"] else "outside"
        return (f"<li>{e(t['what'])}: target {_fmt(t['value'])} (range {_fmt(t['low'])}–{_fmt(t['high'])}, "
                f"{e(t['regime'])}; <code>{e(t['source'])}</code>); the calibrated world gives {got}, "
                f"<strong>{verdict}</strong> the range.</li>")

    items.append(f"<strong>Calibration.</strong> {len(fitted)} targets from surveys and platform reports were fitted "
                 f"by varying {len(fit['point'])} behavioural parameters ({fit['evaluations']} parameter sets "
                 f"evaluated, {fit['accepted']} reached every fitted target). Means over {fit['replicates']} fresh "
                 f"replicates of the calibrated world, with 95% t-intervals:<ul>"
                 + "".join(row(t) for t in fitted) + "</ul>")
    items.append("<strong>Held-out checks</strong> (never seen by the fit):<ul>" + "".join(row(t) for t in held)
                 + "</ul>")
    return short, items


def _fmt(x: Any) -> str:
    if isinstance(x, float):
        return f"{x:.3g}"
    return str(x)


def _sensitivity(sens: dict | None, compared: dict[str, str], means: dict[str, dict[str, float]]) -> tuple[str, list[str]]:
    """``compared``: setting -> preset; ``means``: metric -> setting -> this sweep's mean."""
    e = html.escape
    if not sens:
        return ("no sensitivity analysis is installed", [
            "No sensitivity analysis is installed (sim/configs/sensitivity/summary.json is missing). Run "
            "<code>python3 -m sim.sensitivity --install</code>."])
    items = []
    first = sens["first_setting"]
    top_lines = []
    for metric, entry in sens["metrics"].items():
        if entry.get("top") and any(m for _, m, _ in entry["top"]):    # a cost is 0 under no safeguards
            names = ", ".join(f"<code>{e(k)}</code>" for k, _, _ in entry["top"][:3])
            top_lines.append(f"<li>{e(label(metric))}: {names}</li>")
    items.append(f"<strong>Which parameters matter.</strong> Morris screening of {sens['parameters']} uncertain "
                 f"behavioural parameters ({sens['morris_points']} parameter points, each under "
                 f"{len(sens['settings'])} presets; {sens['runs']} runs on a world of "
                 f"{e(' '.join(sens['world']))}). The three that move each figure most under <code>{e(first)}</code>:"
                 f"<ul>{''.join(top_lines)}</ul>")
    presets = {s: p for s, p in compared.items() if p in sens["settings"]}
    short = "the sensitivity analysis covers none of the settings compared here"
    if len(presets) >= 2 and len(set(presets.values())) == len(presets):
        lines = []
        shares = []
        for metric, by_preset in sens["point_values"].items():
            mine = means.get(metric)
            if not mine or any(s not in mine or not math.isfinite(mine[s]) for s in presets):
                continue
            order = sorted(presets, key=lambda s: mine[s])
            base = [presets[s] for s in order]
            held, total = order_held({p: by_preset[p] for p in base}, base)
            noise_held, noise_total = order_held({p: sens["default_values"][metric][p] for p in base}, base)
            if not total:
                continue
            shares.append(held / total)
            movers = sens["metrics"].get(metric, {}).get("movers") or []
            moved = (" Steps that changed the presets' order most: " + ", ".join(
                f"<code>{e(k)}</code> ({_pct(share)} of {n} steps)" for k, share, n in movers[:3]) + "."
                     if movers else "")
            lines.append(f"<li>{e(label(metric))}: this sweep's order {e(' < '.join(order))} held at "
                         f"{held} of {total} parameter points ({_pct(held / total)}); between replicates of the "
                         f"default world alone it held at {noise_held} of {noise_total}.{moved}</li>")
        if lines:
            short = (f"across the parameter space, the order of the settings compared here held at "
                     f"{_pct(min(shares))}–{_pct(max(shares))} of points, depending on the figure")
            items.append("<strong>Does the ranking hold?</strong> At every parameter point the presets were run on "
                         "the same world and seeds; a point keeps this sweep's order of the settings if no pair is "
                         f"strictly reversed (ties keep it). Lower is less harm.<ul>{''.join(lines)}</ul>")
    elif presets:
        short = "only one of the settings compared here is covered by the sensitivity analysis"
    return short, items


def _replicates(rows: list[dict[str, Any]], metrics: list[str]) -> tuple[str, list[str]]:
    mine = [r for r in rows if r["metric"] in metrics and not r["is_baseline"]]
    few = sum(r["n_pairs"] < 3 for r in mine)
    spans = sum(r["n_pairs"] >= 3 and math.isfinite(r["diff_low"]) and r["diff_low"] <= 0 <= r["diff_high"]
                for r in mine)
    detected = sum(r["n_pairs"] >= 3 and math.isfinite(r["diff_low"]) and not r["diff_low"] <= 0 <= r["diff_high"]
                   for r in mine)
    per_setting: dict[str, int] = {}
    for r in rows:
        per_setting[r["setting"]] = max(per_setting.get(r["setting"], 0), int(r["n"]))
    n = sorted(set(per_setting.values()))
    short = (f"of {len(mine)} headline differences from the baseline, {detected} are detectable at these "
             f"replicates")
    text = (f"<strong>Replicates.</strong> Settings have {', '.join(map(str, n))} replicate(s). Of the "
            f"{len(mine)} headline differences from the baseline, {detected} exclude 0, {spans} do not (no "
            f"detectable difference at these replicates: more replicates may find one, or there is none), and "
            f"{few} have fewer than 3 pairs (too few to say anything). Intervals cover run-to-run variation "
            f"only; the sensitivity analysis above is the uncertainty of the parameters.")
    return short, [text]


def trust_section(comparison_rows: list[dict[str, Any]], headline: list[str], compared: dict[str, str],
                  world: dict[str, Any], evidence: dict[str, Any] | None = None) -> str:
    """The section's HTML.

    Args:
        comparison_rows: comparison.parquet's rows.
        headline: the report's headline metrics.
        compared: setting -> its safeguard preset (``safeguards.preset`` of its runs).
        world: ``known`` (bool) and ``differs``: ``(key, value in these runs, calibrated value)`` for every
            calibrated parameter the runs set otherwise.
        evidence: :func:`load_evidence`'s result (loaded here when ``None``).
    """
    evidence = load_evidence() if evidence is None else evidence
    means: dict[str, dict[str, float]] = {}
    for r in comparison_rows:
        means.setdefault(r["metric"], {})[r["setting"]] = float(r["mean"])
    cal_short, cal_items = _calibration(evidence.get("fit"), world)
    sens_short, sens_items = _sensitivity(evidence.get("sensitivity"), compared, means)
    rep_short, rep_items = _replicates(comparison_rows, headline)
    items = cal_items + sens_items + [f"<strong>Docking.</strong> {html.escape(DOCKING)}"] + rep_items
    return ('<section id="trust"><h2>How far to trust this</h2>'
            f'<p class="lead"><strong>In short:</strong> {html.escape(cal_short)}; {html.escape(sens_short)}; '
            f'{html.escape(rep_short)}. The model is abstract and its parameters uncertain: read differences '
            f'between settings, not absolute levels, and only where they hold across the parameter space.</p>'
            "<ul class=\"trust\">" + "".join(f"<li>{i}</li>" for i in items) + "</ul></section>")


__all__ = ["DOCKING", "FIT_FILE", "SENSITIVITY_FILE", "load_evidence", "order_held", "sweep_context",
           "trust_section"]
