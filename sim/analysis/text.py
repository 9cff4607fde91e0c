"""Numbers as the terminal table and the report print them.

Core objects: :func:`number`, :func:`interval`, :func:`excludes_zero`.
"""

from __future__ import annotations

import math


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
    """``[lo, hi]``, or an empty string when neither end is finite (fewer than two replicates)."""
    if not (math.isfinite(lo) or math.isfinite(hi)):
        return ""
    return f"[{number(lo, minus)}, {number(hi, minus)}]"


def excludes_zero(lo: float, hi: float) -> bool:
    """Whether an interval lies wholly above or wholly below 0 (NaN ends: no)."""
    return (lo > 0 and hi >= lo) or (hi < 0 and lo <= hi)
