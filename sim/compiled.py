"""Compiled counting loops (numba) shared by the state and behaviour layers.

Core objects: :func:`tally`, :func:`count_labels`, :func:`count_label_pairs`, :func:`group_by_key`.

``np.bincount`` over a day's impressions needs the labels gathered first and
then cast to the platform's integer (at ten million accounts, a day's 150
million impressions make each count a 1.2 GB temporary, and a masked count
one more). These loops read each entry where it is and add to a small table:
the same integers, no temporaries.
"""

from __future__ import annotations

import numpy as np
from numba import njit

_JIT = dict(cache=True, nogil=True)
#: An empty mask: every entry counts.
ALL = np.zeros(0, dtype=np.bool_)


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
def count_labels(labels, index, mask, n_labels):
    """``np.bincount(labels[index[mask]], minlength=n_labels)`` (an empty ``mask``: every entry)."""
    out = np.zeros(n_labels, dtype=np.int64)
    if mask.shape[0] == 0:
        for i in range(index.shape[0]):
            out[labels[index[i]]] += 1
    else:
        for i in range(index.shape[0]):
            if mask[i]:
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
def group_by_key(keys, n_keys):
    """``(indptr, order)``: ``order`` lists the positions of ``keys`` grouped by key value, in
    position order within a key (``np.argsort(keys, kind="stable")``), and key ``k``'s positions are
    ``order[indptr[k]:indptr[k + 1]]``. A counting sort: two passes, no comparison sort."""
    indptr = np.zeros(n_keys + 1, dtype=np.int64)
    for i in range(keys.shape[0]):
        indptr[keys[i] + 1] += 1
    for k in range(n_keys):
        indptr[k + 1] += indptr[k]
    fill = indptr[:-1].copy()
    order = np.empty(keys.shape[0], dtype=np.int64)
    for i in range(keys.shape[0]):
        k = keys[i]
        order[fill[k]] = i
        fill[k] += 1
    return indptr, order
