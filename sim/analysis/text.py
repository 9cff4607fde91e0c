"""Numbers and interval wording as the terminal table and the report print them.

Core objects: :func:`number`, :func:`interval`, :func:`excludes_zero`,
:func:`too_few`, :func:`difference_verdict`, :func:`interval_methods`,
:data:`NO_DIFFERENCE`.

The terminal table and the report say the same things in the same words:
a mean or a change without an interval because there were too few
replicates, and a difference whose interval spans 0, are named as such
rather than shown as an effect.
"""

from __future__ import annotations

import math

from sim.analysis.stats import BCA_MIN_PAIRS, MIN_REPLICATES

#: What a difference whose interval spans 0 is called.
NO_DIFFERENCE = "no detectable difference at these replicates"
#: :func:`difference_verdict` results.
DETECTED, NOT_DETECTED, TOO_FEW, UNKNOWN = "detected", "not detected", "too few", ""


def number(x: float | None, minus: str = "-", dash: str = "–") -> str:
    """Three significant figures, thousands separated; ``dash`` for a missing or non-finite value."""
    if x is None or not math.isfinite(x):
        return dash
    if x == 0:
        return "0"
    rounded = float(f"{x:.3g}")
    text = f"{rounded:,.0f}" if abs(rounded) >= 1000 else f"{x:#.3g}".rstrip(".")
    return text.replace("-", minus)


def interval(lo: float, hi: float, minus: str = "-") -> str:
    """``[lo, hi]``, or an empty string when neither end is finite (no interval)."""
    if not (math.isfinite(lo) or math.isfinite(hi)):
        return ""
    return f"[{number(lo, minus)}, {number(hi, minus)}]"


def excludes_zero(lo: float, hi: float) -> bool:
    """Whether an interval lies wholly above or wholly below 0 (NaN ends: no)."""
    return (lo > 0 and hi >= lo) or (hi < 0 and lo <= hi)


def _finite(*xs: float | None) -> bool:
    return all(x is not None and math.isfinite(x) for x in xs)


def too_few(n: int) -> str:
    """Why a mean or change of ``n`` replicates (0 < n < :data:`MIN_REPLICATES`) has no interval."""
    return f"too few replicates ({n}) for an interval"


def lacks_interval(n: int | None, lo: float | None, hi: float | None) -> bool:
    """Whether a figure from ``n`` finite replicates has no interval because ``n`` is too small."""
    return n is not None and 0 < n < MIN_REPLICATES and not _finite(lo, hi)


def difference_verdict(n_pairs: int | None, lo: float | None, hi: float | None) -> str:
    """What the interval of a paired difference says: :data:`DETECTED` (it excludes 0),
    :data:`NOT_DETECTED` (it spans 0), :data:`TOO_FEW` (too few pairs for an interval) or
    :data:`UNKNOWN` (no difference at all)."""
    if _finite(lo, hi):
        return DETECTED if excludes_zero(lo, hi) else NOT_DETECTED      # type: ignore[arg-type]
    if lacks_interval(n_pairs, lo, hi):
        return TOO_FEW
    return UNKNOWN


def interval_methods(level: float, resamples: int | None = None) -> str:
    """One sentence naming the interval of each figure, as both the table and the report state it."""
    bca = f"BCa bootstrap, {resamples:,} resamples" if resamples else "BCa bootstrap"
    return (f"{level * 100:g}% intervals over replicates: Student-t for a setting's mean, paired t for its "
            f"difference from the baseline (replicate r against replicate r), Fieller's interval for the "
            f"relative change ({bca}, with {BCA_MIN_PAIRS} pairs or more); none with fewer than "
            f"{MIN_REPLICATES} finite replicates or pairs")
