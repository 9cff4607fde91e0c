"""The compiled loops give exactly what the numpy expressions they replaced give, on any number of threads."""

from __future__ import annotations

import os
from pathlib import Path
from types import SimpleNamespace

import numba
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sim import compiled, engagement, engagement_kernels, pcg64
from sim.config import BehaviourConfig
from sim.content import ItemStore
from sim.draws import skip
from sim.engagement import engagement_probability
from sim.network.graph import _csr_insert, csr_contains
from sim.recommenders.serving import pick_from_csr
from sim.runner import run
from sim.vocabulary import NONE
from tests.conftest import tiny_config


def _unit(rng, shape):
    x = rng.standard_normal(shape).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


@pytest.mark.parametrize("dim", [2, 3, 8, 16, 17, 31])
def test_engagement_draws_equal_numpy_probabilities_exactly(dim):
    rng = np.random.default_rng(dim)
    n_items, n_accounts, n = 500, 300, 20_000
    items = SimpleNamespace(topic=_unit(rng, (n_items, dim)), appeal=rng.uniform(0.2, 3, n_items).astype(np.float32),
                            harm=rng.integers(0, 4, n_items).astype(np.uint8))
    pop = SimpleNamespace(interest=_unit(rng, (n_accounts, dim)),
                          harmful_affinity=rng.uniform(0, 1, n_accounts).astype(np.float32))
    viewer = rng.integers(0, n_accounts, n).astype(np.int32)
    item = rng.integers(0, n_items, n).astype(np.int64)
    cfg = BehaviourConfig()
    p = engagement_probability(pop, items, viewer, item, cfg)

    args = (items.topic, pop.interest, np.log(items.appeal), items.harm, pop.harmful_affinity, viewer, item)
    weights = (cfg.engage_intercept, cfg.engage_similarity, cfg.engage_appeal, cfg.engage_harm, cfg.harm_threshold,
               NONE)
    kernel_p = np.empty(n)
    engagement_kernels.engage_probabilities(*args, *weights, kernel_p)
    assert kernel_p.tobytes() == p.tobytes()
    # The draws are numpy's next n uniforms from the stream, compared with those probabilities.
    stream = np.random.Generator(np.random.PCG64(dim))
    numpy_draws = np.random.Generator(np.random.PCG64(dim))
    engaged = np.empty(n, dtype=bool)
    skip(stream, engagement_kernels.engage_draws(*args, pcg64.position(stream), *weights, engaged))
    assert engaged.tolist() == (numpy_draws.random(n) < p).tolist()
    assert stream.bit_generator.state == numpy_draws.bit_generator.state


def test_grouped_topic_sums_add_in_the_order_bincount_does():
    rng = np.random.default_rng(3)
    topic = _unit(rng, (50, 16))
    viewer = rng.integers(0, 40, 5_000)
    item = rng.integers(0, 50, 5_000)
    who = np.flatnonzero(np.bincount(viewer, minlength=40))
    indptr, order = compiled.group_by_key(viewer, 40)
    sums = np.full((who.size, 16), np.nan)
    engagement_kernels.grouped_topic_sums(indptr, order, item, who, topic, sums)
    for j in range(16):
        expected = np.bincount(viewer, weights=topic[item, j], minlength=40)[who]
        assert sums[:, j].tobytes() == expected.tobytes()


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), n=st.integers(0, 300), p_minor=st.floats(0, 1), p_adult=st.floats(0, 1))
def test_report_draws_are_numpys_harm_flags_and_age_rates(seed, n, p_minor, p_adult):
    rng = np.random.default_rng(seed)
    harm = rng.integers(0, 4, 50).astype(np.int8)
    true_age = rng.integers(13, 40, 20).astype(np.int8)
    viewer = rng.integers(0, 20, n).astype(np.int32)
    item = rng.integers(0, 50, n)
    stream = np.random.Generator(np.random.PCG64(seed))
    u = np.random.Generator(np.random.PCG64(seed)).random(n)
    harmful, reported = np.empty(n, dtype=bool), np.empty(n, dtype=bool)
    used = engagement_kernels.report_draws(harm, NONE, true_age, 18, viewer, item, pcg64.position(stream), p_minor,
                                           p_adult, harmful, reported)
    assert used == n
    expected_harmful = harm[item] > NONE
    p = np.where(true_age[viewer] < 18, p_minor, p_adult)
    assert harmful.tolist() == expected_harmful.tolist()
    assert reported.tolist() == (expected_harmful & (u < p)).tolist()


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), n=st.integers(0, 300), n_accounts=st.integers(1, 20))
def test_harmful_counts_are_the_bincounts_of_the_masked_viewers(seed, n, n_accounts):
    rng = np.random.default_rng(seed)
    viewer = rng.integers(0, n_accounts, n).astype(np.int32)
    harmful, engaged = rng.random(n) < 0.4, rng.random(n) < 0.5
    seen, taken = engagement_kernels.harmful_counts(viewer, harmful, engaged, n_accounts)
    assert seen.tolist() == np.bincount(viewer[harmful], minlength=n_accounts).tolist()
    assert taken.tolist() == np.bincount(viewer[harmful & engaged], minlength=n_accounts).tolist()
    assert seen.dtype == taken.dtype == np.int64           # the power in the affinity update takes them as int64


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), block=st.integers(1, 40), n_engagements=st.integers(0, 400))
def test_interest_drift_in_blocks_is_the_whole_array_formula(seed, block, n_engagements):
    """Drift a block of engagers at a time and get, byte for byte, numpy's formula over all of them."""
    rng = np.random.default_rng(seed)
    n, dim, rate = 30, 16, 0.2
    interest = _unit(rng, (n, dim))
    topic = _unit(rng, (60, dim))
    viewer = rng.integers(0, n, n_engagements).astype(np.int32)
    item = rng.integers(0, 60, n_engagements)
    # The formula over the whole array: per-column bincount sums, the mean, the step, the norm.
    expected = interest.copy()
    counts = np.bincount(viewer, minlength=n)
    who = np.flatnonzero(counts)
    if who.size:
        sums = np.stack([np.bincount(viewer, weights=topic[item, j], minlength=n)[who] for j in range(dim)], axis=1)
        mean_topic = (sums / counts[who][:, None]).astype(np.float32)
        moved = expected[who] + rate * (mean_topic - expected[who])
        moved /= np.maximum(np.linalg.norm(moved, axis=1, keepdims=True), 1e-12)
        expected[who] = moved
    pop = SimpleNamespace(n=n, interest=interest.copy())
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(engagement, "DRIFT_BLOCK", block)
        engagement._drift_interests(pop, SimpleNamespace(topic=topic), viewer, item, rate)
    assert pop.interest.tobytes() == expected.tobytes()


rows_strategy = st.lists(st.lists(st.integers(0, 60), max_size=12).map(lambda r: sorted(set(r))),
                         min_size=1, max_size=15)


@settings(max_examples=60, deadline=None)
@given(rows=rows_strategy, data=st.data())
def test_contains_and_merge_agree_with_plain_python(rows, data):
    indptr = np.zeros(len(rows) + 1, dtype=np.int64)
    indptr[1:] = np.cumsum([len(r) for r in rows])
    indices = np.array([c for r in rows for c in r], dtype=np.int32)
    q_rows = np.array(data.draw(st.lists(st.integers(0, len(rows) - 1), max_size=30)), dtype=np.int64)
    q_vals = np.array(data.draw(st.lists(st.integers(-1, 62), min_size=q_rows.size, max_size=q_rows.size)),
                      dtype=np.int64)
    assert csr_contains(indptr, indices, q_rows, q_vals).tolist() == [int(v) in rows[r] for r, v in zip(q_rows, q_vals)]
    # New entries not yet present, sorted by (row, col), merged into their rows.
    new = sorted({(int(r), int(v)) for r, v in zip(q_rows, q_vals) if v >= 0 and v not in rows[r]})
    new_rows = np.array([r for r, _ in new], dtype=np.int64)
    new_cols = np.array([c for _, c in new], dtype=np.int64)
    ptr, idx = _csr_insert(indptr, indices, new_rows, new_cols, len(rows))
    merged = [sorted(set(r) | {c for rr, c in new if rr == i}) for i, r in enumerate(rows)]
    assert [idx[ptr[i]:ptr[i + 1]].tolist() for i in range(len(rows))] == merged
    assert idx.dtype == indices.dtype


def test_pick_takes_the_drawn_position_of_each_row_and_minus_one_for_empty_rows():
    ptr = np.array([0, 3, 3, 7])
    values = np.array([10, 11, 12, 20, 21, 22, 23], dtype=np.int32)
    keys = np.array([0, 0, 0, 1, 2, 2])
    u = np.array([0.0, 0.34, 0.999, 0.5, 0.25, 0.75])
    # Row 0: int(u * 3) -> 0, 1, 2; row 1 is empty; row 2: int(u * 4) -> 1, 3.
    assert pick_from_csr(ptr, values, keys, u).tolist() == [10, 11, 12, -1, 21, 23]


@pytest.mark.skipif(numba.config.NUMBA_NUM_THREADS < 2, reason="numba has a single thread here")
def test_a_run_gives_identical_files_on_one_thread_and_on_two(tmp_path):
    before = numba.get_num_threads()
    try:
        numba.set_num_threads(1)
        one = run(tiny_config(seed=5), tmp_path / "one")
        numba.set_num_threads(2)
        two = run(tiny_config(seed=5), tmp_path / "two")
    finally:
        numba.set_num_threads(before)
    for name in ("summary.parquet", "days.parquet", "decoys.parquet", "contacts.parquet"):
        assert (one.out_dir / name).read_bytes() == (two.out_dir / name).read_bytes(), name
    assert one.model.population.interest.tobytes() == two.model.population.interest.tobytes()


@settings(max_examples=60, deadline=None)
@given(labels=st.lists(st.integers(0, 4), min_size=1, max_size=20), data=st.data())
def test_compiled_counts_equal_bincount(labels, data):
    labels = np.array(labels, dtype=np.int8)
    index = np.array(data.draw(st.lists(st.integers(0, labels.size - 1), max_size=40)), dtype=np.int32)
    mask = np.array(data.draw(st.lists(st.booleans(), min_size=index.size, max_size=index.size)), dtype=bool)
    codes = np.array(data.draw(st.lists(st.integers(0, 3), min_size=index.size, max_size=index.size)), dtype=np.uint8)
    assert compiled.count_labels(labels, index, 5).tolist() == np.bincount(labels[index], minlength=5).tolist()
    pairs = np.bincount(labels[index].astype(np.int64) * 4 + codes, minlength=20).reshape(5, 4)
    assert compiled.count_label_pairs(labels, index, codes, 5, 4).tolist() == pairs.tolist()
    counts = np.zeros(labels.size, dtype=np.int32)
    compiled.tally(counts, index, mask)
    assert counts.tolist() == np.bincount(index[mask], minlength=labels.size).tolist()


@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), n_accounts=st.integers(1, 12), n=st.integers(0, 1300),
       part=st.sampled_from([1, 2, 7, 600, compiled.PART]))
def test_impression_tallies_are_the_bincounts_of_the_gathered_labels(seed, n_accounts, n, part):
    """One pass in parts of ``part`` impressions (and, within a part, blocks of 512) gives what numpy gives
    after gathering each impression's cohort and class: the (cohort, class) counts, the four flag counts by
    cohort, and who saw what."""
    rng = np.random.default_rng(seed)
    cohort = rng.integers(0, 4, n_accounts).astype(np.int8)
    harm = rng.integers(0, 4, 20).astype(np.int8)
    viewer = rng.integers(0, n_accounts, n).astype(np.int32)
    item = rng.integers(0, 20, n)
    in_network, engaged, reported = (rng.random(n) < p for p in (0.5, 0.3, 0.1))
    harmful_seen = np.zeros(n_accounts, dtype=bool)
    explicit_seen = np.zeros(n_accounts, dtype=bool)
    by_class, flags = compiled.impression_tallies(cohort, viewer, item, harm, in_network, engaged, reported, 4, 4,
                                                  0, 2, harmful_seen, explicit_seen, part)
    k, h = cohort[viewer].astype(np.int64), harm[item]
    assert by_class.tolist() == np.bincount(k * 4 + h, minlength=16).reshape(4, 4).tolist()
    for column, mask in enumerate((in_network, engaged, engaged & (h != 0), reported)):
        assert flags[:, column].tolist() == np.bincount(k[mask], minlength=4).tolist(), column
    accounts = np.arange(n_accounts)
    assert harmful_seen.tolist() == np.isin(accounts, viewer[h != 0]).tolist()
    assert explicit_seen.tolist() == np.isin(accounts, viewer[h >= 2]).tolist()


@settings(max_examples=60, deadline=None)
@given(keys=st.lists(st.integers(0, 6), max_size=40))
def test_group_by_key_is_a_stable_argsort_with_offsets(keys):
    keys = np.array(keys, dtype=np.int64)
    indptr, order = compiled.group_by_key(keys, 7)
    assert order.tolist() == np.argsort(keys, kind="stable").tolist()
    assert indptr.tolist() == [0, *np.cumsum(np.bincount(keys, minlength=7)).tolist()]


@settings(max_examples=60, deadline=None)
@given(keys=st.lists(st.integers(0, 6), max_size=60), parts=st.integers(1, 9))
def test_group_by_key_split_into_parts_gives_the_same_order(keys, parts):
    """Split into parts (each counted and placed on its own thread), the grouping is the stable
    argsort's all the same, and so are the offsets."""
    keys = np.array(keys, dtype=np.int64)
    indptr, order = compiled._group_by_key(keys, 7, parts)
    assert order.tolist() == np.argsort(keys, kind="stable").tolist()
    assert indptr.tolist() == [0, *np.cumsum(np.bincount(keys, minlength=7)).tolist()]


@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), b=st.integers(0, 30), c=st.integers(1, 12))
def test_removed_viewers_are_the_masks_nonzero_rows_split_by_class(seed, b, c):
    """The viewers of the candidates a feed filter removed (finite before, not after, a real item), in
    row-major order, benign and harmful apart: what the numpy masks give."""
    rng = np.random.default_rng(seed)
    harm = rng.integers(0, 4, 25).astype(np.uint8)
    candidates = rng.integers(-1, 25, size=(b, c))
    before_scores = np.where(rng.random((b, c)) < 0.2, -np.inf, rng.random((b, c)))
    scores = before_scores.copy()
    scores[rng.random((b, c)) < 0.4] = -np.inf
    scores[rng.random((b, c)) < 0.05] = np.nan
    viewers = rng.integers(0, 1000, b).astype(np.int32)
    before = np.isfinite(before_scores)
    benign, harmful = compiled.removed_viewers(before, scores, candidates, viewers, harm, NONE)
    rows, cols = np.nonzero(before & ~np.isfinite(scores) & (candidates >= 0))
    is_benign = harm[candidates[rows, cols]] == NONE
    assert benign.dtype == harmful.dtype == viewers.dtype
    np.testing.assert_array_equal(benign, viewers[rows[is_benign]])
    np.testing.assert_array_equal(harmful, viewers[rows[~is_benign]])


@settings(max_examples=40, deadline=None)
@given(rows=st.integers(0, 300), dim=st.sampled_from([1, 3, 16, 17, 32]),
       dtype=st.sampled_from([np.float32, np.float64, np.int8]))
def test_cache_aligned_arrays_start_a_cache_line_and_hold_the_values(rows, dim, dtype):
    values = np.arange(rows * dim).reshape(rows, dim).astype(dtype)
    out = compiled.cache_aligned(values)
    assert out.ctypes.data % compiled.CACHE_LINE == 0 or values.size == 0      # an empty array has no first byte
    assert out.flags.c_contiguous and out.flags.writeable and out.dtype == values.dtype
    assert np.array_equal(out, values)


def _resident_bytes() -> int:
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


@pytest.mark.skipif(not Path("/proc/self/statm").exists(), reason="needs Linux's /proc")
def test_zero_filled_aligned_arrays_cost_memory_only_where_written():
    """The item store's topics are zero-filled this way: its pages become resident as items arrive."""
    before = _resident_bytes()
    out = compiled.aligned_empty((8 << 20, 16), np.float32, zeros=True)        # 512 MB
    assert out.ctypes.data % compiled.CACHE_LINE == 0
    untouched = _resident_bytes() - before
    out[: 1 << 20] = 1.0                                                        # the first 64 MB written
    written = _resident_bytes() - before
    assert untouched < 16 << 20
    assert written >= 60 << 20
    assert not out[1 << 20:].any() and (out[: 1 << 20] == 1.0).all()


def test_the_item_topics_are_cache_aligned_after_the_store_grows():
    store = ItemStore(100, 16)
    assert store.topic.ctypes.data % compiled.CACHE_LINE == 0
    store._allocate(1000)
    assert store.topic.ctypes.data % compiled.CACHE_LINE == 0 and not store.topic.any()


def _csr_of(rows):
    ptr = np.zeros(len(rows) + 1, dtype=np.int64)
    ptr[1:] = np.cumsum([len(r) for r in rows])
    return ptr, np.array([x for r in rows for x in r], dtype=np.int32)


def _gather_by_hand(viewers, n_in, n_out, follows, groups, author_items, group_items, pool, pool_cdf, r_source,
                    r_item, r_pool, r_popular, share, r_target, info):
    """What gather_candidates computes, spelled out one cell at a time in plain Python."""
    rows, flags, counts, t = [], [], [0, 0, 0, 0], 0
    for r, v in enumerate(viewers):
        row = []
        sources = [("a", a) for a in follows[v]] + [("g", g) for g in groups[v]]
        for j in range(n_in):
            item = -1
            if sources:
                kind, key = sources[int(r_source[r, j] * len(sources))]
                recent = author_items[key] if kind == "a" else group_items[key]
                if recent:
                    item = recent[int(r_item[r, j] * len(recent))]
            row.append(item)
        for j in range(n_out):
            item = -1
            if pool:
                if r_popular[r, j] < share:
                    target = r_target[t] * pool_cdf[-1]
                    t += 1
                    item = pool[min(int(np.searchsorted(pool_cdf, target, side="right")), len(pool) - 1)]
                else:
                    item = pool[int(r_pool[r, j] * len(pool))]
            row.append(item)
        order = sorted(range(len(row)), key=lambda q: row[q])          # stable
        values, flag = [row[q] for q in order], [q < n_in for q in order]
        for q in range(len(values) - 1, 0, -1):
            if values[q] == values[q - 1]:
                values[q] = -1
        for q, s in enumerate(values):
            if s >= 0 and values.index(s) == q:
                if info[s] < 0 or (info[s] >> 8) - 1 == v:
                    values[q] = -1
                else:
                    counts[info[s] & 255] += 1
        rows.append(values)
        flags.append(flag)
    return rows, flags, counts


@settings(max_examples=80, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), n_accounts=st.integers(1, 8), n_groups=st.integers(0, 3),
       n_items=st.integers(0, 12), n_in=st.integers(0, 6), n_out=st.integers(0, 4), sessions=st.integers(0, 150),
       share=st.sampled_from([0.0, 0.5, 1.0]), whole=st.booleans())
def test_gathered_candidates_are_the_cells_drawn_by_hand(seed, n_accounts, n_groups, n_items, n_in, n_out,
                                                         sessions, share, whole):
    """Any follow lists, groups and recent items (each possibly empty), removed and own items, and more
    than one 64-row block: the kernel's rows, flags and class counts are the hand-computed ones. The
    pool's weights are whole numbers (some zero; popularity draws through the owner table) or not
    (through buckets)."""
    from sim.recommenders import kernels

    if n_in + n_out == 0:
        return
    rng = np.random.default_rng(seed)
    follows = [sorted(rng.choice(n_accounts, rng.integers(0, n_accounts + 1), replace=False).tolist())
               for _ in range(n_accounts)]
    groups = [sorted(rng.choice(n_groups, rng.integers(0, n_groups + 1), replace=False).tolist())
              for _ in range(n_accounts)]
    author = rng.integers(0, n_accounts, n_items)
    harm = rng.integers(0, 4, n_items)
    removed = np.where(rng.random(n_items) < 0.2, 1, -1)
    item_group = rng.integers(-1, n_groups, n_items) if n_groups else np.full(n_items, -1)
    live = rng.random(n_items) < 0.7
    author_items = [[s for s in range(n_items) if live[s] and author[s] == a] for a in range(n_accounts)]
    group_items = [[s for s in range(n_items) if live[s] and item_group[s] == g] for g in range(n_groups)]
    pool = [s for s in range(n_items) if rng.random() < 0.5]
    if whole and pool:
        weights = rng.integers(0, 4, len(pool)).astype(np.float64)
        weights[0] += 1.0
        pool_cdf = np.cumsum(weights)
    else:
        pool_cdf = np.cumsum(rng.uniform(0.1, 3, len(pool)))
    owners, buckets = kernels.pool_search_tables(pool_cdf)
    assert (owners.size > 0) == (whole and bool(pool))
    viewers = rng.integers(0, n_accounts, sessions).astype(np.int32)
    # The kernel makes its draws from the stream's position; numpy makes the same ones here, in the order
    # serving drew them into arrays (the pool's only if it has items).
    stream = np.random.Generator(np.random.PCG64(seed))
    numpy_draws = np.random.Generator(np.random.PCG64(seed))
    r_source, r_item = numpy_draws.random((sessions, n_in)), numpy_draws.random((sessions, n_in))
    r_pool = r_popular = np.ones((sessions, n_out))
    r_target = np.zeros(0)
    if pool:
        r_pool, r_popular = numpy_draws.random((sessions, n_out)), numpy_draws.random((sessions, n_out))
        r_target = numpy_draws.random(int(np.count_nonzero(r_popular < share)))
    info = kernels.item_info(author, harm.astype(np.uint8), removed)

    expected = _gather_by_hand(viewers, n_in, n_out, follows, groups, author_items, group_items, pool, pool_cdf,
                               r_source, r_item, r_pool, r_popular, share, r_target, info)
    follow_ptr, follow_idx = _csr_of(follows)
    group_ptr, group_idx = _csr_of(groups)
    author_ptr, author_flat = _csr_of(author_items)
    group_item_ptr, group_flat = _csr_of(group_items)
    cand = np.empty((sessions, n_in + n_out), dtype=np.int64)
    in_net = np.empty((sessions, n_in + n_out), dtype=bool)
    pool = np.array(pool, dtype=np.int64)
    # The dtypes serving passes (sim.recommenders.serving.FeedIndex): int32 item offsets and slots.
    counts, used = kernels.gather_candidates(
        viewers, n_in, n_out, follow_ptr, follow_idx, group_ptr, group_idx, author_ptr.astype(np.int32),
        author_flat, group_item_ptr.astype(np.int32), group_flat, pool.astype(np.int32), pool_cdf, owners, buckets,
        pcg64.position(stream), share, info, 4, cand, in_net)
    assert cand.tolist() == expected[0]
    assert in_net.tolist() == expected[1]
    assert counts.tolist() == expected[2]
    skip(stream, used)              # it used exactly the draws numpy made
    assert stream.bit_generator.state == numpy_draws.bit_generator.state


@settings(max_examples=80, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), n=st.integers(1, 300), whole=st.booleans(),
       heavy=st.sampled_from([0, 1, 40, 10_000]))
def test_a_popularity_draw_lands_where_searchsorted_right_puts_its_target(seed, n, whole, heavy):
    """Whole weights (zeros among them, some heavy) go through the owner table, others through buckets;
    either way a target's position is ``min(searchsorted(cdf, target, "right"), n - 1)``, for targets
    anywhere in ``[0, total]``, on the cumulative values and next to them."""
    from sim.recommenders import kernels

    rng = np.random.default_rng(seed)
    if whole:
        weights = rng.integers(0, 4, n) + heavy * (rng.random(n) < 0.05)
        weights[rng.integers(n)] += 1
    else:
        weights = rng.uniform(0.01, 3, n)
    cdf = np.cumsum(weights.astype(np.float64))
    owners, buckets = kernels.pool_search_tables(cdf)
    total = cdf[-1]
    fits = total <= kernels.OWNER_UNITS_PER_ITEM * n + 1024
    assert (owners.size > 0) == (whole and fits)
    assert owners.size in (0, int(total)) and (buckets.size == 0) == (owners.size > 0)
    targets = np.concatenate([rng.random(200) * total, cdf, np.nextafter(cdf, 0), np.nextafter(cdf, np.inf),
                              [0.0, total, np.nextafter(total, 0)]])
    targets = targets[targets <= total]
    expected = np.minimum(np.searchsorted(cdf, targets, side="right"), n - 1)
    found = [kernels.weighted_position(cdf, owners, buckets, t) for t in targets]
    assert found == expected.tolist()


def test_only_whole_non_decreasing_weights_of_bounded_total_get_an_owner_table():
    from sim.recommenders import kernels

    assert kernels.weight_owners(np.array([1.0, 1.0, 3.0])).tolist() == [0, 2, 2]
    assert kernels.weight_owners(np.array([1.0, 2.5, 3.0])).size == 0          # not whole
    assert kernels.weight_owners(np.array([2.0, 1.0])).size == 0               # decreasing
    assert kernels.weight_owners(np.array([-1.0, 3.0])).size == 0              # below zero
    assert kernels.weight_owners(np.array([np.nan])).size == 0
    limit = kernels.OWNER_UNITS_PER_ITEM * 2 + 1024
    assert kernels.weight_owners(np.array([1.0, float(limit)])).size == limit
    assert kernels.weight_owners(np.array([1.0, float(limit + 1)])).size == 0  # too many units per item
    assert kernels.weight_owners(np.zeros(0)).size == 0


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), b=st.integers(0, 200), c=st.integers(1, 12),
       dtype=st.sampled_from([np.float32, np.float64]))
def test_nudged_scores_use_the_streams_next_b_by_c_uniforms(seed, b, c, dtype):
    """One draw per cell, padding included, in row-major order across 64-row blocks: the nudge is
    ``score * (1 + 1e-9 u)`` with numpy's ``u``, and padding scores -inf."""
    from sim.recommenders import kernels

    data = np.random.default_rng(seed)
    scores = data.normal(size=(b, c)).astype(dtype)
    candidates = data.integers(-1, 5, (b, c))
    stream = np.random.Generator(np.random.PCG64(seed))
    numpy_draws = np.random.Generator(np.random.PCG64(seed))
    u = numpy_draws.random((b, c))
    expected = np.where(candidates >= 0, scores.astype(np.float64) * (1.0 + 1e-9 * u), -np.inf)
    out = np.empty((b, c))
    skip(stream, kernels.nudge_scores(scores, pcg64.position(stream), candidates, out))
    np.testing.assert_array_equal(out, expected)
    assert stream.bit_generator.state == numpy_draws.bit_generator.state


@settings(max_examples=80, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), b=st.integers(0, 40), c=st.integers(1, 30), k=st.integers(1, 12))
def test_top_k_emits_each_rows_best_finite_real_candidates_best_first(seed, b, c, k):
    """Ties (scores on a coarse grid) go to the lower position; +inf ranks first but is not shown, -inf
    and NaN never rank; padding is not shown; rows follow each other in order."""
    from sim.recommenders import kernels

    rng = np.random.default_rng(seed)
    scores = np.round(rng.random((b, c)) * 4) / 4
    scores[rng.random((b, c)) < 0.25] = -np.inf
    scores[rng.random((b, c)) < 0.05] = np.inf
    scores[rng.random((b, c)) < 0.05] = np.nan
    candidates = rng.integers(-1, 50, (b, c))
    in_net = rng.random((b, c)) < 0.5
    viewers = rng.integers(0, 1000, b).astype(np.int32)
    expected = []
    for r in range(b):
        if k >= c:
            ranked = list(range(c))
        else:
            ranked = sorted((j for j in range(c) if scores[r, j] > -np.inf), key=lambda j: (-scores[r, j], j))[:k]
        expected += [(int(viewers[r]), int(candidates[r, j]), bool(in_net[r, j])) for j in ranked
                     if np.isfinite(scores[r, j]) and candidates[r, j] >= 0]
    out_v = np.empty(b * min(k, c), dtype=np.int32)
    out_i = np.empty(b * min(k, c), dtype=np.int64)
    out_f = np.empty(b * min(k, c), dtype=bool)
    n = kernels.emit_top_k(scores, candidates, in_net, viewers, k, out_v, out_i, out_f)
    assert list(zip(out_v[:n].tolist(), out_i[:n].tolist(), out_f[:n].tolist())) == expected


@pytest.mark.parametrize("c", [257, 600])
def test_top_k_of_wide_rows_keeps_ties_to_the_lower_position(c):
    """Rows wider than any preset's feed: the same rule, not argpartition's order (which differs by CPU)."""
    from sim.recommenders import kernels

    rng = np.random.default_rng(c)
    b, k = 30, 10
    scores = np.round(rng.random((b, c)) * 8) / 8          # many ties at the top
    candidates = np.arange(b * c).reshape(b, c)
    viewers = np.arange(b, dtype=np.int32)
    out_v, out_i = np.empty(b * k, dtype=np.int32), np.empty(b * k, dtype=np.int64)
    n = kernels.emit_top_k(scores, candidates, np.ones((b, c), bool), viewers, k, out_v, out_i,
                           np.empty(b * k, dtype=bool))
    expected = [int(candidates[r, j]) for r in range(b)
                for j in sorted(range(c), key=lambda j: (-scores[r, j], j))[:k]]
    assert n == b * k and out_i[:n].tolist() == expected
