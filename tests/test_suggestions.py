"""Account and group suggesters (phase 5), on hand-built tiny platforms and tiny model runs."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sim import registry
from sim.metrics import COLUMN
from sim.model import ExposureModel
from sim.network import FollowGraph, Groups
from sim.recommenders.accounts import (CoEngagement, FriendsOfFriends, InterestGroups, Mixed, SuggestionContext,
                                       boost_new_accounts, clean_account_suggestions, suggest_groups)
from tests.conftest import tiny_config
from tests.test_recommenders import population


def follow_graph(follows: list[list[int]]) -> FollowGraph:
    """Row i of ``follows`` lists the accounts i follows."""
    indptr = np.zeros(len(follows) + 1, dtype=np.int64)
    indptr[1:] = np.cumsum([len(set(r)) for r in follows])
    indices = np.array([x for r in follows for x in sorted(set(r))], dtype=np.int32)
    return FollowGraph(indptr, indices)


def make_groups(groups_of: list[list[int]], n_groups: int, dim: int = 4, topic: np.ndarray | None = None) -> Groups:
    """Groups from each account's list of groups (topics along the first axis unless given)."""
    acc = np.array([a for a, gs in enumerate(groups_of) for _ in gs], dtype=np.int64)
    grp = np.array([g for gs in groups_of for g in sorted(gs)], dtype=np.int64)
    aptr = np.zeros(len(groups_of) + 1, dtype=np.int64)
    aptr[1:] = np.cumsum([len(gs) for gs in groups_of])
    order = np.lexsort((acc, grp))
    mptr = np.zeros(n_groups + 1, dtype=np.int64)
    mptr[1:] = np.cumsum(np.bincount(grp, minlength=n_groups))
    if topic is None:
        topic = np.zeros((n_groups, dim), dtype=np.float32)
        topic[:, 0] = 1
    return Groups(topic=topic, harmful=np.zeros(n_groups, bool), moderated=np.zeros(n_groups, bool),
                  member_indptr=mptr, members=acc[order].astype(np.int32), account_indptr=aptr,
                  account_groups=grp.astype(np.int32))


def context(follows, engagements=(), groups_of=None, n_groups=0) -> SuggestionContext:
    """A SuggestionContext; ``engagements`` are (viewer, item, author) triples."""
    n = len(follows)
    graph = follow_graph(follows)
    eng = np.array(engagements, dtype=np.int64).reshape(-1, 3)
    return SuggestionContext(population(n), graph, graph.reversed(),
                             make_groups(groups_of or [[] for _ in range(n)], n_groups),
                             eng[:, 0].copy(), eng[:, 1].copy(), eng[:, 2].copy())


def suggested_by_viewer(viewers: np.ndarray, out: np.ndarray) -> dict[int, set[int]]:
    got: dict[int, set[int]] = {}
    for v, row in zip(viewers.tolist(), out.tolist()):
        got.setdefault(v, set()).update(x for x in row if x >= 0)
    return got


# A 6-node follow graph: 0->1, 0->2, 1->3, 2->3, 2->4, 3->0, 4->0; 5 follows and is followed by nobody.
SIX = [[1, 2], [3], [3, 4], [0], [0], []]


def fof_by_hand(follows) -> dict[int, set[int]]:
    """Followees' followees and followers, from networkx."""
    g = follow_graph(follows).to_networkx()
    return {v: {w for u in g.successors(v) for w in g.successors(u)} | set(g.predecessors(v)) for v in g.nodes}


def test_registry_holds_the_three_suggesters():
    assert sorted(registry.names("account_suggester", plugins=False)) == ["co_engagement", "friends_of_friends", "mixed"]
    assert registry.get("account_suggester", "mixed") is Mixed


def test_registry_holds_the_interest_group_suggester():
    assert registry.names("group_suggester", plugins=False) == ("interest",)
    assert registry.get("group_suggester", "interest") is InterestGroups


def test_friends_of_friends_suggests_only_followees_of_followees_or_followers():
    ctx = context(SIX)
    viewers = np.repeat(np.arange(6), 60)
    out = FriendsOfFriends().suggest(ctx, viewers, 4, np.random.default_rng(0))
    assert out.shape == (viewers.size, 4)
    allowed = fof_by_hand(SIX)
    assert allowed[0] == {3, 4} and allowed[3] == {1, 2} and allowed[5] == set()   # by hand, too
    got = suggested_by_viewer(viewers, out)
    for v in range(6):
        # Nothing outside the allowed set, and (with 240 slots each) every allowed account shows up.
        assert got.get(v, set()) == allowed[v], v
    assert (out[viewers == 5] == -1).all()      # no followee, no follower: nothing to suggest


def co_engagement_by_hand(engagements, viewer: int) -> set[int]:
    authors = {a for v, _, a in engagements if v == viewer}
    items = {i for v, i, _ in engagements if v == viewer}
    co = {v for v, i, _ in engagements if i in items}
    fans = {v for v, _, a in engagements if a == viewer}
    return authors | co | fans


# (viewer, item, author): item 0 by 1, item 1 by 2, item 2 by 0, item 3 by 4.
ENGAGEMENTS = [(0, 0, 1), (3, 0, 1), (2, 2, 0), (5, 3, 4), (3, 1, 2)]


def test_co_engagement_suggests_only_authors_co_engagers_and_engagers_of_own_posts():
    ctx = context([[] for _ in range(7)], ENGAGEMENTS)
    viewers = np.repeat(np.arange(7), 80)
    out = CoEngagement().suggest(ctx, viewers, 3, np.random.default_rng(1))
    got = suggested_by_viewer(viewers, out)
    assert co_engagement_by_hand(ENGAGEMENTS, 0) == {0, 1, 2, 3}
    for v in range(7):
        assert got.get(v, set()) == co_engagement_by_hand(ENGAGEMENTS, v), v
    assert (out[viewers == 6] == -1).all()      # account 6 neither engaged nor was engaged with


def test_co_engagement_suggests_nothing_without_engagements():
    ctx = context(SIX, engagements=())
    out = CoEngagement().suggest(ctx, np.repeat(np.arange(6), 10), 5, np.random.default_rng(2))
    assert out.shape == (60, 5)
    assert (out == -1).all()


def test_mixed_draws_from_both_suggesters_about_half_each():
    # Viewer 0: friends-of-friends can only give {2 (two-hop), 3 (follower)};
    # co-engagement only {5 (author), 0/6 (co-engagers), 7 (engager of 0's post)}.
    follows = [[1], [2], [], [0], [], [], [], [], []]
    engagements = [(0, 0, 5), (6, 0, 5), (7, 1, 0)]
    ctx = context(follows, engagements)
    viewers = np.zeros(2000, dtype=np.int64)
    out = Mixed().suggest(ctx, viewers, 2, np.random.default_rng(3))
    fof, co = {2, 3}, {0, 5, 6, 7}
    vals = out.ravel()
    assert (vals >= 0).all()                     # both suggesters always find someone for viewer 0
    assert set(vals.tolist()) <= fof | co
    share_co = np.isin(vals, list(co)).mean()
    # Each slot is co-engagement with probability 1/2: binomial, 4 standard errors.
    assert abs(share_co - 0.5) < 4 * np.sqrt(0.25 / vals.size)


def test_mixed_falls_back_to_friends_of_friends_where_co_engagement_finds_nobody():
    # Viewer 8 follows 1 (who follows 2) and is followed by 3; it engaged with nothing.
    follows = [[1], [2], [], [0, 8], [], [], [], [], [1]]
    ctx = context(follows, [(0, 0, 5), (6, 0, 5)])
    out = Mixed().suggest(ctx, np.full(500, 8), 2, np.random.default_rng(12))
    assert set(out.ravel().tolist()) == {2, 3}


def test_clean_removes_self_followed_banned_and_repeats():
    # 0 follows 2; 1 follows 4; account 3 is banned.
    ctx = context([[2], [4], [], [], [], [], []])
    banned = np.zeros(7, dtype=bool)
    banned[3] = True
    viewers = np.array([0, 1])
    sug = np.array([[0, 1, 1, 2, 3, -1],
                    [4, 1, 5, 5, 6, 0]])
    out = clean_account_suggestions(ctx, viewers, sug.copy(), banned)
    rows = [sorted(x for x in r if x >= 0) for r in out.tolist()]
    assert rows == [[1], [0, 5, 6]]
    assert out.shape == sug.shape


@settings(max_examples=60, deadline=None)
@given(st.integers(0, 2**32 - 1), st.integers(2, 8), st.integers(1, 6))
def test_clean_keeps_exactly_the_valid_distinct_suggestions(seed, n, k):
    rng = np.random.default_rng(seed)
    follows = [rng.choice(n, rng.integers(0, n), replace=False).tolist() for _ in range(n)]
    follows = [[x for x in r if x != i] for i, r in enumerate(follows)]
    ctx = context(follows)
    banned = rng.random(n) < 0.3
    viewers = rng.integers(0, n, 5)
    sug = rng.integers(-1, n, (5, k))
    out = clean_account_suggestions(ctx, viewers, sug.copy(), banned)
    for v, before, after in zip(viewers.tolist(), sug.tolist(), out.tolist()):
        kept = [x for x in after if x >= 0]
        assert len(kept) == len(set(kept))
        expected = {x for x in before if x >= 0 and x != v and x not in follows[v] and not banned[x]}
        assert set(kept) == expected


def test_boost_inserts_only_pool_accounts_at_about_the_share():
    rng = np.random.default_rng(4)
    sug = rng.integers(-1, 50, (4000, 5))
    before = sug.copy()
    pool = np.arange(100, 110)
    share = 0.3
    out = boost_new_accounts(sug, pool, share, np.random.default_rng(5))
    assert np.array_equal(sug, before)          # the input is not modified in place
    changed = out != sug
    assert np.isin(out[changed], pool).all()
    taken = np.isin(out, pool)
    # Slots given to the pool: binomial(20000, 0.3); 4 standard errors.
    assert abs(taken.mean() - share) < 4 * np.sqrt(share * (1 - share) / taken.size)
    assert set(np.unique(out[taken]).tolist()) == set(pool.tolist())   # any new account may be picked


def test_boost_fills_every_slot_at_share_one():
    sug = np.full((50, 3), -1)
    out = boost_new_accounts(sug, np.array([7, 9]), 1.0, np.random.default_rng(6))
    assert np.isin(out, [7, 9]).all()


@pytest.mark.parametrize("pool,share", [(np.zeros(0, dtype=np.int64), 0.5), (np.arange(100, 110), 0.0)])
def test_boost_is_a_no_op_with_an_empty_pool_or_share_zero(pool, share):
    sug = np.random.default_rng(7).integers(-1, 50, (200, 5))
    out = boost_new_accounts(sug, pool, share, np.random.default_rng(8))
    assert np.array_equal(out, sug)


def test_suggest_groups_never_suggests_a_group_the_viewer_is_in():
    rng = np.random.default_rng(9)
    n, n_groups, dim = 12, 6, 4
    groups_of = [sorted(rng.choice(n_groups, rng.integers(0, 4), replace=False).tolist()) for _ in range(n)]
    groups_of[0] = [0, 1, 2, 3, 4]              # account 0 is in every group but 5
    follows = [[(i + 1) % n, (i + 5) % n] for i in range(n)]
    topic = rng.standard_normal((n_groups, dim)).astype(np.float32)
    topic /= np.linalg.norm(topic, axis=1, keepdims=True)
    graph = follow_graph(follows)
    ctx = SuggestionContext(population(n, dim), graph, graph.reversed(), make_groups(groups_of, n_groups, topic=topic),
                            np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0, np.int64))
    viewers = np.repeat(np.arange(n), 40)
    out = suggest_groups(ctx, viewers, 3, np.random.default_rng(10))
    assert out.shape == (viewers.size, 3)
    assert ((out >= -1) & (out < n_groups)).all()
    assert (out >= 0).any()
    for v, row in zip(viewers.tolist(), out.tolist()):
        assert not set(row) & set(groups_of[v]), (v, row)
        kept = [g for g in row if g >= 0]
        assert len(kept) == len(set(kept))
    assert set(out[viewers == 0].ravel().tolist()) == {-1, 5}


@pytest.mark.parametrize("dim", [2, 5, 16, 17, 33])
def test_the_best_probe_is_numpys_matmul_argmax(dim):
    """The compiled probe scoring picks what ``argmax(topic[probes] @ interest)`` picks, ties included."""
    from sim.recommenders.kernels import best_match

    rng = np.random.default_rng(dim)
    topic = rng.standard_normal((40, dim)).astype(np.float32)
    topic[7] = topic[3]                          # equal scores: the first probe of the two wins
    interest = rng.standard_normal((30, dim)).astype(np.float32)
    viewers = rng.integers(0, 30, 5_000)
    probes = rng.integers(0, 40, (5_000, 8))
    probes[:50, :2] = (7, 3)
    probes[50:100, :2] = (3, 7)
    out = np.empty(5_000, dtype=np.int64)
    best_match(topic, interest, viewers, probes, out)
    sim = np.matmul(topic[probes], interest[viewers][:, :, None])[..., 0]
    assert np.array_equal(out, probes[np.arange(5_000), sim.argmax(axis=1)])


def test_the_interest_group_suggester_is_suggest_groups():
    ctx = context(SIX, n_groups=3)
    viewers = np.repeat(np.arange(6), 5)
    assert np.array_equal(InterestGroups().suggest(ctx, viewers, 2, np.random.default_rng(12)),
                          suggest_groups(ctx, viewers, 2, np.random.default_rng(12)))


def test_suggest_groups_returns_minus_one_when_there_are_no_groups():
    ctx = context(SIX, n_groups=0)
    out = suggest_groups(ctx, np.arange(6), 3, np.random.default_rng(11))
    assert out.shape == (6, 3)
    assert (out == -1).all()


# ------------------------------------------------------------------ in a model run

def run(accounts: str, seed: int = 3) -> np.ndarray:
    model = ExposureModel(tiny_config(**{"seed": seed, "population.n": 400, "days": 8,
                                         "population.offender_share": 0.03, "recommender.accounts": accounts}))
    model.run()
    return model.metrics.as_array()


def test_accounts_off_gives_no_account_suggestions_and_no_contact_via_suggestion():
    h = run("off")
    assert h[..., COLUMN["account_suggestions"]].sum() == 0
    assert h[..., COLUMN["follows_from_suggestions"]].sum() == 0
    assert h[..., COLUMN["unwanted_via_suggestion"]].sum() == 0
    assert h[..., COLUMN["unwanted_contacts"]].sum() > 0        # contact still happens through other channels


def test_co_engagement_gives_account_suggestions_and_contact_via_suggestion():
    h = run("co_engagement")
    assert h[..., COLUMN["account_suggestions"]].sum() > 0
    assert h[..., COLUMN["unwanted_via_suggestion"]].sum() > 0


# ---------------------------------------------------------------- the compiled suggesters against numpy
# The suggesters' loops (sim.recommenders.suggestion_kernels) replaced a numpy version of each policy; these are
# those numpy versions, written out, and the compiled ones must give the same slots and leave the generator where
# they left it.

def _pick_np(ptr, values, keys, u):
    start = ptr[keys]
    count = ptr[keys + 1] - start
    out = np.full(keys.shape, -1, dtype=np.int64)
    has = count > 0
    out[has] = values[start[has] + (u[has] * count[has]).astype(np.int64)]
    return out


def _dedupe_np(rows):
    rows = np.sort(rows, axis=1, kind="stable")
    repeat = np.zeros(rows.shape, dtype=bool)
    repeat[:, 1:] = rows[:, 1:] == rows[:, :-1]
    rows[repeat] = -1
    return rows


def _contains_np(ptr, values, rows, cols):
    return np.array([c in values[ptr[r]:ptr[r + 1]] for r, c in zip(rows.tolist(), cols.tolist())], dtype=bool)


def fof_numpy(ctx, viewers, k, rng):
    g, rev = ctx.graph, ctx.followers
    v = np.repeat(viewers, k)
    followee = _pick_np(g.indptr, g.indices, v, rng.random(v.size))
    two_hop = np.full(v.size, -1, dtype=np.int64)
    ok = followee >= 0
    two_hop[ok] = _pick_np(g.indptr, g.indices, followee[ok], rng.random(int(ok.sum())))
    follower = _pick_np(rev.indptr, rev.indices, v, rng.random(v.size))
    return np.where(rng.random(v.size) < 0.75, two_hop, follower).reshape(-1, k)


def co_engagement_numpy(ctx, viewers, k, rng):
    v = np.repeat(viewers, k)
    out = np.full(v.size, -1, dtype=np.int64)
    mode = rng.integers(0, 3, v.size)
    mine = _pick_np(ctx.by_viewer_ptr, ctx.by_viewer, v, rng.random(v.size))
    has = mine >= 0
    author = has & (mode == 0)
    out[author] = ctx.engaged_author[mine[author]]
    co = has & (mode == 1)
    if co.any():
        item = ctx.engaged_item[mine[co]]
        lo = ctx.by_item_ptr[item]
        pos = lo + (rng.random(item.size) * (ctx.by_item_ptr[item + 1] - lo)).astype(np.int64)
        out[co] = ctx.engaged_viewer[ctx.item_order[pos]]
    fans = mode == 2
    if fans.any():
        theirs = _pick_np(ctx.by_author_ptr, ctx.by_author, v[fans], rng.random(int(fans.sum())))
        got = theirs >= 0
        out[np.flatnonzero(fans)[got]] = ctx.engaged_viewer[theirs[got]]
    return out.reshape(-1, k)


def clean_numpy(ctx, viewers, suggested, removed):
    out = _dedupe_np(suggested)
    rows = np.broadcast_to(viewers[:, None], out.shape)
    valid = (out >= 0) & (out != rows)
    cells = np.flatnonzero(valid)
    s = out.ravel()[cells]
    bad = _contains_np(ctx.graph.indptr, ctx.graph.indices, rows.ravel()[cells], s) | removed[s]
    valid.ravel()[cells[bad]] = False
    out[~valid] = -1
    return out


def groups_numpy(ctx, viewers, k, rng):
    groups, g = ctx.groups, ctx.graph
    v = np.repeat(viewers, k)
    followee = _pick_np(g.indptr, g.indices, v, rng.random(v.size))
    via = np.full(v.size, -1, dtype=np.int64)
    ok = followee >= 0
    via[ok] = _pick_np(groups.account_indptr, groups.account_groups, followee[ok], rng.random(int(ok.sum())))
    probes = rng.integers(0, groups.n_groups, (v.size, 8))
    sim = np.matmul(groups.topic[probes], ctx.population.interest[v][:, :, None])[..., 0]
    by_interest = probes[np.arange(v.size), sim.argmax(axis=1)]
    out = _dedupe_np(np.where((rng.random(v.size) < 0.5) & (via >= 0), via, by_interest).reshape(-1, k))
    cells = np.flatnonzero(out >= 0)
    member = _contains_np(groups.account_indptr, groups.account_groups, np.repeat(viewers, k)[cells],
                          out.ravel()[cells])
    out.ravel()[cells[member]] = -1
    return out


def random_context(seed: int, n: int, n_groups: int, n_engagements: int) -> SuggestionContext:
    """Random follows (possibly none), group memberships, interests, group topics and engagements."""
    rng = np.random.default_rng(seed)
    follows = [[x for x in rng.choice(n, rng.integers(0, n + 1), replace=False).tolist() if x != i] for i in range(n)]
    groups_of = [sorted(rng.choice(n_groups, rng.integers(0, n_groups + 1), replace=False).tolist()) for _ in range(n)]
    topic = rng.standard_normal((n_groups, 5)).astype(np.float32)
    pop = population(n, 5)
    pop.interest[:] = rng.standard_normal((n, 5)).astype(np.float32)
    graph = follow_graph(follows)
    eng = rng.integers(0, n, (n_engagements, 3))
    return SuggestionContext(pop, graph, graph.reversed(), make_groups(groups_of, n_groups, topic=topic),
                             eng[:, 0].copy(), eng[:, 1].copy(), eng[:, 2].copy())


@settings(max_examples=80, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), n=st.integers(1, 9), n_groups=st.integers(1, 5), k=st.integers(1, 6),
       n_engagements=st.integers(0, 12), n_viewers=st.integers(0, 40))
def test_the_compiled_suggesters_give_the_numpy_slots_and_leave_the_same_generator_state(seed, n, n_groups, k,
                                                                                        n_engagements, n_viewers):
    _check_against_numpy(seed, n, n_groups, k, n_engagements, n_viewers)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_the_compiled_suggesters_agree_with_numpy_across_blocks(seed):
    """Enough slots for several of the kernels' blocks (2,048 slots; 256 rows for the group suggester),
    on a world large enough that every link of each chain of reads is taken."""
    from sim.recommenders import suggestion_kernels

    k, n_viewers = 5, 1_100
    assert n_viewers * k > 2 * suggestion_kernels._SLOTS and n_viewers > 4 * suggestion_kernels._ROWS
    _check_against_numpy(seed, 60, 12, k, 400, n_viewers)


def _check_against_numpy(seed, n, n_groups, k, n_engagements, n_viewers):
    ctx = random_context(seed, n, n_groups, n_engagements)
    viewers = np.random.default_rng(seed + 1).integers(0, n, n_viewers)
    policies = [(FriendsOfFriends().suggest, fof_numpy), (CoEngagement().suggest, co_engagement_numpy),
                (suggest_groups, groups_numpy)]
    for compiled, numpy_version in policies:
        rng_c, rng_n = np.random.default_rng(seed), np.random.default_rng(seed)
        got = compiled(ctx, viewers, k, rng_c)
        expected = numpy_version(ctx, viewers, k, rng_n)
        assert got.dtype == np.int64 and got.shape == (n_viewers, k)
        assert np.array_equal(got, expected), compiled
        assert rng_c.bit_generator.state == rng_n.bit_generator.state, compiled
    removed = np.random.default_rng(seed + 2).random(n) < 0.3
    suggested = np.random.default_rng(seed + 3).integers(-1, n, (n_viewers, k))
    before = suggested.copy()
    got = clean_account_suggestions(ctx, viewers, suggested, removed)
    assert np.array_equal(got, clean_numpy(ctx, viewers, before, removed))
    assert np.array_equal(suggested, before)           # a new array; the input is unchanged
