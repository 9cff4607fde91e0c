"""sim.analysis: intervals over few replicates, paired differences, settings found in a sweep folder, and the CLI.

Statistics are checked on numbers small enough to work out by hand (a t
interval from a printed t table, a Fieller interval from its defining
quadratic, the old percentile bootstrap by enumerating every resample), and
by coverage on simulated normal data; the sweep is a real one of tiny worlds,
written the way the Hydra app records its jobs, with a failed, an
interrupted, a tampered-with and a never-started run among them.
"""

from __future__ import annotations

import io
import itertools
import math
import re
import shutil
import subprocess
import sys
import warnings
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest
import scipy.stats
from hypothesis import given, settings
from hypothesis import strategies as st

from sim.analysis import AnalysisError, compare_sweep
from sim.analysis.compare import COMPARISON, format_table
from sim.analysis.labels import HEADLINE, label
from sim.analysis.text import number
from sim.analysis.stats import (BCA_MIN_PAIRS, COMPARISON_SCHEMA, MIN_REPLICATES, compare_settings, fieller_ratio,
                                mean_interval, paired_interval)
from sim.config import Config
from sim.io import begin_run, fail_run, flatten_config
from sim.runner import read_summary, run
from tests.conftest import tiny_config

REPO = Path(__file__).resolve().parent.parent
EPS = np.finfo(float).eps
# Reproducible property tests: the same examples on every run and machine.
PROPERTY = settings(max_examples=150, deadline=None, derandomize=True)
#: Student's t, two-sided 95%, from a printed table: 4 degrees of freedom (five replicates), 3 (four pairs), 2.
T95 = {4: 2.776, 3: 3.182, 2: 4.303}


def same(a: float, b: float) -> bool:
    """Equal, NaN matching NaN."""
    return (math.isnan(a) and math.isnan(b)) or a == b


def same_rows(a: pa.Table, b: pa.Table) -> bool:
    """Same schema and values, NaN matching NaN (Arrow's ``equals`` never matches NaN)."""
    def cell(x, y):
        return same(x, y) if isinstance(x, float) and isinstance(y, float) else x == y
    return a.schema.equals(b.schema) and a.num_rows == b.num_rows and all(
        cell(x, y) for ra, rb in zip(a.to_pylist(), b.to_pylist()) for x, y in zip(ra.values(), rb.values()))


def percentile_bootstrap(values: np.ndarray, resamples: int, rng: np.random.Generator,
                         level: float = 0.95) -> tuple[float, float]:
    """The interval the comparison used before: quantiles of resampled means (kept here for comparison)."""
    idx = rng.integers(0, values.size, size=(resamples, values.size))
    lo, hi = np.quantile(values[idx].mean(axis=1), [(1 - level) / 2, (1 + level) / 2])
    return float(lo), float(hi)


# --------------------------------------------------------------------------- mean_interval (Student t)

def test_t_interval_of_one_to_five_is_the_textbook_one():
    # mean 3, s² = (4 + 1 + 0 + 1 + 4) / 4 = 2.5, standard error √(2.5 / 5) = √0.5; t(4) = 2.776 at 95%.
    n, mean, low, high, method = mean_interval(np.arange(1.0, 6.0))
    assert (n, mean, method) == (5, 3.0, "t")
    assert low == pytest.approx(3 - T95[4] * math.sqrt(0.5), abs=1e-3)         # the table's 3 decimals
    assert high == pytest.approx(3 + T95[4] * math.sqrt(0.5), abs=1e-3)
    assert (low, high) == pytest.approx((1.0368, 4.9632), abs=1e-4)
    exact_t = scipy.stats.t.ppf(0.975, 4)
    assert low == pytest.approx(3 - exact_t * math.sqrt(0.5), rel=1e-12)


def test_the_t_interval_is_wider_than_the_old_percentile_bootstrap_on_five_replicates():
    values = np.arange(1.0, 6.0)
    # All 5**5 resamples are equally likely: their means are the exact bootstrap distribution.
    exact_means = np.array([np.mean(r) for r in itertools.product(values, repeat=5)])
    boot_low, boot_high = np.quantile(exact_means, [0.025, 0.975])
    assert (boot_low, boot_high) == pytest.approx((1.8, 4.2))      # P(mean <= 1.6) = 1.8%, <= 1.8: 4.0%
    _, _, low, high, _ = mean_interval(values)
    assert low < boot_low and boot_high < high
    assert (high - low) / (boot_high - boot_low) > 1.6

    # On normal samples of five, always: the t interval is about 1.6 times the bootstrap's width.
    rng = np.random.default_rng(5)
    for _ in range(200):
        sample = rng.normal(10.0, 2.0, 5)
        _, _, low, high, _ = mean_interval(sample)
        b_low, b_high = percentile_bootstrap(sample, 2000, rng)
        assert high - low > b_high - b_low

    # And unlike the bootstrap it can reach beyond the values: three replicates 1, 2, 9.
    _, mean, low, high, _ = mean_interval(np.array([1.0, 2.0, 9.0]))
    half = T95[2] * math.sqrt(19 / 3)                     # s² = (9 + 4 + 25) / 2 = 19
    assert (low, high) == pytest.approx((4 - half, 4 + half), abs=2e-3)
    assert low < 1 and high > 9


def test_t_intervals_cover_the_true_mean_95_percent_of_the_time_on_five_normal_replicates():
    rng = np.random.default_rng(20240601)
    draws = rng.normal(3.0, 2.0, size=(2000, 5))
    covered = [low <= 3.0 <= high for _, _, low, high, _ in map(mean_interval, draws)]
    assert 0.93 <= np.mean(covered) <= 0.97
    # The percentile bootstrap it replaces falls well short on the same draws (about 84%).
    idx = rng.integers(0, 5, size=(1000, 5))
    boot = np.quantile(draws[:, idx].mean(axis=2), [0.025, 0.975], axis=1)       # 2 x draws
    assert np.mean((boot[0] <= 3.0) & (3.0 <= boot[1])) < 0.90


@pytest.mark.parametrize("value, n", [(2.5, 4), (0.1, 3), (-7.0, 9)])
def test_constant_values_give_their_value_and_a_collapsed_interval(value, n):
    count, mean, low, high, method = mean_interval(np.full(n, value))
    assert (count, method) == (n, "t")
    assert low == high == mean == value          # no spread between worlds to allow for


def test_fewer_than_three_finite_values_give_no_interval_and_non_finite_values_are_dropped():
    assert MIN_REPLICATES == 3
    n, mean, low, high, method = mean_interval(np.array([4.0]))
    assert (n, mean, method) == (1, 4.0, "none") and math.isnan(low) and math.isnan(high)
    for empty in (np.array([]), np.array([np.nan, np.nan]), np.array([np.inf, -np.inf, np.nan])):
        n, mean, low, high, method = mean_interval(empty)
        assert (n, method) == (0, "none") and math.isnan(mean) and math.isnan(low) and math.isnan(high)
    n, mean, low, high, method = mean_interval(np.array([np.nan, 2.0, np.inf, 6.0]))
    assert (n, mean, method) == (2, 4.0, "none") and math.isnan(low) and math.isnan(high)
    with_nan = mean_interval(np.array([np.nan, 2.0, np.inf, 6.0, 7.0]))
    assert with_nan == mean_interval(np.array([2.0, 6.0, 7.0])) and with_nan.method == "t"


def test_interval_widens_as_the_level_rises():
    values = np.array([1.0, 2.0, 3.0, 4.0, 5.0, 9.0])
    intervals = [mean_interval(values, level=level)[2:4] for level in (0.5, 0.9, 0.99)]
    for (lo_a, hi_a), (lo_b, hi_b) in zip(intervals, intervals[1:]):
        assert lo_b < lo_a and hi_a < hi_b


def test_degenerate_inputs_raise_no_warning():
    cases = [np.zeros(5), np.full(4, 1e-300), np.array([1.7e308, 1.7e308, 1.6e308]), np.array([np.nan] * 5),
             np.array([1.0, np.nan, np.nan]), np.array([-1e308, 1e308, 0.0])]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for values in cases:
            est = mean_interval(values)
            assert est.method in ("t", "none")
            assert est.method == "none" or est.low <= est.high
            out = paired_interval(values, values[::-1])
            paired_interval(values, np.zeros_like(values))
            assert out["diff_interval"] in ("paired t", "none")


finite_lists = st.lists(st.floats(min_value=-1e6, max_value=1e6, allow_nan=False, allow_subnormal=False),
                        min_size=3, max_size=12)


@PROPERTY
@given(finite_lists)
def test_the_interval_is_the_mean_plus_or_minus_t_standard_errors(values):
    values = np.array(values)
    n, mean, low, high, method = mean_interval(values)
    assert (n, method) == (len(values), "t")
    assert mean == pytest.approx(values.mean(), abs=1e-9)
    half = scipy.stats.t.ppf(0.975, n - 1) * values.std(ddof=1) / math.sqrt(n)
    tol = 1e-9 * max(1.0, float(np.abs(values).max()))
    assert low <= mean <= high
    assert high - mean == pytest.approx(half, abs=tol) and mean - low == pytest.approx(half, abs=tol)


@PROPERTY
@given(finite_lists, st.lists(st.sampled_from([np.nan, np.inf, -np.inf]), max_size=4), st.randoms())
def test_non_finite_values_do_not_change_the_result(values, junk, random):
    mixed = list(values) + junk
    random.shuffle(mixed)
    # Only the relative order of the finite values matters: keep it.
    finite = iter(values)
    mixed = [v if not math.isfinite(v) else next(finite) for v in mixed]
    assert mean_interval(np.array(mixed)) == mean_interval(np.array(values))


# --------------------------------------------------------------------------- paired_interval

def test_paired_t_interval_by_hand():
    baseline = np.array([10.0, 20.0, 30.0, 40.0, 50.0])
    setting = baseline + np.array([-1.0, -3.0, -2.0, 0.0, -4.0])     # differences: mean -2, s² = 2.5
    out = paired_interval(setting, baseline)
    assert (out["n_pairs"], out["diff_mean"], out["diff_interval"]) == (5, -2.0, "paired t")
    assert (out["diff_low"], out["diff_high"]) == pytest.approx((-2 - T95[4] * math.sqrt(0.5),
                                                                -2 + T95[4] * math.sqrt(0.5)), abs=1e-3)
    assert out["diff_high"] < 0                  # about -0.04: a drop, told apart from 0
    # Unpaired, each setting's own interval is about ±20 wide (the spread between worlds) and they overlap.
    for values in (baseline, setting):
        _, _, low, high, _ = mean_interval(values)
        assert high - low > 35


def test_pairing_removes_the_spread_between_worlds():
    baseline = np.array([10.0, 20.0, 30.0, 40.0])
    setting = baseline - 1
    out = paired_interval(setting, baseline)
    assert out["n_pairs"] == 4
    assert out["diff_mean"] == -1.0
    assert (out["diff_low"], out["diff_high"]) == (-1.0, -1.0)        # the same drop in every world
    assert out["rel_change"] == pytest.approx(24 / 25 - 1)
    assert out["rel_interval"] == "Fieller"
    # The ratio still depends on how high the baseline is, which four worlds pin down only loosely:
    # |24 - 25ρ| <= t(3) · √(500/3 / 4) · |1 - ρ| gives ρ from 0.776 to 0.978.
    assert (out["rel_low"], out["rel_high"]) == pytest.approx((0.776 - 1, 0.978 - 1), abs=1e-3)
    assert out["rel_low"] < out["rel_change"] < out["rel_high"] < 0   # a drop in every replicate


def test_fieller_ends_are_where_the_paired_t_statistic_reaches_its_critical_value():
    s = np.array([7.0, 9.0, 6.0, 10.0, 8.0])
    b = np.array([10.0, 11.0, 9.0, 14.0, 12.0])
    lo, hi = fieller_ratio(s, b)
    t = scipy.stats.t.ppf(0.975, 4)
    for rho in (lo, hi):
        z = s - rho * b                          # at an end, 0 is exactly t standard errors from mean(z)
        assert abs(z.mean()) / (z.std(ddof=1) / math.sqrt(5)) == pytest.approx(t, rel=1e-9)
    assert lo < s.mean() / b.mean() < hi
    # The same ends from the quadratic in ρ, written out without rescaling.
    v = np.cov(s, b, ddof=1) / 5
    a = b.mean() ** 2 - t * t * v[1, 1]
    bb = s.mean() * b.mean() - t * t * v[0, 1]
    c = s.mean() ** 2 - t * t * v[0, 0]
    root = math.sqrt(bb * bb - a * c)
    assert (lo, hi) == pytest.approx(((bb - root) / a, (bb + root) / a), rel=1e-12)


def test_fieller_intervals_cover_the_true_ratio_95_percent_of_the_time_on_five_pairs():
    rng = np.random.default_rng(7)
    covered = 0
    for _ in range(2000):
        world = rng.normal(size=5)                                  # shared by both settings of a replicate
        b = 10.0 + 1.5 * world + rng.normal(0.0, 0.5, 5)
        s = 8.0 + 1.0 * world + rng.normal(0.0, 0.7, 5)
        out = paired_interval(s, b)
        covered += out["rel_low"] <= 8.0 / 10.0 - 1 <= out["rel_high"]
    assert 0.93 <= covered / 2000 <= 0.97


sixteenths = st.integers(-1600, 1600).map(lambda k: k / 16)


@PROPERTY
@given(st.lists(st.tuples(sixteenths, st.integers(16, 1600).map(lambda k: k / 16)), min_size=3,
                max_size=BCA_MIN_PAIRS - 1))
def test_fieller_excludes_no_change_exactly_when_the_paired_t_interval_excludes_zero(pairs):
    s, b = np.array(pairs).T
    out = paired_interval(s, b)
    d_low, d_high = out["diff_low"], out["diff_high"]
    if out["rel_interval"] == "none":             # unbounded: the baseline mean cannot be told from 0
        return
    assert out["rel_interval"] == "Fieller"
    # Away from the boundary itself (where rounding decides), the two agree.
    if min(abs(d_low), abs(d_high)) > 1e-9 * max(1.0, abs(out["diff_mean"])):
        assert (d_low > 0 or d_high < 0) == (out["rel_low"] > 0 or out["rel_high"] < 0)


def test_relative_change_is_undefined_for_a_zero_baseline_mean():
    out = paired_interval(np.array([1.0, 2.0, 3.0]), np.array([-1.0, 0.0, 1.0]))
    assert out["diff_mean"] == pytest.approx(2.0)
    assert math.isnan(out["rel_change"]) and math.isnan(out["rel_low"]) and math.isnan(out["rel_high"])
    assert out["rel_interval"] == "none"
    assert (out["diff_low"], out["diff_high"], out["diff_interval"]) == (2.0, 2.0, "paired t")


def test_a_baseline_mean_that_cannot_be_told_from_zero_gives_no_bounded_relative_interval():
    out = paired_interval(np.array([1.0, 2.0, 3.5]), np.array([1.0, -1.0, 0.5]))
    assert out["rel_change"] == pytest.approx(6.5 / 0.5 - 1)          # a ratio exists...
    assert out["rel_interval"] == "none" and math.isnan(out["rel_low"])   # ...but Fieller's set is unbounded
    assert out["diff_interval"] == "paired t"


def test_pairs_with_a_non_finite_side_are_dropped():
    setting = np.array([5.0, np.nan, 7.0, 9.0, 1.0, 4.0])
    baseline = np.array([4.0, 3.0, np.inf, 6.0, np.nan, 4.5])
    out = paired_interval(setting, baseline)
    assert out == paired_interval(np.array([5.0, 9.0, 4.0]), np.array([4.0, 6.0, 4.5]))
    assert out["n_pairs"] == 3                       # (5, 4), (9, 6) and (4, 4.5)
    assert out["diff_mean"] == pytest.approx(3.5 / 3)
    two = paired_interval(setting[:5], baseline[:5])
    assert (two["n_pairs"], two["diff_mean"], two["diff_interval"], two["rel_interval"]) == (2, 2.0, "none", "none")
    assert math.isnan(two["diff_low"]) and math.isnan(two["rel_low"])
    assert two["rel_change"] == pytest.approx(14 / 10 - 1)         # the change itself is still given
    one = paired_interval(np.array([5.0, np.nan]), np.array([4.0, 1.0]))
    assert one["n_pairs"] == 1 and one["diff_mean"] == 1.0 and math.isnan(one["diff_low"])
    none = paired_interval(np.array([np.nan]), np.array([1.0]))
    assert none["n_pairs"] == 0 and math.isnan(none["diff_mean"]) and math.isnan(none["rel_change"])


def test_ten_pairs_or_more_get_a_bca_interval_for_the_relative_change():
    rng = np.random.default_rng(4)
    world = rng.gamma(2.0, 5.0, BCA_MIN_PAIRS)
    b = world + rng.normal(0, 1, BCA_MIN_PAIRS)
    s = 0.7 * world + rng.normal(0, 1, BCA_MIN_PAIRS)
    out = paired_interval(s, b, resamples=3000, rng=np.random.default_rng(9))
    assert out["rel_interval"] == "BCa"
    # It is scipy's paired BCa interval of the ratio of means, with the same draws.
    direct = scipy.stats.bootstrap((s, b), lambda x, y, axis=-1: x.mean(axis) / y.mean(axis), paired=True,
                                   vectorized=True, n_resamples=3000, method="BCa",
                                   random_state=np.random.default_rng(9)).confidence_interval
    assert (out["rel_low"], out["rel_high"]) == pytest.approx((direct.low - 1, direct.high - 1), rel=1e-12)
    assert out["rel_low"] < out["rel_change"] < out["rel_high"]
    again = paired_interval(s, b, resamples=3000, rng=np.random.default_rng(9))
    assert again == out
    fewer = paired_interval(s[:-1], b[:-1])
    assert fewer["rel_interval"] == "Fieller"


def test_a_degenerate_bca_falls_back_to_fieller_without_warnings():
    b = np.arange(1.0, 13.0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        out = paired_interval(2 * b, b)                # every resampled ratio is exactly 2
        zero = paired_interval(np.zeros(12), b)        # every resampled ratio is 0 (the ideal preset)
    assert (out["rel_change"], out["rel_low"], out["rel_high"], out["rel_interval"]) == (1.0, 1.0, 1.0, "Fieller")
    assert (zero["rel_change"], zero["rel_low"], zero["rel_high"], zero["rel_interval"]) == (-1.0, -1.0, -1.0,
                                                                                           "Fieller")


# Multiples of 1/64: sums are exact, so a baseline mean is 0 or clearly not. (A tiny non-zero mean such as
# 1e-311 makes rel_change overflow; that is about rel_change, not this property.)
sixty_fourths = st.integers(-64_000, 64_000).map(lambda k: k / 64)


@PROPERTY
@given(st.lists(st.tuples(sixty_fourths, sixty_fourths), min_size=3, max_size=10))
def test_swapping_setting_and_baseline_mirrors_the_difference(pairs):
    s, b = np.array(pairs).T
    ab, ba = paired_interval(s, b, resamples=300), paired_interval(b, s, resamples=300)
    d = s - b
    tol = 4 * EPS * max(1.0, float(np.abs(d).max())) * len(d)
    assert ab["n_pairs"] == ba["n_pairs"] == len(d)
    assert ab["diff_interval"] == ba["diff_interval"] == "paired t"
    assert ab["diff_mean"] == pytest.approx(-ba["diff_mean"], abs=tol)
    assert ab["diff_low"] == pytest.approx(-ba["diff_high"], abs=tol)
    assert ab["diff_high"] == pytest.approx(-ba["diff_low"], abs=tol)
    assert ab["diff_low"] - tol <= ab["diff_mean"] <= ab["diff_high"] + tol


# --------------------------------------------------------------------------- compare_settings

def summary_rows(rows: list[tuple[str, int, str, float, float]]) -> pa.Table:
    setting, order, rep, a, b = zip(*rows)
    return pa.table({"setting": pa.array(setting, pa.string()), "order": pa.array(order, pa.int32()),
                     "replicate_key": pa.array(rep, pa.string()), "a": pa.array(a, pa.float64()),
                     "b": pa.array(b, pa.float64())})


BASE_A = {"r0": 1.0, "r1": 4.0, "r2": 9.0, "r3": 16.0}
BASE_B = {"r0": 0.5, "r1": 0.25, "r2": 2.0, "r3": 8.0}


def hand_summary() -> pa.Table:
    """base: r0..r3; same: base's values plus r4 (not in base); shift: base + 2 on r0..r2 (r3 missing).

    The rows are shuffled and 'base' is listed last by order: nothing may rely on position.
    """
    rows = [("base", 2, r, BASE_A[r], BASE_B[r]) for r in BASE_A]
    rows += [("same", 0, r, BASE_A[r], BASE_B[r]) for r in BASE_A] + [("same", 0, "r4", 100.0, 1.0)]
    rows += [("shift", 1, r, BASE_A[r] + 2, BASE_B[r] + 2) for r in ("r0", "r1", "r2")]
    order = [7, 2, 10, 0, 5, 11, 3, 9, 1, 6, 4, 8]
    return summary_rows([rows[i] for i in order])


def by_key(table: pa.Table) -> dict[tuple[str, str], dict]:
    return {(r["setting"], r["metric"]): r for r in table.to_pylist()}


def test_compare_settings_pairs_by_replicate_on_a_hand_made_summary():
    table = compare_settings(hand_summary(), ["a", "b"], "base")
    assert table.schema.equals(COMPARISON_SCHEMA)
    assert table.num_rows == 6
    rows = by_key(table)

    base = rows[("base", "a")]
    assert (base["order"], base["is_baseline"], base["n"], base["mean"]) == (0, True, 4, 7.5)
    assert all(math.isnan(base[k]) for k in ("diff_mean", "diff_low", "diff_high", "rel_change"))
    # 1, 4, 9, 16: s² = (42.25 + 12.25 + 2.25 + 72.25) / 3 = 43; t(3) = 3.182.
    half = T95[3] * math.sqrt(43 / 4)
    assert (base["ci_low"], base["ci_high"]) == pytest.approx((7.5 - half, 7.5 + half), abs=2e-3)
    assert (base["interval"], base["diff_interval"], base["rel_interval"]) == ("t", "none", "none")

    same_a = rows[("same", "a")]
    assert (same_a["is_baseline"], same_a["n"], same_a["n_pairs"]) == (False, 5, 4)   # r4 has no partner
    assert same_a["mean"] == 26.0
    assert (same_a["diff_mean"], same_a["diff_low"], same_a["diff_high"]) == (0.0, 0.0, 0.0)
    # The ratio is 1, but base's own interval, 7.5 ± 10.4, reaches 0: Fieller's set for the ratio is every
    # number (a mean that may be 0 has no ratio to bound), so the change is given without an interval.
    assert base["ci_low"] < 0
    assert same_a["rel_change"] == 0.0 and math.isnan(same_a["rel_low"]) and math.isnan(same_a["rel_high"])
    assert (same_a["interval"], same_a["diff_interval"], same_a["rel_interval"]) == ("t", "paired t", "none")

    for metric, base_values in (("a", BASE_A), ("b", BASE_B)):
        shift = rows[("shift", metric)]
        assert (shift["n"], shift["n_pairs"], shift["is_baseline"]) == (3, 3, False)
        assert (shift["diff_mean"], shift["diff_low"], shift["diff_high"]) == (2.0, 2.0, 2.0)
        assert shift["diff_interval"] == "paired t" and shift["rel_interval"] == "none"    # as for 'same'
        paired_base = sum(base_values[r] for r in ("r0", "r1", "r2")) / 3     # r3 is not paired
        assert shift["rel_change"] == pytest.approx((paired_base + 2) / paired_base - 1)
    assert rows[("shift", "a")]["rel_change"] == pytest.approx(3 / 7)

    assert [r["setting"] for r in table.to_pylist()[::2]] == ["base", "same", "shift"]
    assert table["order"].to_pylist() == [0, 0, 1, 1, 2, 2]
    assert table["is_baseline"].to_pylist() == [True, True, False, False, False, False]


def test_a_settings_figures_do_not_depend_on_what_else_is_compared():
    alone = compare_settings(hand_summary(), ["a"], "base")
    extra = [("later", 9, r, v * 3, 1.0) for r, v in BASE_A.items()]
    more_rows = pa.concat_tables([hand_summary(), summary_rows(extra)])
    together = by_key(compare_settings(more_rows, ["b", "a"], "base"))
    for key, row in by_key(alone).items():
        assert same_rows(pa.Table.from_pylist([row]), pa.Table.from_pylist([together[key]])), key
    # The intervals compared are real ones, not the degenerate [0, 0] and [2, 2].
    assert together[("same", "a")]["ci_low"] < together[("same", "a")]["ci_high"]


def bca_summary(extra: bool = False) -> pa.Table:
    """12 paired replicates of 'base' and 'lower' (a BCa interval for the relative change), optionally a third."""
    rng = np.random.default_rng(12)
    world = rng.gamma(3.0, 4.0, 12)
    rows = [("base", 0, f"r{i}", w + rng.normal(), 1.0) for i, w in enumerate(world)]
    rows += [("lower", 1, f"r{i}", 0.6 * w + rng.normal(), 2.0) for i, w in enumerate(world)]
    if extra:
        rows += [("other", 2, f"r{i}", 2 * w, 3.0) for i, w in enumerate(world)]
    return summary_rows(rows)


def test_bca_resampling_is_seeded_by_setting_and_metric_names_only():
    alone = by_key(compare_settings(bca_summary(), ["a"], "base"))
    together = by_key(compare_settings(bca_summary(extra=True), ["b", "a"], "base"))
    lower = alone[("lower", "a")]
    assert lower["rel_interval"] == "BCa" and lower["n_pairs"] == 12
    assert lower["rel_low"] < lower["rel_change"] < lower["rel_high"]
    assert same_rows(pa.Table.from_pylist([lower]), pa.Table.from_pylist([together[("lower", "a")]]))


def test_compare_settings_is_deterministic():
    assert same_rows(compare_settings(hand_summary(), ["a", "b"], "same"),
                     compare_settings(hand_summary(), ["a", "b"], "same"))
    assert same_rows(compare_settings(bca_summary(), ["a", "b"], "base"),
                     compare_settings(bca_summary(), ["a", "b"], "base"))


# --------------------------------------------------------------------------- a real sweep

FEEDS = ("random", "chronological")          # launch order: random is the default baseline
SETTING = {feed: f"recommender.feed={feed}" for feed in FEEDS}


def job(sweep: Path, num: int, feed: str, replicate: int) -> tuple[Path, object, dict]:
    """A job folder, its config and the manifest extras the Hydra app records for it (sim.app._job_extra)."""
    overrides = [f"recommender.feed={feed}", f"replicate={replicate}", "population.n=600"]
    folder = sweep / ",".join(overrides)
    cfg = tiny_config(**{"recommender.feed": feed, "replicate": replicate})
    return folder, cfg, {"overrides": overrides, "sweep": {"dir": str(sweep.resolve()), "job_num": num}}


def tamper(path: Path, factor: float) -> None:
    """Rewrite a summary.parquet with every figure scaled and shifted (config columns kept)."""
    table = pq.read_table(path)
    config_keys = set(flatten_config(Config()))
    for i, f in enumerate(table.schema):
        if pa.types.is_floating(f.type) and f.name not in config_keys:
            table = table.set_column(i, f, pc.add(pc.multiply(table[f.name], factor), 1.0))
    pq.write_table(table, path)


@pytest.fixture(scope="module")
def sweep(tmp_path_factory) -> Path:
    """2 feeds x 2 replicates complete, plus runs that must be left out:

    * ``invalid``: random, replicate 2, complete but its summary.parquet altered afterwards;
    * ``failed``: chronological, replicate 2, failed (with a summary.parquet left behind);
    * ``interrupted``: random, replicate 3, still ``running`` (with a summary.parquet left behind);
    * a folder with only ``.hydra/``: the job never started.
    """
    root = tmp_path_factory.mktemp("sweep")
    num = 0
    for feed in FEEDS:
        for replicate in (0, 1):
            folder, cfg, extra = job(root, num, feed, replicate)
            run(cfg, folder, extra=extra)
            num += 1
    good_summary = root / job(root, 0, "random", 0)[0].name / "summary.parquet"
    started = datetime.now(timezone.utc)

    folder, cfg, extra = job(root, 4, "random", 2)
    run(cfg, folder, extra=extra)
    tamper(folder / "summary.parquet", 10.0)

    folder, cfg, extra = job(root, 5, "chronological", 2)
    fail_run(folder, cfg, started, RuntimeError("worker lost"), "Traceback: ...", extra)
    shutil.copy(good_summary, folder / "summary.parquet")
    tamper(folder / "summary.parquet", 100.0)

    folder, cfg, extra = job(root, 6, "random", 3)
    begin_run(folder, cfg, started, extra)
    shutil.copy(good_summary, folder / "summary.parquet")
    tamper(folder / "summary.parquet", 1000.0)

    (root / "never_started" / ".hydra").mkdir(parents=True)
    return root


def good_values(sweep: Path, feed: str, metric: str) -> dict[int, float]:
    """replicate -> the metric as written in that complete run's summary.parquet."""
    out = {}
    for replicate in (0, 1):
        folder = sweep / job(sweep, 0, feed, replicate)[0].name
        out[replicate] = pq.read_table(folder / "summary.parquet", columns=[metric])[metric][0].as_py()
    return out


def expected_mean_row(values: list[float]) -> tuple[int, float, float, float]:
    """n, mean, low, high for at most two replicates: too few for an interval, so both ends are NaN."""
    finite = [v for v in values if v is not None and math.isfinite(v)]
    if not finite:
        return 0, math.nan, math.nan, math.nan
    return len(finite), float(np.mean(finite)), math.nan, math.nan


def test_compare_sweep_finds_both_settings_and_pairs_them_by_replicate(sweep):
    result = compare_sweep(sweep, report=False, out=None)
    assert result.settings == [SETTING["random"], SETTING["chronological"]]
    assert result.baseline == SETTING["random"]                  # launched first, though it sorts last
    # Every summary figure (what the run itself reports as such), no config column.
    assert set(result.metrics) == set(read_summary(sweep / job(sweep, 0, "random", 0)[0].name, tiny_config()))

    written = pq.read_table(sweep / COMPARISON)
    assert written.schema.remove_metadata().equals(COMPARISON_SCHEMA)
    assert written.num_rows == 2 * len(result.metrics)
    assert set(zip(written["setting"].to_pylist(), written["metric"].to_pylist())) == {
        (s, m) for s in result.settings for m in result.metrics}
    assert written.schema.metadata[b"exposim.baseline"] == SETTING["random"].encode()

    rows = by_key(written)
    for metric in result.metrics:
        base, other = good_values(sweep, "random", metric), good_values(sweep, "chronological", metric)
        for feed, values in (("random", base), ("chronological", other)):
            row = rows[(SETTING[feed], metric)]
            got = (row["n"], row["mean"], row["ci_low"], row["ci_high"])
            want = expected_mean_row(list(values.values()))
            assert got[0] == want[0] and all(map(same, got[1:], want[1:])), (feed, metric, got, want)
            assert row["interval"] == "none", (feed, metric)      # two replicates: too few for an interval
        row = rows[(SETTING["chronological"], metric)]
        diffs = [other[r] - base[r] for r in (0, 1) if math.isfinite(other[r]) and math.isfinite(base[r])]
        n, mean, low, high = expected_mean_row(diffs)
        assert row["n_pairs"] == n, metric
        assert all(map(same, (row["diff_mean"], row["diff_low"], row["diff_high"]), (mean, low, high))), metric
        assert row["diff_interval"] == row["rel_interval"] == "none", metric
        if n == 2 and np.mean([base[r] for r in (0, 1)]) != 0:
            want_rel = np.mean([other[r] for r in (0, 1)]) / np.mean([base[r] for r in (0, 1)]) - 1
            assert row["rel_change"] == pytest.approx(want_rel, rel=1e-12), metric
    # The worlds really differ between feeds, so the checks above compare real differences.
    diffs = [rows[(SETTING["chronological"], m)]["diff_mean"] for m in result.metrics]
    assert any(math.isfinite(d) and d != 0 for d in diffs)


def test_runs_that_are_not_complete_are_listed_and_left_out(sweep, tmp_path):
    buffer = io.StringIO()
    result = compare_sweep(sweep, report=False, out=buffer)
    state = {r.rel: (r.status, r.error) for r in result.runs}
    rel = {name: job(sweep, 0, feed, rep)[0].name for name, feed, rep in
           (("invalid", "random", 2), ("failed", "chronological", 2), ("interrupted", "random", 3))}
    assert state[rel["invalid"]] == ("invalid", "summary.parquet does not match its checksum")
    assert state[rel["failed"]] == ("failed", "RuntimeError: worker lost")
    assert state[rel["interrupted"]] == ("incomplete", "the job was interrupted")
    assert state["never_started"] == ("incomplete", "the job never started")
    assert sum(status == "complete" for status, _ in state.values()) == 4

    # The figures are those of the four complete runs alone (the bad ones hold altered summaries).
    clean = Path(shutil.copytree(sweep, tmp_path / "clean"))
    for name in (*rel.values(), "never_started"):
        shutil.rmtree(clean / name)
    assert same_rows(result.table, compare_sweep(clean, report=False, out=None).table)
    assert {r["n"] for r in result.table.to_pylist() if r["metric"] == "minor_harm_prevalence_per_10k"} == {2}

    text = buffer.getvalue()
    assert text.rstrip("\n") == format_table(result)
    assert "4 complete runs" in text
    assert "4 run folders are not complete and were left out:" in text
    for name, status in (("invalid", "invalid"), ("failed", "failed"), ("interrupted", "incomplete")):
        assert f"  {rel[name]}: {status} ({state[rel[name]][1]})" in text.splitlines()


#: Columns a run's summary may hold, in types that promote into each other (int32 -> int64 -> double).
_SUMMARY_COLUMNS = {"a": (pa.int64(), pa.float64()), "b": (pa.float64(),), "c": (pa.string(),),
                    "d": (pa.int32(), pa.int64())}


@st.composite
def _summaries(draw):
    """Two to four runs' one-row summaries, each with its own subset, order and types of the columns."""
    tables = []
    for _ in range(draw(st.integers(2, 4))):
        names = draw(st.lists(st.sampled_from(sorted(_SUMMARY_COLUMNS)), min_size=1, unique=True))
        fields = [pa.field(n, draw(st.sampled_from(_SUMMARY_COLUMNS[n]))) for n in names]
        values = [draw(st.one_of(st.none(), st.sampled_from(["x", "y"]) if f.type == pa.string()
                                 else st.integers(-5, 5))) for f in fields]
        tables.append(pa.table([pa.array([v], f.type) for v, f in zip(values, fields)], schema=pa.schema(fields)))
    return tables


@settings(max_examples=40, deadline=None, derandomize=True)
@given(tables=_summaries())
def test_the_summaries_read_once_are_the_files_read_as_one_dataset(tables, tmp_path_factory):
    # summary_dataset joins the tables scan_runs read while checking the runs; the reference is pyarrow's
    # own dataset of the same files with their unified schema (missing columns null, types promoted).
    import pyarrow.dataset as ds
    from sim.analysis.runs import Run, summary_dataset

    folder = tmp_path_factory.mktemp("summaries")
    runs = []
    for i, table in enumerate(tables):
        path = folder / f"run{i}"
        path.mkdir()
        pq.write_table(table.replace_schema_metadata({"exposim.run": str(i)}), path / "summary.parquet")
        runs.append(Run(path, path.name, "complete", None, {}, setting=f"s{i % 2}", order=i % 2,
                        replicate=f"r{i}", summary=pq.read_table(path / "summary.parquet").replace_schema_metadata(None)))
    files = [str(r.path / "summary.parquet") for r in runs]
    schema = pa.unify_schemas([pq.read_schema(f).remove_metadata() for f in files], promote_options="permissive")
    dataset = ds.dataset(files, schema=schema, format="parquet")
    expected = pa.concat_tables([fragment.to_table(schema=schema) for fragment in dataset.get_fragments()])
    got = summary_dataset(runs)
    assert got.select(schema.names).equals(expected)
    assert got.column_names == [*schema.names, "setting", "order", "replicate_key", "run_dir"]
    assert got["run_dir"].to_pylist() == [r.rel for r in runs]
    assert got["setting"].to_pylist() == [r.setting for r in runs]
    # A run scanned without its table in memory is read from its file: the same result.
    for r in runs:
        r.summary = None
    assert summary_dataset(runs).equals(got)


def test_terminal_table_names_every_setting_and_the_baseline(sweep):
    result = compare_sweep(sweep, report=False, out=None)
    lines = format_table(result).splitlines()
    # Settings by the names the report gives them, each once with the override it stands for.
    assert "change vs baseline (feed: random)" in lines[0]
    assert lines[0].startswith("2 settings, 4 complete runs")
    assert lines[1].split() == ["feed:", "random", "=", SETTING["random"]]
    assert lines[2].split() == ["feed:", "chronological", "=", SETTING["chronological"]]
    assert set(HEADLINE) <= set(result.metrics)
    setting_lines = [line for line in lines if re.match(r"  feed: \w+ +n=\d", line)]
    assert len(setting_lines) == 2 * len(HEADLINE)
    baseline_lines = [line for line in setting_lines if line.rstrip().endswith("baseline")]
    assert len(baseline_lines) == len(HEADLINE)
    assert all(line.startswith("  feed: random ") for line in baseline_lines)
    assert sum(line.startswith("  feed: chronological ") for line in setting_lines) == len(HEADLINE)
    # A share reads in %, as in the report: its heading says so.
    share = next(m for m in HEADLINE if m.endswith("_share"))
    heading = lines.index(label(share) + " (%)")
    row = next(r for r in result.table.to_pylist() if r["metric"] == share and r["is_baseline"])
    assert lines[heading + 1].split()[3] == number(100 * row["mean"])
    assert f"comparison: {sweep / COMPARISON}" in lines
    # Two replicates each: no interval anywhere, and the table says why in words instead of a blank.
    with_values = [line for line in setting_lines if not re.search(r"n=0 ", line)]
    assert with_values and all(re.search(r"too few replicates \([12]\)", line) for line in with_values)
    changes = [line for line in with_values if not line.rstrip().endswith("baseline")]
    assert changes and all(re.search(r", too few replicates \([12]\) for an interval$", line.rstrip()) or
                           line.rstrip().endswith("–") for line in changes)
    assert not any(line.rstrip().endswith(" *") or "no detectable difference" in line for line in setting_lines)
    assert any(line.startswith("too few replicates (n): fewer than 3 finite replicates") for line in lines)
    assert any(line.startswith("95% intervals over replicates: Student-t") for line in lines)


def test_the_baseline_can_be_chosen_by_a_unique_part_of_its_label(sweep):
    result = compare_sweep(sweep, baseline="chrono", report=False, out=None)
    assert result.baseline == SETTING["chronological"]
    assert result.settings[0] == SETTING["chronological"]
    rows = by_key(result.table)
    flipped = rows[(SETTING["random"], "minor_harm_prevalence_per_10k")]
    base = good_values(sweep, "chronological", "minor_harm_prevalence_per_10k")
    other = good_values(sweep, "random", "minor_harm_prevalence_per_10k")
    assert flipped["diff_mean"] == pytest.approx(np.mean([other[r] - base[r] for r in (0, 1)]), rel=1e-12)
    with pytest.raises(AnalysisError, match="matches several settings"):
        compare_sweep(sweep, baseline="recommender.feed", report=False, out=None)


def test_comparison_file_is_byte_identical_when_compared_again(sweep, tmp_path):
    compare_sweep(sweep, report=False, out=None)
    first = (sweep / COMPARISON).read_bytes()
    compare_sweep(sweep, report=False, out=None)
    assert (sweep / COMPARISON).read_bytes() == first
    copy = shutil.copytree(sweep, tmp_path / "elsewhere")           # nor does the folder's path matter
    compare_sweep(copy, report=False, out=None)
    assert (copy / COMPARISON).read_bytes() == first
    compare_sweep(sweep, resamples=500, report=False, out=None)      # the options are part of the result
    assert (sweep / COMPARISON).read_bytes() != first


@pytest.fixture(scope="module")
def plain_sweep(tmp_path_factory) -> Path:
    """Runs written by ``run(cfg, dir)`` without Hydra: no overrides in the manifests.

    Besides the feed they differ in the replicate and in an output switch, neither of which is a setting.
    """
    root = tmp_path_factory.mktemp("plain")
    run(tiny_config(**{"recommender.feed": "random"}), root / "a")
    run(tiny_config(**{"recommender.feed": "chronological"}), root / "b")
    run(tiny_config(**{"recommender.feed": "chronological", "replicate": 1, "output.contacts_table": False}),
        root / "c")
    return root


def test_runs_without_overrides_are_named_by_the_config_values_that_differ(plain_sweep):
    result = compare_sweep(plain_sweep, report=False, out=None)
    # No launch order without Hydra's job numbers: the settings are alphabetical, the first is the baseline.
    assert result.settings == [SETTING["chronological"], SETTING["random"]]
    assert result.baseline == SETTING["chronological"]
    rows = by_key(result.table)
    chrono = rows[(SETTING["chronological"], "minor_harm_prevalence_per_10k")]
    random_ = rows[(SETTING["random"], "minor_harm_prevalence_per_10k")]
    assert (chrono["n"], random_["n"]) == (2, 1)
    assert random_["n_pairs"] == 1                     # only replicate 0 ran under both feeds


def test_an_interrupted_run_without_overrides_does_not_rename_the_settings(plain_sweep, tmp_path):
    folder = Path(shutil.copytree(plain_sweep, tmp_path / "plain"))
    begin_run(folder / "killed", tiny_config(**{"recommender.feed": "random", "replicate": 1}),
              datetime.now(timezone.utc))
    result = compare_sweep(folder, report=False, out=None)
    assert sorted(result.settings) == [SETTING["chronological"], SETTING["random"]]


def test_two_runs_of_one_setting_and_replicate_are_refused_not_double_counted(plain_sweep, tmp_path):
    folder = Path(shutil.copytree(plain_sweep, tmp_path / "plain"))
    first = sorted(p for p in folder.iterdir() if p.is_dir())[0]
    shutil.copytree(first, folder / "copy_of_first")
    with pytest.raises(AnalysisError, match="same replicate"):
        compare_sweep(folder, report=False, out=None)


def test_a_baseline_mean_that_is_only_rounding_error_has_no_relative_change():
    out = paired_interval(np.array([1.0, 1.0, 1.0]), np.array([0.1, 0.2, -0.3]))
    assert math.isnan(out["rel_change"]) and math.isnan(out["rel_low"]) and out["rel_interval"] == "none"
    assert out["diff_mean"] == pytest.approx(1.0)


# --------------------------------------------------------------------------- the command line

def cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "sim.analysis", "compare", *args], cwd=REPO,
                          capture_output=True, text=True, timeout=120)


def test_cli_prints_the_table_and_writes_the_comparison(sweep):
    (sweep / COMPARISON).unlink(missing_ok=True)
    done = cli(str(sweep), "--no-report", "--baseline", "chronological")
    assert done.returncode == 0, done.stderr
    expected = format_table(compare_sweep(sweep, baseline="chronological", report=False, out=None))
    assert done.stdout.rstrip("\n") == expected
    assert "change vs baseline (feed: chronological)" in done.stdout
    assert (sweep / COMPARISON).is_file()


@pytest.fixture(scope="module")
def failed_only(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("failed_only")
    fail_run(root / "job0", tiny_config(), datetime.now(timezone.utc), MemoryError("out of memory"), "")
    return root


@pytest.mark.parametrize("case, args, needles", [
    ("missing folder", ["{tmp}/no_such_sweep"], ["no_such_sweep", "is not a folder"]),
    ("no complete run", ["{failed_only}"], ["no complete run", "1 failed"]),
    ("unknown baseline", ["{sweep}", "--baseline", "interest"],
     ["'interest' matches no setting", SETTING["random"], SETTING["chronological"]]),
    ("unknown metric", ["{sweep}", "--metrics", "minor_harm_prevalence_per_10k,harm_per_light_year"],
     ["unknown metric 'harm_per_light_year'", "minor_exposed_7d_share"]),
    ("level above 1", ["{sweep}", "--level", "1.5"], ["--level=1.5", "between 0 and 1"]),
])
def test_cli_exits_2_naming_the_problem(case, args, needles, sweep, failed_only, tmp_path):
    paths = {"tmp": tmp_path, "sweep": sweep, "failed_only": failed_only}
    done = cli(*[a.format(**paths) for a in args], "--no-report")
    assert done.returncode == 2, (case, done.stdout, done.stderr)
    assert done.stderr.startswith("exposim: cannot compare: "), done.stderr
    for needle in needles:
        assert needle in done.stderr, (case, needle, done.stderr)
    assert "t intervals" not in done.stdout         # no table printed


# --------------------------------------------------------------------------- new figures and the ideal preset

NEW_FIGURES = ("minor_violating_prevalence_per_10k", "minor_borderline_prevalence_per_10k",
               "minor_13_15_sexual_image_7d_share", "minor_13_15_sexual_advance_7d_share",
               "unwanted_contact_from_offenders_per_1k_minor_days",
               "unwanted_contact_from_other_adults_per_1k_minor_days",
               "unwanted_contact_share_via_suggestion_offenders", "unwanted_contact_share_via_suggestion_other_adults",
               "legit_contact_prevented_share", "minor_benign_withheld_per_1k_impressions",
               "benign_messages_blurred_share", "adults_wrongly_protected_per_1k_adults",
               "adults_wrongly_flagged_per_1k_adults", "minor_engagements_per_minor_day",
               "minor_sessions_per_minor_day", "decoy_sexual_advances_per_week")


def test_the_new_figures_are_compared(sweep):
    result = compare_sweep(sweep, report=False, out=None)
    rows = by_key(result.table)
    for metric in NEW_FIGURES:
        assert metric in result.metrics, metric
        for setting in result.settings:
            row = rows[(setting, metric)]
            if row["n"] == 2:         # two finite replicates: a mean, and no interval (too few)
                assert math.isfinite(row["mean"]) and row["interval"] == "none", (setting, metric)
                assert math.isnan(row["ci_low"]) and math.isnan(row["ci_high"]), (setting, metric)
    # The removed figures are gone, not left behind under their old names.
    assert not [m for m in result.metrics if "sexual_contact" in m]


def test_the_terminal_table_names_the_ideal_preset_as_an_analytic_bound(tmp_path):
    rows = [(s, i, f"r{r}", 10.0 - 5 * i + r, 1.0) for i, s in enumerate(("safeguards=none", "safeguards=ideal"))
            for r in range(3)]
    summary = summary_rows(rows).rename_columns(["setting", "order", "replicate_key", HEADLINE[0], "other"])
    table = compare_settings(summary, [HEADLINE[0]], "safeguards=none")
    from sim.analysis.compare import Comparison

    result = Comparison(table, pa.table({}), [], "safeguards=none", ["safeguards=none", "safeguards=ideal"],
                        [HEADLINE[0]], tmp_path / COMPARISON, None)
    lines = format_table(result).splitlines()
    assert any(line.startswith("  Every safeguard perfect — an analytic bound, not a policy  n=3") for line in lines)
    assert any(line.startswith("  No safeguards ") for line in lines)
