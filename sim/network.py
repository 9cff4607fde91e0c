"""The follow graph and groups: synthetic generation, import of a user's graph, statistics.

Core objects:

- :class:`FollowGraph` — who follows whom, as a CSR adjacency over follower rows
  (``indptr``, ``indices``), with vectorised queries and updates.
- :func:`build_follow_graph` — the synthetic graph: local communities, age
  assortativity, heavy-tailed popularity, triadic closure; decoys follow a few
  popular accounts and have no followers.
- :class:`Groups` and :func:`build_groups` — groups with a topic, a harmful flag
  and a moderated flag; membership as CSR in both directions.
- :func:`load_follow_graph` and :class:`NetworkFileError` — read an edge list or
  GraphML file (``network=file``).
- :func:`graph_statistics` — degrees, in-degree tail, age mixing, reciprocity and
  clustering of a graph, as a JSON-ready dict.

Everything is numpy arrays and whole-array operations: generation never loops in
Python over accounts or edges, so 10**6 accounts build in seconds. All randomness
comes from the ``numpy.random.Generator`` passed in.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from pathlib import Path

import networkx as nx
import numpy as np

from sim.config import ConfigError, NetworkConfig
from sim.population import ADULT_CONTENT_PRODUCER, CREATOR, EXPLOITATIVE_SELLER, OFFENDER

# --- generator constants (model choices, documented in the ODD) -------------------

#: Follows a decoy makes at registration (popular accounts of its own age group).
DECOY_FOLLOWS = 5
#: Groups a decoy joins at registration (benign only, by interest).
DECOY_GROUPS = 2
#: Out-degree cap as a multiple of ``mean_following`` (keeps the log-normal tail finite).
MAX_DEGREE_FACTOR = 50
#: Attempts at finding a two-step path u->v->w whose end has the wanted age group.
TRIADIC_ATTEMPTS = 4
#: Rounds of redrawing follows rejected as duplicates or self-loops (see ``_fix_rejected``).
FIX_ROUNDS = 6
#: Candidate groups an account looks at per join; it joins the best-matching one.
GROUP_CANDIDATES = 8
#: Spread of a group's topic around its founder's interest (before normalising).
GROUP_TOPIC_NOISE = 0.3
#: Spread of a group's popularity (added to the join score; makes sizes unequal).
GROUP_POPULARITY_SIGMA = 0.3
#: Share of harmful groups that nevertheless have active moderators.
HARMFUL_MODERATED_SHARE = 0.1
#: Join score of a harmful group: cosine + HARM_WEIGHT * (harmful_affinity - HARM_PIVOT).
#: With affinities near 0.03 (minors) the penalty is about -1.9, larger than any cosine
#: gap, so minors almost never choose one; offenders (about 0.8) get +1.2.
HARM_WEIGHT = 4.0
HARM_PIVOT = 0.5
#: Joins scored per block in build_groups (bounds the (joins, candidates, dim) buffer).
_JOIN_CHUNK = 1 << 17

# Modes of an edge slot in the generator.
_LOCAL, _GLOBAL, _TRIADIC, _UNIFORM = range(4)


class NetworkFileError(ConfigError):
    """A graph file given as ``network.path`` cannot be used; the message says why."""


# --- the follow graph ----------------------------------------------------------------


@dataclass
class FollowGraph:
    """Directed follow graph as CSR over follower rows.

    Row ``i`` (``indices[indptr[i]:indptr[i + 1]]``) lists the accounts ``i``
    follows, sorted ascending, without self-loops or duplicates.

    Attributes:
        indptr: int64, shape (n + 1,), row offsets.
        indices: int32, shape (n_edges,), followed accounts.
        community: int32, shape (n,), local community per account (-1 for decoys),
            or None for imported graphs.
    """

    indptr: np.ndarray
    indices: np.ndarray
    community: np.ndarray | None = None

    @property
    def n(self) -> int:
        """Number of accounts (rows)."""
        return int(self.indptr.shape[0] - 1)

    @property
    def n_edges(self) -> int:
        """Number of follows."""
        return int(self.indices.shape[0])

    def followees(self, i: int) -> np.ndarray:
        """Accounts ``i`` follows (a view, sorted ascending)."""
        return self.indices[self.indptr[i]:self.indptr[i + 1]]

    def out_degree(self) -> np.ndarray:
        """Number of accounts each account follows (int64, shape (n,))."""
        return np.diff(self.indptr)

    def in_degree(self) -> np.ndarray:
        """Number of followers of each account (int64, shape (n,))."""
        return np.bincount(self.indices, minlength=self.n).astype(np.int64)

    def edges(self) -> tuple[np.ndarray, np.ndarray]:
        """All follows as (follower, followed) arrays (int32), in CSR order."""
        src = np.repeat(np.arange(self.n, dtype=np.int32), self.out_degree())
        return src, self.indices

    def reversed(self) -> FollowGraph:
        """The followers graph: row ``i`` lists the accounts following ``i`` (sorted)."""
        indptr, indices = _transpose(self.indptr, self.indices, self.n)
        return FollowGraph(indptr, indices, self.community)

    def has_edges(self, src: np.ndarray, dst: np.ndarray) -> np.ndarray:
        """Whether ``src[k]`` follows ``dst[k]``, for every k (vectorised binary search).

        Args:
            src: follower rows (any integer dtype).
            dst: followed rows, same shape as ``src``.

        Returns:
            Boolean array of the same shape.
        """
        src, dst = self._check_pairs(src, dst)
        pos = _row_lower_bound(self.indptr, self.indices, src, dst)
        end = self.indptr[src + 1]
        found = pos < end
        found[found] = self.indices[pos[found]] == dst[found]
        return found

    def with_edges(self, src: np.ndarray, dst: np.ndarray) -> FollowGraph:
        """A new graph with the follows ``src[k] -> dst[k]`` added.

        Self-loops, repeats and follows that already exist are ignored (union
        semantics). The work is a linear merge of the new follows into the
        existing rows, not a re-sort.

        Args:
            src: follower rows.
            dst: followed rows, same shape as ``src``.

        Returns:
            The new graph (``self`` is unchanged; ``community`` is shared).
        """
        src, dst = self._check_pairs(src, dst)
        keep = src != dst
        n = self.n
        if not keep.any():
            return FollowGraph(self.indptr.copy(), self.indices.copy(), self.community)
        keys = _sorted_unique(src[keep] * n + dst[keep])
        src, dst = keys // n, keys % n
        new = ~self.has_edges(src, dst)
        src, dst = src[new], dst[new]
        indptr, indices = _csr_insert(self.indptr, self.indices, src, dst, n)
        return FollowGraph(indptr, indices, self.community)

    def to_networkx(self) -> nx.DiGraph:
        """The graph as a ``networkx.DiGraph`` on nodes 0..n-1 (for small graphs and tests)."""
        g = nx.DiGraph()
        g.add_nodes_from(range(self.n))
        src, dst = self.edges()
        g.add_edges_from(zip(src.tolist(), dst.tolist()))
        return g

    def _check_pairs(self, src: np.ndarray, dst: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        src = np.asarray(src, dtype=np.int64).ravel()
        dst = np.asarray(dst, dtype=np.int64).ravel()
        if src.shape != dst.shape:
            raise ValueError(f"src and dst must have the same length, got {src.size} and {dst.size}")
        for name, a in (("src", src), ("dst", dst)):
            if a.size and (a.min() < 0 or a.max() >= self.n):
                raise ValueError(f"{name} holds an account id outside 0..{self.n - 1}")
        return src, dst


def _sorted_unique(keys: np.ndarray) -> np.ndarray:
    """Sorted distinct values of an int array (``np.unique`` without its slower hash pass)."""
    keys = np.sort(keys)
    if keys.size:
        keep = np.ones(keys.size, dtype=bool)
        keep[1:] = keys[1:] != keys[:-1]
        keys = keys[keep]
    return keys


def _row_lower_bound(indptr: np.ndarray, indices: np.ndarray, rows: np.ndarray,
                     values: np.ndarray) -> np.ndarray:
    """Per query, the first position in row ``rows[k]`` whose entry is >= ``values[k]``.

    A binary search run for all queries at once: each pass halves every open
    interval, so the loop runs about log2(longest row) times, never per query.
    """
    lo = indptr[rows].astype(np.int64)
    hi = indptr[rows + 1].astype(np.int64)
    open_ = np.flatnonzero(lo < hi)
    while open_.size:
        mid = (lo[open_] + hi[open_]) >> 1
        right = indices[mid] < values[open_]
        lo[open_[right]] = mid[right] + 1
        hi[open_[~right]] = mid[~right]
        open_ = open_[lo[open_] < hi[open_]]
    return lo


def _csr_insert(indptr: np.ndarray, indices: np.ndarray, rows: np.ndarray, cols: np.ndarray,
                n_rows: int) -> tuple[np.ndarray, np.ndarray]:
    """Merge new entries (not yet present, sorted by (row, col), unique) into a sorted CSR."""
    if rows.size == 0:
        return indptr.copy(), indices.copy()
    pos = _row_lower_bound(indptr, indices, rows, cols)
    # Entry k lands after the k new entries before it; positions stay increasing
    # because the new entries are sorted by (row, col).
    out_pos = pos + np.arange(rows.size)
    out = np.empty(indices.size + rows.size, dtype=indices.dtype)
    old = np.ones(out.size, dtype=bool)
    old[out_pos] = False
    out[out_pos] = cols
    out[old] = indices
    added = np.bincount(rows, minlength=n_rows)
    new_indptr = indptr.copy()
    new_indptr[1:] += np.cumsum(added)
    return new_indptr, out


def _transpose(indptr: np.ndarray, indices: np.ndarray, n_cols: int) -> tuple[np.ndarray, np.ndarray]:
    """CSR of the transpose, rows sorted (sorting one int64 key per entry)."""
    n_rows = indptr.shape[0] - 1
    rows = np.repeat(np.arange(n_rows, dtype=np.int64), np.diff(indptr))
    keys = indices.astype(np.int64) * max(n_rows, 1) + rows
    del rows
    keys.sort()
    t_indptr = np.zeros(n_cols + 1, dtype=np.int64)
    np.cumsum(np.bincount(indices, minlength=n_cols), out=t_indptr[1:])
    t_indices = (keys % max(n_rows, 1)).astype(np.int32)
    return t_indptr, t_indices


def _csr_from_keys(keys: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """CSR from sorted unique keys ``row * n + col``."""
    indptr = np.searchsorted(keys, np.arange(n + 1, dtype=np.int64) * n).astype(np.int64)
    indices = (keys % n).astype(np.int32) if n else np.zeros(0, dtype=np.int32)
    return indptr, indices


def _graph_from_pairs(src: np.ndarray, dst: np.ndarray, n: int,
                      community: np.ndarray | None = None) -> FollowGraph:
    """A graph from arbitrary follow pairs (self-loops and repeats dropped)."""
    src = np.asarray(src, dtype=np.int64)
    dst = np.asarray(dst, dtype=np.int64)
    keep = src != dst
    keys = _sorted_unique(src[keep] * n + dst[keep])
    indptr, indices = _csr_from_keys(keys, n)
    return FollowGraph(indptr, indices, community)


# --- synthetic generation --------------------------------------------------------------


class _Sampler:
    """Exact O(1)-per-draw sampling of candidates in proportion to their weights.

    A lookup table holds candidate i ``floor(p_i * T)`` times (T = 8 x number of
    candidates); a uniform draw in [0, T) that lands in the table is answered by
    one gather, and the remainder (about 1/16 of draws) by a binary search over
    the leftover fractions. Each candidate is drawn with probability exactly
    p_i. This is several times faster than a binary search per draw, whose
    random accesses into a weight table larger than the cache dominate the build.
    """

    def __init__(self, cands: np.ndarray, weight: np.ndarray, table_factor: int = 8):
        self.cands = cands
        self.size = int(cands.size)
        if self.size == 0:
            return
        self.span = float(table_factor * self.size)
        share = weight / weight.sum() * self.span
        whole = np.floor(share).astype(np.int64)
        self.table = np.repeat(cands, whole)
        self.rest_cum = np.cumsum(share - whole)

    def draw(self, size: int, rng: np.random.Generator) -> np.ndarray:
        """``size`` independent draws (int64 account ids)."""
        u = rng.random(size) * self.span
        slot = u.astype(np.int64)
        out = np.empty(size, dtype=np.int64)
        hit = slot < self.table.size
        out[hit] = self.table[slot[hit]]
        miss = np.flatnonzero(~hit)
        if miss.size:
            idx = np.searchsorted(self.rest_cum, u[miss] - self.table.size, side="right")
            out[miss] = self.cands[np.minimum(idx, self.size - 1)]
        return out


@dataclass
class _World:
    """What the edge-slot sampler needs, precomputed once per build."""

    n: int
    is_minor: np.ndarray          # bool (n,)
    community: np.ndarray         # int32 (n,), -1 for decoys
    bucket_start: np.ndarray      # int64 (2 * communities,), bucket = community * 2 + is_minor
    bucket_count: np.ndarray      # int64
    bucket_members: np.ndarray    # int64, non-decoy accounts sorted by bucket
    samplers: tuple[_Sampler, _Sampler]  # non-decoy adults, non-decoy minors, by attractiveness
    indptr: np.ndarray | None = None     # base graph, for triadic closure
    indices: np.ndarray | None = None


def _draw_class(src: np.ndarray, want: bool, mode: int, w: _World, rng: np.random.Generator) -> np.ndarray:
    """Choose a followed account for slots that share one wanted age group and one mode.

    Args:
        src: follower of each slot (int64).
        want: whether the slots want a minor; if that age group is empty, the
            other one is used.
        mode: ``_LOCAL`` (uniform in the follower's community and the wanted age
            group), ``_GLOBAL`` (by attractiveness in the age group), ``_TRIADIC``
            (end of a random two-step path u->v->w of the wanted age group) or
            ``_UNIFORM`` (uniform in the age group). Local slots in an empty
            bucket and triadic slots without a suitable path fall back to global.
        w: the precomputed world.
        rng: the generator.

    Returns:
        int64 target per slot (may be a self-loop or a repeat: the caller rejects those).
    """
    if src.size == 0:
        return np.zeros(0, dtype=np.int64)
    if w.samplers[int(want)].size == 0:
        want = not want  # build_follow_graph only makes slots when some account can be followed
    sampler = w.samplers[int(want)]
    if mode == _GLOBAL:
        return sampler.draw(src.size, rng)
    if mode == _UNIFORM:
        pick = np.minimum((rng.random(src.size) * sampler.size).astype(np.int64), sampler.size - 1)
        return sampler.cands[pick]
    if mode == _LOCAL:
        bucket = w.community[src].astype(np.int64) * 2 + int(want)
        return _local_targets(w.bucket_start[bucket], w.bucket_count[bucket], sampler, w, rng)
    else:
        dst = _triadic_targets(src, want, w, rng)
        fallback = np.flatnonzero(dst < 0)
    if fallback.size:
        dst[fallback] = sampler.draw(fallback.size, rng)
    return dst


def _local_targets(start: np.ndarray, count: np.ndarray, sampler: _Sampler, w: _World,
                   rng: np.random.Generator) -> np.ndarray:
    """Uniform picks in each slot's community bucket (given by its start and size).

    Slots whose bucket is empty fall back to ``sampler`` (global, same age group).
    """
    offset = np.minimum((rng.random(start.size) * count).astype(np.int64), count - 1)
    offset += start
    np.maximum(offset, 0, out=offset)
    dst = w.bucket_members[offset]
    fallback = np.flatnonzero(count == 0)
    if fallback.size:
        dst[fallback] = sampler.draw(fallback.size, rng)
    return dst


def _draw_targets(src: np.ndarray, want: np.ndarray, mode: np.ndarray, w: _World,
                  rng: np.random.Generator) -> np.ndarray:
    """:func:`_draw_class` for mixed slots (a loop over the eight (age group, mode) classes)."""
    dst = np.empty(src.size, dtype=np.int64)
    for group in (False, True):
        for m in (_LOCAL, _GLOBAL, _TRIADIC, _UNIFORM):
            sel = np.flatnonzero((want == group) & (mode == m))
            if sel.size:
                dst[sel] = _draw_class(src[sel], group, m, w, rng)
    return dst


def _triadic_targets(u: np.ndarray, want: bool, w: _World, rng: np.random.Generator) -> np.ndarray:
    """For each u, the end of a random path u->v->x in the base graph with the wanted age.

    Tries ``TRIADIC_ATTEMPTS`` random paths per slot (all slots at once per
    attempt); slots with no suitable path get -1. Requiring the wanted age group
    keeps triadic closure from diluting the configured age mixing.
    """
    indptr, indices = w.indptr, w.indices
    result = np.full(u.size, -1, dtype=np.int64)
    if indices is None or indices.size == 0:
        return result
    last = indices.size - 1
    deg = np.diff(indptr)
    pending = np.arange(u.size)
    for _ in range(TRIADIC_ATTEMPTS):
        if pending.size == 0:
            break
        uu = u[pending]
        du = deg[uu]
        v = indices[np.minimum(indptr[uu] + (rng.random(pending.size) * du).astype(np.int64), last)]
        dv = deg[v]
        end = indices[np.minimum(indptr[v] + (rng.random(pending.size) * dv).astype(np.int64), last)]
        end = end.astype(np.int64)
        ok = (du > 0) & (dv > 0) & (end != uu) & (w.is_minor[end] == want)
        result[pending[ok]] = end[ok]
        pending = pending[~ok]
    return result


def _accept(keys: np.ndarray, accepted: list[np.ndarray], n: int) -> tuple[np.ndarray, np.ndarray]:
    """Split a batch of edge keys (src * n + dst) into new unique edges and rejects.

    Rejects are self-loops, repeats within the batch, and edges already in one of
    the ``accepted`` sorted chunks. Returns (sorted unique new keys, rejected keys).
    """
    keys = np.sort(keys)
    reject = np.zeros(keys.size, dtype=bool)
    reject[1:] = keys[1:] == keys[:-1]
    # src * n + src = src * (n + 1), and no other key is a multiple of n + 1.
    reject |= keys % (n + 1) == 0
    for chunk in accepted:
        if chunk.size:
            pos = np.minimum(np.searchsorted(chunk, keys), chunk.size - 1)
            reject |= chunk[pos] == keys
    return keys[~reject], keys[reject]


def _fix_rejected(rejected: np.ndarray, batch_mode: int | None, accepted: list[np.ndarray],
                  w: _World, rng: np.random.Generator) -> None:
    """Redraw rejected slots until they land on new edges (appends to ``accepted``).

    A repeat means the account wanted one more distinct follow, so redrawing is
    sampling without replacement: the first two rounds redraw the same way
    (local, or triadic), the next two by attractiveness (a saturated community
    bucket cannot succeed), the last two uniformly in the age group (an account
    already following the popular accounts). The wanted age group of a slot is
    that of the target it drew, which preserves the age mixing. Slots still
    rejected after ``FIX_ROUNDS`` are dropped (a handful in tiny worlds).
    """
    n = w.n
    for round_ in range(FIX_ROUNDS):
        if rejected.size == 0:
            return
        src, dst = rejected // n, rejected % n
        want = w.is_minor[dst]
        if batch_mode is None:
            # Base batch: a repeat inside the follower's community was a local draw.
            same = (w.community[src] == w.community[dst]) & (w.community[src] >= 0)
            mode = np.where(same, _LOCAL, _GLOBAL).astype(np.int8)
        else:
            mode = np.full(src.size, batch_mode, dtype=np.int8)
        if round_ >= 4:
            mode[:] = _UNIFORM
        elif round_ >= 2:
            mode[:] = _GLOBAL
        dst = _draw_targets(src, want, mode, w, rng)
        new, rejected = _accept(src * n + dst, accepted, n)
        accepted.append(new)


def _merge_sorted(chunks: list[np.ndarray]) -> np.ndarray:
    """Merge disjoint sorted int64 arrays: the small ones are sorted together, then inserted."""
    chunks = sorted((c for c in chunks if c.size), key=lambda c: -c.size)
    if not chunks:
        return np.zeros(0, dtype=np.int64)
    big = chunks[0]
    if len(chunks) == 1:
        return big
    extra = np.sort(np.concatenate(chunks[1:]))
    pos = np.searchsorted(big, extra) + np.arange(extra.size)
    merged = np.empty(big.size + extra.size, dtype=np.int64)
    old = np.ones(merged.size, dtype=bool)
    old[pos] = False
    merged[pos] = extra
    merged[old] = big
    return merged


def _attractiveness(role: np.ndarray, cfg: NetworkConfig, rng: np.random.Generator) -> np.ndarray:
    """Pareto(popularity_tail) draw per account, times creator_boost for creators and producers."""
    weight = 1.0 + rng.pareto(cfg.popularity_tail, role.shape[0])
    boosted = (role == CREATOR) | (role == ADULT_CONTENT_PRODUCER)
    weight[boosted] *= cfg.creator_boost
    return weight


def _out_degrees(n: int, cfg: NetworkConfig, cap: int, rng: np.random.Generator) -> np.ndarray:
    """Log-normal out-degrees with mean ``mean_following``, at least 1, at most ``cap``.

    Rounded stochastically (floor + Bernoulli of the fraction) so the mean is kept.
    """
    sigma = cfg.following_sigma
    x = cfg.mean_following * np.exp(sigma * rng.standard_normal(n) - 0.5 * sigma**2)
    deg = np.floor(x + rng.random(n)).astype(np.int64)
    return np.clip(deg, 1, max(cap, 1))


def _class_keys(counts: np.ndarray, want: bool, mode: int, w: _World, rng: np.random.Generator) -> np.ndarray:
    """Edge keys for ``counts[i]`` slots of account i, all of one (age group, mode) class."""
    src = np.repeat(np.arange(w.n, dtype=np.int64), counts)
    if mode == _LOCAL and w.samplers[int(want)].size:
        # Per-account bucket first, then repeated per slot: sequential copies
        # instead of two random gathers per slot (decoys have no local slots).
        bucket = np.maximum(w.community.astype(np.int64) * 2 + int(want), 0)
        dst = _local_targets(np.repeat(w.bucket_start[bucket], counts), np.repeat(w.bucket_count[bucket], counts),
                             w.samplers[int(want)], w, rng)
    else:
        dst = _draw_class(src, want, mode, w, rng)
    src *= w.n
    src += dst
    return src


def build_follow_graph(is_minor: np.ndarray, role: np.ndarray, decoy: np.ndarray,
                       cfg: NetworkConfig, rng: np.random.Generator) -> FollowGraph:
    """Generate the synthetic follow graph.

    The model, vectorised over edge slots:

    1. Communities (schools, towns): each non-decoy account joins one of
       ``round(n_nondecoy / community_size)`` communities uniformly, so sizes
       average ``community_size`` and ages mix as in the population.
    2. Out-degree: log-normal with mean ``mean_following`` and spread
       ``following_sigma``, in [1, min(n_nondecoy - 1, 50 * mean)]. A share
       ``triadic_share / (1 + triadic_share)`` of each account's slots is kept for
       triadic closure (step 4), so ``mean_following`` is the mean *final*
       out-degree.
    3. Each remaining slot wants a minor with probability
       ``minor_follows_minor_share`` (minor follower) or
       ``adult_follows_minor_share`` (adult follower); it is local with
       probability ``local_share`` (uniform over the follower's community and the
       wanted age group) and otherwise global (by attractiveness = Pareto
       (``popularity_tail``) x ``creator_boost`` for creators and adult-content
       producers, within the age group). Slots are drawn as per-account
       binomial counts per (age group, local/global) class, which is the same
       distribution as a Bernoulli per slot.
    4. Triadic closure: the kept slots follow the end of a random path
       u->v->x (a followee's followee) of the wanted age group.
    5. Self-loops and repeats are redrawn (sampling without replacement) and the
       CSR is built from sorted int64 keys ``src * n + dst``.
    6. Decoys follow ``DECOY_FOLLOWS`` accounts of their own age group by
       attractiveness; nobody follows them.

    Args:
        is_minor: bool (n,), true age under 18.
        role: int (n,), role codes from :mod:`sim.population`.
        decoy: bool (n,), decoy rows.
        cfg: network settings.
        rng: the world-building stream.

    Returns:
        The graph, with ``community`` set (-1 for decoys).
    """
    is_minor = np.asarray(is_minor, dtype=bool)
    decoy = np.asarray(decoy, dtype=bool)
    n = int(is_minor.shape[0])
    real = np.flatnonzero(~decoy)
    m = real.size

    # 1. Communities.
    n_comm = max(1, round(m / cfg.community_size))
    community = np.full(n, -1, dtype=np.int32)
    community[real] = rng.integers(0, n_comm, m, dtype=np.int32)
    bucket = community[real].astype(np.int64) * 2 + is_minor[real]
    order = np.argsort(bucket, kind="stable")
    bucket_count = np.bincount(bucket, minlength=2 * n_comm).astype(np.int64)
    bucket_start = np.concatenate(([0], np.cumsum(bucket_count)[:-1])).astype(np.int64)

    weight = _attractiveness(np.asarray(role), cfg, rng)
    adults, minors = real[~is_minor[real]], real[is_minor[real]]
    world = _World(n=n, is_minor=is_minor, community=community, bucket_start=bucket_start,
                   bucket_count=bucket_count, bucket_members=real[order].astype(np.int64),
                   samplers=(_Sampler(adults.astype(np.int64), weight[adults]),
                             _Sampler(minors.astype(np.int64), weight[minors])))

    # 2. Out-degrees, split into base and triadic slots; decoys get a few global slots.
    degree = np.zeros(n, dtype=np.int64)
    triadic = np.zeros(n, dtype=np.int64)
    if m >= 2:
        cap = min(m - 1, int(MAX_DEGREE_FACTOR * cfg.mean_following))
        degree[real] = _out_degrees(m, cfg, cap, rng)
        closing = cfg.triadic_share / (1.0 + cfg.triadic_share)
        triadic[real] = rng.binomial(degree[real] - 1, closing)
    if decoy.any() and m:
        own_group = np.where(is_minor[decoy], minors.size, adults.size)
        own_group[own_group == 0] = m  # that age group is empty: the draw uses the other one
        degree[decoy] = np.minimum(DECOY_FOLLOWS, own_group)
    base = degree - triadic

    # 3. Base slots: per-account counts per class, then one batch per class.
    share = np.where(is_minor, cfg.minor_follows_minor_share, cfg.adult_follows_minor_share)
    share[decoy] = is_minor[decoy]  # decoys follow their own age group
    local = rng.binomial(base, cfg.local_share)
    local[decoy] = 0
    local_minor = rng.binomial(local, share)
    global_minor = rng.binomial(base - local, share)
    counts = ((local - local_minor, False, _LOCAL), (local_minor, True, _LOCAL),
              (base - local - global_minor, False, _GLOBAL), (global_minor, True, _GLOBAL))
    keys = np.concatenate([_class_keys(c, want, mode, world, rng) for c, want, mode in counts])
    new, rejected = _accept(keys, [], n)
    del keys
    accepted = [new]
    _fix_rejected(rejected, None, accepted, world, rng)
    edge_keys = _merge_sorted(accepted)
    del accepted, new

    # 4. Triadic closure on the base graph.
    if triadic.any():
        world.indptr, world.indices = _csr_from_keys(edge_keys, n)
        triadic_minor = rng.binomial(triadic, share)
        keys = np.concatenate([_class_keys(triadic - triadic_minor, False, _TRIADIC, world, rng),
                               _class_keys(triadic_minor, True, _TRIADIC, world, rng)])
        new, rejected = _accept(keys, [edge_keys], n)
        del keys
        accepted = [edge_keys, new]
        _fix_rejected(rejected, _TRIADIC, accepted, world, rng)
        world.indptr = world.indices = None
        edge_keys = _merge_sorted(accepted)
        del accepted, new

    # 5. CSR.
    indptr, indices = _csr_from_keys(edge_keys, n)
    return FollowGraph(indptr, indices, community)


# --- groups --------------------------------------------------------------------------------


@dataclass
class Groups:
    """Groups with a topic, harmful and moderated flags, and members (CSR both ways).

    Attributes:
        topic: float32 (g, d), unit rows.
        harmful: bool (g,), commercial-sex or exploitation groups.
        moderated: bool (g,), groups with active moderators.
        member_indptr: int64 (g + 1,), group -> members.
        members: int32, member accounts, sorted within each group.
        account_indptr: int64 (n + 1,), account -> groups.
        account_groups: int32, groups, sorted within each account.
    """

    topic: np.ndarray
    harmful: np.ndarray
    moderated: np.ndarray
    member_indptr: np.ndarray
    members: np.ndarray
    account_indptr: np.ndarray
    account_groups: np.ndarray

    @property
    def n_groups(self) -> int:
        """Number of groups."""
        return int(self.member_indptr.shape[0] - 1)

    @property
    def n_accounts(self) -> int:
        """Number of accounts (rows of ``account_indptr``)."""
        return int(self.account_indptr.shape[0] - 1)

    def sizes(self) -> np.ndarray:
        """Members per group (int64, shape (g,))."""
        return np.diff(self.member_indptr)

    def members_of(self, group: int) -> np.ndarray:
        """Member accounts of one group (a view, sorted)."""
        return self.members[self.member_indptr[group]:self.member_indptr[group + 1]]

    def groups_of(self, account: int) -> np.ndarray:
        """Groups one account belongs to (a view, sorted)."""
        return self.account_groups[self.account_indptr[account]:self.account_indptr[account + 1]]

    def with_members(self, account: np.ndarray, group: np.ndarray) -> Groups:
        """New groups with the joins ``account[k]`` -> ``group[k]`` added (repeats ignored).

        Args:
            account: joining accounts.
            group: joined groups, same shape.

        Returns:
            The new groups object (``self`` is unchanged; topics and flags are shared).
        """
        account = np.asarray(account, dtype=np.int64).ravel()
        group = np.asarray(group, dtype=np.int64).ravel()
        if account.shape != group.shape:
            raise ValueError(f"account and group must have the same length, got {account.size} and {group.size}")
        for name, a, hi in (("account", account, self.n_accounts), ("group", group, self.n_groups)):
            if a.size and (a.min() < 0 or a.max() >= hi):
                raise ValueError(f"{name} holds an id outside 0..{hi - 1}")
        acc_old = np.repeat(np.arange(self.n_accounts, dtype=np.int64), np.diff(self.account_indptr))
        return _groups_from_pairs(np.concatenate([acc_old, account]),
                                  np.concatenate([self.account_groups.astype(np.int64), group]),
                                  self.n_accounts, self.topic, self.harmful, self.moderated)


def _groups_from_pairs(account: np.ndarray, group: np.ndarray, n: int, topic: np.ndarray,
                       harmful: np.ndarray, moderated: np.ndarray) -> Groups:
    """Build both membership CSRs from (account, group) pairs, repeats dropped."""
    g = int(harmful.shape[0])
    keys = _sorted_unique(account * max(g, 1) + group)
    account_indptr = np.searchsorted(keys, np.arange(n + 1, dtype=np.int64) * max(g, 1)).astype(np.int64)
    account_groups = (keys % max(g, 1)).astype(np.int32)
    member_indptr, members = _transpose(account_indptr, account_groups, g)
    return Groups(topic=topic, harmful=harmful, moderated=moderated, member_indptr=member_indptr,
                  members=members, account_indptr=account_indptr, account_groups=account_groups)


def _unit_rows(x: np.ndarray) -> np.ndarray:
    norm = np.linalg.norm(x, axis=1, keepdims=True)
    norm[norm == 0] = 1.0
    return (x / norm).astype(np.float32)


def build_groups(interest: np.ndarray, is_minor: np.ndarray, role: np.ndarray, harmful_affinity: np.ndarray,
                 decoy: np.ndarray, cfg: NetworkConfig, rng: np.random.Generator) -> Groups:
    """Generate groups and initial memberships.

    ``round(groups_per_1k * n_nondecoy / 1000)`` groups (at least 1, unless
    ``groups_per_1k`` is 0). Each topic is a noisy copy of a founder's interest:
    harmful groups (a ``harmful_group_share`` of them, stochastically rounded) are
    founded by offenders, producers or sellers when there are any. Benign groups
    are moderated with probability ``moderated_group_share``, harmful ones with
    ``HARMFUL_MODERATED_SHARE``. Each account makes Poisson(``memberships_mean``)
    joins; per join it looks at ``GROUP_CANDIDATES`` random groups and joins the
    best by cosine(interest, topic) + popularity, plus for harmful groups
    ``HARM_WEIGHT * (harmful_affinity - HARM_PIVOT)``: bad actors concentrate in
    harmful groups and minors rarely join one. Decoys join ``DECOY_GROUPS`` benign
    groups by interest.

    Args:
        interest: float32 (n, d), unit interest vectors.
        is_minor: bool (n,). Not used by the join rule: minors stay out of harmful
            groups through their low harmful affinity, so a minor whose affinity
            is high can join one, as audits report.
        role: int (n,), role codes.
        harmful_affinity: float (n,), in [0, 1].
        decoy: bool (n,).
        cfg: network settings.
        rng: the world-building stream.

    Returns:
        The groups.
    """
    interest = np.asarray(interest, dtype=np.float32)
    decoy = np.asarray(decoy, dtype=bool)
    role = np.asarray(role)
    n, d = interest.shape
    real = np.flatnonzero(~decoy)
    m = real.size
    g = 0 if (cfg.groups_per_1k == 0 or m == 0) else max(1, round(cfg.groups_per_1k * m / 1000))

    n_harmful = min(g, int(math.floor(cfg.harmful_group_share * g + rng.random())))
    harmful = np.zeros(g, dtype=bool)
    harmful[rng.permutation(g)[:n_harmful]] = True
    founder = np.empty(g, dtype=np.int64)
    if g:
        founder[:] = real[rng.integers(0, m, g)]
        bad = real[np.isin(role[real], (OFFENDER, ADULT_CONTENT_PRODUCER, EXPLOITATIVE_SELLER))]
        if bad.size and n_harmful:
            founder[harmful] = bad[rng.integers(0, bad.size, n_harmful)]
    noise = GROUP_TOPIC_NOISE * rng.standard_normal((g, d)).astype(np.float32)
    topic = _unit_rows(interest[founder] + noise)
    moderated = rng.random(g) < np.where(harmful, HARMFUL_MODERATED_SHARE, cfg.moderated_group_share)
    popularity = (GROUP_POPULARITY_SIGMA * rng.standard_normal(g)).astype(np.float32)

    if g == 0:
        return _groups_from_pairs(np.zeros(0, np.int64), np.zeros(0, np.int64), n, topic, harmful, moderated)

    joins = rng.poisson(cfg.memberships_mean, n)
    joins[decoy] = DECOY_GROUPS if (~harmful).any() else 0
    account = np.repeat(np.arange(n, dtype=np.int64), joins)
    cand = rng.integers(0, g, (account.size, GROUP_CANDIDATES), dtype=np.int32)
    harm_term = (HARM_WEIGHT * (np.asarray(harmful_affinity, dtype=np.float32) - HARM_PIVOT)).astype(np.float32)
    chosen = np.empty(account.size, dtype=np.int64)
    keep = np.ones(account.size, dtype=bool)
    # Blocks of joins bound the (joins, candidates, dim) buffer; the loop is over
    # blocks, not accounts.
    for lo in range(0, account.size, _JOIN_CHUNK):
        acc = account[lo:lo + _JOIN_CHUNK]
        c = cand[lo:lo + _JOIN_CHUNK]
        score = np.einsum("jd,jcd->jc", interest[acc], topic[c]) + popularity[c]
        is_harm = harmful[c]
        score += is_harm * harm_term[acc][:, None]
        # Decoys are probes with ordinary interests: they never pick a harmful group.
        score[is_harm & decoy[acc][:, None]] = -np.inf
        best = np.argmax(score, axis=1)
        chosen[lo:lo + acc.size] = c[np.arange(acc.size), best]
        keep[lo:lo + acc.size] = np.isfinite(score[np.arange(acc.size), best])
    return _groups_from_pairs(account[keep], chosen[keep], n, topic, harmful, moderated)


# --- import of a user's graph ------------------------------------------------------------

EDGE_LIST_SUFFIXES = (".csv", ".tsv", ".txt", ".edgelist")
GRAPHML_SUFFIXES = (".graphml",)
_ALLOWED = ("an edge list (.csv, .tsv, .txt, .edgelist: two columns 'follower followed', "
            "whitespace or comma separated, optional third column, '#' comments, optional header) "
            "or a GraphML file (.graphml)")
#: Pairs of column names recognised as an edge-list header line.
_HEADER_PAIRS = {
    ("source", "target"), ("src", "dst"), ("from", "to"), ("follower", "followee"),
    ("follower", "followed"), ("follower", "following"), ("node1", "node2"), ("source_id", "target_id"),
    ("from_id", "to_id"), ("follower_id", "followee_id"), ("user", "follows"), ("id1", "id2"),
}
_SEPARATOR = np.zeros(256, dtype=bool)
_SEPARATOR[[9, 10, 11, 12, 13, 32, 44]] = True  # tab, newlines, space, comma
_BLOCK_BYTES = 1 << 24


def load_follow_graph(path: str) -> tuple[FollowGraph, np.ndarray | None]:
    """Read a follow graph from an edge list or a GraphML file.

    Edge lists (.csv .tsv .txt .edgelist): one follow per line, ``u v`` meaning
    "u follows v", separated by whitespace or commas; an optional third column
    (e.g. a weight) is ignored; ``#`` starts a comment; blank lines are skipped.
    The first line is a header, and skipped, when its first two fields are a
    known pair of column names (``source,target``, ``src,dst``, ``from,to``,
    ``follower,followee``, ...) or are non-numeric while the next line's are
    numeric. Node labels are arbitrary strings, numbered 0.. in order of first
    appearance. GraphML: nodes are numbered in document order; a directed graph's
    edges are follows, an undirected graph's edges are mutual follows; a node
    attribute ``age`` gives ages. Self-loops and repeated edges are dropped.

    Args:
        path: the file.

    Returns:
        The graph (``community`` is None) and per-node ages (int64, -1 where
        unknown), or None when the file carries no ages (edge lists never do).

    Raises:
        NetworkFileError: missing file, directory, unknown extension, malformed
            line, no edges, or unreadable GraphML; the message names the path.
    """
    p = Path(path)
    if not p.exists():
        raise NetworkFileError(f"network.path={path!r}: no such file; expected {_ALLOWED}")
    if p.is_dir():
        raise NetworkFileError(f"network.path={path!r} is a directory; expected {_ALLOWED}")
    suffix = p.suffix.lower()
    if suffix in GRAPHML_SUFFIXES:
        return _load_graphml(p, path)
    if suffix in EDGE_LIST_SUFFIXES:
        src, dst, n = _read_edge_list(p, path)
        graph = _graph_from_pairs(src, dst, n)
        if graph.n_edges == 0:
            raise NetworkFileError(f"network.path={path!r}: no edges between two different nodes; "
                                   f"expected {_ALLOWED}")
        return graph, None
    raise NetworkFileError(f"network.path={path!r}: unknown extension {suffix or '(none)'!r}; "
                           f"allowed: {', '.join(EDGE_LIST_SUFFIXES + GRAPHML_SUFFIXES)} — {_ALLOWED}")


def _read_edge_list(p: Path, path: str) -> tuple[np.ndarray, np.ndarray, int]:
    """Tokenise an edge list block by block with numpy; labels -> ids by first appearance."""
    label_blocks: list[np.ndarray] = []
    lines_before = 0
    first_block = True
    header_checked = False
    carry = b""
    with open(p, "rb") as fh:
        while True:
            chunk = fh.read(_BLOCK_BYTES)
            data = carry + chunk
            if chunk:
                cut = data.rfind(b"\n") + 1
                if cut == 0:  # one line longer than a block: keep reading
                    carry = data
                    continue
                data, carry = data[:cut], data[cut:]
            elif not data:
                break
            else:
                carry = b""
                if not data.endswith(b"\n"):
                    data += b"\n"
            if first_block:
                data = data.removeprefix(b"\xef\xbb\xbf")  # UTF-8 byte-order mark
                first_block = False
            labels, n_lines = _tokenise_block(data, lines_before, path)
            lines_before += n_lines
            if not header_checked and labels.size:
                header_checked = True
                if _is_header(labels):
                    labels = labels[2:]
            label_blocks.append(labels)
            if not chunk:
                break
    if not label_blocks or sum(b.size for b in label_blocks) == 0:
        raise NetworkFileError(f"network.path={path!r}: the file has no edges; expected {_ALLOWED}")
    labels = np.concatenate(label_blocks)
    del label_blocks
    ids, n = _number_labels(labels)
    return ids[0::2], ids[1::2], n


def _tokenise_block(data: bytes, lines_before: int, path: str) -> tuple[np.ndarray, int]:
    """Return the first two fields of every non-blank line (interleaved, dtype S) and the line count."""
    text = re.sub(rb"#[^\n]*", b"", data) if b"#" in data else data  # line breaks are kept
    arr = np.frombuffer(text, dtype=np.uint8)
    sep = _SEPARATOR[arr]
    line_end = np.flatnonzero(arr == 10)
    starts = np.flatnonzero(~sep & np.concatenate(([True], sep[:-1])))
    ends = np.flatnonzero(~sep & np.concatenate((sep[1:], [True]))) + 1
    line_of_token = np.searchsorted(line_end, starts)
    count = np.bincount(line_of_token, minlength=line_end.size)
    bad = np.flatnonzero((count == 1) | (count > 3))
    if bad.size:
        i = int(bad[0])
        content = data.split(b"\n")[i].rstrip(b"\r").decode("utf-8", errors="replace")
        raise NetworkFileError(
            f"network.path={path!r}, line {lines_before + i + 1}: {content!r} has {count[i]} field(s); "
            f"each line must be 'follower followed' (2 fields, an optional third is ignored), "
            f"separated by whitespace or commas")
    first = np.concatenate(([0], np.cumsum(count)[:-1]))[count >= 2]
    token = np.stack([first, first + 1], axis=1).ravel()
    if token.size == 0:
        return np.zeros(0, dtype="S1"), int(line_end.size)
    start, length = starts[token], ends[token] - starts[token]
    width = int(length.max())
    # Fixed-width byte strings, filled one character column at a time (a loop
    # over the longest label's length, not over lines).
    mat = np.zeros((token.size, width), dtype=np.uint8)
    for j in range(width):
        live = np.flatnonzero(length > j)
        mat[live, j] = arr[start[live] + j]
    return mat.view(f"S{width}").ravel(), int(line_end.size)


def _is_numeric(label: bytes) -> bool:
    try:
        float(label)
    except ValueError:
        return False
    return True


def _is_header(labels: np.ndarray) -> bool:
    """Whether the first line (labels[0:2]) is a header rather than an edge."""
    a, b = (x.decode("utf-8", errors="replace").strip().lower() for x in labels[:2])
    if (a, b) in _HEADER_PAIRS:
        return True
    if labels.size < 4:
        return False
    return (not _is_numeric(labels[0]) and not _is_numeric(labels[1])
            and _is_numeric(labels[2]) and _is_numeric(labels[3]))


def _number_labels(labels: np.ndarray) -> tuple[np.ndarray, int]:
    """Map labels (dtype S) to 0..k-1 in order of first appearance.

    Plain non-negative integers without leading zeros (the common case) are
    parsed and numbered through a table, which is much faster than sorting
    strings; anything else goes through ``np.unique`` on the strings. Both give
    the same numbering.
    """
    width = labels.dtype.itemsize
    mat = labels.view(np.uint8).reshape(labels.size, width)
    length = (mat != 0).sum(axis=1)
    is_digit = (mat >= 48) & (mat <= 57)
    plain = (width <= 18 and bool(np.all(is_digit | (mat == 0)))
             and not bool(np.any((mat[:, 0] == 48) & (length > 1))))
    if plain:
        values = np.zeros(labels.size, dtype=np.int64)
        for j in range(width):  # Horner over the (at most 18) digit columns
            values = np.where(length > j, values * 10 + (mat[:, j].astype(np.int64) - 48), values)
        top = int(values.max())
        if top < 4 * labels.size + 10_000_000:
            first = np.full(top + 1, labels.size, dtype=np.int64)
            np.minimum.at(first, values, np.arange(labels.size, dtype=np.int64))
            present = np.flatnonzero(first < labels.size)
            rank = np.empty(top + 1, dtype=np.int64)
            rank[present[np.argsort(first[present])]] = np.arange(present.size)
            return rank[values], int(present.size)
        keys: np.ndarray = values
    else:
        keys = labels
    _, first_idx, inverse = np.unique(keys, return_index=True, return_inverse=True)
    rank = np.empty(first_idx.size, dtype=np.int64)
    rank[np.argsort(first_idx)] = np.arange(first_idx.size)
    return rank[inverse.ravel()], int(first_idx.size)


def _load_graphml(p: Path, path: str) -> tuple[FollowGraph, np.ndarray | None]:
    """Read GraphML through networkx; ages from the node attribute ``age``."""
    import xml.etree.ElementTree as ET

    try:
        g = nx.read_graphml(p)
    except (ET.ParseError, nx.NetworkXError, ValueError, KeyError, TypeError, IndexError) as exc:
        raise NetworkFileError(f"network.path={path!r}: not readable as GraphML ({type(exc).__name__}: {exc}); "
                               f"expected {_ALLOWED}") from exc
    nodes = list(g.nodes)
    index = {node: i for i, node in enumerate(nodes)}
    # networkx holds the graph as Python objects, so converting it is a Python
    # loop; GraphML files are small next to what the generator builds.
    pairs = np.array([(index[u], index[v]) for u, v in g.edges()], dtype=np.int64).reshape(-1, 2)
    src, dst = pairs[:, 0], pairs[:, 1]
    if not g.is_directed():
        src, dst = np.concatenate([src, dst]), np.concatenate([dst, src])
    graph = _graph_from_pairs(src, dst, len(nodes))
    if graph.n_edges == 0:
        raise NetworkFileError(f"network.path={path!r}: the GraphML has no edges between two different nodes; "
                               f"expected {_ALLOWED}")
    ages = None
    if any("age" in attrs for _, attrs in g.nodes(data=True)):
        ages = np.full(len(nodes), -1, dtype=np.int64)
        for i, (node, attrs) in enumerate(g.nodes(data=True)):
            if "age" in attrs:
                ages[i] = _parse_age(attrs["age"], node, path)
    return graph, ages


def _parse_age(value: object, node: object, path: str) -> int:
    """A node's age in whole years; -1 for an empty or NaN value (unknown)."""
    if isinstance(value, str) and not value.strip():
        return -1
    try:
        age = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        age = -math.inf
    if math.isnan(age):
        return -1
    if not math.isfinite(age) or age != int(age) or not 0 <= age <= 120:
        raise NetworkFileError(f"network.path={path!r}: node {node!r} has age {value!r}; "
                               f"ages must be whole numbers of years between 0 and 120 (leave the attribute "
                               f"out, empty or NaN when unknown)")
    return int(age)


# --- statistics ----------------------------------------------------------------------------


def _hill_exponent(in_degree: np.ndarray, share: float = 0.01, min_tail: int = 10) -> float | None:
    """Hill estimate of the in-degree tail exponent alpha (P(X > x) ~ x**-alpha).

    Uses the top k = max(min_tail, share * n) in-degrees against the (k+1)-th:
    alpha = k / sum(ln(x_i / x_(k+1))). None when there are fewer than k + 1
    positive in-degrees or the top k + 1 are all equal.
    """
    positive = in_degree[in_degree > 0]
    k = max(min_tail, int(share * in_degree.size))
    if positive.size <= k:
        return None
    top = np.partition(positive, positive.size - k - 1)[positive.size - k - 1:].astype(np.float64)
    threshold = top.min()
    logs = np.log(top) - np.log(threshold)
    total = float(logs.sum())
    return k / total if total > 0 else None


def _assortativity(mix: np.ndarray) -> float | None:
    """Newman's attribute assortativity from a mixing-count matrix (source x target)."""
    total = mix.sum()
    if total == 0:
        return None
    e = mix / total
    ab = float((e.sum(axis=1) * e.sum(axis=0)).sum())
    if ab >= 1.0:
        return None  # one label only: undefined
    return (float(np.trace(e)) - ab) / (1.0 - ab)


def _clustering(graph: FollowGraph, nodes: np.ndarray) -> float:
    """Mean undirected local clustering of ``nodes`` (nodes of degree < 2 count 0).

    Undirected neighbourhood = followees and followers. Triangles at v are the
    distinct unordered pairs of neighbours joined by a follow in either
    direction; every such follow sits in the out-row of one neighbour, so only
    out-rows of neighbours are gathered.
    """
    n = graph.n
    indptr, indices = graph.indptr, graph.indices
    deg = np.diff(indptr)
    nodes = np.sort(nodes)
    # Followers of the sampled nodes, in one pass over the edges.
    hit = np.flatnonzero(np.isin(indices, nodes))
    follower = np.searchsorted(indptr, hit, side="right") - 1
    followed = indices[hit]
    order = np.argsort(followed, kind="stable")
    follower, followed = follower[order], followed[order]
    f_start = np.searchsorted(followed, nodes, side="left")
    f_end = np.searchsorted(followed, nodes, side="right")
    total = 0.0
    for v, a, b in zip(nodes.tolist(), f_start.tolist(), f_end.tolist()):
        nbrs = np.union1d(indices[indptr[v]:indptr[v + 1]], follower[a:b])
        k = nbrs.size
        if k < 2:
            continue
        lens = deg[nbrs]
        width = int(lens.sum())
        if width == 0:
            continue
        row = np.repeat(nbrs.astype(np.int64), lens)
        offset = np.repeat(indptr[nbrs] - np.concatenate(([0], np.cumsum(lens)[:-1])), lens)
        tgt = indices[offset + np.arange(width)].astype(np.int64)
        pos = np.minimum(np.searchsorted(nbrs, tgt), k - 1)
        inside = nbrs[pos] == tgt
        lo = np.minimum(row[inside], tgt[inside])
        hi = np.maximum(row[inside], tgt[inside])
        links = np.unique(lo * n + hi).size
        total += 2.0 * links / (k * (k - 1))
    return total / nodes.size


def graph_statistics(graph: FollowGraph, is_minor: np.ndarray, rng: np.random.Generator,
                     sample: int = 500) -> dict[str, float | int | None]:
    """Summary statistics of a follow graph (JSON-ready: Python ints/floats, None if undefined).

    Keys:
        ``n``, ``edges``; ``mean_out_degree``, ``max_out_degree``,
        ``mean_in_degree``, ``max_in_degree``;
        ``in_degree_tail_exponent``: Hill estimator on the top 1% (at least 10)
        of in-degrees (see :func:`_hill_exponent`);
        ``age_assortativity``: Newman's attribute assortativity of the
        minor/adult label over follows (source label x target label), equal to
        ``networkx.attribute_assortativity_coefficient`` on the DiGraph;
        ``minor_follows_minor_share``, ``adult_follows_minor_share``: share of
        minors' (adults') follows that go to minors;
        ``reciprocity``: share of follows that are followed back
        (``networkx.reciprocity``);
        ``average_clustering``: mean local clustering of the undirected graph,
        over ``clustering_nodes`` nodes drawn without replacement (all nodes
        when ``sample >= n``; then it equals ``networkx.average_clustering`` of
        the undirected graph).

    Args:
        graph: the follow graph.
        is_minor: bool (n,).
        rng: stream for the clustering sample.
        sample: nodes used for the clustering estimate.

    Returns:
        The statistics.
    """
    n = graph.n
    is_minor = np.asarray(is_minor, dtype=bool)
    if is_minor.shape != (n,):
        raise ValueError(f"is_minor has shape {is_minor.shape}; the graph has {n} accounts")
    out_deg = graph.out_degree()
    in_deg = graph.in_degree()
    stats: dict[str, float | int | None] = {
        "n": n,
        "edges": graph.n_edges,
        "mean_out_degree": float(out_deg.mean()) if n else None,
        "max_out_degree": int(out_deg.max()) if n else 0,
        "mean_in_degree": float(in_deg.mean()) if n else None,
        "max_in_degree": int(in_deg.max()) if n else 0,
        "in_degree_tail_exponent": _hill_exponent(in_deg),
    }

    # Age mixing and reciprocity from the edge arrays (the sources are expanded once).
    src = np.repeat(np.arange(n, dtype=np.int64), out_deg)
    dst = graph.indices
    to_minor = is_minor[dst]
    from_minor = np.repeat(is_minor, out_deg)
    minor_minor = np.count_nonzero(to_minor & from_minor)
    adult_minor = np.count_nonzero(to_minor) - minor_minor
    minor_all = np.count_nonzero(from_minor)
    del to_minor, from_minor
    mix = np.array([[graph.n_edges - minor_all - adult_minor, adult_minor],
                    [minor_all - minor_minor, minor_minor]], dtype=np.float64)
    stats["age_assortativity"] = _assortativity(mix)
    for name, label in (("minor_follows_minor_share", 1), ("adult_follows_minor_share", 0)):
        made = mix[label].sum()
        stats[name] = float(mix[label, 1] / made) if made else None

    # Reciprocity: a follow u->v with u < v is matched against the follows x->y with
    # x > y, written as the key y * n + x. The first set is sorted already (CSR
    # order), so only the second needs sorting; each mutual pair counts twice.
    if graph.n_edges:
        up = src < dst
        forward = src[up] * n + dst[up]
        down = ~up
        backward = dst[down].astype(np.int64) * n + src[down]
        del up, down, src
        backward.sort()
        mutual = 0
        if forward.size and backward.size:
            pos = np.minimum(np.searchsorted(forward, backward), forward.size - 1)
            mutual = np.count_nonzero(forward[pos] == backward)
        stats["reciprocity"] = float(2 * mutual / graph.n_edges)
        del forward, backward
    else:
        stats["reciprocity"] = None

    nodes = np.arange(n) if sample >= n else rng.choice(n, size=max(sample, 0), replace=False)
    stats["average_clustering"] = float(_clustering(graph, nodes)) if nodes.size else None
    stats["clustering_nodes"] = int(nodes.size)
    return stats
