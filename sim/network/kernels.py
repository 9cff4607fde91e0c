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


@njit(**_PAR)
def contains(indptr, indices, rows, cols, out):
    """Fill ``out[k]`` with whether row ``rows[k]`` (sorted) holds ``cols[k]``: a binary search per query."""
    for k in prange(rows.shape[0]):
        r = rows[k]
        lo = np.int64(indptr[r])
        end = np.int64(indptr[r + 1])
        hi = end
        x = cols[k]
        while lo < hi:
            mid = (lo + hi) >> 1
            if indices[mid] < x:
                lo = mid + 1
            else:
                hi = mid
        out[k] = lo < end and indices[lo] == x


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


@njit(**_JIT)
def merge_rows_in_place(indptr, buf, new_ptr, new_cols, out_ptr):
    """:func:`merge_rows` within one buffer: the old rows (``buf[indptr[0]:indptr[-1]]``) and the merged
    rows (``buf[out_ptr[r]:out_ptr[r + 1]]``) share ``buf``, which must hold ``out_ptr[-1]`` entries.

    Rows are merged from the last to the first, each from its end: a row only moves right
    (``out_ptr[r] >= indptr[r]``), so no entry is overwritten before it is read. Sequential
    (a row's destination may overlap the next row's old place); memory-bound, no allocation.
    """
    for r in range(indptr.shape[0] - 2, -1, -1):
        if new_ptr[r + 1] == new_ptr[0]:
            break                     # nothing inserted in rows 0..r: they are in place already
        i = indptr[r + 1] - 1
        i_start = indptr[r]
        j = new_ptr[r + 1] - 1
        j_start = new_ptr[r]
        o = out_ptr[r + 1] - 1
        while j >= j_start:
            if i >= i_start and buf[i] > new_cols[j]:
                buf[o] = buf[i]
                i -= 1
            else:
                buf[o] = new_cols[j]
                j -= 1
            o -= 1
        if o > i:                     # the row's smallest old entries, shifted right (unless in place)
            while i >= i_start:
                buf[o] = buf[i]
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
