"""Candidate serving and the feed policies, on hand-built tiny platforms."""

from __future__ import annotations

import numpy as np
import pytest

from sim import registry
from sim.config import RecommenderConfig
from sim.content import ItemStore
from sim.population import Population
from sim.recommenders import FeedContext, FeedIndex, make_feed_policy, serve_feeds
from sim.recommenders.serving import dedupe_rows
from sim.vocabulary import ADULT_SEXUAL, NONE, SUGGESTIVE


def population(n: int, dim: int = 4) -> Population:
    z = np.zeros(n)
    interest = np.zeros((n, dim), dtype=np.float32)
    interest[:, 0] = 1
    return Population(
        true_age=np.full(n, 30, dtype=np.int8), declared_age=np.full(n, 30, dtype=np.int8),
        protected=z.astype(bool), role=z.astype(np.int8), decoy=z.astype(bool), cohort=np.full(n, 2, np.int8),
        interest=interest, harmful_affinity=z.astype(np.float32), affinity_baseline=z.astype(np.float32),
        learned_harm_rate=z.astype(np.float32), activity=np.ones(n, np.float32), private=z.astype(bool),
        last_harm_day=np.full(n, -10**6, np.int32), last_explicit_day=np.full(n, -10**6, np.int32),
        last_unwanted_day=np.full(n, -10**6, np.int32),
        first_unwanted_day=np.full(n, -1, np.int32), first_harmful_suggestion_day=np.full(n, -1, np.int32),
        banned=np.zeros(n, bool), joined_day=np.full(n, -10_000, np.int32), strikes=np.zeros(n, np.int16),
        suspicious=np.zeros(n, bool), returns_day=np.full(n, -1, np.int32),
        first_harm_day=np.full(n, -1, np.int32))


def csr(rows: list[list[int]]) -> tuple[np.ndarray, np.ndarray]:
    indptr = np.zeros(len(rows) + 1, dtype=np.int64)
    indptr[1:] = np.cumsum([len(r) for r in rows])
    indices = np.array([x for r in rows for x in sorted(r)], dtype=np.int32)
    return indptr, indices


def store_with(authors, harms, day=1, groups=None, dim=4) -> ItemStore:
    store = ItemStore(64, dim)
    k = len(authors)
    topic = np.zeros((k, dim), dtype=np.float32)
    topic[:, 0] = 1
    store.add(day, 7, author=np.array(authors, dtype=np.int32), harm=np.array(harms, dtype=np.int8),
              topic=topic, appeal=np.ones(k, np.float32), day=np.full(k, day, np.int32),
              time=(day + np.linspace(0.1, 0.9, k)).astype(np.float32),
              group=np.array(groups if groups is not None else [-1] * k, dtype=np.int32),
              detect_u=np.zeros(k, np.float32))
    return store


def serve(pop, store, follows, groups, viewers, policy="random", day=1, filter_feed=None, seed=0, **cfg):
    rc = RecommenderConfig(feed=policy, **cfg)
    fptr, fidx = csr(follows)
    gptr, gidx = csr(groups)
    n_groups = max([g for r in groups for g in r], default=-1) + 1
    index = FeedIndex.build(store, pop.private, pop.n, n_groups, day, rc.recency_days)
    ctx = FeedContext(store, pop, rc, day)
    return serve_feeds(ctx, make_feed_policy(rc), index, np.asarray(viewers, dtype=np.int32), fptr, fidx,
                       gptr, gidx, filter_feed or (lambda v, c, s, n: None), np.random.default_rng(seed))


def test_registry_holds_the_five_policies():
    assert sorted(registry.names("feed_policy", plugins=False)) == [
        "chronological", "engagement", "interest", "popularity", "random"]
    assert make_feed_policy(RecommenderConfig(feed="interest")).name == "interest"


def test_dedupe_keeps_one_copy_and_keeps_flags_aligned():
    cand = np.array([[5, 3, 5, -1, 3, 7]])
    flag = np.array([[True, False, True, True, False, False]])
    out, f = dedupe_rows(cand, flag)
    kept = out[out >= 0]
    assert sorted(kept.tolist()) == [3, 5, 7]
    for item, fl in zip(out[0], f[0]):
        if item >= 0:
            assert fl == {3: False, 5: True, 7: False}[int(item)]


def test_chronological_serves_only_followed_accounts_and_groups():
    pop = population(4)
    # Items: 0,1 by account 1; 2 by account 2 in group 0; 3,4 by account 3 (not followed).
    store = store_with([1, 1, 2, 3, 3], [NONE] * 5, groups=[-1, -1, 0, -1, -1])
    imps = serve(pop, store, follows=[[1], [], [], []], groups=[[0], [], [], []], viewers=[0] * 20,
                 policy="chronological", candidates=6, feed_size=6)
    assert set(store.author[imps.item].tolist()) <= {1, 2}
    assert imps.in_network.all()
    assert {0, 1, 2} == set(imps.item.tolist())


def test_chronological_puts_newest_first():
    pop = population(2)
    store = store_with([1] * 6, [NONE] * 6)            # times increase with slot
    imps = serve(pop, store, follows=[[1], []], groups=[[], []], viewers=[0] * 30, policy="chronological",
                 candidates=12, feed_size=1)
    # With one slot per session, each session shows its newest candidate; the newest item wins most often.
    counts = np.bincount(imps.item, minlength=6)
    assert counts.argmax() == 5


def test_own_items_are_never_served():
    pop = population(3)
    store = store_with([0, 0, 1, 2], [NONE] * 4)
    imps = serve(pop, store, follows=[[1, 2], [0], [0]], groups=[[], [], []], viewers=[0, 1, 2] * 30,
                 candidates=8, feed_size=8, out_of_network_share=0.5)
    assert (store.author[imps.item] != imps.viewer).all()


def test_private_authors_reach_followers_only():
    pop = population(4)
    pop.private[3] = True
    store = store_with([3, 3, 1], [NONE] * 3)
    imps = serve(pop, store, follows=[[3], [], [], []], groups=[[]] * 4, viewers=[0] * 20 + [2] * 200,
                 candidates=6, feed_size=6, out_of_network_share=0.5)
    by_private = store.author[imps.item] == 3
    assert by_private[imps.viewer == 0].any()          # the follower sees them
    assert not by_private[imps.viewer == 2].any()      # a stranger never does


def test_filter_feed_minus_inf_removes_candidates():
    pop = population(3)
    store = store_with([1, 1, 2, 2], [ADULT_SEXUAL, NONE, SUGGESTIVE, NONE])

    def drop_harmful(viewers, cand, scores, in_network):
        scores[store.harm[np.maximum(cand, 0)] > 0] = -np.inf

    imps = serve(pop, store, follows=[[1, 2], [], []], groups=[[]] * 3, viewers=[0] * 50,
                 candidates=10, feed_size=10, filter_feed=drop_harmful, out_of_network_share=0.5)
    assert imps.n > 0
    assert (store.harm[imps.item] == NONE).all()


def test_top_k_takes_the_highest_scores():
    pop = population(2)
    store = store_with([1] * 8, [NONE] * 8)
    store.engagements[:8] = [0, 50, 3, 9, 1, 40, 2, 7]
    imps = serve(pop, store, follows=[[1], []], groups=[[], []], viewers=[0] * 5, policy="popularity",
                 candidates=100, feed_size=2, out_of_network_share=0)
    # 100 in-network draws over 8 items cover them all; the two most engaged win every session.
    assert set(imps.item.tolist()) == {1, 5}
    assert imps.n == 10


def test_random_policy_serves_harmful_items_in_proportion_to_candidates():
    pop = population(50)
    rng = np.random.default_rng(1)
    harms = (rng.random(300) < 0.2).astype(np.int8) * SUGGESTIVE
    store = store_with(rng.integers(1, 50, 300).tolist(), harms.tolist())
    follows = [rng.choice(np.arange(1, 50), 10, replace=False).tolist() for _ in range(50)]
    imps = serve(pop, store, follows=follows, groups=[[]] * 50, viewers=np.repeat(np.arange(50), 40),
                 candidates=20, feed_size=5, out_of_network_share=0.3, seed=3)
    cand_share = imps.candidates_by_class[1:].sum() / imps.candidates_by_class.sum()
    imp_share = (store.harm[imps.item] > 0).mean()
    # Sampling error of the impression share around the candidate share (binomial, n impressions).
    se = np.sqrt(cand_share * (1 - cand_share) / imps.n)
    assert abs(imp_share - cand_share) < 4 * se + 0.01


def test_engagement_policy_favours_harmful_items_for_viewers_it_learned_engage_with_them():
    pop = population(4)
    store = store_with([1] * 10 + [2] * 10, [NONE] * 10 + [ADULT_SEXUAL] * 10)
    pop.learned_harm_rate[0] = 1.0
    imps = serve(pop, store, follows=[[1, 2], [], [], [1, 2]], groups=[[]] * 4, viewers=[0] * 40 + [3] * 40,
                 policy="engagement", candidates=20, feed_size=3, out_of_network_share=0)
    harmful = store.harm[imps.item] > 0
    assert harmful[imps.viewer == 0].mean() > 0.9
    # Viewer 3 (nothing learned) sees a tie between the classes, broken at random: about half each.
    assert 0.3 < harmful[imps.viewer == 3].mean() < 0.7


@pytest.mark.parametrize("policy", sorted(registry.names("feed_policy", plugins=False)))
def test_every_policy_scores_valid_candidates_positive(policy):
    pop = population(3)
    store = store_with([1, 2, 1, 2], [NONE, SUGGESTIVE, ADULT_SEXUAL, NONE])
    rc = RecommenderConfig(feed=policy)
    ctx = FeedContext(store, pop, rc, 1)
    cand = np.array([[0, 1, 2, 3], [3, 2, -1, -1]])
    scores = make_feed_policy(rc).score(ctx, np.array([0, 1]), cand, np.random.default_rng(0))
    assert scores.shape == cand.shape and scores.dtype == np.float32
    assert (scores[cand >= 0] > 0).all() and np.isfinite(scores[cand >= 0]).all()
