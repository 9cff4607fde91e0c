"""Compiled counting loops (numba) shared by the state and behaviour layers, and cache-line-aligned arrays.

Core objects: :func:`tally`, :func:`count_labels`, :func:`count_label_pairs`, :func:`group_by_key`,
:func:`removed_viewers`, :func:`aligned_empty`, :func:`cache_aligned`.

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
#: Bytes in a cache line (x86-64 and most ARM cores).
CACHE_LINE = 64


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
