"""The synthetic follow graph.

Core objects:

- :func:`build_follow_graph` — the synthetic graph: local communities, age
  assortativity, heavy-tailed popularity, triadic closure; newcomers (the
  accounts that register during the run, decoys included) follow a few popular
  accounts and have no followers.
- :data:`REGISTRATION_FOLLOWS` and the other generator constants.
- ``_Sampler`` (exact O(1)-per-draw weighted sampling) and ``_World`` (what the
  edge-slot samplers need), with the per-class target draws, rejection and
  redraw of repeats.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from sim import libm
from sim.config import NetworkConfig
from sim.network.graph import FollowGraph, _csr_from_keys
from sim.vocabulary import ADULT_CONTENT_PRODUCER, CREATOR

# --- generator constants (model choices, documented in the ODD) -------------------

#: Follows a newcomer (decoys included) makes at registration (popular accounts of its own age group).
REGISTRATION_FOLLOWS = 5
#: Out-degree cap as a multiple of ``mean_following`` (keeps the log-normal tail finite).
MAX_DEGREE_FACTOR = 50
#: Attempts at finding a two-step path u->v->w whose end has the wanted age group.
TRIADIC_ATTEMPTS = 4
#: Rounds of redrawing follows rejected as duplicates or self-loops (see ``_fix_rejected``).
FIX_ROUNDS = 6

# Modes of an edge slot in the generator.
_LOCAL, _GLOBAL, _TRIADIC, _UNIFORM = range(4)


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
    community: np.ndarray         # int32 (n,), -1 for newcomers
    bucket_start: np.ndarray      # int64 (2 * communities,), bucket = community * 2 + is_minor
    bucket_count: np.ndarray      # int64
    bucket_members: np.ndarray    # int64, accounts present at the start, sorted by bucket
    samplers: tuple[_Sampler, _Sampler]  # adults, minors present at the start, by attractiveness
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
    """Pareto(popularity_tail) draw per account, times creator_boost for creators and producer_boost for producers."""
    weight = 1.0 + rng.pareto(cfg.popularity_tail, role.shape[0])
    weight[role == CREATOR] *= cfg.creator_boost
    weight[role == ADULT_CONTENT_PRODUCER] *= cfg.producer_boost
    return weight


def _out_degrees(n: int, cfg: NetworkConfig, cap: int, rng: np.random.Generator) -> np.ndarray:
    """Log-normal out-degrees with mean ``mean_following``, at least 1, at most ``cap``.

    Rounded stochastically (floor + Bernoulli of the fraction) so the mean is kept.
    """
    sigma = cfg.following_sigma
    x = cfg.mean_following * libm.exp(sigma * rng.standard_normal(n) - 0.5 * sigma**2)
    deg = np.floor(x + rng.random(n)).astype(np.int64)
    return np.clip(deg, 1, max(cap, 1))


def _class_keys(counts: np.ndarray, want: bool, mode: int, w: _World, rng: np.random.Generator) -> np.ndarray:
    """Edge keys for ``counts[i]`` slots of account i, all of one (age group, mode) class."""
    src = np.repeat(np.arange(w.n, dtype=np.int64), counts)
    if mode == _LOCAL and w.samplers[int(want)].size:
        # Per-account bucket first, then repeated per slot: sequential copies
        # instead of two random gathers per slot (newcomers have no local slots).
        bucket = np.maximum(w.community.astype(np.int64) * 2 + int(want), 0)
        dst = _local_targets(np.repeat(w.bucket_start[bucket], counts), np.repeat(w.bucket_count[bucket], counts),
                             w.samplers[int(want)], w, rng)
    else:
        dst = _draw_class(src, want, mode, w, rng)
    src *= w.n
    src += dst
    return src


def build_follow_graph(is_minor: np.ndarray, role: np.ndarray, newcomer: np.ndarray,
                       cfg: NetworkConfig, rng: np.random.Generator) -> FollowGraph:
    """Generate the synthetic follow graph.

    The model, vectorised over edge slots:

    1. Communities (schools, towns): each account present at the start joins one of
       ``round(n_start / community_size)`` communities uniformly, so sizes
       average ``community_size`` and ages mix as in the population.
    2. Out-degree: log-normal with mean ``mean_following`` and spread
       ``following_sigma``, in [1, min(n_start - 1, 50 * mean)]. A share
       ``triadic_share / (1 + triadic_share)`` of each account's slots is kept for
       triadic closure (step 4), so ``mean_following`` is the mean *final*
       out-degree.
    3. Each remaining slot wants a minor with probability
       ``minor_follows_minor_share`` (minor follower) or
       ``adult_follows_minor_share`` (adult follower); it is local with
       probability ``local_share`` (uniform over the follower's community and the
       wanted age group) and otherwise global (by attractiveness = Pareto
       (``popularity_tail``) x ``creator_boost`` for creators and
       ``producer_boost`` for adult-content producers, within the age group). Slots are drawn as per-account
       binomial counts per (age group, local/global) class, which is the same
       distribution as a Bernoulli per slot.
    4. Triadic closure: the kept slots follow the end of a random path
       u->v->x (a followee's followee) of the wanted age group.
    5. Self-loops and repeats are redrawn (sampling without replacement) and the
       CSR is built from sorted int64 keys ``src * n + dst``.
    6. Newcomers (the accounts that register during the run, decoys
       included) follow ``REGISTRATION_FOLLOWS`` accounts present at the start,
       of their own age group, by attractiveness; nobody follows them. These are
       their registration follows (:class:`sim.network.sources.Registrations`
       holds them until each newcomer's join day).

    Args:
        is_minor: bool (n,), true age under 18.
        role: int (n,), role codes from :mod:`sim.vocabulary`.
        newcomer: bool (n,), rows that register during the run (decoys included).
        cfg: network settings.
        rng: the world-building stream.

    Returns:
        The graph, with ``community`` set (-1 for newcomers).
    """
    is_minor = np.asarray(is_minor, dtype=bool)
    newcomer = np.asarray(newcomer, dtype=bool)
    n = int(is_minor.shape[0])
    real = np.flatnonzero(~newcomer)
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

    # 2. Out-degrees, split into base and triadic slots; newcomers get a few global slots.
    degree = np.zeros(n, dtype=np.int64)
    triadic = np.zeros(n, dtype=np.int64)
    if m >= 2:
        cap = min(m - 1, int(MAX_DEGREE_FACTOR * cfg.mean_following))
        degree[real] = _out_degrees(m, cfg, cap, rng)
        closing = cfg.triadic_share / (1.0 + cfg.triadic_share)
        triadic[real] = rng.binomial(degree[real] - 1, closing)
    if newcomer.any() and m:
        own_group = np.where(is_minor[newcomer], minors.size, adults.size)
        own_group[own_group == 0] = m  # that age group is empty: the draw uses the other one
        degree[newcomer] = np.minimum(REGISTRATION_FOLLOWS, own_group)
    base = degree - triadic

    # 3. Base slots: per-account counts per class, then one batch per class.
    share = np.where(is_minor, cfg.minor_follows_minor_share, cfg.adult_follows_minor_share)
    share[newcomer] = is_minor[newcomer]  # newcomers follow their own age group
    local = rng.binomial(base, cfg.local_share)
    local[newcomer] = 0
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
