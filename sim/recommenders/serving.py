"""Phase 3: gather candidates for every session and serve the top-k.

Core objects: :class:`FeedIndex`, :class:`Impressions`, :func:`serve_feeds`.

Candidates for a session form one row of a padded matrix (sessions x C item
slots, ``-1`` = empty): in-network slots pick a random followee or group of the
viewer, then a random recent item of it; out-of-network slots draw from the
global pool of recent public items, part uniformly and part in proportion to
engagement (retrieval by popularity). Rows are de-duplicated, the viewer's own
items dropped, the policy scores them, the ``filter_feed`` hook acts, and the
top ``feed_size`` become impressions. Sessions are processed in blocks of
``chunk_sessions`` to bound memory.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from sim.content import ItemStore
from sim.recommenders.base import FeedContext, FeedPolicy
from sim.vocabulary import N_CLASSES


def _csr(keys: np.ndarray, values: np.ndarray, n_keys: int) -> tuple[np.ndarray, np.ndarray]:
    order = np.argsort(keys, kind="stable")
    indptr = np.zeros(n_keys + 1, dtype=np.int64)
    np.cumsum(np.bincount(keys, minlength=n_keys), out=indptr[1:])
    return indptr, values[order]


@dataclass
class FeedIndex:
    """Today's lookup tables of servable items (built once per day)."""

    author_ptr: np.ndarray     # (n+1,) recent items by author (CSR)
    author_items: np.ndarray
    group_ptr: np.ndarray      # (g+1,) recent items by group (CSR)
    group_items: np.ndarray
    pool: np.ndarray           # recent items of public authors (out-of-network pool)
    pool_weight_cdf: np.ndarray  # cumulative (engagements + 1) over ``pool``

    @classmethod
    def build(cls, items: ItemStore, private: np.ndarray, n_accounts: int, n_groups: int,
              day: int, recency_days: int) -> FeedIndex:
        live = items.live(day, recency_days)
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
    """A uniformly random value of each key's CSR row, or -1 where the row is empty."""
    start = ptr[keys]
    count = ptr[keys + 1] - start
    pick = start + (u * count).astype(np.int64)
    out = np.full(keys.shape, -1, dtype=np.int64)
    has = count > 0
    out[has] = values[pick[has]]
    return out


def _in_network(viewers: np.ndarray, n_slots: int, index: FeedIndex, follow_ptr: np.ndarray,
                follow_idx: np.ndarray, group_ptr: np.ndarray, group_idx: np.ndarray,
                rng: np.random.Generator) -> np.ndarray:
    """(B, n_slots) items from the viewers' followees and groups."""
    v = viewers[:, None]
    deg_f = follow_ptr[v + 1] - follow_ptr[v]
    deg_g = group_ptr[v + 1] - group_ptr[v]
    k = (rng.random((viewers.shape[0], n_slots)) * (deg_f + deg_g)).astype(np.int64)
    from_followee = k < deg_f
    has_source = (deg_f + deg_g) > 0
    k_clipped = np.broadcast_to(has_source, k.shape)
    out = np.full(k.shape, -1, dtype=np.int64)
    u = rng.random(k.shape)
    f_cells = from_followee & k_clipped
    if f_cells.any():
        followee = follow_idx[(follow_ptr[v] + k)[f_cells]]
        out[f_cells] = pick_from_csr(index.author_ptr, index.author_items, followee, u[f_cells])
    g_cells = ~from_followee & k_clipped
    if g_cells.any():
        group = group_idx[(group_ptr[v] + k - deg_f)[g_cells]]
        out[g_cells] = pick_from_csr(index.group_ptr, index.group_items, group, u[g_cells])
    return out


def _out_of_network(n_rows: int, n_slots: int, index: FeedIndex, popular_share: float,
                    rng: np.random.Generator) -> np.ndarray:
    """(B, n_slots) items from the global pool: uniform draws and popularity-weighted draws."""
    if index.pool.size == 0:
        return np.full((n_rows, n_slots), -1, dtype=np.int64)
    shape = (n_rows, n_slots)
    out = index.pool[(rng.random(shape) * index.pool.size).astype(np.int64)]
    # Only the popularity-drawn cells pay for the binary search over the weight CDF.
    by_popularity = rng.random(shape) < popular_share
    target = rng.random(int(by_popularity.sum())) * index.pool_weight_cdf[-1]
    out[by_popularity] = index.pool[np.minimum(np.searchsorted(index.pool_weight_cdf, target, side="right"),
                                               index.pool.size - 1)]
    return out


def dedupe_rows(candidates: np.ndarray, in_network: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Sort each row, blank out repeated slots (keeping one copy) and keep the in-network flag aligned."""
    order = np.argsort(candidates, axis=1, kind="stable")
    cand = np.take_along_axis(candidates, order, axis=1)
    flag = np.take_along_axis(in_network, order, axis=1)
    repeat = np.zeros_like(cand, dtype=bool)
    repeat[:, 1:] = cand[:, 1:] == cand[:, :-1]
    cand[repeat] = -1
    return cand, flag


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
        rng: the serving stream for today.

    Returns:
        All impressions, flattened.
    """
    cfg = ctx.config
    n_out = 0 if policy.in_network_only else int(round(cfg.candidates * cfg.out_of_network_share))
    n_in = cfg.candidates - n_out
    k = min(cfg.feed_size, cfg.candidates)
    policy.prepare_day(ctx)
    viewers_out, items_out, flags_out = [], [], []
    candidate_counts = np.zeros(N_CLASSES, dtype=np.int64)
    items = ctx.items

    for start in range(0, session_viewers.shape[0], cfg.chunk_sessions):
        viewers = session_viewers[start:start + cfg.chunk_sessions]
        b = viewers.shape[0]
        parts = [_in_network(viewers, n_in, index, follow_ptr, follow_idx, group_ptr, group_idx, rng)]
        flags = [np.ones((b, n_in), dtype=bool)]
        if n_out:
            parts.append(_out_of_network(b, n_out, index, cfg.popular_pool_share, rng))
            flags.append(np.zeros((b, n_out), dtype=bool))
        cand, in_net = dedupe_rows(np.concatenate(parts, axis=1), np.concatenate(flags, axis=1))
        slots = np.maximum(cand, 0)
        own = items.author[slots] == viewers[:, None]
        cand[own | (items.removed_day[slots] >= 0)] = -1
        valid = cand >= 0
        candidate_counts += np.bincount(items.harm[cand[valid]], minlength=N_CLASSES)

        # Break exact ties at random rather than by slot order: a relative nudge in
        # float64, far below any real gap between float32 scores.
        scores = policy.score(ctx, viewers, cand, rng).astype(np.float64)
        scores *= 1.0 + 1e-9 * rng.random(scores.shape)
        scores[~valid] = -np.inf
        filter_feed(viewers, cand, scores, in_net)

        if k < cand.shape[1]:
            top = np.argpartition(-scores, k - 1, axis=1)[:, :k]
        else:
            top = np.broadcast_to(np.arange(cand.shape[1]), cand.shape)
        chosen = np.take_along_axis(cand, top, axis=1)
        shown = np.isfinite(np.take_along_axis(scores, top, axis=1)) & (chosen >= 0)
        rows = np.broadcast_to(viewers[:, None], chosen.shape)
        viewers_out.append(rows[shown].astype(np.int32))
        items_out.append(chosen[shown])
        flags_out.append(np.take_along_axis(in_net, top, axis=1)[shown])

    if not viewers_out:
        empty = np.zeros(0, dtype=np.int64)
        return Impressions(empty.astype(np.int32), empty, empty.astype(bool), candidate_counts)
    return Impressions(np.concatenate(viewers_out), np.concatenate(items_out), np.concatenate(flags_out),
                       candidate_counts)
