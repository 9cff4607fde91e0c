"""Metric formulas, computed by hand on hand-made counter histories."""

from __future__ import annotations

import math

import numpy as np
import pytest

from sim.metrics import COLUMN, COUNTERS, Metrics, day_rows, median_days_to_first, summarize
from sim.vocabulary import ADULT, COHORTS, DECOY
from sim.vocabulary import MINOR_13_15 as M13
from sim.vocabulary import MINOR_16_17 as M16


def history(days: int) -> np.ndarray:
    return np.zeros((days, len(COHORTS), len(COUNTERS)), dtype=np.int64)


def put(h, day, cohort, **counters):
    for name, value in counters.items():
        h[day, cohort, COLUMN[name]] = value


def test_prevalence_pools_both_minor_bands_over_the_window_only():
    h = history(3)
    # Day 1 is burn-in (outside a 2-day window) and must not count.
    put(h, 0, M13, impressions=100, harmful_impressions=100)
    put(h, 1, M13, impressions=1000, harmful_impressions=3)
    put(h, 2, M16, impressions=3000, harmful_impressions=5)
    put(h, 1, ADULT, impressions=5000, harmful_impressions=1)
    s = summarize(h, measure_days=2, decoy_first_harm_day=np.array([], dtype=int))
    assert s["minor_harm_prevalence_per_10k"] == pytest.approx(1e4 * 8 / 4000)
    assert s["adult_harm_prevalence_per_10k"] == pytest.approx(1e4 * 1 / 5000)
    assert s["measured_days"] == 2


def test_per_class_prevalence_adds_up_to_the_total():
    h = history(1)
    put(h, 0, M13, impressions=2000, impressions_suggestive=6, impressions_adult_sexual=3,
        impressions_exploitative=1, harmful_impressions=10)
    s = summarize(h, 1, np.array([]))
    parts = sum(s[f"minor_{c}_prevalence_per_10k"] for c in ("suggestive", "adult_sexual", "exploitative"))
    assert s["minor_suggestive_prevalence_per_10k"] == pytest.approx(30.0)
    assert parts == pytest.approx(s["minor_harm_prevalence_per_10k"])


def test_exposed_share_is_the_mean_of_daily_shares():
    h = history(2)
    put(h, 0, M13, accounts=10, exposed_7d=1)
    put(h, 0, M16, accounts=10, exposed_7d=3)     # day 1: 4 / 20 = 0.2
    put(h, 1, M13, accounts=10, exposed_7d=10)
    put(h, 1, M16, accounts=10, exposed_7d=2)     # day 2: 12 / 20 = 0.6
    s = summarize(h, 2, np.array([]))
    assert s["minor_exposed_7d_share"] == pytest.approx(0.4)
    assert s["minor_13_15_exposed_7d_share"] == pytest.approx((0.1 + 1.0) / 2)


def test_zero_denominators_give_nan_not_zero():
    s = summarize(history(2), 2, np.array([]))
    assert math.isnan(s["minor_harm_prevalence_per_10k"])
    assert math.isnan(s["minor_exposed_7d_share"])


def test_removal_shares_exclude_decoys_and_separate_benign_from_violating():
    h = history(1)
    put(h, 0, ADULT, posts=120, posts_none=100, posts_suggestive=10, posts_adult_sexual=6, posts_exploitative=4,
        removed_none=2, removed_suggestive=1, removed_adult_sexual=3, removed_exploitative=2)
    put(h, 0, DECOY, posts=50, posts_none=50, removed_none=50)
    s = summarize(h, 1, np.array([]))
    assert s["benign_removed_share"] == pytest.approx(0.02)
    assert s["violating_removed_share"] == pytest.approx(0.5)


def test_engagements_per_session():
    h = history(1)
    put(h, 0, M13, sessions=40, engagements=10)
    put(h, 0, M16, sessions=10, engagements=5)
    assert summarize(h, 1, np.array([]))["minor_engagements_per_session"] == pytest.approx(0.3)


@pytest.mark.parametrize("first,expected", [
    ([2, 4, 6], 4.0),
    ([3, -1, 5, 1], 4.0),       # "never" counts as last: median of 1, 3, 5, inf
    ([2, -1, -1], math.nan),    # most never: the median is "never"
    ([], math.nan),
])
def test_median_days_to_first(first, expected):
    got = median_days_to_first(np.array(first, dtype=int))
    assert (math.isnan(got) and math.isnan(expected)) or got == expected


def test_decoy_weekly_rate_uses_decoy_days():
    h = history(14)
    for d in range(14):
        put(h, d, DECOY, accounts=4)
    put(h, 3, DECOY, harmful_impressions=8)
    s = summarize(h, 14, np.array([1, 2, 3, 4]))
    assert s["decoy_harmful_impressions_per_week"] == pytest.approx(7 * 8 / (14 * 4))


def test_metrics_counts_by_cohort_and_closes_days():
    cohort = np.array([M13, M13, ADULT, DECOY], dtype=np.int8)
    m = Metrics(cohort)
    m.count("sessions", np.array([0, 0, 1, 2, 3, 3]))
    closed = m.close_day()
    assert closed[:, COLUMN["sessions"]].tolist() == [3, 0, 1, 2]
    assert not m.today.any()
    assert m.as_array().shape == (1, 4, len(COUNTERS))


def test_day_rows_have_one_row_per_day_and_cohort():
    h = history(3)
    put(h, 1, ADULT, impressions=200, harmful_impressions=1, accounts=5, exposed_7d=1)
    rows = day_rows(h)
    assert len(rows["day"]) == 12
    i = 1 * 4 + ADULT
    assert rows["day"][i] == 2 and rows["cohort"][i] == "adult"
    assert rows["harm_prevalence_per_10k"][i] == pytest.approx(50.0)
    assert rows["exposed_7d_share"][i] == pytest.approx(0.2)
    assert math.isnan(rows["harm_prevalence_per_10k"][0])


def test_decoy_rates_cover_the_whole_run_and_the_first_week():
    # Decoys are probes from day 1: burn-in does not apply to them.
    h = history(10)
    for d in range(10):
        put(h, d, DECOY, accounts=2)
    put(h, 0, DECOY, unwanted_contacts=6, sexual_contacts=2)      # day 1, inside the first week
    put(h, 8, DECOY, unwanted_contacts=4)                         # day 9, after it
    s = summarize(h, measure_days=2, decoy_first_harm_day=np.array([1, 1]))
    assert s["decoy_unwanted_contacts_per_week"] == pytest.approx(7 * 10 / 20)
    assert s["decoy_sexual_contacts_per_week"] == pytest.approx(7 * 2 / 20)
    assert s["decoy_unwanted_contacts_first_week"] == pytest.approx(6 / 2)


def test_every_summary_column_a_run_writes_is_defined_in_the_odd():
    """The summary-figure recipe (docs/ARCHITECTURE.md): a new figure needs its definition in docs/ODD.md §8."""
    from pathlib import Path

    from sim.model import ExposureModel
    from tests.conftest import tiny_config

    model = ExposureModel(tiny_config(days=3))
    model.run()
    import re

    odd = (Path(__file__).resolve().parents[1] / "docs" / "ODD.md").read_text()
    # A family of figures is defined once with a placeholder: `blocked_by_<name>_per_1k_minor_days`.
    families = [re.compile("^" + re.sub(r"<[a-z]+>", "[a-z0-9_]+", re.escape(m).replace(r"\<", "<").replace(r"\>", ">"))
                           + "$") for m in re.findall(r"`([a-z0-9_]*<[a-z]+>[a-z0-9_<>]*)`", odd)]
    undefined = [name for name in model.summary()
                 if f"`{name}`" not in odd and not any(f.match(name) for f in families)]
    assert undefined == []
