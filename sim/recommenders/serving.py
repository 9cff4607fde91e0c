"""Phase 3: gather candidates for every session and serve the top-k.

Core objects: :class:`FeedIndex`, :class:`Impressions`, :func:`serve_feeds`.

Candidates for a session form one row of a padded matrix (sessions x C item
slots, ``-1`` = empty): in-network slots pick a random followee or group of the
viewer, then a random recent item of it; out-of-network slots draw from the
global pool of recent public items, part uniformly and part in proportion to
engagement (retrieval by popularity). Rows are de-duplicated, the viewer's own
items dropped, the policy scores them, the ``filter_feed`` hook acts, and the
top ``feed_size`` become impressions. Sessions are processed in blocks of
``chunk_sessions`` to bound memory (the block also orders the random draws).

The loops over a block's rows are compiled (:mod:`sim.recommenders.kernels`):
a kernel gathers, de-duplicates and cleans the candidates, the policy scores the
block (the built-in ones through kernels too), and a kernel keeps each row's top
k. The kernels make their random numbers themselves, from the serving stream's
position (:mod:`sim.pcg64`): numpy's numbers, in the order and shapes serving
has always drawn them, without arrays to fill and read back; the stream is then
moved past them. The block-wide arrays are the candidate matrix, its flags and
its scores; no (B, C, d) gather of topic rows and no row-wise argsort copies.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from sim import compiled, pcg64
from sim.content import ItemStore
from sim.draws import skip
from sim.network import kernels as network_kernels
from sim.recommenders import kernels
from sim.recommenders.base import FeedContext, FeedPolicy
from sim.vocabulary import N_CLASSES


def _csr(keys: np.ndarray, values: np.ndarray, n_keys: int) -> tuple[np.ndarray, np.ndarray]:
    """``values`` grouped by key: int32 offsets (there are fewer values than item slots) and values."""
    indptr, order = compiled.group_by_key(np.asarray(keys), n_keys)
    return indptr.astype(np.int32), values[order]


@dataclass
class FeedIndex:
    """Today's lookup tables of servable items (built once per day).

    Item slots and offsets are int32 (an item store has fewer than 2**31 slots): candidate gathering
    reads these tables at random, once or twice per candidate, and half the bytes is half the cache
    they take.
    """

    author_ptr: np.ndarray     # (n+1,) int32 recent items by author (CSR)
    author_items: np.ndarray   # int32 item slots
    group_ptr: np.ndarray      # (g+1,) int32 recent items by group (CSR)
    group_items: np.ndarray    # int32 item slots
    pool: np.ndarray           # int32: recent items of public authors (out-of-network pool)
    pool_weight_cdf: np.ndarray  # cumulative (engagements + 1) over ``pool``

    @classmethod
    def build(cls, items: ItemStore, private: np.ndarray, n_accounts: int, n_groups: int,
              day: int, recency_days: int) -> FeedIndex:
        if items.capacity >= 2**31:
            raise ValueError(f"an item store of {items.capacity:,} slots is too large for int32 item slots")
        live = items.live(day, recency_days).astype(np.int32)
        author_ptr, author_items = _csr(items.author[live], live, n_accounts)
        in_group = live[items.group[live] >= 0]
        group_ptr, group_items = _csr(items.group[in_group], in_group, n_groups)
        pool = live[~private[items.author[live]]]
        cdf = np.cumsum(items.engagements[pool].astype(np.float64) + 1.0)
        return cls(author_ptr, author_items, group_ptr, group_items, pool, cdf)


@dataclass
class Impressions:
    """Flat arrays, one entry per impression served today."""

    viewer: np.ndarray        # int32 account rows
    item: np.ndarray          # int64 item slots
    in_network: np.ndarray    # bool: came from a followee or group
    candidates_by_class: np.ndarray  # (N_CLASSES,) valid candidates seen by the ranker, by harm class

    @property
    def n(self) -> int:
        return int(self.viewer.shape[0])


def pick_from_csr(ptr: np.ndarray, values: np.ndarray, keys: np.ndarray, u: np.ndarray) -> np.ndarray:
    """A uniformly random value of each key's CSR row (``values[start + int(u * count)]``), or -1 where
    the row is empty (compiled: :func:`sim.network.kernels.pick`)."""
    keys = np.ascontiguousarray(keys, dtype=np.int64)
    out = np.empty(keys.shape, dtype=np.int64)
    network_kernels.pick(ptr, values, keys, np.ascontiguousarray(u, dtype=np.float64), out)
    return out


def dedupe_rows(candidates: np.ndarray, in_network: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Sort each row, blank out repeated slots (keeping one copy) and keep the in-network flag aligned.

    The rows come back sorted (a stable sort: repeats keep their original order, and the flags follow
    their slots), with every repeat after the first copy set to -1; new arrays, the inputs are unchanged.
    """
    candidates = np.asarray(candidates)
    in_network = np.asarray(in_network)
    if candidates.ndim != 2 or candidates.shape[1] == 0:
        return candidates.copy(), in_network.copy()
    return kernels.dedupe_sorted(np.ascontiguousarray(candidates), np.ascontiguousarray(in_network))


def serve_feeds(ctx: FeedContext, policy: FeedPolicy, index: FeedIndex, session_viewers: np.ndarray,
                follow_ptr: np.ndarray, follow_idx: np.ndarray, group_ptr: np.ndarray, group_idx: np.ndarray,
                filter_feed, rng: np.random.Generator) -> Impressions:
    """Serve every session of the day.

    Args:
        ctx: platform state for the policy.
        policy: the feed ranker.
        index: today's candidate lookup tables.
        session_viewers: the viewer (account row) of each session; one row per session.
        follow_ptr, follow_idx: the follow graph (who each account follows), CSR.
        group_ptr, group_idx: account -> groups, CSR.
        filter_feed: callable(viewers, candidates, scores, in_network) that may lower scores
            in place (``-inf`` removes a candidate); the safeguards' ``filter_feed`` hook.
        rng: the serving stream for today (PCG64, as the model's streams are).

    The candidate, flag and score arrays the policy and the hook receive are views of buffers
    reused from block to block: valid during the call, to be copied if kept.

    Returns:
        All impressions, flattened.
    """
    cfg = ctx.config
    n_out = 0 if policy.in_network_only else int(round(cfg.candidates * cfg.out_of_network_share))
    n_in = cfg.candidates - n_out
    k = min(cfg.feed_size, cfg.candidates)
    policy.prepare_day(ctx)
    candidate_counts = np.zeros(N_CLASSES, dtype=np.int64)
    items = ctx.items
    pool_owners, pool_buckets = kernels.pool_search_tables(index.pool_weight_cdf)
    item_info = kernels.item_info(items.author, items.harm, items.removed_day)
    # One set of buffers for all blocks, allocated by numpy: the candidates and their flags and the
    # nudged scores.
    rows = min(cfg.chunk_sessions, session_viewers.shape[0])
    c = cfg.candidates
    cand_buf = np.empty((rows, c), dtype=np.int64)
    in_net_buf = np.empty((rows, c), dtype=bool)
    scores_buf = np.empty((rows, c), dtype=np.float64)
    # The day's impressions, written in place block after block (at most k per session).
    bound = session_viewers.shape[0] * k
    shown_v = np.empty(bound, dtype=np.int32)
    shown_i = np.empty(bound, dtype=np.int64)
    shown_f = np.empty(bound, dtype=bool)
    n_shown = 0

    for start in range(0, session_viewers.shape[0], cfg.chunk_sessions):
        viewers = session_viewers[start:start + cfg.chunk_sessions]
        b = viewers.shape[0]
        # The draws, in the order the candidate gathering has always used: in-network sources and
        # items, then (if the pool has items) the pool's uniform picks, popularity flags and targets.
        cand, in_net = cand_buf[:b], in_net_buf[:b]
        counts, used = kernels.gather_candidates(
            viewers, n_in, n_out, follow_ptr, follow_idx, group_ptr, group_idx,
            index.author_ptr, index.author_items, index.group_ptr, index.group_items, index.pool,
            index.pool_weight_cdf, pool_owners, pool_buckets, pcg64.position(rng), cfg.popular_pool_share,
            item_info, N_CLASSES, cand, in_net)
        skip(rng, used)
        candidate_counts += counts

        # The policy may draw from the stream too: before the nudge's draws. Then break exact ties at
        # random rather than by slot order: a relative nudge in float64, far below any real gap between
        # float32 scores.
        policy_scores = np.asarray(policy.score(ctx, viewers, cand, rng))
        if policy_scores.dtype not in (np.float32, np.float64):
            policy_scores = policy_scores.astype(np.float64)
        scores = scores_buf[:b]
        skip(rng, kernels.nudge_scores(policy_scores, pcg64.position(rng), cand, scores))
        filter_feed(viewers, cand, scores, in_net)

        # The k best of each row, best first, ties to the lower position.
        n_shown += kernels.emit_top_k(scores, cand, in_net, viewers, k, shown_v[n_shown:], shown_i[n_shown:],
                                      shown_f[n_shown:])

    if n_shown < bound // 2:          # most sessions fell short of k: do not keep the unused half
        return Impressions(shown_v[:n_shown].copy(), shown_i[:n_shown].copy(), shown_f[:n_shown].copy(),
                           candidate_counts)
    return Impressions(shown_v[:n_shown], shown_i[:n_shown], shown_f[:n_shown], candidate_counts)
