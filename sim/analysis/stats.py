"""Means over replicates with bootstrap intervals, and paired differences against a baseline.

Core objects: :func:`bootstrap_mean`, :func:`bootstrap_paired`,
:func:`compare_settings`, :func:`decoy_timelines`, :data:`COMPARISON_SCHEMA`.

Intervals are percentile bootstrap intervals: replicates are resampled with
replacement ``resamples`` times, the statistic is computed on each resample,
and the interval is the (1-level)/2 and (1+level)/2 quantiles of those values.
Differences against the baseline are *paired*: a setting's replicate ``r``
and the baseline's replicate ``r`` ran on the same world with the same seeds,
so the resampling draws pairs, and the spread between worlds, which both
share, drops out of the difference. Values that are not finite (a decoy that
was never contacted has no day of first contact) are left out; ``n`` and
``n_pairs`` say how many replicates are left. Each (setting, metric)'s
resampling has its own seed, derived from their names, so the figures do not
depend on which other settings or metrics were compared alongside.
"""

from __future__ import annotations

import hashlib

import numpy as np
import pyarrow as pa

COMPARISON_SCHEMA = pa.schema([
    ("setting", pa.string()), ("order", pa.int32()), ("metric", pa.string()), ("n", pa.int32()),
    ("mean", pa.float64()), ("ci_low", pa.float64()), ("ci_high", pa.float64()),
    ("is_baseline", pa.bool_()), ("n_pairs", pa.int32()),
    ("diff_mean", pa.float64()), ("diff_low", pa.float64()), ("diff_high", pa.float64()),
    ("rel_change", pa.float64()), ("rel_low", pa.float64()), ("rel_high", pa.float64()),
])

NAN = float("nan")
#: Most numbers a timeline bootstrap holds at once (resamples x replicates x days): 128 MB of float64.
_CHUNK = 1 << 24


def _rng(*names: str) -> np.random.Generator:
    digest = hashlib.blake2b("\x1f".join(names).encode(), digest_size=8).digest()
    return np.random.default_rng(int.from_bytes(digest, "little"))


def _quantiles(stats: np.ndarray, level: float) -> tuple[float, float]:
    stats = stats[np.isfinite(stats)]
    if stats.size == 0:
        return NAN, NAN
    lo, hi = np.quantile(stats, [(1 - level) / 2, (1 + level) / 2], axis=0)
    return float(lo), float(hi)


def bootstrap_mean(values: np.ndarray, *, resamples: int = 2000, level: float = 0.95,
                   rng: np.random.Generator | None = None) -> tuple[int, float, float, float]:
    """``(n, mean, low, high)`` of the finite ``values``; the interval is NaN with fewer than two."""
    values = np.asarray(values, dtype=float)
    values = values[np.isfinite(values)]
    n = values.size
    if n == 0:
        return 0, NAN, NAN, NAN
    mean = float(values.mean())
    if n < 2:
        return n, mean, NAN, NAN
    rng = rng or np.random.default_rng(0)
    idx = rng.integers(0, n, size=(resamples, n))
    lo, hi = _quantiles(values[idx].mean(axis=1), level)
    return n, mean, lo, hi


def bootstrap_paired(setting: np.ndarray, baseline: np.ndarray, *, resamples: int = 2000, level: float = 0.95,
                     rng: np.random.Generator | None = None) -> dict[str, float]:
    """Paired difference ``setting - baseline`` and relative change ``mean(setting)/mean(baseline) - 1``.

    ``setting[i]`` and ``baseline[i]`` must be the same replicate; pairs where
    either is not finite are dropped. Returns ``n_pairs``, ``diff_mean``,
    ``diff_low``, ``diff_high``, ``rel_change``, ``rel_low``, ``rel_high``
    (the relative change is NaN where the baseline mean is 0).
    """
    s, b = np.asarray(setting, dtype=float), np.asarray(baseline, dtype=float)
    keep = np.isfinite(s) & np.isfinite(b)
    s, b = s[keep], b[keep]
    n = s.size
    out = {"n_pairs": n, "diff_mean": NAN, "diff_low": NAN, "diff_high": NAN,
           "rel_change": NAN, "rel_low": NAN, "rel_high": NAN}
    if n == 0:
        return out
    out["diff_mean"] = float((s - b).mean())
    # "Zero" relative to the values' own scale: a mean that is only rounding error has no ratio.
    tiny = 1e-9 * float(np.abs(b).max())
    if abs(b.mean()) > tiny:
        out["rel_change"] = float(s.mean() / b.mean() - 1)
    if n < 2:
        return out
    rng = rng or np.random.default_rng(0)
    idx = rng.integers(0, n, size=(resamples, n))
    out["diff_low"], out["diff_high"] = _quantiles((s - b)[idx].mean(axis=1), level)
    if abs(b.mean()) > tiny:
        s_means, b_means = s[idx].mean(axis=1), b[idx].mean(axis=1)
        with np.errstate(over="ignore", divide="ignore", invalid="ignore"):
            ratio = np.divide(s_means, b_means, out=np.full(resamples, np.nan), where=np.abs(b_means) > tiny) - 1
        out["rel_low"], out["rel_high"] = _quantiles(ratio, level)
    return out


def compare_settings(summary: pa.Table, metrics: list[str], baseline: str, *, resamples: int = 2000,
                     level: float = 0.95) -> pa.Table:
    """Long table (:data:`COMPARISON_SCHEMA`): one row per (setting, metric).

    Args:
        summary: one row per run with ``setting``, ``order``, ``replicate_key``
            and the metric columns (:func:`sim.analysis.runs.summary_dataset`).
        metrics: the columns to compare.
        baseline: the setting every other one is compared with.
    """
    setting_col = summary["setting"].to_pylist()
    replicate_col = summary["replicate_key"].to_pylist()
    order = dict(zip(setting_col, summary["order"].to_pylist()))
    settings = sorted(order, key=lambda s: (s != baseline, order[s], s))
    columns = {m: summary[m].to_numpy(zero_copy_only=False).astype(float) for m in metrics}
    rows: dict[str, list] = {name: [] for name in COMPARISON_SCHEMA.names}
    base_rows = {rep: i for i, (s, rep) in enumerate(zip(setting_col, replicate_col)) if s == baseline}
    for rank, setting in enumerate(settings):
        mine = {rep: i for i, (s, rep) in enumerate(zip(setting_col, replicate_col)) if s == setting}
        paired = sorted(set(mine) & set(base_rows))
        for metric in metrics:
            col = columns[metric]
            n, mean, lo, hi = bootstrap_mean(col[list(mine.values())], resamples=resamples, level=level,
                                             rng=_rng(setting, metric))
            is_base = setting == baseline
            diff = bootstrap_paired(col[[mine[r] for r in paired]], col[[base_rows[r] for r in paired]],
                                    resamples=resamples, level=level, rng=_rng(setting, metric, "paired"))
            if is_base:
                diff = {k: (n if k == "n_pairs" else NAN) for k in diff}
            for key, value in (("setting", setting), ("order", rank), ("metric", metric), ("n", n),
                               ("mean", mean), ("ci_low", lo), ("ci_high", hi), ("is_baseline", is_base),
                               *diff.items()):
                rows[key].append(value)
    return pa.table(rows, schema=COMPARISON_SCHEMA)


def decoy_timelines(series: dict[str, np.ndarray], setting_of: dict[str, str], order_of: dict[str, int],
                    names: dict[str, int], *, resamples: int = 2000, level: float = 0.95) -> pa.Table:
    """Cumulative decoy counts per decoy by day: mean over replicates and bootstrap interval, per setting.

    Args:
        series: run folder -> (days x columns) array whose column 0 is the
            number of decoys (:func:`sim.analysis.runs.decoy_days`).
        setting_of / order_of: run folder -> its setting / setting -> display order.
        names: timeline name -> column index in the arrays.
    """
    cols: dict[str, list] = {k: [] for k in ("setting", "order", "series", "day", "n", "mean", "ci_low", "ci_high")}
    by_setting: dict[str, list[np.ndarray]] = {}
    for run, arr in series.items():
        by_setting.setdefault(setting_of[run], []).append(arr)
    for setting in sorted(by_setting, key=lambda s: (order_of[s], s)):
        arrays = by_setting[setting]
        days = min(a.shape[0] for a in arrays)
        for name, col in names.items():
            decoys = np.stack([a[:days, 0] for a in arrays])          # replicates x days
            counts = np.stack([a[:days, col] for a in arrays])
            per_decoy = np.cumsum(counts, axis=1) / np.maximum(decoys, 1)
            n = per_decoy.shape[0]
            mean = per_decoy.mean(axis=0)
            if n >= 2:
                idx = _rng(setting, name).integers(0, n, size=(resamples, n))
                lo, hi = np.empty(days), np.empty(days)
                # A few days at a time: resamples x replicates x days at once would be gigabytes for a long
                # sweep at the highest resample count. Each day's figures are the same either way.
                step = max(1, _CHUNK // (resamples * n))
                for start in range(0, days, step):
                    part = slice(start, start + step)
                    boot = per_decoy[:, part][idx].mean(axis=1)          # resamples x days in the part
                    lo[part], hi[part] = np.quantile(boot, [(1 - level) / 2, (1 + level) / 2], axis=0)
            else:
                lo = hi = np.full(days, np.nan)
            cols["setting"] += [setting] * days
            cols["order"] += [order_of[setting]] * days
            cols["series"] += [name] * days
            cols["day"] += list(range(days))
            cols["n"] += [n] * days
            cols["mean"] += mean.tolist()
            cols["ci_low"] += np.asarray(lo).tolist()
            cols["ci_high"] += np.asarray(hi).tolist()
    return pa.table(cols, schema=pa.schema([
        ("setting", pa.string()), ("order", pa.int32()), ("series", pa.string()), ("day", pa.int32()),
        ("n", pa.int32()), ("mean", pa.float64()), ("ci_low", pa.float64()), ("ci_high", pa.float64())]))
