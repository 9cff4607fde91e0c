"""The report's "How far to trust this" (sim.analysis.trust), on hand-made evidence."""

from __future__ import annotations

import html
import re

import pyarrow as pa
import pytest

from sim.analysis.trust import order_held, sweep_context, trust_section


def test_order_held_counts_points_without_a_strict_reversal():
    values = {"a": [1.0, 2.0, 1.0, None], "b": [2.0, 1.0, 1.0, 3.0]}
    # point 0 keeps a < b, point 1 reverses it, point 2 is a tie (kept), point 3 lacks a value.
    assert order_held(values, ["a", "b"]) == (2, 3)


def test_sweep_context_names_presets_and_the_calibrated_keys_the_runs_changed():
    summary = pa.table({"setting": ["safeguards=none", "safeguards=all_on", "safeguards=none"],
                        "safeguards.preset": ["none", "all_on", "none"],
                        "contact.displacement": [0.5, 0.5, 0.5],
                        "population.offender_share": [0.01, 0.02, 0.01]})
    compared, world = sweep_context(summary, {"contact.displacement": 0.5, "population.offender_share": 0.01})
    assert compared == {"safeguards=none": "none", "safeguards=all_on": "all_on"}
    assert world["known"] and world["differs"] == [("population.offender_share", "2 values", 0.01)]


def _row(setting, metric, mean, n=5, diff=(None, None), baseline=False):
    lo, hi = diff
    return {"setting": setting, "metric": metric, "mean": mean, "n": n, "n_pairs": 0 if baseline else n,
            "is_baseline": baseline, "diff_low": float("nan") if lo is None else lo,
            "diff_high": float("nan") if hi is None else hi}


EVIDENCE = {
    "fit": {"targets": [
        {"name": "t1", "output": "m1", "use": "fit", "value": 0.13, "low": 0.11, "high": 0.15, "regime": "2021",
         "source": "bejar-senate-2023", "what": "advances", "mean": 0.12, "ci_low": 0.11, "ci_high": 0.13,
         "reached": True},
        {"name": "t2", "output": "m2", "use": "validation", "value": 3.5, "low": 3, "high": 4, "regime": "2023",
         "source": "nm-v-meta", "what": "decoy images", "mean": 0.4, "ci_low": None, "ci_high": None,
         "reached": False}],
        "point": {"contact.displacement": 0.5}, "evaluations": 40, "accepted": 3, "replicates": 5},
    "sensitivity": {
        "first_setting": "none", "parameters": 29, "morris_points": 3, "settings": ["none", "all_on"], "runs": 12,
        "world": ["population.n=3000"],
        "metrics": {"minor_violating_prevalence_per_10k": {"top": [["contact.displacement", 1.0, 0.1]],
                                                           "movers": [["contact.displacement", 0.5, 2]]}},
        "point_values": {"minor_violating_prevalence_per_10k": {"none": [5.0, 4.0, 1.0], "all_on": [1.0, 2.0, 3.0]}},
        "default_values": {"minor_violating_prevalence_per_10k": {"none": [5.0, 5.0], "all_on": [1.0, 1.0]}}},
}


def _text(page: str) -> str:
    return re.sub(r"\s+", " ", html.unescape(re.sub(r"<[^>]+>", " ", page)))


def test_the_section_says_in_plain_words_what_holds_for_the_settings_compared():
    rows = [_row("safeguards=none", "minor_violating_prevalence_per_10k", 5.0, baseline=True),
            _row("safeguards=all_on", "minor_violating_prevalence_per_10k", 1.0, diff=(-5.0, -3.0))]
    page = _text(trust_section(rows, ["minor_violating_prevalence_per_10k"],
                               {"safeguards=none": "none", "safeguards=all_on": "all_on"},
                               {"known": True, "differs": []}, EVIDENCE))
    assert "the calibrated world reproduces 1 of 1 fitted targets and 0 of 1 held-out checks" in page
    assert "These runs use the calibrated world" in page
    # This sweep's order is all_on < none; the points keep it at 0 and 1, point 2 reverses it.
    assert "held at 2 of 3 parameter points (67%)" in page
    assert "between replicates of the default world alone it held at 2 of 2" in page
    assert "decoy images: target 3.5" in page and "outside the range" in page
    assert "of 1 headline differences from the baseline, 1 are detectable" in page


def test_a_sweep_off_the_calibrated_world_or_without_evidence_is_told_so():
    rows = [_row("a", "m", 1.0, baseline=True), _row("b", "m", 1.0, n=2, diff=(-1.0, 1.0))]
    page = _text(trust_section(rows, ["m"], {"a": "none", "b": "all_on"},
                               {"known": True, "differs": [("contact.displacement", 0.9, 0.5)]}, EVIDENCE))
    assert "These runs do not use the calibrated world : contact.displacement = 0.9 (calibrated 0.5)" in page
    assert "1 have fewer than 3 pairs (too few to say anything)" in page
    bare = _text(trust_section(rows, ["m"], {}, {}, {"fit": None, "sensitivity": None}))
    assert "No calibration is installed" in bare and "No sensitivity analysis is installed" in bare


@pytest.mark.parametrize("compared", [{"a": "none"}, {"a": "none", "b": "ideal"}])
def test_the_ranking_is_not_claimed_for_settings_the_analysis_did_not_cover(compared):
    rows = [_row("a", "minor_violating_prevalence_per_10k", 1.0, baseline=True)]
    page = _text(trust_section(rows, ["minor_violating_prevalence_per_10k"], compared, {"known": True},
                               EVIDENCE))
    assert "parameter points (" not in page
