"""Compiled loops of the CSR queries and updates every phase runs (numba): search, merge, random picks.

Core objects: :func:`contains`, :func:`merge_rows`, :func:`drop_accounts`, :func:`pick`.

Each query, or row, is answered on its own (integer arithmetic and
comparisons), so the results are those of the vectorised numpy they replace,
on any number of threads.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

_PAR = dict(cache=True, nogil=True, parallel=True)


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


@njit(**_PAR)
def drop_accounts(indptr, indices, gone):
    """The CSR without the rows and the entries of the accounts where ``gone`` is true (their rows kept,
    empty): rows stay sorted. Two passes over the rows, each row on its own."""
    n = indptr.shape[0] - 1
    kept = np.zeros(n + 1, dtype=np.int64)
    for r in prange(n):
        if not gone[r]:
            c = 0
            for i in range(indptr[r], indptr[r + 1]):
                if not gone[indices[i]]:
                    c += 1
            kept[r + 1] = c
    for r in range(n):
        kept[r + 1] += kept[r]
    out = np.empty(kept[n], dtype=indices.dtype)
    for r in prange(n):
        if not gone[r]:
            o = kept[r]
            for i in range(indptr[r], indptr[r + 1]):
                if not gone[indices[i]]:
                    out[o] = indices[i]
                    o += 1
    return kept, out
