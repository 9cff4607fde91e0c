"""Compiled loops of feed serving (numba): candidates, de-duplication, similarity, scores, top-k.

Core objects: :func:`gather_candidates`, :func:`pool_search_tables`, :func:`dedupe_sorted`,
:func:`similarity_rows`, :func:`engagement_scores`, :func:`interest_scores`, :func:`nudge_scores`,
:func:`emit_top_k`, and :func:`best_match` (group suggestions' probes).

The numpy implementation these replace gathered whole-block temporaries: a
(B, C, d) block of float32 topic rows for the similarity term, the picks'
index arrays, a row-wise argsort with two ``take_along_axis`` copies, and
``argpartition``. Here each block of sessions is walked in compiled loops:

- candidate gathering runs ``_BLOCK_ROWS`` sessions at a time, phase by phase
  (sources, picks, pool draws, sort, cleaning); each phase is one loop whose
  random reads are independent and prefetched a phase ahead, so their cache
  misses overlap instead of queueing; a popularity draw from the pool is one
  read of a table with an entry per unit of engagement weight
  (:func:`weight_owners`), not a binary search of the weights' running sum;
- scoring reads each candidate's topic row in place (prefetched a few rows
  ahead) and computes the dot product and the policy's formula in registers;
- a row's de-duplication sort and its top-k are small in-register selections
  (rank counting, insertion), with no full sort of a block.

The random numbers are the serving stream's, numpy's PCG64 stepped inside the
kernels (:mod:`sim.pcg64`) in the order and shapes numpy drew them in, and the
kernels repeat the numpy arithmetic operation for operation, so a seed gives
byte-identical results (``benchmarks/table_checksums.py``):

- the topic dot product sums in the order OpenBLAS's ``sgemv_t`` kernel for
  Haswell/Zen uses when numpy's ``matmul`` computes a (C, d) @ (d,) product
  (eight FMA lanes for row groups of four, SSE lanes for the last one to three
  rows; see :func:`_dot`). The order is now fixed here, so a run no longer
  depends on which BLAS kernel a machine picks (``benchmarks/check_feed_kernels.py``
  shows whether numpy's matmul agrees on a given machine);
- top-k lists the k best scores in descending order, ties to the lower
  position: the order numpy's ``argpartition`` gives on AVX2/AVX-512 machines
  (x86-simd-sort's sorting network) for rows of up to 256 candidates, which
  the model first used. Wider rows get the same rule, where ``argpartition``
  would order them its own way, and differently on AVX-512 and AVX2.

Rows are independent, so the kernels run them on numba's threads (``prange``;
``NUMBA_NUM_THREADS`` sets how many, and joblib's workers in a sweep get the
cores divided among them). Each row writes only its own cells, and the two
places where rows meet are fixed by row order, not by threads: where each
64-row block's popularity targets start in the draws (counted in a first
pass), and where each row's impressions land (a running count). A seed gives
the same bytes on any number of threads (``tests/test_kernels.py``).

Nothing is compiled with ``fastmath``: no reassociation and no contraction of
a multiply and an add into an FMA that numpy does not do (the FMAs of the dot
product are explicit). Kernels are cached on disk (``cache=True``): a process
compiles them once per installation (about 20 s) and later loads them (well
under a second, once per process).
"""

from __future__ import annotations

import numpy as np
from llvmlite import ir
from numba import njit, prange, types
from numba.extending import intrinsic

from sim.compiled import prefetch
from sim.pcg64 import jump, next_uniform

#: Rows up to this width are sorted by counting ranks (branch-free, no allocation); wider ones by merge sort.
#: (At most 64: a key keeps the position in its low 6 bits.)
_RANK_SORT_MAX = 64

_JIT = dict(cache=True, nogil=True)
#: Kernels whose rows are independent run them on numba's threads (``prange``): each row reads shared
#: inputs and writes only its own outputs, so results do not depend on the number of threads
#: (``NUMBA_NUM_THREADS``; joblib's workers get the cores divided among them).
_PAR = dict(cache=True, nogil=True, parallel=True)
#: Helpers called per candidate are inlined into the kernels (numba would otherwise call them, passing
#: whole array structures on every call).
_INLINE = dict(cache=True, nogil=True, inline="always")


@intrinsic
def _fma32(typingctx, a, b, c):
    """``a * b + c`` in float32 with one rounding (``llvm.fma.f32``), as ``vfmadd231ps`` computes it."""
    sig = types.float32(types.float32, types.float32, types.float32)

    def codegen(context, builder, signature, args):
        f32 = ir.FloatType()
        fn = builder.module.declare_intrinsic("llvm.fma", [f32], ir.FunctionType(f32, [f32, f32, f32]))
        return builder.call(fn, args)

    return sig, codegen


@njit(**_INLINE)
def _dot16(rows, ra, vectors, rx):
    """:func:`_dot` for 16 dimensions in a row group of four, written out (so it compiles to two
    vector FMAs and a few shuffles): lane ``l`` takes terms ``l`` and ``l + 8``."""
    z = np.float32(0.0)
    l0 = _fma32(rows[ra, 0], vectors[rx, 0], z)
    l1 = _fma32(rows[ra, 1], vectors[rx, 1], z)
    l2 = _fma32(rows[ra, 2], vectors[rx, 2], z)
    l3 = _fma32(rows[ra, 3], vectors[rx, 3], z)
    l4 = _fma32(rows[ra, 4], vectors[rx, 4], z)
    l5 = _fma32(rows[ra, 5], vectors[rx, 5], z)
    l6 = _fma32(rows[ra, 6], vectors[rx, 6], z)
    l7 = _fma32(rows[ra, 7], vectors[rx, 7], z)
    l0 = _fma32(rows[ra, 8], vectors[rx, 8], l0)
    l1 = _fma32(rows[ra, 9], vectors[rx, 9], l1)
    l2 = _fma32(rows[ra, 10], vectors[rx, 10], l2)
    l3 = _fma32(rows[ra, 11], vectors[rx, 11], l3)
    l4 = _fma32(rows[ra, 12], vectors[rx, 12], l4)
    l5 = _fma32(rows[ra, 13], vectors[rx, 13], l5)
    l6 = _fma32(rows[ra, 14], vectors[rx, 14], l6)
    l7 = _fma32(rows[ra, 15], vectors[rx, 15], l7)
    return z + (((l0 + l4) + (l1 + l5)) + ((l2 + l6) + (l3 + l7)))


@njit(**_INLINE)
def _dot(rows, ra, vectors, rx, mode):
    """``rows[ra] · vectors[rx]`` (float32), summed as OpenBLAS ``sgemv_t`` (Haswell/Zen) sums one output.

    (Row indices rather than row views: a view per call would cost two reference-count updates.)

    ``mode`` is the kernel the output row falls in: 0 for rows in groups of four
    (eight FMA lanes; a 4-chunk, then an 8-chunk, then 16-chunks, whose two
    halves share the lanes), 1 for the pair of rows after them (four SSE
    lanes), 2 for a last odd row (two four-lane SSE accumulators over
    8-chunks). The last ``d % 4`` terms are added after the vector part.
    """
    m = rows.shape[1]
    if m == 16 and mode == 0:
        return _dot16(rows, ra, vectors, rx)
    nb = m - (m & 3)
    z = np.float32(0.0)
    l0 = l1 = l2 = l3 = l4 = l5 = l6 = l7 = z
    r = z
    if nb > 0:
        i = 0
        if mode == 0:
            if nb & 4:
                l0 = _fma32(rows[ra, 0], vectors[rx, 0], l0)
                l1 = _fma32(rows[ra, 1], vectors[rx, 1], l1)
                l2 = _fma32(rows[ra, 2], vectors[rx, 2], l2)
                l3 = _fma32(rows[ra, 3], vectors[rx, 3], l3)
                i = 4
            if (nb - i) & 8:
                l0 = _fma32(rows[ra, i], vectors[rx, i], l0)
                l1 = _fma32(rows[ra, i + 1], vectors[rx, i + 1], l1)
                l2 = _fma32(rows[ra, i + 2], vectors[rx, i + 2], l2)
                l3 = _fma32(rows[ra, i + 3], vectors[rx, i + 3], l3)
                l4 = _fma32(rows[ra, i + 4], vectors[rx, i + 4], l4)
                l5 = _fma32(rows[ra, i + 5], vectors[rx, i + 5], l5)
                l6 = _fma32(rows[ra, i + 6], vectors[rx, i + 6], l6)
                l7 = _fma32(rows[ra, i + 7], vectors[rx, i + 7], l7)
                i += 8
            while i < nb:
                for h in range(2):
                    j = i + 8 * h
                    l0 = _fma32(rows[ra, j], vectors[rx, j], l0)
                    l1 = _fma32(rows[ra, j + 1], vectors[rx, j + 1], l1)
                    l2 = _fma32(rows[ra, j + 2], vectors[rx, j + 2], l2)
                    l3 = _fma32(rows[ra, j + 3], vectors[rx, j + 3], l3)
                    l4 = _fma32(rows[ra, j + 4], vectors[rx, j + 4], l4)
                    l5 = _fma32(rows[ra, j + 5], vectors[rx, j + 5], l5)
                    l6 = _fma32(rows[ra, j + 6], vectors[rx, j + 6], l6)
                    l7 = _fma32(rows[ra, j + 7], vectors[rx, j + 7], l7)
                i += 16
        elif mode == 1:
            while i < nb:
                l0 = l0 + rows[ra, i] * vectors[rx, i]
                l1 = l1 + rows[ra, i + 1] * vectors[rx, i + 1]
                l2 = l2 + rows[ra, i + 2] * vectors[rx, i + 2]
                l3 = l3 + rows[ra, i + 3] * vectors[rx, i + 3]
                i += 4
        else:
            if nb & 4:
                l0 = l0 + rows[ra, 0] * vectors[rx, 0]
                l1 = l1 + rows[ra, 1] * vectors[rx, 1]
                l2 = l2 + rows[ra, 2] * vectors[rx, 2]
                l3 = l3 + rows[ra, 3] * vectors[rx, 3]
                i = 4
            while i < nb:
                l0 = l0 + rows[ra, i] * vectors[rx, i]
                l1 = l1 + rows[ra, i + 1] * vectors[rx, i + 1]
                l2 = l2 + rows[ra, i + 2] * vectors[rx, i + 2]
                l3 = l3 + rows[ra, i + 3] * vectors[rx, i + 3]
                l4 = l4 + rows[ra, i + 4] * vectors[rx, i + 4]
                l5 = l5 + rows[ra, i + 5] * vectors[rx, i + 5]
                l6 = l6 + rows[ra, i + 6] * vectors[rx, i + 6]
                l7 = l7 + rows[ra, i + 7] * vectors[rx, i + 7]
                i += 8
        if mode == 1:
            r = (l0 + l1) + (l2 + l3)                                     # two horizontal adds
        else:
            # The upper four lanes (second accumulator) fold onto the lower four, then two horizontal adds.
            r = ((l0 + l4) + (l1 + l5)) + ((l2 + l6) + (l3 + l7))
    y = z + r                      # y was zeroed (beta = 0) and gets the block's sum added
    t = m & 3
    if t:
        s = rows[ra, nb] * vectors[rx, nb]
        for j in range(nb + 1, m):
            s = s + rows[ra, j] * vectors[rx, j]
        y = y + s
    return y


@njit(**_INLINE)
def _dot_mode(j, c):
    """Which ``sgemv_t`` kernel (see :func:`_dot`) computes output ``j`` of ``c``."""
    quads = c - (c & 3)
    if j < quads:
        return 0
    if j < quads + (c & 2):
        return 1
    return 2


#: Rows ahead of the one being scored whose candidates' item data are prefetched.
_AHEAD = 4


@njit(**_INLINE)
def _prefetch_candidates(candidates, r, topic_flat, d, per_item_a, per_item_b):
    """Prefetch what scoring row ``r`` will read: each candidate's topic row (both ends, in case it
    straddles two cache lines) and its entries of two per-item arrays (padding reads slot 0)."""
    for j in range(candidates.shape[1]):
        s = max(candidates[r, j], 0)
        prefetch(topic_flat, s * d)
        prefetch(topic_flat, s * d + d - 1)
        prefetch(per_item_a, s)
        prefetch(per_item_b, s)


@njit(**_PAR)
def similarity_rows(topic, interest, viewers, candidates, out):
    """Fill ``out`` (B, C) float32: each candidate's topic · its viewer's interest (``-1`` reads slot 0,
    as numpy did). Requires C >= 2 (a single candidate is a dot product, which BLAS sums differently).
    """
    b, c = candidates.shape
    d = topic.shape[1]
    flat = topic.reshape(-1)
    for r in prange(b):
        if r + _AHEAD < b:
            _prefetch_candidates(candidates, r + _AHEAD, flat, d, flat, flat)
        v = viewers[r]
        for j in range(c):
            out[r, j] = _dot(topic, max(candidates[r, j], 0), interest, v, _dot_mode(j, c))


@njit(**_PAR)
def best_match(topic, interest, viewers, probes, out):
    """Fill ``out[r]`` with the probe of row ``r`` whose topic is most similar to ``interest[viewers[r]]``
    (the first of equals): ``probes[r, argmax(topic[probes[r]] @ interest[viewers[r]])]``, the products
    summed as numpy's matmul sums a (P, d) @ (d,) product (:func:`_dot`). Requires P >= 2."""
    b, c = probes.shape
    for r in prange(b):
        v = viewers[r]
        best = 0
        top = _dot(topic, probes[r, 0], interest, v, _dot_mode(0, c))
        for j in range(1, c):
            s = _dot(topic, probes[r, j], interest, v, _dot_mode(j, c))
            if s > top:
                top = s
                best = j
        out[r] = probes[r, best]


@njit(**_PAR)
def engagement_scores(item_logit, harmful, topic, interest, learned, viewers, candidates, w_similarity,
                      w_affinity, out):
    """Fill ``out`` (B, C) float32 with the scores of :class:`sim.recommenders.engagement.EngagementFeed`.

    The same operations in the same precisions as the numpy expression
    ``sigmoid(item_logit + w_sim * sim + w_aff * harmful * learned)``: the first
    sum in float32, the affinity term and the sigmoid in float64, then float32
    plus 1e-9. Padding (-1) is not scored: its score is 0 (a policy's padding
    scores are ignored).
    """
    b, c = candidates.shape
    d = topic.shape[1]
    flat = topic.reshape(-1)
    w_sim = np.float32(w_similarity)
    eps = np.float32(1e-9)
    for r in prange(b):
        if r + _AHEAD < b:
            _prefetch_candidates(candidates, r + _AHEAD, flat, d, item_logit, harmful)
        v = viewers[r]
        rate = np.float64(learned[v])
        for j in range(c):
            s = candidates[r, j]
            if s < 0:
                out[r, j] = 0
                continue
            sim = _dot(topic, s, interest, v, _dot_mode(j, c))
            logit32 = item_logit[s] + w_sim * sim
            affinity = (w_affinity * (1.0 if harmful[s] else 0.0)) * rate
            logit = np.float64(logit32) + affinity
            out[r, j] = np.float32(1.0 / (1.0 + np.exp(-logit))) + eps


@njit(**_PAR)
def interest_scores(topic, interest, viewers, candidates, out):
    """Fill ``out`` (B, C) float32 with the scores of :class:`sim.recommenders.content_based.InterestFeed`:
    ``sim + 1 + 1e-6`` (padding: 0, not scored)."""
    b, c = candidates.shape
    d = topic.shape[1]
    flat = topic.reshape(-1)
    one = np.float32(1.0)
    eps = np.float32(1e-6)
    for r in prange(b):
        if r + _AHEAD < b:
            _prefetch_candidates(candidates, r + _AHEAD, flat, d, flat, flat)
        v = viewers[r]
        for j in range(c):
            s = candidates[r, j]
            out[r, j] = (_dot(topic, s, interest, v, _dot_mode(j, c)) + one) + eps if s >= 0 else np.float32(0)


@njit(**_JIT)
def _sort_row(vals, flags, scratch, tmp_flags, c):
    """Stable sort of ``vals[:c]`` (``flags`` follow their values) in place; ``scratch`` is an int64
    (2, c) array and ``tmp_flags`` a row of at least ``c``, both scratch.

    Up to ``_RANK_SORT_MAX`` (64) values: each value becomes a distinct key
    ``(value - min) << 6 | position`` (so equal values keep their order), a key's rank is the
    number of smaller keys (branch-free vector compares), and the row is scattered by rank.
    Wider rows, or values too far apart for such keys, use a merge sort.
    """
    keys = scratch[0]
    ranked = scratch[1]
    lo = np.int64(vals[0])
    hi = np.int64(vals[0])
    for j in range(1, c):
        lo = min(lo, np.int64(vals[j]))
        hi = max(hi, np.int64(vals[j]))
    for j in range(c):
        tmp_flags[j] = flags[j]
    if c <= _RANK_SORT_MAX and hi - lo < 2 ** 56:
        for j in range(c):
            keys[j] = ((np.int64(vals[j]) - lo) << 6) | j
        for j in range(c):
            key = keys[j]
            rank = 0
            for i in range(c):
                if keys[i] < key:
                    rank += 1
            ranked[rank] = key
        for q in range(c):
            vals[q] = (ranked[q] >> 6) + lo
            flags[q] = tmp_flags[ranked[q] & 63]
    else:
        for j in range(c):
            keys[j] = vals[j]
        idx = np.argsort(keys[:c], kind="mergesort")
        for j in range(c):
            vals[j] = keys[idx[j]]
            flags[j] = tmp_flags[idx[j]]


@njit(**_INLINE)
def dedupe_row(row, flags, scratch, tmp_flags):
    """Sort ``row`` (stable; ``flags`` follow their values) and set every repeat after the first copy to
    -1, in place (scratch as :func:`_sort_row`'s)."""
    c = row.shape[0]
    _sort_row(row, flags, scratch, tmp_flags, c)
    prev = row[0]
    for j in range(1, c):
        v = row[j]
        if v == prev:
            row[j] = -1
        prev = v


@njit(**_JIT)
def dedupe_sorted(candidates, flags):
    """Each row sorted (stable), repeated values after the first set to -1, flags carried along (new arrays)."""
    b, c = candidates.shape
    cand = candidates.copy()
    flag = flags.copy()
    scratch = np.empty((2, c), dtype=np.int64)
    tmp_flags = np.empty(c, dtype=flag.dtype)
    for r in range(b):
        dedupe_row(cand[r], flag[r], scratch, tmp_flags)
    return cand, flag


@njit(**_JIT)
def cdf_buckets(cdf):
    """Where each of ``n + 2`` evenly spaced weights (``i * cdf[-1] / n``) falls in ``cdf`` (searchsorted right).

    With it, a popularity draw's binary search starts from the one to three buckets around its
    target instead of the whole pool: the same answer, a few cache lines instead of ~17 misses.
    """
    n = cdf.shape[0]
    table = np.zeros(n + 2, dtype=np.int64)
    if n == 0:
        return table
    step = cdf[n - 1] / n
    idx = 0
    for i in range(n + 2):
        t = i * step
        while idx < n and cdf[idx] <= t:
            idx += 1
        table[i] = idx
    return table


@njit(**_INLINE)
def _bucket(cdf, target):
    """The :func:`cdf_buckets` bucket of ``target``: the answer of ``searchsorted(cdf, target, "right")``
    lies between ``buckets[i - 1]`` and ``buckets[i + 2]`` (one bucket of slack on each side for
    the rounding of the division)."""
    n = cdf.shape[0]
    q = target / (cdf[n - 1] / n)
    return np.int64(q) if q < n else n


@njit(**_JIT)
def search_right(cdf, buckets, target):
    """``np.searchsorted(cdf, target, side="right")``, started from ``buckets`` (:func:`cdf_buckets`): the
    search :func:`gather_candidates` runs for many targets in lockstep, for one (checks use it)."""
    n = cdf.shape[0]
    i = _bucket(cdf, target)
    lo = buckets[max(i - 1, 0)]
    hi = buckets[min(i + 2, n + 1)]
    while lo < hi:
        mid = (lo + hi) >> 1
        if cdf[mid] <= target:
            lo = mid + 1
        else:
            hi = mid
    return lo


#: A pool whose weights are whole numbers gets a table of owners (:func:`weight_owners`) when it has at
#: most this many units of weight per item (4 bytes each); other pools are searched through buckets.
OWNER_UNITS_PER_ITEM = 16


@njit(**_JIT)
def weight_owners(cdf):
    """For each unit of weight, the position that owns it, if ``cdf`` is a cumulative sum of whole weights.

    Entry ``u`` is the ``j`` with ``cdf[j - 1] <= u < cdf[j]``, so that for any ``target`` below
    ``cdf[-1]``, ``searchsorted(cdf, target, "right")`` is the entry of ``floor(target)``: with whole
    values in ``cdf``, ``cdf[j] <= target`` exactly when ``cdf[j] <= floor(target)``. A popularity
    draw is then one read of a 4-byte entry instead of a bucket and a binary search in ``cdf`` (two
    cache misses or more at a million accounts; the pool's weights, engagements plus one, are whole).

    Returns an empty int32 array, and the draws use :func:`cdf_buckets`, unless every value of ``cdf``
    is a whole number, they do not decrease from 0, and the total is at most ``OWNER_UNITS_PER_ITEM``
    units per position (plus 1,024), which bounds the table's memory.
    """
    n = cdf.shape[0]
    empty = np.zeros(0, dtype=np.int32)
    if n == 0 or not (cdf[n - 1] <= OWNER_UNITS_PER_ITEM * n + 1024):
        return empty
    prev = 0.0
    for j in range(n):
        v = cdf[j]
        if not (v >= prev and v == np.floor(v)):
            return empty
        prev = v
    owners = np.empty(np.int64(cdf[n - 1]), dtype=np.int32)
    start = 0
    for j in range(n):
        end = np.int64(cdf[j])
        for u in range(start, end):
            owners[u] = j
        start = end
    return owners


def pool_search_tables(cdf):
    """The tables :func:`gather_candidates` finds its popularity draws with: ``(owners, buckets)``, the
    first from :func:`weight_owners` where it applies (and the second then empty), else the second
    from :func:`cdf_buckets`."""
    cdf = np.ascontiguousarray(cdf, dtype=np.float64)
    owners = weight_owners(cdf)
    if owners.shape[0] > 0:
        return owners, np.zeros(0, dtype=np.int64)
    return owners, cdf_buckets(cdf)


@njit(**_INLINE)
def _owner_of(owners, target, n):
    """The position of ``target`` in a pool of ``n`` through its :func:`weight_owners`: the entry of
    ``floor(target)``, or ``n - 1`` for a target the multiplication rounded up to the total."""
    unit = np.int64(target)
    return np.int64(owners[unit]) if unit < owners.shape[0] else n - 1


@njit(**_JIT)
def weighted_position(cdf, owners, buckets, target):
    """The pool position of a popularity draw's ``target`` (in ``[0, cdf[-1]]``), as
    :func:`gather_candidates` finds it: ``min(searchsorted(cdf, target, "right"), n - 1)``, through
    ``owners`` if it is not empty, else through ``buckets`` (:func:`pool_search_tables`; checks use it)."""
    n = cdf.shape[0]
    if owners.shape[0] > 0:
        return _owner_of(owners, target, n)
    return min(search_right(cdf, buckets, target), n - 1)


def item_info(author, harm, removed_day):
    """Per item slot, what candidate cleaning reads, in one int64: ``(author + 1) << 8 | harm``, or -1 if
    removed (one cache line per candidate instead of three)."""
    info = ((author.astype(np.int64) + 1) << 8) | harm.astype(np.int64)
    info[removed_day >= 0] = -1
    return info


#: Sessions per block inside a kernel: each phase of a block is one loop over its cells, whose random
#: reads are independent of each other, so their cache misses overlap; a block's cells stay in L1/L2.
_BLOCK_ROWS = 64


@njit(**_PAR)
def gather_candidates(viewers, n_in, n_out, follow_ptr, follow_idx, group_ptr, group_idx,
                      author_ptr, author_items, group_item_ptr, group_items, pool, pool_cdf, pool_owners,
                      pool_buckets, stream, popular_share, item_info, n_classes, cand, in_net):
    """Fill ``cand`` and ``in_net`` (B, C) with a block's candidates, de-duplicated and cleaned; returns the
    valid candidates by harm class and how many uniforms of ``stream`` the block used.

    Row ``r`` (viewer ``viewers[r]``): ``n_in`` in-network slots, each a random
    followee or group (``r_source``) and a random recent item of it
    (``r_item``); then ``n_out`` slots from the global pool, uniform
    (``r_pool``) or, where ``r_popular < popular_share``, by engagement weight
    (the next ``r_target`` in row-major order, times the total weight: the
    position ``searchsorted(pool_cdf, target, "right")``, found through
    ``pool_owners`` and ``pool_buckets``, :func:`pool_search_tables`).

    The draws are the PCG64 stream's from the position ``stream``
    (:func:`sim.pcg64.position`), made here as they are used: ``r_source`` (B,
    n_in), ``r_item`` (B, n_in), then, if the pool has items, ``r_pool`` (B,
    n_out), ``r_popular`` (B, n_out) and ``r_target``, in that order and each in
    row-major order: the numbers of ``rng.random((B, n_in))`` twice, and so on,
    as serving drew them into arrays before.
    The row is sorted (stable), repeats after the first copy set to -1, and the
    viewer's own and removed items set to -1 (``item_info``, :func:`item_info`),
    exactly as ``serving`` did with numpy.

    Rows are processed ``_BLOCK_ROWS`` at a time, one phase after another
    (sources, in-network picks, pool picks, sort and de-duplication, item checks),
    and blocks in parallel: a first pass counts each block's popularity draws, so
    every block knows where its ``r_target`` values start (the draws go to the
    cells they went to in one sequential loop). Where a cell's path depends on a
    coin toss (a followee or a group; an account with or without recent items; a
    real or an empty candidate), both entries are read and one kept by a select,
    not a branch: a branch there mispredicts for a third of the cells (a quarter
    off the kernel's time on the main job's world).

    Args:
        stream: uint64[4], the generator's position (:func:`sim.pcg64.position`).
        cand: (B, n_in + n_out) int64, filled with item slots (-1 empty).
        in_net: (B, n_in + n_out) bool, filled with the in-network flags.

    Returns:
        counts (n_classes,) int64, and the number of uniforms used (the caller skips them:
        :func:`sim.draws.skip`).
    """
    b = viewers.shape[0]
    n_blocks = (b + _BLOCK_ROWS - 1) // _BLOCK_ROWS
    pool_size = pool.shape[0]
    # Where each block's popularity targets start: they are consumed in row-major order.
    t_start = np.zeros(n_blocks + 1, dtype=np.int64)
    if pool_size > 0:
        i_hi, i_lo = stream[2], stream[3]
        for blk in prange(n_blocks):
            n_pop = 0
            s_hi, s_lo = jump(stream, _draw_starts(b, n_in, n_out)[2] + blk * _BLOCK_ROWS * n_out)
            for _ in range((min(b, (blk + 1) * _BLOCK_ROWS) - blk * _BLOCK_ROWS) * n_out):
                s_hi, s_lo, u = next_uniform(s_hi, s_lo, i_hi, i_lo)
                if u < popular_share:
                    n_pop += 1
            t_start[blk + 1] = n_pop
        for blk in range(n_blocks):
            t_start[blk + 1] += t_start[blk]
    # The in-network phases read both a followee's and a group's entry and keep one (no branch to
    # mispredict), so each array they index must have an entry 0 (and the group offsets an entry 1).
    follow_idx = _at_least(follow_idx, 1)
    group_idx = _at_least(group_idx, 1)
    group_item_ptr = _at_least(group_item_ptr, 2)
    author_items = _at_least(author_items, 1)
    group_items = _at_least(group_items, 1)
    item_info = _at_least(item_info, 1)
    block_counts = np.zeros((n_blocks, n_classes), dtype=np.int64)
    for blk in prange(n_blocks):
        _gather_block(blk * _BLOCK_ROWS, min(b, (blk + 1) * _BLOCK_ROWS), t_start[blk], b, viewers, n_in, n_out,
                      follow_ptr, follow_idx, group_ptr, group_idx, author_ptr, author_items, group_item_ptr,
                      group_items, pool, pool_cdf, pool_owners, pool_buckets, stream, popular_share, item_info,
                      cand, in_net, block_counts[blk])
    counts = np.zeros(n_classes, dtype=np.int64)
    for blk in range(n_blocks):
        for h in range(n_classes):
            counts[h] += block_counts[blk, h]
    targets = _draw_starts(b, n_in, n_out)[3]
    used = (targets + t_start[n_blocks]) if pool_size > 0 else 2 * b * n_in
    return counts, used


@njit(**_INLINE)
def _draw_starts(b, n_in, n_out):
    """Where each kind of draw of a block of ``b`` rows starts in the stream: the picks of recent items
    (after the sources, which start at 0), the pool picks, the popularity flags, the popularity targets."""
    return b * n_in, 2 * b * n_in, 2 * b * n_in + b * n_out, 2 * b * n_in + 2 * b * n_out


@njit(**_INLINE)
def _at_least(values, n):
    """``values``, or a copy padded with zeros to length ``n`` if it is shorter."""
    if values.shape[0] >= n:
        return values
    padded = np.zeros(n, dtype=values.dtype)
    padded[:values.shape[0]] = values
    return padded


@njit(**_JIT)
def _gather_block(r0, r1, t, b, viewers, n_in, n_out, follow_ptr, follow_idx, group_ptr, group_idx,
                  author_ptr, author_items, group_item_ptr, group_items, pool, pool_cdf, pool_owners,
                  pool_buckets, stream, popular_share, item_info, cand, in_net, counts):
    """:func:`gather_candidates` for rows ``r0:r1`` (at most ``_BLOCK_ROWS``) of ``b``, whose first
    popularity draw is ``r_target[t]``; adds the valid candidates by harm class to ``counts``. Each kind
    of draw is a generator of its own, jumped to the block's first number of that kind."""
    c = n_in + n_out
    i_hi, i_lo = stream[2], stream[3]
    scratch = np.empty((2, c), dtype=np.int64)
    tmp_flags = np.empty(c, dtype=np.bool_)
    # Each in-network cell's source (>= 0 followee, <= -2 group -(g + 2), -1 none), then the
    # position of its pick in author_items (>= 0) or group_items (<= -2, as -(p + 2)).
    source = np.empty((_BLOCK_ROWS, max(n_in, 1)), dtype=np.int64)
    n_cells = _BLOCK_ROWS * max(n_out, 1)
    pool_pos = np.empty(n_cells, dtype=np.int64)        # per out-of-network cell: its position in pool
    pop_cell = np.empty(n_cells, dtype=np.int64)        # the block's weighted draws: cell, target, bounds
    pop_target = np.empty(n_cells, dtype=np.float64)
    pop_lo = np.empty(n_cells, dtype=np.int64)
    pop_hi = np.empty(n_cells, dtype=np.int64)
    pool_size = pool.shape[0]
    total_weight = pool_cdf[pool_size - 1] if pool_size > 0 else 0.0
    n_units = pool_owners.shape[0]
    by_owner = n_units > 0
    last_follow = follow_idx.shape[0] - 1
    last_group = group_idx.shape[0] - 1
    # 1. Which followee or group each in-network slot draws from (-1: the viewer has none).
    s_hi, s_lo = jump(stream, r0 * n_in)
    for r in range(r0, r1):
        v = viewers[r]
        fs = follow_ptr[v]
        deg_f = follow_ptr[v + 1] - fs
        gs = group_ptr[v]
        deg_g = group_ptr[v + 1] - gs
        sources = deg_f + deg_g
        for j in range(n_in):
            # Both candidates read (clamped into their arrays), one kept by a select: which one is a
            # coin toss per cell, which a branch would mispredict a third of the time.
            s_hi, s_lo, u = next_uniform(s_hi, s_lo, i_hi, i_lo)
            k = np.int64(u * sources)
            followee = np.int64(follow_idx[min(fs + k, last_follow)])
            group = np.int64(group_idx[max(min(gs + k - deg_f, last_group), 0)])
            key = followee if k < deg_f else -2 - group
            source[r - r0, j] = key if sources > 0 else -1
            prefetch(author_ptr, max(key, 0))
    # 2a. Where in that account's (group's) recent items the pick falls (-1: it has none).
    item_start, pool_start, popular_start, target_start = _draw_starts(b, n_in, n_out)
    s_hi, s_lo = jump(stream, item_start + r0 * n_in)
    for r in range(r0, r1):
        for j in range(n_in):
            # The followee's and the group's offsets both read, one kept (a third of the followees
            # have no recent item: again a branch the predictor would miss).
            key = source[r - r0, j]
            a = max(key, 0)
            g = max(-2 - key, 0)
            a_start = author_ptr[a]
            g_start = group_item_ptr[g]
            is_account = key >= 0
            start = a_start if is_account else g_start
            count = (author_ptr[a + 1] - a_start) if is_account else (group_item_ptr[g + 1] - g_start)
            s_hi, s_lo, u = next_uniform(s_hi, s_lo, i_hi, i_lo)
            p = start + np.int64(u * count)
            found = (key != -1) & (count > 0)
            pos = (p if is_account else -2 - p) if found else -1
            source[r - r0, j] = pos
            prefetch(author_items, p if is_account else 0)
            prefetch(group_items, 0 if is_account else p)
    # 3a. The global pool: uniform, or by engagement weight (targets consumed in row-major order). Every
    # cell takes a pool draw and a popularity draw, whichever it uses.
    n_pop = 0
    pool_hi, pool_lo = jump(stream, pool_start + r0 * n_out)
    pop_hi_s, pop_lo_s = jump(stream, popular_start + r0 * n_out)
    tgt_hi, tgt_lo = jump(stream, target_start + t)
    for r in range(r0, r1):
        for j in range(n_out):
            cell = (r - r0) * n_out + j
            pool_pos[cell] = -1
            if pool_size == 0:
                continue
            pool_hi, pool_lo, u_pool = next_uniform(pool_hi, pool_lo, i_hi, i_lo)
            pop_hi_s, pop_lo_s, u_popular = next_uniform(pop_hi_s, pop_lo_s, i_hi, i_lo)
            if u_popular < popular_share:
                tgt_hi, tgt_lo, u_target = next_uniform(tgt_hi, tgt_lo, i_hi, i_lo)
                target = u_target * total_weight
                pop_cell[n_pop] = cell
                pop_target[n_pop] = target
                if by_owner:
                    prefetch(pool_owners, min(np.int64(target), n_units - 1))
                else:
                    i = _bucket(pool_cdf, target)
                    pop_lo[n_pop] = max(i - 1, 0)
                    pop_hi[n_pop] = min(i + 2, pool_size + 1)
                    prefetch(pool_buckets, pop_lo[n_pop])
                    prefetch(pool_buckets, pop_hi[n_pop])
                n_pop += 1
            else:
                pool_pos[cell] = np.int64(u_pool * pool_size)
                prefetch(pool, pool_pos[cell])
    # 3b. The weighted draws' positions (searchsorted right): each one's owner entry, or else a binary
    # search started from its buckets and advanced in lockstep, one step for every draw of the block
    # per pass, so the misses overlap.
    if by_owner:
        for q in range(n_pop):
            pop_lo[q] = _owner_of(pool_owners, pop_target[q], pool_size)
    else:
        for q in range(n_pop):
            pop_lo[q] = pool_buckets[pop_lo[q]]
            pop_hi[q] = pool_buckets[pop_hi[q]]
    searching = n_pop > 0 and not by_owner
    while searching:
        searching = False
        for q in range(n_pop):
            lo = pop_lo[q]
            hi = pop_hi[q]
            if lo < hi:
                mid = (lo + hi) >> 1
                if pool_cdf[mid] <= pop_target[q]:
                    pop_lo[q] = mid + 1
                else:
                    pop_hi[q] = mid
                searching = True
    for q in range(n_pop):
        pool_pos[pop_cell[q]] = min(pop_lo[q], pool_size - 1)
        prefetch(pool, pool_pos[pop_cell[q]])
    # 2b, 3c. The picks themselves; then the cleaning step's item data is fetched ahead of the sort.
    for r in range(r0, r1):
        for j in range(n_in):
            pos = source[r - r0, j]
            from_account = author_items[max(pos, 0)]
            from_group = group_items[max(-2 - pos, 0)]
            item = from_account if pos >= 0 else from_group
            cand[r, j] = item if pos != -1 else -1
            in_net[r, j] = True
        for j in range(n_out):
            pos = pool_pos[(r - r0) * n_out + j]
            cand[r, n_in + j] = pool[pos] if pos >= 0 else -1
            in_net[r, n_in + j] = False
        for j in range(c):
            prefetch(item_info, max(cand[r, j], 0))
    # 4. Sort each row (stable) and blank the repeats after their first copy.
    for r in range(r0, r1):
        row = cand[r]
        _sort_row(row, in_net[r], scratch, tmp_flags, c)
        prev = row[0]
        for j in range(1, c):
            cur = row[j]
            if cur == prev:
                row[j] = -1
            prev = cur
    # 5. The viewer's own items and removed items go; the rest are counted by harm class.
    for r in range(r0, r1):
        v = viewers[r]
        for j in range(c):
            s = cand[r, j]
            info = item_info[max(s, 0)]
            kept = (s >= 0) & (info >= 0) & ((info >> 8) - 1 != v)
            cand[r, j] = s if kept else -1
            counts[(info & 255) if kept else 0] += 1 if kept else 0


@njit(**_PAR)
def nudge_scores(scores, stream, candidates, out):
    """Fill ``out`` (B, C) float64 with ``score * (1 + 1e-9 u)`` (breaks exact ties at random), ``-inf``
    where there is no candidate; ``u`` is ``rng.random((B, C))`` made from the PCG64 position ``stream``
    (one number per cell, candidate or not). Returns how many uniforms it used (B * C)."""
    b, c = candidates.shape
    i_hi, i_lo = stream[2], stream[3]
    for blk in prange((b + _BLOCK_ROWS - 1) // _BLOCK_ROWS):
        r0 = blk * _BLOCK_ROWS
        s_hi, s_lo = jump(stream, r0 * c)
        for r in range(r0, min(b, r0 + _BLOCK_ROWS)):
            for j in range(c):
                s_hi, s_lo, u = next_uniform(s_hi, s_lo, i_hi, i_lo)
                if candidates[r, j] >= 0:
                    out[r, j] = np.float64(scores[r, j]) * (1.0 + 1e-9 * u)
                else:
                    out[r, j] = -np.inf
    return b * c


@njit(**_PAR)
def emit_top_k(scores, candidates, in_net, viewers, k, out_v, out_i, out_f):
    """Each row's top ``k`` scores, best first, as impressions (viewer, item, in-network flag) written to
    ``out_v``, ``out_i``, ``out_f`` (at least B * min(k, C) long); returns how many.

    A candidate is shown if its score is finite and it is a real item. The
    row's k best are taken (``+inf`` first, ``-inf`` and NaN never), ties to the
    lower position, in descending order, at any width. With ``k >= C`` every
    position is taken in order.

    Rows are ranked in parallel, each into its own slots; a running count then
    places each row's impressions after the previous rows' (row order, as one loop would).
    """
    b, c = candidates.shape
    width = max(min(k, c), 1)
    best = np.empty((b, width), dtype=np.int64)
    best_scores = np.empty((b, width), dtype=scores.dtype)      # the list's scores, beside it
    shown = np.empty(b, dtype=np.int64)
    for r in prange(b):
        row = best[r]
        if k >= c:
            m = c
            for q in range(m):
                row[q] = q
        else:
            # Insertion into a best-first list of k, filled with -inf placeholders: a cell enters only
            # if it beats the current k-th (a tie stays behind the earlier position; -inf and NaN
            # never do). The list's scores are kept beside its positions, so a comparison reads no
            # other row.
            top_scores = best_scores[r]
            for q in range(k):
                top_scores[q] = -np.inf
                row[q] = -1
            for j in range(c):
                s = scores[r, j]
                if not s > top_scores[k - 1]:
                    continue
                i = k - 1
                while i > 0 and s > top_scores[i - 1]:
                    row[i] = row[i - 1]
                    top_scores[i] = top_scores[i - 1]
                    i -= 1
                row[i] = j
                top_scores[i] = s
            m = 0
            while m < k and row[m] >= 0:
                m += 1
        # Keep the shown ones (a finite score and a real item), in order, at the front of the row.
        n_row = 0
        for q in range(m):
            j = row[q]
            if np.isfinite(scores[r, j]) and candidates[r, j] >= 0:
                row[n_row] = j
                n_row += 1
        shown[r] = n_row
    start = np.empty(b + 1, dtype=np.int64)
    start[0] = 0
    for r in range(b):
        start[r + 1] = start[r] + shown[r]
    for r in prange(b):
        n = start[r]
        v = viewers[r]
        for q in range(shown[r]):
            j = best[r, q]
            out_v[n + q] = v
            out_i[n + q] = candidates[r, j]
            out_f[n + q] = in_net[r, j]
    return start[b]
