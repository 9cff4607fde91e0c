"""Compiled loops of engagement (numba): each impression's chance of engagement, and interest drift's sums.

Core objects: :func:`engage_draws`, :func:`engage_probabilities`, :func:`report_draws`, :func:`harmful_counts`, :func:`grouped_topic_sums`,
:data:`EXACT_MAX_DIM`.

The numpy code these replace gathered a (n, d) block of topic rows and another
of interest rows for every impression and multiplied them with a stacked
``matmul``, then drifted interests with one ``bincount`` pass per dimension.
Here each impression reads its two rows in place, and the drift's sums are one
pass. The arithmetic is numpy's, operation for operation, so results are
byte-identical:

- numpy computes a stacked (1, d) @ (d, 1) product with BLAS ``sdot``, which
  OpenBLAS sums (for d < 32, its whole vector tail) as float32 products added
  one by one to a float64 total, rounded to float32 at the end;
- the logit is summed in float32 up to the harmful term, which numpy promotes
  to float64 (a boolean times a Python float); the sigmoid is float64;
- ``bincount`` with weights adds each weight, as float64, in input order.

Wider interest vectors (d >= :data:`EXACT_MAX_DIM`) go through numpy
(``sim.engagement``), whose ``sdot`` then uses a vector kernel of its own.

The engagement and report draws are made in the kernels (:mod:`sim.pcg64`):
the uniforms numpy's ``Generator.random(n)`` would give from the stream's
position, one per impression, made where they are used. Impressions are taken
``_CHUNK`` at a time in parallel, each chunk's generator jumped to its first
draw.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from sim.compiled import prefetch
from sim.pcg64 import jump, next_uniform

#: Interest dimensions below this are summed as OpenBLAS ``sdot`` sums them (its scalar tail).
EXACT_MAX_DIM = 32

_PAR = dict(cache=True, nogil=True, parallel=True)
_JIT = dict(cache=True, nogil=True)
_INLINE = dict(cache=True, nogil=True, inline="always")
#: Impressions ahead of the one computed whose item data are prefetched (their reads are random).
_AHEAD = 16
#: Impressions per parallel chunk of the draws' kernels (one jump of the generator each).
_CHUNK = 4096


@njit(**_INLINE)
def _chunk(stream, chunk, n):
    """Parallel chunk ``chunk`` of ``n`` impressions: its first and end index, and the generator's state
    (high, low) at its first draw."""
    i0 = chunk * _CHUNK
    s_hi, s_lo = jump(stream, i0)
    return i0, min(n, i0 + _CHUNK), s_hi, s_lo


@njit(**_PAR)
def engage_draws(topic, interest, log_appeal, harm, affinity, viewer, item, stream, intercept, w_similarity,
                 w_appeal, w_harm, threshold, none_class, out):
    """``out[i] = u[i] < p_i`` for each impression ``i`` of (``viewer``, ``item``), where ``p_i`` is
    :func:`sim.engagement.engagement_probability` computed in numpy's precisions: ``sigmoid(b0 + b_sim *
    sim + b_appeal * log(appeal) + [harmful] * b_harm * (affinity - threshold))``, and ``u`` is
    ``rng.random(n)`` from the PCG64 position ``stream``. Returns ``n``, the uniforms used.

    ``log_appeal`` is ``np.log(appeal)`` per item slot (numpy's own float32 log); the weights are
    Python floats, rounded to float32 where numpy would. Impressions are independent: run in parallel.
    """
    n = item.shape[0]
    i_hi, i_lo = stream[2], stream[3]
    for chunk in prange((n + _CHUNK - 1) // _CHUNK):
        i0, i1, s_hi, s_lo = _chunk(stream, chunk, n)
        for i in range(i0, i1):
            if i + _AHEAD < n:
                ahead = item[i + _AHEAD]
                prefetch(topic, ahead)
                prefetch(log_appeal, ahead)
                prefetch(harm, ahead)
            p = _probability(topic, interest, log_appeal, harm, affinity, viewer[i], item[i], intercept,
                             w_similarity, w_appeal, w_harm, threshold, none_class)
            s_hi, s_lo, u = next_uniform(s_hi, s_lo, i_hi, i_lo)
            out[i] = u < p
    return n


@njit(**_INLINE)
def _probability(topic, interest, log_appeal, harm, affinity, v, s, intercept, w_similarity, w_appeal, w_harm,
                 threshold, none_class):
    """The engagement probability of viewer ``v`` for item ``s``, in numpy's precisions (see above)."""
    acc = 0.0
    for j in range(topic.shape[1]):
        acc = acc + np.float64(topic[s, j] * interest[v, j])
    sim = np.float32(acc)
    logit32 = (np.float32(intercept) + np.float32(w_similarity) * sim) + np.float32(w_appeal) * log_appeal[s]
    harm_term = (w_harm if harm[s] > none_class else 0.0) * np.float64(affinity[v] - np.float32(threshold))
    logit = np.float64(logit32) + harm_term
    return 1.0 / (1.0 + np.exp(-logit))


@njit(**_PAR)
def engage_probabilities(topic, interest, log_appeal, harm, affinity, viewer, item, intercept, w_similarity,
                         w_appeal, w_harm, threshold, none_class, out):
    """Fill ``out`` (float64) with the probabilities :func:`engage_draws` compares its draws with (the
    same inlined arithmetic): for checking them against numpy's, bit for bit."""
    for i in prange(item.shape[0]):
        out[i] = _probability(topic, interest, log_appeal, harm, affinity, viewer[i], item[i], intercept,
                              w_similarity, w_appeal, w_harm, threshold, none_class)


@njit(**_PAR)
def report_draws(harm, none_class, true_age, adult_age, viewer, item, stream, p_minor, p_adult, harmful, reported):
    """For each impression ``i`` of (``viewer``, ``item``): ``harmful[i]`` whether its item's class is
    above ``none_class``, and ``reported[i] = harmful[i] and u[i] < p``, with ``p`` the minors' rate
    ``p_minor`` for a viewer under ``adult_age`` and ``p_adult`` otherwise (float64, as numpy's
    ``np.where`` of the two rates gives), and ``u`` ``rng.random(n)`` from the PCG64 position ``stream``
    (one per impression, harmful or not). Impressions are independent. Returns ``n``, the uniforms used."""
    n = item.shape[0]
    i_hi, i_lo = stream[2], stream[3]
    for chunk in prange((n + _CHUNK - 1) // _CHUNK):
        i0, i1, s_hi, s_lo = _chunk(stream, chunk, n)
        for i in range(i0, i1):
            s_hi, s_lo, u = next_uniform(s_hi, s_lo, i_hi, i_lo)
            h = harm[item[i]] > none_class
            p = p_minor if true_age[viewer[i]] < adult_age else p_adult
            harmful[i] = h
            reported[i] = h and u < p
    return n


@njit(**_JIT)
def harmful_counts(viewer, harmful, engaged, n_accounts):
    """Per account, its harmful impressions and its engagements with them: ``np.bincount(viewer[harmful],
    minlength=n_accounts)`` and ``np.bincount(viewer[harmful & engaged], minlength=n_accounts)`` (int64),
    in one pass that reads the engaged flag of the harmful impressions only."""
    seen = np.zeros(n_accounts, dtype=np.int64)
    taken = np.zeros(n_accounts, dtype=np.int64)
    for i in range(viewer.shape[0]):
        if harmful[i]:
            v = viewer[i]
            seen[v] += 1
            taken[v] += np.int64(engaged[i])
    return seen, taken


@njit(**_PAR)
def grouped_topic_sums(indptr, order, item, accounts, topic, out):
    """Fill ``out[r]`` with the sum, as float64 and in engagement order, of the topic rows of the items
    ``accounts[r]`` engaged with (``np.bincount(viewer, weights=topic[item, j])`` sums column ``j`` so).

    ``indptr`` and ``order`` group the engagements by viewer, in input order within a viewer
    (:func:`sim.compiled.group_by_key`); ``item`` is each engagement's item slot. Rows are independent.
    """
    d = topic.shape[1]
    for r in prange(accounts.shape[0]):
        a = accounts[r]
        for j in range(d):
            out[r, j] = 0.0
        for p in range(indptr[a], indptr[a + 1]):
            s = item[order[p]]
            for j in range(d):
                out[r, j] += np.float64(topic[s, j])
