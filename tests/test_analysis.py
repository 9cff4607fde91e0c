"""sim.analysis: bootstrap intervals, paired differences, settings found in a sweep folder, and the CLI.

Statistics are checked on numbers small enough to work out by hand (or, for
the percentile interval, by enumerating every resample); the sweep is a real
one of tiny worlds, written the way the Hydra app records its jobs, with a
failed, an interrupted, a tampered-with and a never-started run among them.
"""

from __future__ import annotations

import io
import itertools
import math
import re
import shutil
import subprocess
import sys
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sim.analysis import AnalysisError, compare_sweep
from sim.analysis.compare import COMPARISON, format_table
from sim.analysis.labels import HEADLINE
from sim.analysis.stats import COMPARISON_SCHEMA, bootstrap_mean, bootstrap_paired, compare_settings
from sim.config import Config
from sim.io import begin_run, fail_run, flatten_config
from sim.runner import read_summary, run
from tests.conftest import tiny_config

REPO = Path(__file__).resolve().parent.parent
EPS = np.finfo(float).eps
# Reproducible property tests: the same examples on every run and machine.
PROPERTY = settings(max_examples=150, deadline=None, derandomize=True)


def same(a: float, b: float) -> bool:
    """Equal, NaN matching NaN."""
    return (math.isnan(a) and math.isnan(b)) or a == b


def same_rows(a: pa.Table, b: pa.Table) -> bool:
    """Same schema and values, NaN matching NaN (Arrow's ``equals`` never matches NaN)."""
    def cell(x, y):
        return same(x, y) if isinstance(x, float) and isinstance(y, float) else x == y
    return a.schema.equals(b.schema) and a.num_rows == b.num_rows and all(
        cell(x, y) for ra, rb in zip(a.to_pylist(), b.to_pylist()) for x, y in zip(ra.values(), rb.values()))


# --------------------------------------------------------------------------- bootstrap_mean

@pytest.mark.parametrize("value, n", [(2.5, 4), (0.1, 3), (-7.0, 9)])
def test_constant_values_give_their_value_and_a_collapsed_interval(value, n):
    count, mean, low, high = bootstrap_mean(np.full(n, value))
    assert count == n
    assert mean == pytest.approx(value, rel=1e-12)
    assert low == high == mean          # every resample has the same mean


def test_interval_of_one_to_five_matches_the_exact_percentile_bootstrap():
    values = np.arange(1.0, 6.0)
    # All 5**5 resamples are equally likely: their means are the exact bootstrap distribution.
    exact_means = np.array([np.mean(r) for r in itertools.product(values, repeat=5)])
    exact_low, exact_high = np.quantile(exact_means, [0.025, 0.975])
    assert (exact_low, exact_high) == pytest.approx((1.8, 4.2))      # P(mean <= 1.6) = 1.8%, <= 1.8: 4.0%

    n, mean, low, high = bootstrap_mean(values, resamples=20000, rng=np.random.default_rng(11))
    assert n == 5
    assert mean == 3.0
    assert low == pytest.approx(exact_low, abs=1e-9)
    assert high == pytest.approx(exact_high, abs=1e-9)
    assert 1.0 < low < mean < high < 5.0


def test_fewer_than_two_finite_values_give_no_interval_and_non_finite_values_are_dropped():
    n, mean, low, high = bootstrap_mean(np.array([4.0]))
    assert (n, mean) == (1, 4.0) and math.isnan(low) and math.isnan(high)
    for empty in (np.array([]), np.array([np.nan, np.nan]), np.array([np.inf, -np.inf, np.nan])):
        n, mean, low, high = bootstrap_mean(empty)
        assert n == 0 and math.isnan(mean) and math.isnan(low) and math.isnan(high)
    n, mean, low, high = bootstrap_mean(np.array([np.nan, 2.0, np.inf, 6.0]))
    assert (n, mean) == (2, 4.0)
    # A quarter of the resamples are (2, 2) and a quarter (6, 6): the 2.5% and 97.5% quantiles are the ends.
    assert (low, high) == (2.0, 6.0)


def test_interval_widens_as_the_level_rises():
    values = np.array([1.0, 2.0, 3.0, 4.0, 5.0, 9.0])
    intervals = [bootstrap_mean(values, level=level)[2:] for level in (0.5, 0.9, 0.99)]
    for (lo_a, hi_a), (lo_b, hi_b) in zip(intervals, intervals[1:]):
        assert lo_b < lo_a and hi_a < hi_b


finite_lists = st.lists(st.floats(min_value=-1e6, max_value=1e6, allow_nan=False, allow_subnormal=False),
                        min_size=2, max_size=12)


@PROPERTY
@given(finite_lists)
def test_mean_and_interval_lie_within_the_values(values):
    n, mean, low, high = bootstrap_mean(np.array(values), resamples=300)
    # A mean of floats can round past the extremes by a few ulps (mean of [0.1]*3 is 0.1 + 2e-17).
    tol = 2 * len(values) * EPS * max(abs(v) for v in values) + 1e-300
    assert n == len(values)
    assert low <= high
    assert min(values) - tol <= low and high <= max(values) + tol
    assert min(values) - tol <= mean <= max(values) + tol


@PROPERTY
@given(finite_lists, st.lists(st.sampled_from([np.nan, np.inf, -np.inf]), max_size=4), st.randoms())
def test_non_finite_values_do_not_change_the_result(values, junk, random):
    mixed = list(values) + junk
    random.shuffle(mixed)
    # Only the relative order of the finite values matters: keep it.
    finite = iter(values)
    mixed = [v if not math.isfinite(v) else next(finite) for v in mixed]
    assert bootstrap_mean(np.array(mixed)) == bootstrap_mean(np.array(values))


# --------------------------------------------------------------------------- bootstrap_paired

def test_pairing_removes_the_spread_between_worlds():
    baseline = np.array([10.0, 20.0, 30.0, 40.0])
    setting = baseline - 1
    out = bootstrap_paired(setting, baseline)
    assert out["n_pairs"] == 4
    assert out["diff_mean"] == -1.0
    assert (out["diff_low"], out["diff_high"]) == (-1.0, -1.0)
    assert out["rel_change"] == pytest.approx(24 / 25 - 1)
    assert out["rel_low"] < out["rel_change"] < out["rel_high"] < 0   # a drop in every replicate
    # Unpaired, each setting's own interval spans most of the 10..40 spread.
    for values in (baseline, setting):
        _, _, low, high = bootstrap_mean(values)
        assert high - low > 10


def test_relative_change_is_undefined_for_a_zero_baseline_mean():
    out = bootstrap_paired(np.array([1.0, 2.0, 3.0]), np.array([-1.0, 0.0, 1.0]))
    assert out["diff_mean"] == pytest.approx(2.0)
    assert math.isnan(out["rel_change"]) and math.isnan(out["rel_low"]) and math.isnan(out["rel_high"])
    assert math.isfinite(out["diff_low"]) and math.isfinite(out["diff_high"])


def test_pairs_with_a_non_finite_side_are_dropped():
    setting = np.array([5.0, np.nan, 7.0, 9.0, 1.0])
    baseline = np.array([4.0, 3.0, np.inf, 6.0, np.nan])
    out = bootstrap_paired(setting, baseline)
    assert out["n_pairs"] == 2                       # (5, 4) and (9, 6)
    assert out["diff_mean"] == 2.0
    assert (out["diff_low"], out["diff_high"]) == (1.0, 3.0)
    assert out["rel_change"] == pytest.approx(14 / 10 - 1)
    one = bootstrap_paired(np.array([5.0, np.nan]), np.array([4.0, 1.0]))
    assert one["n_pairs"] == 1 and one["diff_mean"] == 1.0 and math.isnan(one["diff_low"])
    none = bootstrap_paired(np.array([np.nan]), np.array([1.0]))
    assert none["n_pairs"] == 0 and math.isnan(none["diff_mean"]) and math.isnan(none["rel_change"])


# Multiples of 1/64: sums are exact, so a baseline mean is 0 or clearly not. (A tiny non-zero mean such as
# 1e-311 makes rel_change overflow with a RuntimeWarning; that is about rel_change, not this property.)
sixty_fourths = st.integers(-64_000, 64_000).map(lambda k: k / 64)


@PROPERTY
@given(st.lists(st.tuples(sixty_fourths, sixty_fourths), min_size=2, max_size=10))
def test_swapping_setting_and_baseline_mirrors_the_difference(pairs):
    s, b = np.array(pairs).T
    ab, ba = bootstrap_paired(s, b, resamples=300), bootstrap_paired(b, s, resamples=300)
    d = s - b
    tol = 4 * EPS * max(1.0, float(np.abs(d).max())) * len(d)
    assert ab["n_pairs"] == ba["n_pairs"] == len(d)
    assert ab["diff_mean"] == pytest.approx(-ba["diff_mean"], abs=tol)
    assert ab["diff_low"] == pytest.approx(-ba["diff_high"], abs=tol)
    assert ab["diff_high"] == pytest.approx(-ba["diff_low"], abs=tol)
    assert d.min() - tol <= ab["diff_low"] <= ab["diff_high"] <= d.max() + tol


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

    same_a = rows[("same", "a")]
    assert (same_a["is_baseline"], same_a["n"], same_a["n_pairs"]) == (False, 5, 4)   # r4 has no partner
    assert same_a["mean"] == 26.0
    assert (same_a["diff_mean"], same_a["diff_low"], same_a["diff_high"]) == (0.0, 0.0, 0.0)
    assert (same_a["rel_change"], same_a["rel_low"], same_a["rel_high"]) == (0.0, 0.0, 0.0)

    for metric, base_values in (("a", BASE_A), ("b", BASE_B)):
        shift = rows[("shift", metric)]
        assert (shift["n"], shift["n_pairs"], shift["is_baseline"]) == (3, 3, False)
        assert (shift["diff_mean"], shift["diff_low"], shift["diff_high"]) == (2.0, 2.0, 2.0)
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
    # The intervals compared are real (random) ones, not the degenerate [0, 0] and [2, 2].
    assert together[("same", "a")]["ci_low"] < together[("same", "a")]["ci_high"]


def test_compare_settings_is_deterministic():
    assert same_rows(compare_settings(hand_summary(), ["a", "b"], "same"),
                     compare_settings(hand_summary(), ["a", "b"], "same"))


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
    """n, mean, low, high for at most two replicates: with two, 95% of resamples reach both ends."""
    finite = [v for v in values if v is not None and math.isfinite(v)]
    if not finite:
        return 0, math.nan, math.nan, math.nan
    mean = float(np.mean(finite))
    if len(finite) == 1:
        return 1, mean, math.nan, math.nan
    return 2, mean, min(finite), max(finite)


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
        row = rows[(SETTING["chronological"], metric)]
        diffs = [other[r] - base[r] for r in (0, 1) if math.isfinite(other[r]) and math.isfinite(base[r])]
        n, mean, low, high = expected_mean_row(diffs)
        assert row["n_pairs"] == n, metric
        assert all(map(same, (row["diff_mean"], row["diff_low"], row["diff_high"]), (mean, low, high))), metric
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


def test_terminal_table_names_every_setting_and_the_baseline(sweep):
    result = compare_sweep(sweep, report=False, out=None)
    lines = format_table(result).splitlines()
    assert f"change vs baseline ({SETTING['random']})" in lines[0]
    assert lines[0].startswith("2 settings, 4 complete runs")
    assert set(HEADLINE) <= set(result.metrics)
    setting_lines = [line for line in lines if re.match(r"  recommender\.feed=\w+ +n=\d", line)]
    assert len(setting_lines) == 2 * len(HEADLINE)
    baseline_lines = [line for line in setting_lines if line.rstrip().endswith("baseline")]
    assert len(baseline_lines) == len(HEADLINE)
    assert all(line.startswith(f"  {SETTING['random']} ") for line in baseline_lines)
    assert sum(line.startswith(f"  {SETTING['chronological']} ") for line in setting_lines) == len(HEADLINE)
    assert f"comparison: {sweep / COMPARISON}" in lines


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
    out = bootstrap_paired(np.array([1.0, 1.0, 1.0]), np.array([0.1, 0.2, -0.3]))
    assert math.isnan(out["rel_change"]) and math.isnan(out["rel_low"])
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
    assert f"change vs baseline ({SETTING['chronological']})" in done.stdout
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
    assert "bootstrap intervals" not in done.stdout


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


def test_the_new_figures_are_compared_with_intervals(sweep):
    result = compare_sweep(sweep, report=False, out=None)
    rows = by_key(result.table)
    for metric in NEW_FIGURES:
        assert metric in result.metrics, metric
        for setting in result.settings:
            row = rows[(setting, metric)]
            if row["n"] == 2:         # two finite replicates: a mean and its interval
                assert row["ci_low"] <= row["mean"] <= row["ci_high"], (setting, metric)
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
    assert any(line.startswith("  safeguards=ideal — an analytic bound, not a policy  n=3") for line in lines)
    assert any(line.startswith("  safeguards=none ") for line in lines)
