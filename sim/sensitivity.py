"""Global sensitivity: which behavioural parameters move the figures, and does the presets' ranking hold?

Run it as ``python3 -m sim.sensitivity`` (``--help`` for the options);
docs/TRUST.md explains the method and gives the result.

Core objects: :func:`load_parameters`, :func:`morris_design`, :func:`rank_stability`,
:func:`run_sensitivity`.

Two stages, both with SALib (the reference implementation of these methods):

1. **Morris screening** (elementary effects) over every parameter of
   ``configs/sensitivity/parameters.yaml`` (29 by default): ``r`` one-at-a-time
   trajectories through a grid of ``levels`` levels, ``r (k + 1)`` parameter
   points, each run under every compared setting (the presets). Per output and
   setting: μ* (mean absolute elementary effect, with its bootstrap interval)
   and σ (their spread: interaction or non-linearity).
2. **Sobol indices** for the ``top`` parameters with the largest μ* (their mean
   rank over the headline outputs under the first setting): Saltelli's sampling,
   first-order ``S1`` and total ``ST`` indices with bootstrap intervals; the
   other parameters stay at their defaults.

**Rank stability.** At every Morris point the settings are ranked by each
headline output (lower harm is better). The result says how often the ranking
at a point differs from the ranking at the defaults, and which parameters
change it: a Morris step moves one parameter, so a ranking that differs
before and after the step is attributed to that parameter. Runs of one point
under different settings share the world and the seeds (replicate 0), so the
ranking compares like with like; ``--noise-replicates`` also runs the
defaults on several replicates, to show how often the ranking changes from
noise alone.

Every point runs as an ordinary job of a design sweep (:mod:`sim.design`):
Hydra's launcher (joblib here; ``hydra/launcher=ray_local`` or ``slurm`` among
the overrides), resume, fault handling. The same command resumes an
interrupted analysis.
"""

from __future__ import annotations

import argparse
import html
import json
import shutil
import math
import os
import sys
import time
from dataclasses import dataclass
from itertools import combinations
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import yaml

from sim.config import CONFIG_ERROR_EXIT, ConfigError
from sim.design import FORBIDDEN, collect_summaries, leaf_keys, sweep_design, write_design

DEFAULT_PARAMETERS = Path(__file__).parent / "configs" / "sensitivity" / "parameters.yaml"
#: The policy presets compared (``ideal`` is an analytic bound, not a policy).
DEFAULT_SETTINGS = ("none", "teen_accounts_2024", "ofcom_2025", "dsa_2025", "all_on")
#: Outputs analysed: harm first (they decide the ranking), then the costs.
HARMS = ("minor_violating_prevalence_per_10k", "minor_13_15_sexual_advance_7d_share",
         "minor_13_15_sexual_image_7d_share", "unwanted_contact_per_1k_minor_days")
COSTS = ("legit_contact_prevented_share", "minor_benign_withheld_per_1k_impressions")
#: A smaller, shorter world than the default, so that the 817 runs of the default analysis fit in under
#: an hour on two cores (53 min, shared with other work). Its shares and rates are the default world's,
#: with more noise: a tenth of the accounts (about 10 offenders).
DEFAULT_WORLD = ("population.n=1000", "decoys.n=5", "days=40", "measure_days=21")
TABLE = "sensitivity.parquet"
RANKINGS = "rankings.parquet"
PAGE = "sensitivity.html"
#: The result in numbers (read by the comparison report's "How far to trust this").
SUMMARY = "summary.json"
#: Where ``--install`` puts the summary, for the project and its reports.
INSTALLED = Path(__file__).parent / "configs" / "sensitivity"


@dataclass(frozen=True)
class Parameter:
    key: str
    low: float
    high: float
    default: float
    why: str = ""


def load_parameters(path: str | os.PathLike = DEFAULT_PARAMETERS) -> list[Parameter]:
    """The parameters and their ranges (a ``scale`` times the default, or an absolute ``range``), clipped to
    each key's allowed values.

    Raises:
        ConfigError: naming the entry and what is wrong.
    """
    path = str(path)
    try:
        with open(path) as fh:
            doc = yaml.safe_load(fh)
    except OSError as err:
        raise ConfigError(f"parameters file {path!r}: cannot be read ({err.strerror})") from None
    entries = (doc or {}).get("parameters")
    if not isinstance(entries, dict) or not entries:
        raise ConfigError(f"parameters file {path!r}: needs a non-empty 'parameters' mapping")
    keys = leaf_keys()
    out = []
    for key, entry in entries.items():
        where = f"{path}: parameters.{key}"
        if key not in keys:
            raise ConfigError(f"{where}: {key!r} is not a config key (docs/CONFIG.md lists them)")
        if any(key == k or key.startswith(k + ".") for k in FORBIDDEN) or key.endswith(".enabled"):
            raise ConfigError(f"{where}: {key!r} is not a behavioural parameter a design may vary")
        field = keys[key]
        default = field.default
        if isinstance(default, bool) or not isinstance(default, (int, float)):
            raise ConfigError(f"{where}: {key!r} is not numeric")
        if ("scale" in entry) == ("range" in entry):
            raise ConfigError(f"{where}: give exactly one of scale: [a, b] or range: [lo, hi]")
        a, b = (float(x) for x in entry.get("scale") or entry.get("range"))
        low, high = (a * default, b * default) if "scale" in entry else (a, b)
        lo, hi = field.metadata.get("lo"), field.metadata.get("hi")
        low, high = max(low, lo) if lo is not None else low, min(high, hi) if hi is not None else high
        if not low < high:
            raise ConfigError(f"{where}: the range {low:g} .. {high:g} is empty (default {default:g})")
        out.append(Parameter(key, low, high, float(default), str(entry.get("why", ""))))
    return out


def problem(params: list[Parameter]) -> dict[str, Any]:
    return {"num_vars": len(params), "names": [p.key for p in params], "bounds": [[p.low, p.high] for p in params]}


def morris_design(params: list[Parameter], trajectories: int, levels: int, seed: int) -> np.ndarray:
    from SALib.sample import morris

    return morris.sample(problem(params), N=trajectories, num_levels=levels, seed=seed)


def sobol_design(params: list[Parameter], n: int, seed: int) -> np.ndarray:
    from SALib.sample import sobol

    return sobol.sample(problem(params), n, calc_second_order=False, seed=seed)


# ------------------------------------------------------------------ running


def _run(name: str, X: np.ndarray, keys: list[str], settings: tuple[str, ...], out: Path,
         overrides: tuple[str, ...], replicates: tuple[int, ...] = (0,)) -> dict[tuple[int, str, int], dict]:
    design = out / "designs" / f"{name}.parquet"
    write_design(str(design), {k: X[:, j].tolist() for j, k in enumerate(keys)})
    t0 = time.monotonic()
    done = sweep_design(str(design), X.shape[0], str(out / "runs" / name), replicates=replicates,
                        overrides=overrides, extra_sweeps={"safeguards": ",".join(settings)})
    runs = {(int(s["design.row"]), s["safeguards.preset"], int(s["replicate"])): s
            for s in collect_summaries(str(out / "runs" / name), str(design))}
    expected = X.shape[0] * len(settings) * len(replicates)
    print(f"sensitivity: {name}: {len(runs)}/{expected} runs complete in {time.monotonic() - t0:.0f} s"
          + ("" if done.returncode == 0 else f" (some failed: see {done.log_path})"), flush=True)
    return runs


def _matrix(runs: dict, rows: int, setting: str, metric: str, replicate: int = 0) -> np.ndarray:
    return np.array([float(runs[(i, setting, replicate)].get(metric, math.nan)) if (i, setting, replicate) in runs
                     else math.nan for i in range(rows)], dtype=float)


def _morris_analyze(params, X, Y, levels: int, seed: int) -> dict[str, np.ndarray] | None:
    from SALib.analyze import morris

    if not np.all(np.isfinite(Y)):
        return None              # a missing run breaks a trajectory: SALib needs every point
    res = morris.analyze(problem(params), X, Y, num_levels=levels, conf_level=0.95, num_resamples=1000,
                         seed=seed)
    return {k: np.asarray(res[k], dtype=float) for k in ("mu_star", "mu_star_conf", "sigma", "mu")}


def _sobol_analyze(params, Y, seed: int) -> dict[str, np.ndarray] | None:
    from SALib.analyze import sobol

    if not np.all(np.isfinite(Y)) or np.all(Y == Y[0]):
        return None
    # SALib seeds the bootstrap of the intervals only for a truthy seed (``if seed:``): seed 0 would
    # leave it to numpy's global state, and the intervals would differ from one analysis to the next.
    boot_seed = int(np.random.SeedSequence(seed).generate_state(1)[0]) | 1
    res = sobol.analyze(problem(params), Y, calc_second_order=False, conf_level=0.95, num_resamples=1000,
                        seed=boot_seed)
    return {k: np.asarray(res[k], dtype=float) for k in ("S1", "S1_conf", "ST", "ST_conf")}


def ranking(values: dict[str, float]) -> tuple[str, ...]:
    """Settings from least to most harm (ties in the given order)."""
    return tuple(sorted(values, key=lambda s: values[s]))


def reversed_pairs(values: dict[str, float], base: tuple[str, ...]) -> list[tuple[str, str]]:
    """Pairs ``(a, b)`` that ``base`` puts as a < b (less harm) but ``values`` put strictly the other way.

    A tie reverses nothing: two settings equally harmful at a point do not contradict either order.
    """
    return [(a, b) for a, b in combinations(base, 2) if values[a] > values[b]]


def rank_stability(runs: dict, rows: int, settings: tuple[str, ...], metric: str, base: tuple[str, ...],
                   X: np.ndarray, keys: list[str]) -> dict[str, Any]:
    """How often the order at a Morris point contradicts ``base``, and which parameters' steps change it.

    A point keeps the base ranking when no pair of settings is strictly
    reversed (:func:`reversed_pairs`). A step of a trajectory (one parameter
    moved) changes the ranking when the set of reversed pairs differs before
    and after it; the change is that parameter's.
    """
    points: list[dict[str, float] | None] = []
    for i in range(rows):
        vals = {s: float(runs[(i, s, 0)].get(metric, math.nan)) if (i, s, 0) in runs else math.nan for s in settings}
        points.append(vals if all(math.isfinite(v) for v in vals.values()) else None)
    valid = [v for v in points if v is not None]
    rev = [set(reversed_pairs(v, base)) if v is not None else None for v in points]
    same = sum(not r for r in rev if r is not None)
    pairs = {f"{a} < {b}": (sum(v[a] <= v[b] for v in valid) / len(valid) if valid else math.nan)
             for a, b in combinations(base, 2)}
    flips = {k: [0, 0] for k in keys}
    k = len(keys)
    for i in range(rows - 1):
        if (i + 1) % (k + 1) == 0:               # trajectories are k + 1 points; no step across them
            continue
        moved = np.flatnonzero(X[i + 1] != X[i])
        if moved.size != 1 or rev[i] is None or rev[i + 1] is None:
            continue
        key = keys[int(moved[0])]
        flips[key][0] += 1
        flips[key][1] += rev[i] != rev[i + 1]
    return {"points": len(valid), "same_as_base": same / len(valid) if valid else math.nan, "pairs": pairs,
            "flips": {key: (n, f) for key, (n, f) in flips.items()},
            "ranks": [ranking(v) if v is not None else None for v in points],
            "reversed": rev}


# ------------------------------------------------------------------ the whole analysis


def run_sensitivity(out_dir: str | os.PathLike, *, params: list[Parameter], settings: tuple[str, ...],
                    trajectories: int = 4, levels: int = 4, top: int = 4, sobol_n: int = 16,
                    sobol_settings: tuple[str, ...] | None = None, noise_replicates: int = 5, seed: int = 0,
                    overrides: tuple[str, ...] = DEFAULT_WORLD) -> dict[str, Any]:
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    keys = [p.key for p in params]
    started = time.monotonic()
    metrics = HARMS + COSTS

    # The defaults (the calibrated world) on several replicates: the base ranking and its noise.
    base_X = np.array([[p.default for p in params]])
    base_runs = _run("defaults", base_X, keys, settings, out, overrides, tuple(range(max(1, noise_replicates))))

    X = morris_design(params, trajectories, levels, seed)
    runs = _run("morris", X, keys, settings, out, overrides)
    rows = []
    stability = {}
    for metric in metrics:
        for s in settings:
            res = _morris_analyze(params, X, _matrix(runs, X.shape[0], s, metric), levels, seed)
            for j, key in enumerate(keys):
                rows.append({"method": "morris", "metric": metric, "setting": s, "parameter": key,
                             "mu_star": res["mu_star"][j] if res else math.nan,
                             "mu_star_conf": res["mu_star_conf"][j] if res else math.nan,
                             "sigma": res["sigma"][j] if res else math.nan,
                             "S1": math.nan, "S1_conf": math.nan, "ST": math.nan, "ST_conf": math.nan})
    for metric in HARMS:
        base_vals = {s: float(np.nanmean([base_runs[(0, s, r)][metric] for r in range(max(1, noise_replicates))
                                          if (0, s, r) in base_runs])) for s in settings}
        base = ranking(base_vals)
        st = rank_stability(runs, X.shape[0], settings, metric, base, X, keys)
        noise = [not reversed_pairs({s: float(base_runs[(0, s, r)][metric]) for s in settings}, base)
                 for r in range(max(1, noise_replicates)) if all((0, s, r) in base_runs for s in settings)]
        st["noise_same_as_base"] = (sum(noise) / len(noise)) if noise else math.nan
        st["base"] = base
        stability[metric] = st

    # Sobol for the parameters with the largest mu* (mean rank over the harms, first setting).
    first = settings[0]
    score = np.zeros(len(keys))
    for metric in HARMS:
        mu = np.array([r["mu_star"] for r in rows if r["method"] == "morris" and r["metric"] == metric
                       and r["setting"] == first], dtype=float)
        score += np.argsort(np.argsort(-np.nan_to_num(mu, nan=-1), kind="stable"))
    chosen = [params[j] for j in np.argsort(score, kind="stable")[:top]]
    sobol_settings = sobol_settings or settings[:2]
    if top > 0 and sobol_n > 0:
        Xs = sobol_design(chosen, sobol_n, seed)
        full = np.tile(base_X, (Xs.shape[0], 1))
        for j, p in enumerate(chosen):
            full[:, keys.index(p.key)] = Xs[:, j]
        sruns = _run("sobol", full, keys, sobol_settings, out, overrides)
        for metric in metrics:
            for s in sobol_settings:
                res = _sobol_analyze(chosen, _matrix(sruns, full.shape[0], s, metric), seed)
                for j, p in enumerate(chosen):
                    rows.append({"method": "sobol", "metric": metric, "setting": s, "parameter": p.key,
                                 "mu_star": math.nan, "mu_star_conf": math.nan, "sigma": math.nan,
                                 **{k: (float(res[k][j]) if res else math.nan)
                                    for k in ("S1", "S1_conf", "ST", "ST_conf")}})
    elapsed = time.monotonic() - started
    # Every point's harm figures per setting, so a report can test the order of any subset of the settings.
    point_values = {m: {s: _matrix(runs, X.shape[0], s, m).tolist() for s in settings} for m in HARMS}
    default_values = {m: {s: [float(base_runs[(0, s, r)][m]) if (0, s, r) in base_runs else math.nan
                              for r in range(max(1, noise_replicates))] for s in settings} for m in HARMS}
    _write(out / TABLE, pa.Table.from_pylist(rows))
    rank_rows = [{"metric": m, "point": i, "ranking": " < ".join(r) if r else None,
                  "reversed_pairs": "; ".join(f"{b} < {a}" for a, b in sorted(rev)) if rev is not None else None,
                  "same_as_base": rev is not None and not rev}
                 for m, st in stability.items() for i, (r, rev) in enumerate(zip(st["ranks"], st["reversed"]))]
    _write(out / RANKINGS, pa.Table.from_pylist(rank_rows))
    summary = {"rows": rows, "stability": stability, "params": params, "settings": settings, "chosen": chosen,
               "sobol_settings": sobol_settings, "morris_points": X.shape[0], "trajectories": trajectories,
               "levels": levels, "sobol_n": sobol_n, "elapsed": elapsed, "overrides": overrides,
               "runs": len(runs) + len(base_runs) + (len(sruns) if top > 0 and sobol_n > 0 else 0),
               "point_values": point_values, "default_values": default_values}
    (out / PAGE).write_text(_page(summary))
    (out / SUMMARY).write_text(json.dumps(as_data(summary), indent=1) + "\n")
    return summary


def _num(x: float) -> float | None:
    return float(x) if math.isfinite(x) else None


def as_data(summary: dict[str, Any]) -> dict[str, Any]:
    """The result as plain data: per harm output the strongest parameters, the ranking and how often it held."""
    first = summary["settings"][0]
    metrics = {}
    for metric in HARMS + COSTS:
        entry: dict[str, Any] = {"top": [[k, _num(m), _num(c)] for k, m, c in top_parameters(summary, metric, first, 5)]}
        st = summary["stability"].get(metric)
        if st:
            movers = sorted(((f / n, key, n) for key, (n, f) in st["flips"].items() if n), reverse=True)
            entry.update({"base": list(st["base"]), "points": st["points"], "same_as_base": _num(st["same_as_base"]),
                          "noise_same_as_base": _num(st["noise_same_as_base"]),
                          "pairs": {p: _num(v) for p, v in st["pairs"].items()},
                          "movers": [[key, share, n] for share, key, n in movers[:5] if share > 0]})
        entry["sobol"] = [[r["parameter"], _num(r["S1"]), _num(r["S1_conf"]), _num(r["ST"]), _num(r["ST_conf"])]
                          for r in summary["rows"] if r["method"] == "sobol" and r["metric"] == metric
                          and r["setting"] == first]
        metrics[metric] = entry
    return {"settings": list(summary["settings"]), "parameters": len(summary["params"]),
            "trajectories": summary["trajectories"], "morris_points": summary["morris_points"],
            "sobol": [p.key for p in summary["chosen"]], "sobol_n": summary["sobol_n"],
            "sobol_settings": list(summary["sobol_settings"]), "runs": summary["runs"],
            "minutes": round(summary["elapsed"] / 60, 1), "world": list(summary["overrides"]),
            "first_setting": first, "metrics": metrics,
            "point_values": {m: {st: [_num(v) for v in vals] for st, vals in by.items()}
                             for m, by in summary["point_values"].items()},
            "default_values": {m: {st: [_num(v) for v in vals] for st, vals in by.items()}
                               for m, by in summary["default_values"].items()}}


def _write(path: Path, table: pa.Table) -> None:
    tmp = path.with_name(path.name + f".tmp-{os.getpid()}")
    pq.write_table(table, tmp)
    os.replace(tmp, path)


def top_parameters(summary: dict[str, Any], metric: str, setting: str, n: int = 5) -> list[tuple[str, float, float]]:
    """The ``n`` parameters with the largest μ* for one output and setting: ``(key, mu_star, mu_star_conf)``."""
    rows = [r for r in summary["rows"] if r["method"] == "morris" and r["metric"] == metric and r["setting"] == setting
            and math.isfinite(r["mu_star"])]
    rows.sort(key=lambda r: -r["mu_star"])
    return [(r["parameter"], r["mu_star"], r["mu_star_conf"]) for r in rows[:n]]


def describe(summary: dict[str, Any]) -> list[str]:
    """The result in plain words, a line each (printed, and the page's first section)."""
    lines = [f"{summary['runs']} runs in {summary['elapsed'] / 60:.0f} min: Morris screening of "
             f"{len(summary['params'])} parameters ({summary['trajectories']} trajectories, "
             f"{summary['morris_points']} points) under {len(summary['settings'])} settings, then Sobol indices "
             f"of {len(summary['chosen'])} ({summary['sobol_n']} base samples) under "
             f"{', '.join(summary['sobol_settings'])}; world: {' '.join(summary['overrides']) or 'the default'}."]
    first = summary["settings"][0]
    for metric in HARMS:
        top = top_parameters(summary, metric, first, 3)
        st = summary["stability"][metric]
        flips = sorted(((f / n if n else 0.0, key, n) for key, (n, f) in st["flips"].items()), reverse=True)
        movers = [f"{key} ({share:.0%} of {n} steps)" for share, key, n in flips[:3] if share > 0]
        lines.append(
            f"{metric}: most influential under {first}: " + ", ".join(f"{k} (μ* {m:.3g})" for k, m, _ in top)
            + f". Ranking at the defaults {' < '.join(st['base'])}; the same at {st['same_as_base']:.0%} of "
            f"{st['points']} points (at {st['noise_same_as_base']:.0%} of replicates of the defaults alone)."
            + (f" Steps that changed it most: {', '.join(movers)}." if movers else ""))
    return lines


def _page(summary: dict[str, Any]) -> str:
    esc = html.escape

    def fmt(x: float) -> str:
        return "–" if not math.isfinite(x) else f"{x:.3g}"

    parts = ["<!doctype html><html lang=en><meta charset=utf-8><title>exposim sensitivity</title><style>"
             "body{font:15px/1.45 system-ui,sans-serif;max-width:72rem;margin:2rem auto;padding:0 1rem;color:#222}"
             "table{border-collapse:collapse;margin:.6rem 0 1.4rem}td,th{border-bottom:1px solid #ddd;"
             "padding:.3rem .5rem;text-align:left}th{background:#f4f4f4}.k{font-family:monospace;font-size:.85em}"
             "@media print{body{margin:0;max-width:none;font-size:11px}}</style>",
             "<h1>Global sensitivity: which parameters matter, and does the ranking hold?</h1>",
             "<ul>" + "".join(f"<li>{esc(line)}</li>" for line in describe(summary)) + "</ul>"]
    first = summary["settings"][0]
    for metric in HARMS + COSTS:
        parts.append(f"<h2 class=k>{esc(metric)}</h2><table><tr><th>parameter<th>μ* under {esc(first)} (95%)"
                     f"<th>σ<th>S1 (95%)<th>ST (95%)</tr>")
        morris = {r["parameter"]: r for r in summary["rows"] if r["method"] == "morris" and r["metric"] == metric
                  and r["setting"] == first}
        sobol = {r["parameter"]: r for r in summary["rows"] if r["method"] == "sobol" and r["metric"] == metric
                 and r["setting"] == first}
        for key, _, _ in top_parameters(summary, metric, first, 10):
            m, s = morris[key], sobol.get(key)
            sob = (f"<td>{fmt(s['S1'])} ± {fmt(s['S1_conf'])}<td>{fmt(s['ST'])} ± {fmt(s['ST_conf'])}" if s
                   else "<td>–<td>–")
            parts.append(f"<tr><td class=k>{esc(key)}<td>{fmt(m['mu_star'])} ± {fmt(m['mu_star_conf'])}"
                         f"<td>{fmt(m['sigma'])}{sob}</tr>")
        parts.append("</table>")
    parts.append("<h2>Rank stability: share of points where each pair keeps its order at the defaults "
                 "(a tie keeps it)</h2>")
    for metric, st in summary["stability"].items():
        parts.append(f"<h3 class=k>{esc(metric)}</h3><table><tr><th>pair<th>order held</tr>"
                     + "".join(f"<tr><td>{esc(p)}<td>{fmt(v * 100)}%</tr>" for p, v in st["pairs"].items())
                     + "</table>")
    return "".join(parts) + "</html>\n"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python3 -m sim.sensitivity", description=__doc__.split("\n\n")[0],
        epilog=f"Trailing arguments are overrides of every run, as for python -m sim (default: "
               f"{' '.join(DEFAULT_WORLD)}; give hydra/launcher=ray_local or slurm to scale out).")
    parser.add_argument("--parameters", default=str(DEFAULT_PARAMETERS), help="parameters file (default: %(default)s)")
    parser.add_argument("--out", default="outputs/sensitivity", help="output folder (default: %(default)s)")
    parser.add_argument("--settings", default=",".join(DEFAULT_SETTINGS), help="presets compared (default: %(default)s)")
    parser.add_argument("--trajectories", type=int, default=4, help="Morris trajectories (default: %(default)s)")
    parser.add_argument("--levels", type=int, default=4, help="Morris grid levels (default: %(default)s)")
    parser.add_argument("--top", type=int, default=4, help="parameters given Sobol indices (default: %(default)s)")
    parser.add_argument("--sobol-n", type=int, default=16, help="Sobol base samples, a power of 2 (default: %(default)s)")
    parser.add_argument("--sobol-settings", default=None, help="presets of the Sobol stage (default: the first two)")
    parser.add_argument("--noise-replicates", type=int, default=5,
                        help="replicates of the defaults, for the ranking's noise (default: %(default)s)")
    parser.add_argument("--seed", type=int, default=0, help="the samplers' seed (default: %(default)s)")
    parser.add_argument("--install", action="store_true",
                        help=f"copy {SUMMARY} into {INSTALLED} (the project's sensitivity result)")
    parser.add_argument("overrides", nargs="*", help="overrides of every run")
    args = parser.parse_args(argv)
    for name in ("trajectories", "levels", "noise_replicates"):
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')}={getattr(args, name)}: must be at least 1")
    if args.sobol_n and args.sobol_n & (args.sobol_n - 1):
        parser.error(f"--sobol-n={args.sobol_n}: must be a power of 2 (Saltelli's sampling)")
    settings = tuple(s for s in args.settings.split(",") if s)
    try:
        params = load_parameters(args.parameters)
        if not 0 <= args.top <= len(params):
            raise ConfigError(f"--top={args.top}: allowed 0 .. {len(params)} (the parameters in {args.parameters})")
        summary = run_sensitivity(
            args.out, params=params, settings=settings, trajectories=args.trajectories, levels=args.levels,
            top=args.top, sobol_n=args.sobol_n, noise_replicates=args.noise_replicates, seed=args.seed,
            sobol_settings=tuple(args.sobol_settings.split(",")) if args.sobol_settings else None,
            overrides=tuple(args.overrides) or DEFAULT_WORLD)
    except ConfigError as err:
        print(f"exposim: configuration error: {err}", file=sys.stderr)
        sys.exit(CONFIG_ERROR_EXIT)
    print()
    for line in describe(summary):
        print(line)
    print(f"\nindices:  {Path(args.out) / TABLE}\nrankings: {Path(args.out) / RANKINGS}\npage:     "
          f"{Path(args.out) / PAGE}\nsummary:  {Path(args.out) / SUMMARY}")
    if args.install:
        shutil.copyfile(Path(args.out) / SUMMARY, INSTALLED / SUMMARY)
        print(f"installed {SUMMARY} into {INSTALLED}")


if __name__ == "__main__":
    main()
