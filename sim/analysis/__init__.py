"""Comparing the settings of a sweep: means with t intervals, paired differences, a report.

Core objects: :func:`compare_sweep` (also ``python -m sim.analysis compare DIR``),
:class:`Comparison`, :class:`AnalysisError`; the pieces live in
:mod:`sim.analysis.runs` (finding and reading runs), :mod:`sim.analysis.stats`
(intervals: t, paired t, Fieller, BCa), :mod:`sim.analysis.report` (``report.html``) and
:mod:`sim.analysis.labels` (which figures come first, under which names).
"""

from sim.analysis.compare import AnalysisError, Comparison, compare_sweep

__all__ = ["AnalysisError", "Comparison", "compare_sweep"]
