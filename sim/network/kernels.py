"""Compiled loops of the CSR queries and updates every phase runs (numba): search, merge, random picks.

Core objects: :func:`contains`, :func:`merge_rows`, :func:`merge_rows_in_place`, :func:`drop_entries`,
:func:`drop_entries_in_place`, :func:`pick`, :func:`key_row_offsets`.

Each query, or row, is answered on its own (integer arithmetic and
comparisons), so the results are those of the vectorised numpy they replace,
on any number of threads.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

_PAR = dict(cache=True, nogil=True, parallel=True)
_JIT = dict(cache=True, nogil=True)


@njit(**_PAR)
def pick(ptr, values, keys, u, out):
    """Fill ``out[k]`` with value ``int(u[k] * count)`` of row ``keys[k]``'s ``count`` values, or -1
    where the row is empty (``u`` in [0, 1))."""
    for k in prange(keys.shape[0]):
        start = ptr[keys[k]]
        count = ptr[keys[k] + 1] - start
        out[k] = values[start + np.int64(u[k] * count)] if count > 0 else -1


@njit(cache=True, nogil=True, inline="always")
def _has_entry(indptr, indices, row, value):
    """Whether the sorted CSR row ``row`` holds ``value`` (binary search)."""
    lo = np.int64(indptr[row])
    end = np.int64(indptr[row + 1])
    hi = end
    while lo < hi:
        mid = (lo + hi) >> 1
        if indices[mid] < value:
            lo = mid + 1
        else:
            hi = mid
    return lo < end and indices[lo] == value


@njit(**_PAR)
def contains(indptr, indices, rows, cols, out):
    """Fill ``out[k]`` with whether row ``rows[k]`` (sorted) holds ``cols[k]``: a binary search per query."""
    for k in prange(rows.shape[0]):
        out[k] = _has_entry(indptr, indices, rows[k], cols[k])


@njit(**_PAR)
def merge_rows(indptr, indices, new_ptr, new_cols, out_ptr, out):
    """Merge each row's new entries (``new_cols[new_ptr[r]:new_ptr[r + 1]]``, sorted, none already
    present) into its old ones, writing the sorted row to ``out[out_ptr[r]:out_ptr[r + 1]]``."""
    for r in prange(indptr.shape[0] - 1):
        i = indptr[r]
        i_end = indptr[r + 1]
        j = new_ptr[r]
        j_end = new_ptr[r + 1]
        o = out_ptr[r]
        while i < i_end and j < j_end:
            if indices[i] < new_cols[j]:
                out[o] = indices[i]
                i += 1
            else:
                out[o] = new_cols[j]
                j += 1
            o += 1
        while i < i_end:
            out[o] = indices[i]
            i += 1
            o += 1
        while j < j_end:
            out[o] = new_cols[j]
            j += 1
            o += 1


@njit(**_PAR)
def merge_rows_in_place(indptr, buf, new_ptr, new_cols, out_ptr, parts=1):
    """:func:`merge_rows` within one buffer: the old rows (``buf[indptr[0]:indptr[-1]]``) and the merged
    rows (``buf[out_ptr[r]:out_ptr[r + 1]]``) share ``buf``, which must hold ``out_ptr[-1]`` entries.

    Rows are merged from the last to the first, each from its end: a row only moves right
    (``out_ptr[r] >= indptr[r]``), so within a run of rows no entry is overwritten before it is
    read. The rows are split into ``parts`` runs of about equal size, merged in parallel; a run's
    merged rows may cover the start of the next runs' old rows, so those entries are copied aside
    first and read from the copy (at most as many as the new entries). Memory-bound; the result is
    the same for any ``parts``.
    """
    n_rows = indptr.shape[0] - 1
    parts = max(1, min(parts, n_rows))
    # Run q is rows first[q]:first[q + 1], cut where the merged rows reach q / parts of the entries.
    first = np.empty(parts + 1, dtype=np.int64)
    first[0], first[parts] = 0, n_rows
    for q in range(1, parts):
        first[q] = min(np.searchsorted(out_ptr, out_ptr[n_rows] * q // parts), n_rows)
    # Run q's old entries below limit[q] may be overwritten by earlier runs: kept in saved[at[q]:].
    limit = np.empty(parts, dtype=np.int64)
    at = np.zeros(parts + 1, dtype=np.int64)
    for q in range(parts):
        limit[q] = min(out_ptr[first[q]], indptr[first[q + 1]])
        at[q + 1] = at[q] + max(limit[q] - indptr[first[q]], 0)
    saved = np.empty(at[parts], dtype=buf.dtype)
    for q in range(parts):
        saved[at[q]:at[q + 1]] = buf[indptr[first[q]]:max(limit[q], indptr[first[q]])]
    for q in prange(parts):
        _merge_run_in_place(indptr, buf, new_ptr, new_cols, out_ptr, first[q], first[q + 1], limit[q],
                            saved[at[q]:at[q + 1]])


@njit(**_JIT)
def _merge_run_in_place(indptr, buf, new_ptr, new_cols, out_ptr, r0, r1, limit, saved):
    """:func:`merge_rows_in_place` for rows ``r0:r1``, whose old entries below position ``limit`` are
    read from ``saved`` (``saved[i - indptr[r0]]``)."""
    base = indptr[r0]
    for r in range(r1 - 1, r0 - 1, -1):
        if new_ptr[r + 1] == new_ptr[0]:
            break                     # nothing inserted in rows 0..r: they are in place already
        i = indptr[r + 1] - 1
        i_start = indptr[r]
        j = new_ptr[r + 1] - 1
        j_start = new_ptr[r]
        o = out_ptr[r + 1] - 1
        while j >= j_start:
            old = (buf[i] if i >= limit else saved[i - base]) if i >= i_start else 0
            if i >= i_start and old > new_cols[j]:
                buf[o] = old
                i -= 1
            else:
                buf[o] = new_cols[j]
                j -= 1
            o -= 1
        if o > i:                     # the row's smallest old entries, shifted right (unless in place)
            while i >= i_start:
                buf[o] = buf[i] if i >= limit else saved[i - base]
                i -= 1
                o -= 1


@njit(**_PAR)
def drop_entries(indptr, indices, row_gone, entry_gone):
    """The CSR without the entries of rows where ``row_gone`` is true (the rows kept, empty) and without
    entries ``e`` where ``entry_gone[e]``: rows stay sorted. Two passes over the rows, each row on its
    own (for a follow graph both masks are the removed accounts)."""
    n = indptr.shape[0] - 1
    kept = np.zeros(n + 1, dtype=np.int64)
    for r in prange(n):
        if not row_gone[r]:
            c = 0
            for i in range(indptr[r], indptr[r + 1]):
                if not entry_gone[indices[i]]:
                    c += 1
            kept[r + 1] = c
    for r in range(n):
        kept[r + 1] += kept[r]
    out = np.empty(kept[n], dtype=indices.dtype)
    for r in prange(n):
        if not row_gone[r]:
            o = kept[r]
            for i in range(indptr[r], indptr[r + 1]):
                if not entry_gone[indices[i]]:
                    out[o] = indices[i]
                    o += 1
    return kept, out


@njit(**_JIT)
def drop_entries_in_place(indptr, indices, row_gone, entry_gone):
    """:func:`drop_entries` within the same arrays: ``indptr`` is rewritten and the kept entries moved
    left to ``indices[:nnz]``; returns ``nnz``. One sequential pass (entries only move left)."""
    o = 0
    start = indptr[0]
    for r in range(indptr.shape[0] - 1):
        end = indptr[r + 1]
        if not row_gone[r]:
            for i in range(start, end):
                x = indices[i]
                if not entry_gone[x]:
                    indices[o] = x
                    o += 1
        start = end
        indptr[r + 1] = o
    return o


@njit(**_JIT)
def key_row_offsets(keys, n_cols, n_rows):
    """Row offsets (int64, ``n_rows + 1``) of the CSR whose entries are the sorted keys ``row * n_cols + col``:
    one pass counting each key's row, with no array of rows (2.4 GB for the follows at 10^7 accounts)."""
    indptr = np.zeros(n_rows + 1, dtype=np.int64)
    for k in range(keys.shape[0]):
        indptr[keys[k] // n_cols + 1] += 1
    for r in range(n_rows):
        indptr[r + 1] += indptr[r]
    return indptr


@njit(**_JIT)
def clustering_sum(indptr, indices, nodes):
    """The sum, over ``nodes`` (distinct, ascending) in that order, of each node's undirected local
    clustering: its neighbours are its followees and followers (``k`` of them), and its clustering is
    ``2 * links / (k * (k - 1))``, ``links`` being the unordered pairs of neighbours joined by a follow
    either way (0 when ``k < 2``). The graph's rows are sorted, without duplicates or self-loops.

    One pass over the edges finds the nodes' followers; each node's neighbours are then marked, and
    each neighbour's follows to a marked account counted once per pair (a follow back is counted
    from the lower-numbered end only).

    The followers are collected for the sampled nodes only, not read from the graph's reverse
    (:meth:`sim.network.graph.FollowGraph.reversed`): the statistics run before the model builds
    that reverse, and a second transpose here would hold 4 bytes per follow (2 GB at ten million
    accounts) beside the statistics' own temporaries (see ``sim.resources``: the statistics phase
    is estimated with the graph alone).
    """
    n = indptr.shape[0] - 1
    m = nodes.shape[0]
    slot = np.full(n, -1, dtype=np.int32)       # each account's position in nodes (-1: not sampled)
    for i in range(m):
        slot[nodes[i]] = i
    f_ptr = np.zeros(m + 1, dtype=np.int64)
    for u in range(n):
        for e in range(indptr[u], indptr[u + 1]):
            s = slot[indices[e]]
            if s >= 0:
                f_ptr[s + 1] += 1
    for i in range(m):
        f_ptr[i + 1] += f_ptr[i]
    followers = np.empty(f_ptr[m], dtype=np.int64)
    fill = f_ptr[:m].copy()
    for u in range(n):                       # rows in order: each node's followers come out ascending
        for e in range(indptr[u], indptr[u + 1]):
            s = slot[indices[e]]
            if s >= 0:
                followers[fill[s]] = u
                fill[s] += 1
    widest = 0
    for i in range(m):
        widest = max(widest, indptr[nodes[i] + 1] - indptr[nodes[i]] + f_ptr[i + 1] - f_ptr[i])
    mark = np.full(n, -1, dtype=np.int32)       # the position of the node whose neighbour an account is
    nbrs = np.empty(widest, dtype=np.int64)
    total = 0.0
    for i in range(m):
        v = nodes[i]
        # The sorted union of the followees and the followers.
        a, a_end = indptr[v], indptr[v + 1]
        b, b_end = f_ptr[i], f_ptr[i + 1]
        k = 0
        while a < a_end or b < b_end:
            if b == b_end or (a < a_end and indices[a] < followers[b]):
                x = np.int64(indices[a])
                a += 1
            elif a == a_end or followers[b] < indices[a]:
                x = followers[b]
                b += 1
            else:
                x = followers[b]
                a += 1
                b += 1
            nbrs[k] = x
            k += 1
        if k < 2:
            continue
        for q in range(k):
            mark[nbrs[q]] = i
        links = 0
        for q in range(k):
            u = nbrs[q]
            for e in range(indptr[u], indptr[u + 1]):
                t = np.int64(indices[e])
                if mark[t] != i:
                    continue
                if t > u or not _has_entry(indptr, indices, t, u):
                    links += 1
        total += 2.0 * links / (k * (k - 1))
    return total
