"""Means over replicates and paired differences against a baseline, with intervals that hold on few replicates.

Core objects: :func:`mean_interval`, :func:`paired_interval`,
:func:`fieller_ratio`, :func:`compare_settings`, :func:`decoy_timelines`,
:data:`COMPARISON_SCHEMA`, :data:`MIN_REPLICATES`, :data:`BCA_MIN_PAIRS`.

A comparison typically has five replicates per setting, and replicate ``r``
of every setting ran on the same world with the same seeds. The intervals are
chosen for that:

* **Mean of a setting** (``interval`` = ``"t"``): the Student-t interval
  ``mean ± t(n-1) · s / √n``, with ``s`` the standard deviation over
  replicates (n − 1 in the denominator) and ``t(n-1)`` the two-sided quantile
  of Student's t with n − 1 degrees of freedom. On five replicates
  ``t(4) = 2.78`` at 95%, against the 1.96 a normal or bootstrap interval
  implicitly uses; the percentile bootstrap used before could not even reach
  beyond the range of the five values, and on normal data covered the true
  mean about 84% of the time instead of 95%.
* **Difference from the baseline** (``diff_interval`` = ``"paired t"``): the
  t interval of the replicate-by-replicate differences ``setting[r] -
  baseline[r]``. Pairing removes the spread between worlds, which both share.
* **Relative change** ``mean(setting) / mean(baseline) - 1`` over the paired
  replicates (``rel_interval``): with fewer than :data:`BCA_MIN_PAIRS` pairs,
  **Fieller's** interval for the ratio of the two paired means (``"Fieller"``):
  the set of ratios ``ρ`` for which ``mean(setting) - ρ · mean(baseline)``,
  a mean of paired values, is within ``t(n-1)`` standard errors of 0. It uses
  the same t quantile and covariance of the pairs as the paired t interval of
  the difference, so it excludes 0% exactly when that interval excludes 0
  (short of rounding at the boundary, the two never disagree about whether
  there is a detectable change); it is asymmetric where a ratio should be (a
  noisy baseline stretches it upwards), and exact for normally distributed
  replicates. The delta method would
  be its symmetric first-order approximation, too narrow when the baseline
  mean is itself uncertain; a bootstrap on five pairs has the percentile
  bootstrap's small-sample problems. When the baseline mean cannot be told
  from 0 at the interval's level, Fieller's set is unbounded and no interval
  is given. With :data:`BCA_MIN_PAIRS` pairs or more, where the bootstrap
  distribution is informative, :func:`scipy.stats.bootstrap` with
  ``method="BCa"`` and ``paired=True`` (``"BCa"``), which needs no normality
  and corrects the bootstrap's bias and skew; should it be degenerate (every
  resampled ratio equal, or a resampled baseline mean of 0) Fieller's
  interval is used instead. At that many pairs the BCa interval of the
  relative change may, at the margin, disagree with the paired t interval of
  the difference about excluding 0; the difference's interval is the one the
  table and the report test against.
* **Too few replicates**: with fewer than :data:`MIN_REPLICATES` finite
  replicates (or pairs) no interval is given (``"none"``, NaN ends): on two
  values a t interval is ±12.7 standard errors wide and says nothing a reader
  can use. The mean and the change are still given.
* **Decoy timelines** (:func:`decoy_timelines`): each run contributes one
  number a day (its decoys' cumulative count per decoy), so ``n`` there is
  the number of replicates too, not of decoys, and the band is the same
  Student-t interval as a setting's mean.

Values that are not finite (a decoy that was never contacted has no day of
first contact) are left out; ``n`` and ``n_pairs`` say how many replicates
are left. When every value is the same the t interval collapses to that
value (no spread between worlds to allow for); a baseline mean of 0 (relative
to the values' own scale) gives no relative change. Only the BCa interval
resamples; each (setting, metric)'s resampling has its own seed, derived from
their names, so the figures do not depend on which other settings or metrics
were compared alongside, and the same inputs give the same table.
"""

from __future__ import annotations

import functools
import hashlib
import inspect
import math
import warnings
from typing import NamedTuple

import numpy as np
import pyarrow as pa
import scipy.special

#: Fewest finite replicates (or pairs) for which an interval is given.
MIN_REPLICATES = 3
#: Fewest pairs for which a relative change gets a BCa bootstrap interval rather than Fieller's.
BCA_MIN_PAIRS = 10

#: Interval methods, as recorded in the ``interval``, ``diff_interval`` and ``rel_interval`` columns.
T, PAIRED_T, FIELLER, BCA, NO_INTERVAL = "t", "paired t", "Fieller", "BCa", "none"

COMPARISON_SCHEMA = pa.schema([
    ("setting", pa.string()), ("order", pa.int32()), ("metric", pa.string()), ("n", pa.int32()),
    ("mean", pa.float64()), ("ci_low", pa.float64()), ("ci_high", pa.float64()), ("interval", pa.string()),
    ("is_baseline", pa.bool_()), ("n_pairs", pa.int32()),
    ("diff_mean", pa.float64()), ("diff_low", pa.float64()), ("diff_high", pa.float64()),
    ("diff_interval", pa.string()),
    ("rel_change", pa.float64()), ("rel_low", pa.float64()), ("rel_high", pa.float64()),
    ("rel_interval", pa.string()),
])

TIMELINE_SCHEMA = pa.schema([
    ("setting", pa.string()), ("order", pa.int32()), ("series", pa.string()), ("day", pa.int32()),
    ("n", pa.int32()), ("mean", pa.float64()), ("ci_low", pa.float64()), ("ci_high", pa.float64())])

NAN = float("nan")


class MeanInterval(NamedTuple):
    """A mean over replicates and its interval (NaN ends and method ``"none"`` when there is none)."""

    n: int
    mean: float
    low: float
    high: float
    method: str


def _rng(*names: str) -> np.random.Generator:
    digest = hashlib.blake2b("\x1f".join(names).encode(), digest_size=8).digest()
    return np.random.default_rng(int.from_bytes(digest, "little"))


@functools.lru_cache(maxsize=256)
def t_quantile(level: float, df: int) -> float:
    """The two-sided ``level`` quantile of Student's t with ``df`` degrees of freedom (2.776 for 95%, df 4).

    ``scipy.special.stdtrit`` is the function ``scipy.stats.t.ppf`` calls, without importing
    ``scipy.stats`` (a second of the report's start)."""
    return float(scipy.special.stdtrit(df, (1 + level) / 2))


def _mean_sd(values: np.ndarray) -> tuple[float, float]:
    """Mean and standard deviation (n − 1); exactly the value and 0 when every value is the same."""
    if values.min() == values.max():
        return float(values[0]), 0.0
    with np.errstate(all="ignore"):     # values near the float limits: the caller gets inf or NaN, not a warning
        return float(values.mean()), float(values.std(ddof=1))


def mean_interval(values: np.ndarray, *, level: float = 0.95) -> MeanInterval:
    """The mean of the finite ``values`` and its Student-t interval (none with fewer than :data:`MIN_REPLICATES`)."""
    values = np.asarray(values, dtype=float)
    values = values[np.isfinite(values)]
    n = values.size
    if n == 0:
        return MeanInterval(0, NAN, NAN, NAN, NO_INTERVAL)
    mean, sd = _mean_sd(values)
    if n < MIN_REPLICATES:
        return MeanInterval(n, mean, NAN, NAN, NO_INTERVAL)
    half = t_quantile(level, n - 1) * sd / math.sqrt(n)
    low, high = mean - half, mean + half
    if not (math.isfinite(low) and math.isfinite(high)):
        return MeanInterval(n, mean, NAN, NAN, NO_INTERVAL)
    return MeanInterval(n, mean, low, high, T)


def fieller_ratio(setting: np.ndarray, baseline: np.ndarray, *, level: float = 0.95) -> tuple[float, float]:
    """Fieller's interval for ``mean(setting) / mean(baseline)`` over paired finite values.

    The interval is every ``ρ`` with ``(x̄ − ρ·ȳ)² ≤ t² · var(x − ρ·y) / n``
    (``t`` with n − 1 degrees of freedom): a quadratic in ``ρ``. It is bounded
    only when the baseline mean is distinguishable from 0 at ``level``;
    otherwise, and with fewer than two pairs, ``(nan, nan)``. The values are
    divided by the baseline mean first (the ratio does not change), which keeps
    the arithmetic on numbers near 1.
    """
    s, b = np.asarray(setting, dtype=float), np.asarray(baseline, dtype=float)
    n = s.size
    if n < 2 or b.size != n:
        return NAN, NAN
    t = t_quantile(level, n - 1)
    with np.errstate(all="ignore"):
        scale = b.mean()
        x, y = s / scale, b / scale
        xm, ym = x.mean(), y.mean()
        cov = np.cov(x, y, ddof=1) / n
        v11, v12, v22 = cov[0, 0], cov[0, 1], cov[1, 1]
        a = ym * ym - t * t * v22
        if not (np.isfinite(a) and a > 0):
            return NAN, NAN                 # the baseline mean's own interval reaches 0: unbounded
        b_ = xm * ym - t * t * v12
        # b_² − a·c, written so that the large terms x̄²ȳ² cancel analytically, not in floating point.
        q = np.var(ym * x - xm * y, ddof=1) / n
        det = max(v11 * v22 - v12 * v12, 0.0)
        root = math.sqrt(max(t * t * (q - t * t * det), 0.0))
        lo, hi = (b_ - root) / a, (b_ + root) / a
    if not (math.isfinite(lo) and math.isfinite(hi)):
        return NAN, NAN
    return float(lo), float(hi)


def _bca_ratio(s: np.ndarray, b: np.ndarray, level: float, resamples: int,
               rng: np.random.Generator) -> tuple[float, float]:
    """The BCa bootstrap interval of ``mean(s) / mean(b)``, resampling pairs; NaN where it is degenerate."""
    import scipy.stats     # only for ten pairs or more: the import costs a second

    def ratio(x: np.ndarray, y: np.ndarray, axis: int = -1) -> np.ndarray:
        return np.mean(x, axis=axis) / np.mean(y, axis=axis)

    # scipy 1.15 renamed bootstrap's random_state to rng; both give the same draws from a Generator.
    rng_arg = "rng" if "rng" in inspect.signature(scipy.stats.bootstrap).parameters else "random_state"
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")     # scipy warns, and returns NaN, when the distribution is degenerate
        result = scipy.stats.bootstrap((s, b), ratio, n_resamples=resamples, vectorized=True, paired=True,
                                       confidence_level=level, method="BCa", **{rng_arg: rng})
    lo, hi = (float(v) for v in result.confidence_interval)
    if not (math.isfinite(lo) and math.isfinite(hi) and lo <= hi):
        return NAN, NAN
    return lo, hi


def paired_interval(setting: np.ndarray, baseline: np.ndarray, *, level: float = 0.95, resamples: int = 2000,
                    rng: np.random.Generator | None = None) -> dict[str, float | int | str]:
    """Paired difference ``setting - baseline`` and relative change ``mean(setting)/mean(baseline) - 1``.

    ``setting[i]`` and ``baseline[i]`` must be the same replicate; pairs where
    either is not finite are dropped. Returns ``n_pairs``, ``diff_mean``,
    ``diff_low``, ``diff_high``, ``diff_interval`` (``"paired t"`` or
    ``"none"``), ``rel_change``, ``rel_low``, ``rel_high`` and ``rel_interval``
    (``"Fieller"``, ``"BCa"`` or ``"none"``); the relative change is NaN where
    the baseline mean is 0. ``resamples`` and ``rng`` serve the BCa interval
    only (:data:`BCA_MIN_PAIRS` pairs or more).
    """
    s, b = np.asarray(setting, dtype=float), np.asarray(baseline, dtype=float)
    keep = np.isfinite(s) & np.isfinite(b)
    s, b = s[keep], b[keep]
    n = s.size
    out: dict[str, float | int | str] = {
        "n_pairs": n, "diff_mean": NAN, "diff_low": NAN, "diff_high": NAN, "diff_interval": NO_INTERVAL,
        "rel_change": NAN, "rel_low": NAN, "rel_high": NAN, "rel_interval": NO_INTERVAL}
    if n == 0:
        return out
    with np.errstate(all="ignore"):
        d = s - b
    if np.isfinite(d).all():            # (a difference of two finite values can still overflow)
        diff = mean_interval(d, level=level)
        out["diff_mean"] = diff.mean
        if diff.method == T:
            out["diff_low"], out["diff_high"], out["diff_interval"] = diff.low, diff.high, PAIRED_T
    # "Zero" relative to the values' own scale: a mean that is only rounding error has no ratio.
    tiny = 1e-9 * float(np.abs(b).max())
    with np.errstate(all="ignore"):
        b_mean = float(b.mean())
        rel = float(s.mean() / b_mean - 1) if abs(b_mean) > tiny else NAN
    if not math.isfinite(rel):
        return out
    out["rel_change"] = rel
    if n < MIN_REPLICATES:
        return out
    lo = hi = NAN
    method = NO_INTERVAL
    if n >= BCA_MIN_PAIRS:
        lo, hi = _bca_ratio(s, b, level, resamples, rng or np.random.default_rng(0))
        method = BCA
    if not (math.isfinite(lo) and math.isfinite(hi)):
        lo, hi = fieller_ratio(s, b, level=level)
        method = FIELLER
    if math.isfinite(lo) and math.isfinite(hi):
        out["rel_low"], out["rel_high"], out["rel_interval"] = lo - 1, hi - 1, method
    return out


def compare_settings(summary: pa.Table, metrics: list[str], baseline: str, *, resamples: int = 2000,
                     level: float = 0.95) -> pa.Table:
    """Long table (:data:`COMPARISON_SCHEMA`): one row per (setting, metric).

    Args:
        summary: one row per run with ``setting``, ``order``, ``replicate_key``
            and the metric columns (:func:`sim.analysis.runs.summary_dataset`).
        metrics: the columns to compare.
        baseline: the setting every other one is compared with.
        resamples: bootstrap resamples for a BCa interval (:data:`BCA_MIN_PAIRS` pairs or more).
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
        is_base = setting == baseline
        for metric in metrics:
            col = columns[metric]
            est = mean_interval(col[list(mine.values())], level=level)
            if is_base:
                diff: dict = {"n_pairs": est.n, "diff_mean": NAN, "diff_low": NAN, "diff_high": NAN,
                              "diff_interval": NO_INTERVAL, "rel_change": NAN, "rel_low": NAN, "rel_high": NAN,
                              "rel_interval": NO_INTERVAL}
            else:
                diff = paired_interval(col[[mine[r] for r in paired]], col[[base_rows[r] for r in paired]],
                                       level=level, resamples=resamples, rng=_rng(setting, metric, "paired"))
            for key, value in (("setting", setting), ("order", rank), ("metric", metric), ("n", est.n),
                               ("mean", est.mean), ("ci_low", est.low), ("ci_high", est.high),
                               ("interval", est.method), ("is_baseline", is_base), *diff.items()):
                rows[key].append(value)
    return pa.table(rows, schema=COMPARISON_SCHEMA)


def decoy_timelines(series: dict[str, np.ndarray], setting_of: dict[str, str], order_of: dict[str, int],
                    names: dict[str, int], *, level: float = 0.95) -> pa.Table:
    """Cumulative decoy counts per decoy by day: mean over replicates and its t interval, per setting.

    Each run contributes one number a day (its decoys' cumulative count divided
    by its number of decoys), so ``n`` is the number of replicates, not of
    decoys, and the interval is the same Student-t interval as a setting's mean
    (none with fewer than :data:`MIN_REPLICATES` replicates).

    Args:
        series: run folder -> (days x columns) array whose column 0 is the
            number of decoys (:func:`sim.analysis.runs.decoy_days`).
        setting_of / order_of: run folder -> its setting / setting -> display order.
        names: timeline name -> column index in the arrays.
    """
    cols: dict[str, list] = {k: [] for k in TIMELINE_SCHEMA.names}
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
            constant = per_decoy.min(axis=0) == per_decoy.max(axis=0)
            mean = np.where(constant, per_decoy[0], per_decoy.mean(axis=0))
            if n >= MIN_REPLICATES:
                sd = np.where(constant, 0.0, per_decoy.std(axis=0, ddof=1))
                half = t_quantile(level, n - 1) * sd / math.sqrt(n)
                lo, hi = mean - half, mean + half
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
    return pa.table(cols, schema=TIMELINE_SCHEMA)
