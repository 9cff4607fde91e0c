"""Compiled loops of the CSR queries every phase runs (numba): binary search in rows, random picks.

Core objects: :func:`row_lower_bound`, :func:`pick`.

Both answer each query on its own (integer arithmetic and comparisons), so the
results are those of the vectorised numpy they replace, on any number of
threads.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

_PAR = dict(cache=True, nogil=True, parallel=True)


@njit(**_PAR)
def row_lower_bound(indptr, indices, rows, values, out):
    """Fill ``out[k]`` with the first position in row ``rows[k]`` whose entry is >= ``values[k]``
    (the row's end if none): a binary search per query."""
    for k in prange(rows.shape[0]):
        r = rows[k]
        lo = np.int64(indptr[r])
        hi = np.int64(indptr[r + 1])
        x = values[k]
        while lo < hi:
            mid = (lo + hi) >> 1
            if indices[mid] < x:
                lo = mid + 1
            else:
                hi = mid
        out[k] = lo


@njit(**_PAR)
def pick(ptr, values, keys, u, out):
    """Fill ``out[k]`` with value ``int(u[k] * count)`` of row ``keys[k]``'s ``count`` values, or -1
    where the row is empty (``u`` in [0, 1))."""
    for k in prange(keys.shape[0]):
        start = ptr[keys[k]]
        count = ptr[keys[k] + 1] - start
        out[k] = values[start + np.int64(u[k] * count)] if count > 0 else -1
