"""Compiled counting loops (numba) shared by the state and behaviour layers, and cache-line-aligned arrays.

Core objects: :func:`parts_for`, :func:`tally`, :func:`count_labels`, :func:`count_label_pairs`, :func:`impression_tallies`,
:func:`attribute_views`, :func:`group_by_key`, :func:`removed_viewers`, :func:`aligned_empty`,
:func:`cache_aligned`, :func:`prefetch`.

``np.bincount`` over a day's impressions needs the labels gathered first and
then cast to the platform's integer (at ten million accounts, a day's 150
million impressions make each count a 1.2 GB temporary, and a masked count
one more). These loops read each entry where it is and add to a small table:
the same integers, no temporaries.
"""

from __future__ import annotations

import numpy as np
import numba
from llvmlite import ir
from numba import njit, prange, types
from numba.core import cgutils
from numba.extending import intrinsic

_JIT = dict(cache=True, nogil=True)
#: Kernels that split their entries into parts run the parts on numba's threads; integer tables are
#: summed after, so the result does not depend on the number of threads.
_PAR = dict(cache=True, nogil=True, parallel=True)
#: Entries per part of a parallel count (each part fills its own small table).
PART = 1 << 16
#: Impressions whose random reads are made in one loop, before they are counted (fits in L1).
_BLOCK = 512
#: Copies of a part's table, entry ``i`` adding to copy ``i % LANES``: consecutive entries with the same
#: label (a viewer's impressions are consecutive) then do not wait on each other's addition.
LANES = 4
#: An empty mask: every entry counts.
ALL = np.zeros(0, dtype=np.bool_)
#: Bytes in a cache line (x86-64 and most ARM cores).
CACHE_LINE = 64
#: How many entries ahead a sequential loop fetches the table entry a later key will update.
AHEAD = 16


def aligned_empty(shape: tuple[int, ...], dtype, zeros: bool = False) -> np.ndarray:
    """An uninitialised (or, with ``zeros``, zero-filled) C-ordered array whose first byte starts a cache line.

    numpy aligns its arrays to 16 bytes, so a 64-byte row (16 float32 topics)
    usually straddles two cache lines and every random read of a row misses
    twice. The item topics and the interests are read a row at a time, at
    random, for every candidate and impression; aligned, a 16-dimensional row
    is one line.

    ``zeros`` takes the memory zero-filled from the system (``calloc``, as
    ``np.zeros`` does): its pages become resident only when first written, so
    a store sized for days of items costs memory as it fills, not all at once.
    """
    dtype = np.dtype(dtype)
    nbytes = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    raw = (np.zeros if zeros else np.empty)(nbytes + CACHE_LINE, dtype=np.uint8)
    start = -raw.ctypes.data % CACHE_LINE
    return raw[start:start + nbytes].view(dtype).reshape(shape)


def cache_aligned(values: np.ndarray) -> np.ndarray:
    """A copy of ``values`` (C order) in an :func:`aligned_empty` array."""
    values = np.asarray(values)
    out = aligned_empty(values.shape, values.dtype)
    out[...] = values
    return out


@njit(**_JIT)
def tally(counts, index, mask):
    """``counts[index[i]] += 1`` for every ``i`` where ``mask[i]`` (every ``i`` if ``mask`` is empty)."""
    if mask.shape[0] == 0:
        for i in range(index.shape[0]):
            counts[index[i]] += 1
    else:
        for i in range(index.shape[0]):
            if mask[i]:
                counts[index[i]] += 1


@njit(**_JIT)
def count_labels(labels, index, n_labels):
    """``np.bincount(labels[index], minlength=n_labels)``."""
    out = np.zeros(n_labels, dtype=np.int64)
    for i in range(index.shape[0]):
        out[labels[index[i]]] += 1
    return out


@njit(**_JIT)
def count_label_pairs(labels, index, codes, n_labels, n_codes):
    """(n_labels, n_codes) counts of (``labels[index[i]]``, ``codes[i]``) over every ``i``."""
    out = np.zeros((n_labels, n_codes), dtype=np.int64)
    for i in range(index.shape[0]):
        out[labels[index[i]], codes[i]] += 1
    return out


@njit(**_JIT)
def _impression_part(lo, hi, cohort, viewer, item, harm, in_network, engaged, reported, n_classes, benign,
                     explicit_from, table, harmful_seen, explicit_seen):
    k_block = np.empty(_BLOCK, dtype=np.intp)
    h_block = np.empty(_BLOCK, dtype=np.intp)
    for start in range(lo, hi, _BLOCK):
        stop = min(hi, start + _BLOCK)
        # The block's random reads first, in a loop of their own (their cache misses overlap); then
        # (cohort, class, in-network, engaged, reported) as one code: one addition per impression.
        for i in range(start, stop):
            k_block[i - start] = cohort[viewer[i]]
            h_block[i - start] = harm[item[i]]
        for i in range(start, stop):
            h = h_block[i - start]
            code = ((k_block[i - start] * n_classes + h) * 8 + np.intp(in_network[i]) * 4
                    + np.intp(engaged[i]) * 2 + np.intp(reported[i]))
            table[i & (LANES - 1), code] += 1
            if h != benign:
                v = viewer[i]
                harmful_seen[v] = True
                if h >= explicit_from:
                    explicit_seen[v] = True


@njit(**_PAR)
def impression_tallies(cohort, viewer, item, harm, in_network, engaged, reported, n_cohorts, n_classes, benign,
                       explicit_from, harmful_seen, explicit_seen, part=PART):
    """A day's impression counters in one pass over its impressions (in parts, on numba's threads).

    Impression ``i`` is ``viewer[i]`` (an account row, of cohort ``cohort[viewer[i]]``) shown item slot
    ``item[i]`` (of class ``harm[item[i]]``). Returns ``(by_class, flags)``:

    - ``by_class`` (n_cohorts, n_classes) int64: impressions by the viewer's cohort and the item's class;
    - ``flags`` (n_cohorts, 4) int64: by the viewer's cohort, the impressions that were in-network, engaged
      with, engaged with and of a class other than ``benign``, and reported.

    Sets ``harmful_seen[v]`` for every viewer shown an item of a class other than ``benign`` and
    ``explicit_seen[v]`` for every viewer shown one of class ``>= explicit_from`` (bool, one per account,
    cleared by the caller; a flag is only ever set, so parts that share a viewer write the same value).
    The counts are those of ``np.bincount`` over the gathered labels and masks; each impression adds one
    to a single cell of a (cohort, class, in-network, engaged, reported) table, which is then summed.
    """
    n = viewer.shape[0]
    n_parts = max(1, (n + part - 1) // part)
    width = n_cohorts * n_classes * 8
    tables = np.zeros((n_parts, LANES, width), dtype=np.int64)
    for p in prange(n_parts):
        _impression_part(p * part, min(n, (p + 1) * part), cohort, viewer, item, harm, in_network, engaged,
                         reported, n_classes, benign, explicit_from, tables[p], harmful_seen, explicit_seen)
    by_class = np.zeros((n_cohorts, n_classes), dtype=np.int64)
    flags = np.zeros((n_cohorts, 4), dtype=np.int64)
    for p in range(n_parts):
        for lane in range(LANES):
            for code in range(width):
                count = tables[p, lane, code]
                k = code // (n_classes * 8)
                h = (code // 8) % n_classes
                by_class[k, h] += count
                flags[k, 0] += count if code & 4 else 0
                flags[k, 1] += count if code & 2 else 0
                flags[k, 2] += count if (code & 2) and h != benign else 0
                flags[k, 3] += count if code & 1 else 0
    return by_class, flags


@njit(**_JIT)
def attribute_views(item, viewer, cohort, harm, first_violating, queued_day, kept_day, pending_views, out,
                    queued_column, kept_column):
    """Each impression (``viewer[i]`` shown item slot ``item[i]``) of an item of class ``>= first_violating``,
    by its viewer's cohort: to ``out[:, queued_column]`` if the item is in the review queue
    (``queued_day >= 0``), else to ``out[:, kept_column]`` if a review kept it (``kept_day >= 0``), else
    to the item's ``pending_views`` row. In impression order; the cohort is read only for these views."""
    for i in range(item.shape[0]):
        s = item[i]
        if harm[s] >= first_violating:
            k = cohort[viewer[i]]
            if queued_day[s] >= 0:
                out[k, queued_column] += 1
            elif kept_day[s] >= 0:
                out[k, kept_column] += 1
            else:
                pending_views[s, k] += 1


@intrinsic
def prefetch(typingctx, arr, row):
    """Hint the cache to load ``arr[row, 0]`` (or ``arr[row]``) soon (``llvm.prefetch``; no effect on results)."""
    sig = types.void(arr, row)

    def codegen(context, builder, signature, args):
        aryty = signature.args[0]
        ary = context.make_array(aryty)(context, builder, args[0])
        index = context.cast(builder, args[1], signature.args[1], types.intp)
        zero = context.get_constant(types.intp, 0)
        ptr = cgutils.get_item_pointer2(context, builder, ary.data, cgutils.unpack_tuple(builder, ary.shape),
                                        cgutils.unpack_tuple(builder, ary.strides), aryty.layout,
                                        [index] + [zero] * (aryty.ndim - 1))
        i32 = ir.IntType(32)
        i8p = ir.IntType(8).as_pointer()
        fn = cgutils.get_or_insert_function(builder.module, ir.FunctionType(ir.VoidType(), [i8p, i32, i32, i32]),
                                            "llvm.prefetch.p0")
        builder.call(fn, [builder.bitcast(ptr, i8p), i32(0), i32(3), i32(1)])  # read, all cache levels, data
        return context.get_dummy_value()

    return sig, codegen


def parts_for(n: int, min_part: int) -> int:
    """How many parts a loop over ``n`` entries is split into: one per numba thread (``NUMBA_NUM_THREADS``;
    joblib's workers get the cores divided among them), but at least ``min_part`` entries each."""
    return max(1, min(numba.get_num_threads(), n // max(min_part, 1)))


def group_by_key(keys: np.ndarray, n_keys: int, min_part: int = PART) -> tuple[np.ndarray, np.ndarray]:
    """``(indptr, order)``: ``order`` lists the positions of ``keys`` grouped by key value, in
    position order within a key (``np.argsort(keys, kind="stable")``), and key ``k``'s positions are
    ``order[indptr[k]:indptr[k + 1]]``. A counting sort: two passes, no comparison sort.

    With at least ``min_part`` entries a thread and no fewer entries than keys, the entries are split
    into one contiguous part per thread: each part counts its keys, a running total over (key, part)
    says where each part's first entry of each key goes, and each part places its own entries. The
    order is the same whatever the number of parts; each part beyond the first holds a table of
    ``n_keys`` counts while it runs. The tables are int32 (4 bytes a key, so more of them stay in
    the cache), so ``keys`` holds fewer than 2**31 entries.
    """
    n = keys.shape[0]
    if n >= 2**31:
        raise ValueError(f"group_by_key counts in int32: keys has {n:,} entries, at most {2**31 - 1:,} are allowed")
    parts = parts_for(n, min_part) if n >= n_keys else 1
    return _group_by_key(keys, n_keys, parts)


@njit(**_PAR)
def _group_by_key(keys, n_keys, parts):
    n = keys.shape[0]
    # counts[p, k]: how many of part p's entries have key k; then where the first of them goes.
    # With many keys the tables outgrow the cache and each entry's update is a miss: the entry AHEAD
    # (and, placing, the one 2 * AHEAD) keys on is fetched while this one is counted.
    counts = np.zeros((parts, n_keys), dtype=np.int32)
    for p in prange(parts):
        row = counts[p]
        end = n * (p + 1) // parts
        for i in range(n * p // parts, end):
            if i + AHEAD < end:
                prefetch(row, keys[i + AHEAD])
            row[keys[i]] += 1
    indptr = np.empty(n_keys + 1, dtype=np.int64)
    total = 0
    for k in range(n_keys):
        indptr[k] = total
        for p in range(parts):
            c = counts[p, k]
            counts[p, k] = total
            total += c
    indptr[n_keys] = total
    order = np.empty(n, dtype=np.int64)
    for p in prange(parts):
        fill = counts[p]
        end = n * (p + 1) // parts
        for i in range(n * p // parts, end):
            if i + 2 * AHEAD < end:
                prefetch(fill, keys[i + 2 * AHEAD])
            if i + AHEAD < end:
                prefetch(order, fill[keys[i + AHEAD]])
            k = keys[i]
            order[fill[k]] = i
            fill[k] += 1
    return indptr, order


@njit(**_JIT)
def removed_viewers(before, scores, candidates, viewers, harm, benign_class):
    """The viewer of every real candidate (slot >= 0) whose score was finite (``before``) and no longer
    is, in row-major order, split by its item's class: ``(benign, harmful)``, ``benign`` being the
    candidates of class ``benign_class``. (``np.nonzero(before & ~np.isfinite(scores) &
    (candidates >= 0))``'s rows, split by ``harm[candidates] == benign_class``, in one pass.)"""
    b, c = candidates.shape
    benign = np.empty(b * c, dtype=viewers.dtype)     # at most every cell; pages untouched stay unallocated
    harmful = np.empty(b * c, dtype=viewers.dtype)
    ib = 0
    ih = 0
    for r in range(b):
        for j in range(c):
            if np.isfinite(scores[r, j]) or not before[r, j]:
                continue
            s = candidates[r, j]
            if s < 0:
                continue
            if harm[s] == benign_class:
                benign[ib] = viewers[r]
                ib += 1
            else:
                harmful[ih] = viewers[r]
                ih += 1
    return benign[:ib].copy(), harmful[:ih].copy()
