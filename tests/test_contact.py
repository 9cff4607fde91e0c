"""Contact (phase 6): discovery, attempts, responses, conversations, and the contact measurements.

Hand-built worlds of a few accounts test each function; tiny model runs test how
the phase is wired (contact table, counters, decoys, analytic limits).
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sim.config import ContactConfig
from sim.contact import (Attempts, Conversations, Discovered, discover, offender_attempts, ordinary_attempts,
                         respond)
from sim.metrics import COLUMN, COUNTERS, summarize
from sim.model import ExposureModel
from sim.network import FollowGraph, Groups
from sim.safeguards import SafeguardSet
from sim.vocabulary import (ADULT, COMMENT, COMMENT_CHANNEL, CONTACT, DECOY, DISCOVERY_CHANNELS, ENDED, ESCALATED,
                            FOLLOW_REQUEST, GROUP, GROUP_ADD, MESSAGE, MESSAGE_REQUEST, MINOR_13_15, MINOR_16_17,
                            NETWORK, OFFENDER, RAPPORT, S_ADULT, S_MINOR, S_OFFENDER, SEARCH, SOLICITATION, SUGGESTION)
from tests.conftest import tiny_config
from tests.test_recommenders import population
from tests.test_suggestions import follow_graph, make_groups

# ------------------------------------------------------------------ hand-built worlds

def world(ages, roles=None, private=None, follows=None, groups_of=None, n_groups=0):
    """(population, graph, followers, groups) of ``len(ages)`` accounts."""
    ages = np.asarray(ages)
    n = ages.size
    pop = population(n)
    pop.true_age[:] = ages
    pop.declared_age[:] = ages
    pop.protected[:] = ages < 18
    pop.cohort[:] = np.where(ages < 16, MINOR_13_15, np.where(ages < 18, MINOR_16_17, ADULT))
    if roles is not None:
        pop.role[:] = roles
    if private is not None:
        pop.private[:] = private
    graph = follow_graph(follows or [[] for _ in range(n)])
    groups = make_groups(groups_of or [[] for _ in range(n)], n_groups)
    return pop, graph, graph.reversed(), groups


def rng(*key: int) -> np.random.Generator:
    return np.random.default_rng(list(key))


def attempts(sender, target, kind, sender_type, channel=SEARCH) -> Attempts:
    sender = np.asarray(sender, dtype=np.int64)
    n = sender.size
    return Attempts(sender, np.asarray(target, dtype=np.int64),
                    np.broadcast_to(np.asarray(kind, dtype=np.int8), (n,)).copy(),
                    np.full(n, channel, np.int8),
                    np.broadcast_to(np.asarray(sender_type, dtype=np.int8), (n,)).copy(),
                    np.full(n, -1, np.int64))


def browse_only(**rates) -> ContactConfig:
    """A config in which offenders browse only through the given channels."""
    base = {"search_per_day": 0.0, "group_browse_per_day": 0.0, "network_browse_per_day": 0.0}
    return ContactConfig(**{**base, **rates})


def held(found: Discovered, offender: int) -> set[int]:
    row = found.target[found.index_of[offender]]
    return set(row[row >= 0].tolist())


# ------------------------------------------------------------------ tiny model runs

BUSY = {"population.n": 500, "days": 10, "population.offender_share": 0.03,
        "contact.adult_stranger_contact_per_day": 0.01}


def run_model(**overrides) -> ExposureModel:
    model = ExposureModel(tiny_config(**overrides))
    model.run()
    return model


def counter(model: ExposureModel, name: str, cohorts=(0, 1, 2, 3)) -> int:
    return int(model.metrics.as_array()[:, list(cohorts), COLUMN[name]].sum())


# ============================================================ 1. conservation

@pytest.mark.parametrize("seed", [1, 2])
def test_contact_table_conserves_attempts_when_a_safeguard_blocks_some(monkeypatch, seed):
    stopped_per_day = []

    def block_even_targets(self, att, *args, **kwargs):
        allowed = att.target % 2 == 1
        stopped_per_day.append(int((~allowed).sum()))
        # No registered safeguard stopped them: blocked_by stays -1, so no per-safeguard counter moves.
        return allowed, np.full(att.n, -1, dtype=np.int16)

    monkeypatch.setattr(SafeguardSet, "allow_contact", block_even_targets)
    # No displacement: blocked attempts are not re-aimed, so the hook is called once a day.
    model = run_model(seed=seed, **{**BUSY, "contact.displacement": 0.0})
    t = model.contact_table()

    # Every day, per channel and kind (summed over cohorts and senders): attempted = delivered + blocked.
    key = np.array([f"{d}|{c}|{k}" for d, c, k in zip(t["day"], t["channel"], t["kind"])])
    cells, inverse = np.unique(key, return_inverse=True)
    sums = {name: np.bincount(inverse, weights=t[name], minlength=cells.size)
            for name in ("attempted", "delivered", "blocked", "unwanted", "sexual_advance")}
    assert (sums["attempted"] == sums["delivered"] + sums["blocked"]).all()
    assert (t["attempted"] == t["delivered"] + t["blocked"]).all()
    assert (t["delivered"] >= t["unwanted"]).all() and (t["unwanted"] >= t["sexual_advance"]).all()

    # The blocks the hook made are the blocks the table and the counters show, day by day.
    blocked_by_day = np.bincount(t["day"], weights=t["blocked"], minlength=model.day + 1)[1:]
    assert blocked_by_day.tolist() == stopped_per_day
    assert sum(stopped_per_day) > 0
    h = model.metrics.as_array()
    assert h[:, :, COLUMN["contacts_blocked"]].sum(axis=1).tolist() == stopped_per_day
    attempted_by_day = np.bincount(t["day"], weights=t["attempted"], minlength=model.day + 1)[1:]
    assert h[:, :, COLUMN["contact_attempts"]].sum(axis=1).tolist() == attempted_by_day.tolist()
    delivered, blocked = counter(model, "contacts_delivered"), counter(model, "contacts_blocked")
    assert delivered + blocked == counter(model, "contact_attempts")
    assert 0 < counter(model, "legit_blocked") <= counter(model, "legit_attempts")

    # Nothing blocked reaches its target: even accounts never get an unwanted contact, odd ones do.
    first = model.population.first_unwanted_day
    assert (first[0::2] == -1).all()
    assert (first[1::2] > 0).any()


def test_unwanted_contacts_split_exactly_over_the_discovery_channels():
    model = run_model(seed=4, **BUSY)
    h = model.metrics.as_array()
    by_channel = sum(h[..., COLUMN[f"unwanted_via_{c}"]] for c in DISCOVERY_CHANNELS)
    assert (by_channel == h[..., COLUMN["unwanted_contacts"]]).all()
    assert h[..., COLUMN["unwanted_contacts"]].sum() > 0
    s = model.summary()
    assert sum(s[f"unwanted_contact_share_via_{c}"] for c in DISCOVERY_CHANNELS) == pytest.approx(1.0)


# ============================================================ 2. analytic limits

NO_OFFENDERS = {"population.n": 500, "days": 10, "population.offender_share": 0.0,
                # Plenty of ordinary stranger contact, much of it blocked: conversations end often.
                "contact.adult_stranger_contact_per_day": 0.02, "contact.block_stranger": 0.5}


def test_no_offenders_gives_sexual_advances_exactly_zero():
    # Many ordinary strangers are blocked here, so many conversations end: an ENDED stage (code 4,
    # above SOLICITATION) must not make a contact a sexual advance.
    model = run_model(seed=5, **NO_OFFENDERS)
    assert counter(model, "unwanted_contacts") > 0          # ordinary strangers still make unwanted contact
    assert counter(model, "unwanted_from_offenders") == 0
    assert counter(model, "sexual_advances") == 0
    assert counter(model, "sexual_advanced_7d") == 0
    assert model.contact_table()["sexual_advance"].sum() == 0
    s = model.summary()
    assert s["minor_sexual_advance_7d_share"] == 0
    assert s["sexual_advances_per_1k_minor_days"] == 0
    assert s["unwanted_contact_from_offenders_per_1k_minor_days"] == 0


def test_no_offenders_no_conversation_passes_rapport():
    model = run_model(seed=5, **NO_OFFENDERS)
    assert (model.conversations.stage != SOLICITATION).all()
    assert (model.conversations.stage != ESCALATED).all()
    assert counter(model, "conversations_rapport") > 0       # conversations do form and advance
    assert counter(model, "conversations_solicitation") == counter(model, "conversations_escalated") == 0


def test_accounts_off_gives_no_unwanted_contact_via_suggestion():
    model = run_model(seed=6, **{**BUSY, "recommender.accounts": "off"})
    assert counter(model, "unwanted_contacts") > 0           # so the share is 0, not NaN
    assert model.summary()["unwanted_contact_share_via_suggestion"] == 0
    assert "suggestion" not in set(model.contact_table()["channel"].tolist())


def _csr_without(indptr: np.ndarray, indices: np.ndarray, n_rows: int, drop_row: int, drop_value: int):
    rows = np.repeat(np.arange(n_rows), np.diff(indptr))
    keep = (rows != drop_row) & (indices != drop_value)
    new_ptr = np.zeros(n_rows + 1, dtype=np.int64)
    new_ptr[1:] = np.cumsum(np.bincount(rows[keep], minlength=n_rows))
    return new_ptr, indices[keep]


def make_undiscoverable(model: ExposureModel, x: int) -> None:
    """Account ``x``: private, posting nothing, following and followed by nobody, in no group."""
    pop = model.population
    pop.private[x] = True
    model.posts_per_day[x] = 0
    ptr, idx = _csr_without(model.graph.indptr, model.graph.indices, pop.n, x, x)
    model.graph = FollowGraph(ptr, idx, model.graph.community)
    model.followers = model.graph.reversed()
    g = model.groups
    aptr, agroups = _csr_without(g.account_indptr, g.account_groups, pop.n, x, -1)
    mptr, members = _csr_without(g.member_indptr, g.members, g.n_groups, -1, x)
    model.groups = Groups(g.topic, g.harmful, g.moderated, mptr, members, aptr, agroups)


@pytest.mark.parametrize("variant", ["never_opens_the_app", "active_without_suggestions"])
def test_minor_with_no_discoverable_channel_is_never_contacted_by_an_adult_stranger(monkeypatch, variant):
    seen = []
    original = SafeguardSet.allow_contact

    def record(self, att, *args, **kwargs):
        seen.append(att)
        return original(self, att, *args, **kwargs)

    monkeypatch.setattr(SafeguardSet, "allow_contact", record)
    overrides = {"population.n": 500, "days": 10, "population.offender_share": 0.05,
                 "contact.offender_attempts_per_day": 3.0, "contact.search_per_day": 3.0,
                 "contact.group_browse_per_day": 3.0, "contact.network_browse_per_day": 3.0,
                 "contact.adult_stranger_contact_per_day": 0.05}
    if variant == "active_without_suggestions":
        # An active minor could join a suggested group or follow a suggested account; here it cannot.
        overrides.update({"recommender.accounts": "off", "recommender.groups": "off"})
    for seed in (1, 2):
        seen.clear()
        model = ExposureModel(tiny_config(seed=seed, **overrides))
        pop = model.population
        x = int(np.flatnonzero(pop.is_minor & ~pop.decoy)[0])
        make_undiscoverable(model, x)
        if variant == "never_opens_the_app":
            # No sessions: no engagements (co-engagement), no joins, no follows.
            pop.activity[x] = 0
        model.run()
        adult_targets = np.concatenate([a.target[a.sender_type != S_MINOR] for a in seen])
        assert x not in adult_targets
        assert pop.first_unwanted_day[x] == -1
        assert x not in model.discovered.target
        # Privacy alone does not protect: other private minors are reached.
        private_minors = pop.private & pop.is_minor & ~pop.decoy
        assert private_minors[adult_targets].sum() > 0


def test_hand_built_undiscoverable_minor_is_never_found_or_targeted():
    # 0 offender, follows adult 5 and is in group 0 with minor 4.  1 ordinary adult, followed by minor 3.
    # 2 the undiscoverable minor (private, no follows, no followers, no group, no posts).
    # 3 public minor following 1 and 5.  4 private minor in group 0.  5 public adult.
    pop, graph, followers, groups = world(
        ages=[30, 40, 14, 14, 15, 35], roles=[OFFENDER, 0, 0, 0, 0, 0],
        private=[False, False, True, False, True, False],
        follows=[[5], [], [], [1, 5], [], []], groups_of=[[0], [], [], [], [0], []], n_groups=1)
    cfg = ContactConfig(search_per_day=5, group_browse_per_day=5, network_browse_per_day=5,
                        offender_attempts_per_day=5, adult_known_contact_per_day=2,
                        adult_stranger_contact_per_day=2, minor_peer_contact_per_day=2)
    found = Discovered(np.array([0]), pop.n, capacity=8)
    active = np.ones(pop.n, dtype=bool)
    targets = []
    for day in range(300):
        r = rng(12, day)
        discover(found, pop, graph, followers, groups, cfg, active, np.zeros(pop.n, np.int64), r)
        targets.append(offender_attempts(found, pop, graph, groups, cfg, active, r).target)
        targets.append(ordinary_attempts(pop, graph, followers, cfg, active, r).target)
        assert 2 not in found.target
    targets = np.concatenate(targets)
    assert 2 not in targets
    assert {3, 4} <= set(targets.tolist())          # the other minors are found and contacted


# ============================================================ 3. discovery channels

def test_search_finds_public_minors_and_never_private_ones():
    # 0 offender; 1 public minor; 2 private minor; 3 public adult.
    pop, graph, followers, groups = world([30, 14, 15, 30], roles=[OFFENDER, 0, 0, 0],
                                          private=[False, False, True, False])
    found = Discovered(np.array([0]), pop.n, capacity=8)
    for day in range(20):
        discover(found, pop, graph, followers, groups, browse_only(search_per_day=5), np.ones(4, bool),
                 np.zeros(4, np.int64), rng(1, day))
    assert held(found, 0) == {1}
    assert found.channel_of(np.array([0]), np.array([1])).tolist() == [SEARCH]


def test_search_favours_minors_who_post():
    # Minor 1 posts 9 items, minor 2 none: search weights 1 + posts, so 10 : 1.
    pop, graph, followers, groups = world([30, 14, 14], roles=[OFFENDER, 0, 0])
    hits = np.zeros(3, dtype=int)
    for day in range(400):
        found = Discovered(np.array([0]), pop.n, capacity=1)
        discover(found, pop, graph, followers, groups, browse_only(search_per_day=1), np.ones(3, bool),
                 np.array([0, 9, 0]), rng(2, day))
        hits[found.target[0, found.target[0] >= 0]] += 1
    p = 10 / 11
    share = hits[1] / hits.sum()
    assert abs(share - p) < 4 * math.sqrt(p * (1 - p) / hits.sum())


def test_group_browse_finds_co_member_minors_only():
    # Offender 0 shares group 0 with private minor 1 and adult 3; minor 2 is in group 1 only.
    pop, graph, followers, groups = world([30, 14, 14, 30], roles=[OFFENDER, 0, 0, 0],
                                          private=[False, True, False, False],
                                          groups_of=[[0], [0], [1], [0]], n_groups=2)
    found = Discovered(np.array([0]), pop.n, capacity=8)
    for day in range(20):
        discover(found, pop, graph, followers, groups, browse_only(group_browse_per_day=5), np.ones(4, bool),
                 np.zeros(4, np.int64), rng(3, day))
    assert held(found, 0) == {1}
    assert found.channel_of(np.array([0]), np.array([1])).tolist() == [GROUP]


def test_network_browse_finds_followers_of_followees_only():
    # Offender 0 follows adult 3; private minor 1 follows 3; minor 2 follows adult 4, whom 0 does not follow.
    pop, graph, followers, groups = world([30, 14, 14, 30, 30], roles=[OFFENDER, 0, 0, 0, 0],
                                          private=[False, True, False, False, False],
                                          follows=[[3], [3], [4], [], []])
    found = Discovered(np.array([0]), pop.n, capacity=8)
    for day in range(20):
        discover(found, pop, graph, followers, groups, browse_only(network_browse_per_day=5), np.ones(5, bool),
                 np.zeros(5, np.int64), rng(4, day))
    assert held(found, 0) == {1}
    assert found.channel_of(np.array([0]), np.array([1])).tolist() == [NETWORK]


def test_hidden_minors_are_never_discovered():
    pop, graph, followers, groups = world([30, 14, 14], roles=[OFFENDER, 0, 0], follows=[[], [], []],
                                          groups_of=[[0], [0], [0]], n_groups=1)
    visible = np.array([True, True, False])
    found = Discovered(np.array([0]), pop.n, capacity=8)
    cfg = ContactConfig(search_per_day=5, group_browse_per_day=5, network_browse_per_day=5)
    for day in range(20):
        discover(found, pop, graph, followers, groups, cfg, visible, np.zeros(3, np.int64), rng(5, day))
    assert held(found, 0) == {1}


@pytest.mark.parametrize("channel", [COMMENT_CHANNEL, SUGGESTION])
def test_add_records_the_channel_a_target_came_through(channel):
    found = Discovered(np.array([3, 7]), 10, capacity=4)
    found.add(np.array([7, 3]), np.array([1, 2]), channel)
    assert found.channel_of(np.array([7, 3, 3]), np.array([1, 2, 1])).tolist() == [channel, channel, -1]
    assert found.size().tolist() == [1, 1]


def test_add_ignores_accounts_that_are_not_offenders():
    found = Discovered(np.array([3]), 10, capacity=4)
    found.add(np.array([5, 3]), np.array([1, 2]), SEARCH)
    assert held(found, 3) == {2}
    assert found.size().tolist() == [1]


def test_every_discovery_channel_leads_to_offender_contact_in_a_model_run():
    # Network browsing rarely lands on a minor (adults mostly follow adults): browse more.
    model = run_model(seed=3, **{**BUSY, "recommender.accounts": "mixed", "contact.network_browse_per_day": 4.0})
    t = model.contact_table()
    offender = t["sender"] == "offender"
    channels = set(t["channel"][offender & (t["attempted"] > 0)].tolist())
    assert channels == set(DISCOVERY_CHANNELS)
    for name in ("comment", "suggestion"):
        assert counter(model, f"unwanted_via_{name}") > 0
    held_channels = model.discovered.channel[model.discovered.target >= 0]
    assert set(held_channels.tolist()) == set(range(len(DISCOVERY_CHANNELS)))


def test_discovered_set_keeps_only_the_last_capacity_targets():
    found = Discovered(np.array([0]), 20, capacity=3)
    for target in range(10, 16):
        found.add(np.array([0]), np.array([target]), SEARCH)
    assert held(found, 0) == {13, 14, 15}
    # One batch, in arrival order, overflowing the ring: the newest three stay.
    found.add(np.zeros(5, np.int64), np.arange(1, 6), GROUP)
    assert held(found, 0) == {3, 4, 5}
    assert found.size().tolist() == [3]


def test_duplicate_discoveries_keep_their_first_channel_and_take_no_slot():
    found = Discovered(np.array([0]), 20, capacity=2)
    found.add(np.array([0]), np.array([10]), SEARCH)
    found.add(np.array([0, 0]), np.array([10, 10]), np.array([GROUP, NETWORK]))
    found.add(np.array([0, 0]), np.array([11, 11]), np.array([COMMENT_CHANNEL, SUGGESTION]))
    assert held(found, 0) == {10, 11}
    assert found.channel_of(np.array([0, 0]), np.array([10, 11])).tolist() == [SEARCH, COMMENT_CHANNEL]


def test_forget_removes_the_target_and_it_is_no_longer_contacted():
    pop, graph, _, groups = world([30, 14, 14], roles=[OFFENDER, 0, 0])
    found = Discovered(np.array([0]), pop.n, capacity=4)
    found.add(np.array([0, 0]), np.array([1, 2]), SEARCH)
    found.forget(np.array([0]), np.array([1]))
    assert held(found, 0) == {2}
    assert found.channel_of(np.array([0]), np.array([1])).tolist() == [-1]
    att = offender_attempts(found, pop, graph, groups, ContactConfig(offender_attempts_per_day=50),
                            np.ones(3, bool), rng(6))
    assert att.n > 0 and set(att.target.tolist()) == {2}


# ============================================================ 4. offender attempts

def test_offenders_target_only_their_own_discovered_minors():
    # Offenders 0 and 1; minors 2..7; 0 found 2, 3, 4 and 1 found 5, 6; nobody found 7.
    pop, graph, _, groups = world([30, 30, 14, 14, 16, 15, 17, 14], roles=[OFFENDER, OFFENDER] + [0] * 6)
    found = Discovered(np.array([0, 1]), pop.n, capacity=8)
    found.add(np.array([0, 0, 0]), np.array([2, 3, 4]), SEARCH)
    found.add(np.array([1, 1]), np.array([5, 6]), GROUP)
    cfg = ContactConfig(offender_attempts_per_day=30)
    att = Attempts.concat([offender_attempts(found, pop, graph, groups, cfg, np.ones(pop.n, bool), rng(7, s))
                           for s in range(10)])
    assert set(att.target[att.sender == 0].tolist()) == {2, 3, 4}
    assert set(att.target[att.sender == 1].tolist()) == {5, 6}
    assert (att.channel == found.channel_of(att.sender, att.target)).all()
    assert (att.sender_type == S_OFFENDER).all()


def test_banned_offenders_make_no_attempts():
    pop, graph, _, groups = world([30, 30, 14], roles=[OFFENDER, OFFENDER, 0])
    found = Discovered(np.array([0, 1]), pop.n, capacity=4)
    found.add(np.array([0, 1]), np.array([2, 2]), SEARCH)
    active = np.array([True, False, True])
    att = offender_attempts(found, pop, graph, groups, ContactConfig(offender_attempts_per_day=30), active, rng(8))
    assert att.n > 0 and set(att.sender.tolist()) == {0}


ONLY = {"follow_share": 0.0, "message_share": 0.0, "comment_share": 0.0, "group_add_share": 0.0}


def kinds_by_target(att: Attempts) -> dict[int, set[int]]:
    out: dict[int, set[int]] = {}
    for t, k in zip(att.target.tolist(), att.kind.tolist()):
        out.setdefault(t, set()).add(k)
    return out


def test_follow_request_to_an_already_followed_minor_becomes_a_message():
    # Offender 0 follows 1 (who follows back) and 2 (who does not); 3 is not followed.
    pop, graph, _, groups = world([30, 14, 14, 14], roles=[OFFENDER, 0, 0, 0], follows=[[1, 2], [0], [], []])
    found = Discovered(np.array([0]), pop.n, capacity=4)
    found.add(np.array([0, 0, 0]), np.array([1, 2, 3]), SEARCH)
    cfg = ContactConfig(offender_attempts_per_day=60, **{**ONLY, "follow_share": 1.0})
    att = offender_attempts(found, pop, graph, groups, cfg, np.ones(4, bool), rng(9))
    assert kinds_by_target(att) == {1: {MESSAGE}, 2: {MESSAGE_REQUEST}, 3: {FOLLOW_REQUEST}}


def test_message_to_a_minor_who_does_not_follow_the_sender_is_a_message_request():
    # Minor 1 follows offender 0; minor 2 does not.
    pop, graph, _, groups = world([30, 14, 14], roles=[OFFENDER, 0, 0], follows=[[], [0], []])
    found = Discovered(np.array([0]), pop.n, capacity=4)
    found.add(np.array([0, 0]), np.array([1, 2]), SEARCH)
    cfg = ContactConfig(offender_attempts_per_day=60, **{**ONLY, "message_share": 1.0})
    att = offender_attempts(found, pop, graph, groups, cfg, np.ones(3, bool), rng(10))
    assert kinds_by_target(att) == {1: {MESSAGE}, 2: {MESSAGE_REQUEST}}


def test_group_add_only_when_the_offender_has_a_group():
    # Offender 0 is in groups 0 and 2; offender 1 is in none.
    pop, graph, _, groups = world([30, 30, 14, 14], roles=[OFFENDER, OFFENDER, 0, 0],
                                  groups_of=[[0, 2], [], [], [1]], n_groups=3)
    found = Discovered(np.array([0, 1]), pop.n, capacity=4)
    found.add(np.array([0, 0, 1, 1]), np.array([2, 3, 2, 3]), SEARCH)
    cfg = ContactConfig(offender_attempts_per_day=60, **{**ONLY, "group_add_share": 1.0})
    att = offender_attempts(found, pop, graph, groups, cfg, np.ones(4, bool), rng(11))
    by0, by1 = att.sender == 0, att.sender == 1
    assert by0.any() and by1.any()
    assert (att.kind[by0] == GROUP_ADD).all() and set(att.group[by0].tolist()) == {0, 2}
    assert not (att.kind[by1] == GROUP_ADD).any()
    assert set(att.kind[by1].tolist()) <= {MESSAGE, MESSAGE_REQUEST}
    assert (att.group[att.kind != GROUP_ADD] == -1).all()


@pytest.mark.parametrize("prefer_young", [1.0, 10.0])
def test_prefer_young_sets_the_share_of_13_15_targets(prefer_young):
    # Eight 14-year-olds and eight 16-year-olds, all public and discovered.
    ages = [30] + [14] * 8 + [16] * 8
    pop, graph, _, groups = world(ages, roles=[OFFENDER] + [0] * 16)
    found = Discovered(np.array([0]), pop.n, capacity=16)
    found.add(np.zeros(16, np.int64), np.arange(1, 17), SEARCH)
    cfg = ContactConfig(offender_attempts_per_day=3000, prefer_young=prefer_young)
    att = offender_attempts(found, pop, graph, groups, cfg, np.ones(pop.n, bool), rng(13))
    young = (pop.cohort[att.target] == MINOR_13_15).mean()
    p = prefer_young / (prefer_young + 1)
    # Binomial sampling error of the share over att.n attempts; 4 standard errors.
    assert abs(young - p) < 4 * math.sqrt(p * (1 - p) / att.n)
    if prefer_young > 1:
        assert young > 0.85


def test_prefer_public_sets_the_share_of_public_targets():
    ages = [30] + [14] * 10
    private = [False] + [True] * 5 + [False] * 5
    pop, graph, _, groups = world(ages, roles=[OFFENDER] + [0] * 10, private=private)
    found = Discovered(np.array([0]), pop.n, capacity=10)
    found.add(np.zeros(10, np.int64), np.arange(1, 11), SEARCH)
    cfg = ContactConfig(offender_attempts_per_day=3000, prefer_public=4.0)
    att = offender_attempts(found, pop, graph, groups, cfg, np.ones(pop.n, bool), rng(14))
    public = (~pop.private[att.target]).mean()
    assert abs(public - 0.8) < 4 * math.sqrt(0.8 * 0.2 / att.n)


# ============================================================ 5. responses

def test_known_senders_and_peers_are_never_blocked_or_reported():
    # Adult 0 and offender 1 are followed by minor 2; minor 3 follows nobody; 4 is a minor peer.
    pop, graph, _, _ = world([30, 30, 14, 16, 15], roles=[0, OFFENDER, 0, 0, 0], follows=[[], [], [0, 1], [], []])
    cfg = ContactConfig(block_stranger=1.0, report_stranger=1.0)
    reps = 50
    att = attempts(sender=[0, 1, 0, 1, 4] * reps, target=[2, 2, 3, 3, 3] * reps, kind=MESSAGE_REQUEST,
                   sender_type=[S_ADULT, S_OFFENDER, S_ADULT, S_OFFENDER, S_MINOR] * reps)
    resp = respond(att, pop, graph, cfg, rng(15))
    known = att.target == 2
    peer = att.sender_type == S_MINOR
    assert (resp.target_follows_sender == known).all()
    assert not (resp.blocked[known] | resp.reported[known]).any()
    assert not (resp.blocked[peer] | resp.reported[peer]).any()
    stranger = ~known & ~peer
    assert resp.blocked[stranger].all() and resp.reported[stranger].all()   # at rate 1, every one


def test_stranger_block_and_report_rates_match_the_config():
    pop, graph, _, _ = world([30, 14], roles=[OFFENDER, 0])
    cfg = ContactConfig(block_stranger=0.3, report_stranger=0.1)
    n = 5000
    att = attempts(sender=np.zeros(n), target=np.ones(n), kind=MESSAGE_REQUEST, sender_type=S_OFFENDER)
    resp = respond(att, pop, graph, cfg, rng(16))
    for rate, p in ((resp.blocked.mean(), 0.3), (resp.reported.mean(), 0.1)):
        assert abs(rate - p) < 4 * math.sqrt(p * (1 - p) / n)
    assert not (resp.replied & resp.blocked).any()         # a blocked stranger gets no reply
    p = cfg.reply_stranger_13_15
    rate = resp.replied[~resp.blocked].mean()
    assert abs(rate - p) < 4 * math.sqrt(p * (1 - p) / (~resp.blocked).sum())


@pytest.mark.parametrize("accept", [0.0, 1.0])
def test_follow_requests_to_public_minors_always_make_a_follow_unless_blocked(accept):
    # Minor 1 is public, minor 2 private.
    pop, graph, _, _ = world([30, 14, 14], roles=[OFFENDER, 0, 0], private=[False, False, True])
    cfg = ContactConfig(block_stranger=0.3, accept_follow_request=accept)
    n = 2000
    target = np.tile([1, 2], n // 2)
    att = attempts(sender=np.zeros(n), target=target, kind=FOLLOW_REQUEST, sender_type=S_OFFENDER)
    resp = respond(att, pop, graph, cfg, rng(17))
    public = target == 1
    assert resp.blocked[public].any() and not resp.blocked[public].all()
    assert (resp.follow_made[public] == ~resp.blocked[public]).all()
    # Private minors follow back only if they accept: never at 0, always (unless blocked) at 1.
    assert (resp.follow_made[~public] == (~resp.blocked[~public] & (accept == 1.0))).all()


def test_only_follow_requests_make_follows():
    pop, graph, _, _ = world([30, 14], roles=[OFFENDER, 0])
    n = 400
    kind = np.tile([MESSAGE, MESSAGE_REQUEST, COMMENT, GROUP_ADD], n // 4)
    att = attempts(sender=np.zeros(n), target=np.ones(n), kind=kind, sender_type=S_OFFENDER)
    assert not respond(att, pop, graph, ContactConfig(), rng(18)).follow_made.any()


# ============================================================ 6. conversations

# Few pairs and many days, so that pairs come back often enough to climb to ESCALATED and be hit again.
N_CONV = 6            # senders 0..2 (0 and 1 offenders), targets 3..5
# Replies common and ends rare, so that conversations get far before they stop.
attempt_st = st.tuples(st.integers(0, 2), st.integers(3, 5), st.integers(0, 4),
                       st.sampled_from([True, True, True, False]), st.sampled_from([False, False, False, True]))
prob_st = st.sampled_from([0.0, 0.4, 1.0, 1.0])


@settings(max_examples=80, deadline=None)
@given(days=st.lists(st.lists(attempt_st, max_size=10), min_size=1, max_size=20),
       p=st.tuples(prob_st, prob_st, prob_st, prob_st), seed=st.integers(0, 2**32 - 1))
def test_conversation_stages_only_move_forward(days, p, seed):
    cfg = ContactConfig(advance_rapport=p[0], advance_solicitation=p[1], advance_escalated=p[2], end_per_day=p[3])
    conv = Conversations(N_CONV)
    r = np.random.default_rng(seed)
    opened: dict[tuple[int, int], tuple[int, int]] = {}      # pair -> (day opened, first channel)
    before: dict[tuple[int, int], int] = {}
    for day, batch in enumerate(days, start=1):
        s, t, ch, replied, ended = (np.array(c, dtype=dt).reshape(-1) for c, dt in
                                    zip(zip(*batch) if batch else [[]] * 5,
                                        (np.int64, np.int64, np.int8, bool, bool)))
        out = conv.update(s, t, ch, replied, ended, s < 2, cfg, day, r)
        for a, b, c in zip(s.tolist(), t.tolist(), ch.tolist()):
            opened.setdefault((a, b), (day, c))

        # lookup finds exactly the opened pairs, in a sorted key array.
        assert (np.diff(conv.key) > 0).all()
        assert set(zip(conv.sender.tolist(), conv.target.tolist())) == set(opened)
        every = np.array([(a, b) for a in range(N_CONV) for b in range(N_CONV)])
        found = conv.lookup(every[:, 0], every[:, 1])
        for (a, b), i in zip(every.tolist(), found.tolist()):
            assert (i >= 0) == ((a, b) in opened)
            if i >= 0:
                assert (conv.opened[i], conv.channel[i]) == opened[(a, b)]
        assert (out == conv.stage[conv.lookup(s, t)]).all()

        now = dict(zip(zip(conv.sender.tolist(), conv.target.tolist()), conv.stage.tolist()))
        ended_today = {(a, b) for a, b, e in zip(s.tolist(), t.tolist(), ended.tolist()) if e}
        touched = set(zip(s.tolist(), t.tolist()))
        assert (conv.last[conv.lookup(s, t)] == day).all()
        for pair, stage in now.items():
            prev = before.get(pair, CONTACT)
            assert stage >= prev
            if prev in (ENDED, ESCALATED):
                assert stage == prev                      # terminal
            elif stage != ENDED:
                assert stage - prev <= 1                  # at most one step a day
            if pair in ended_today and prev < ESCALATED:
                assert stage == ENDED                     # a block or report ends an open conversation
            if stage == ENDED and prev != ENDED and pair in touched:
                assert pair in ended_today                # only idle conversations fade
            if pair[0] >= 2:
                assert stage in (CONTACT, RAPPORT, ENDED)  # non-offenders never pass rapport
        before = now


def test_offender_conversation_climbs_one_stage_a_day_and_stops_at_escalated():
    cfg = ContactConfig(advance_rapport=1.0, advance_solicitation=1.0, advance_escalated=1.0, end_per_day=0.0)
    conv = Conversations(4)
    s, t = np.array([0, 1]), np.array([2, 3])                # 0 -> 2 offender, 1 -> 3 ordinary adult
    ch, yes, no, offender = np.array([SEARCH, SEARCH], np.int8), np.ones(2, bool), np.zeros(2, bool), s == 0
    stages = [conv.update(s, t, ch, yes, no, offender, cfg, day, rng(19, day)).tolist() for day in range(1, 6)]
    assert [a for a, _ in stages] == [RAPPORT, SOLICITATION, ESCALATED, ESCALATED, ESCALATED]
    assert [b for _, b in stages] == [RAPPORT] * 5
    # A block ends the open conversation; the escalated one has left the platform and stays escalated.
    assert conv.update(s, t, ch, no, yes, offender, cfg, 6, rng(19, 6)).tolist() == [ESCALATED, ENDED]
    assert conv.update(s, t, ch, yes, no, offender, cfg, 7, rng(19, 7)).tolist() == [ESCALATED, ENDED]


def test_idle_conversations_fade_and_blocked_ones_end():
    cfg = ContactConfig(advance_rapport=0.0, end_per_day=1.0)
    conv = Conversations(6)
    no = np.array([False, False])
    conv.update(np.array([0, 1]), np.array([4, 5]), np.zeros(2, np.int8), no, no, no, cfg, 1, rng(20))
    # Day 2: pair 0 -> 4 is touched (and ended by a block); pair 1 -> 5 is left alone and fades.
    conv.update(np.array([0]), np.array([4]), np.zeros(1, np.int8), np.array([False]), np.array([True]),
                np.array([False]), cfg, 2, rng(21))
    assert conv.stage.tolist() == [ENDED, ENDED]
    assert conv.last.tolist() == [2, 1]


def test_lookup_finds_exactly_the_opened_pairs():
    conv = Conversations(10)
    cfg = ContactConfig(end_per_day=0.0)
    s, t = np.array([3, 1, 3, 1]), np.array([7, 8, 7, 9])
    z = np.zeros(4, bool)
    conv.update(s, t, np.array([GROUP, SEARCH, NETWORK, COMMENT_CHANNEL], np.int8), z, z, z, cfg, 5, rng(22))
    idx = conv.lookup(np.array([3, 1, 1, 7, 3, 0]), np.array([7, 8, 9, 3, 8, 0]))
    assert (idx[:3] >= 0).all() and (idx[3:] == -1).all()
    assert conv.key.size == 3
    # The first attempt of a pair gives the conversation its channel.
    assert conv.channel[idx[:3]].tolist() == [GROUP, SEARCH, COMMENT_CHANNEL]
    assert conv.opened[idx[:3]].tolist() == [5, 5, 5]


# ============================================================ 7. decoys

#: No offenders and no stranger contact: only a suggestion can bring an adult to a decoy. Adults accept
#: suggestions at 0.02 (twice the calibrated default) so that in 10 days most decoys are reached.
DECOY_WORLD = {"population.n": 500, "days": 10, "decoys.n": 8, "population.offender_share": 0.0,
               "contact.adult_stranger_contact_per_day": 0.0, "recommender.accounts": "friends_of_friends",
               "recommender.accept_suggestion_adult": 0.02}


def median_by_hand(first_day: np.ndarray) -> float:
    """Median day over decoys, "never" (-1) as infinitely late; NaN if that median is "never"."""
    days = sorted(float(d) if d > 0 else math.inf for d in first_day.tolist())
    m = len(days)
    if m == 0:
        return math.nan
    median = days[m // 2] if m % 2 else (days[m // 2 - 1] + days[m // 2]) / 2
    return median if math.isfinite(median) else math.nan


def test_cold_start_boost_brings_decoys_registered_as_adults_their_first_unwanted_contact():
    boosted = run_model(seed=1, **{**DECOY_WORLD, "recommender.new_account_share": 0.1})
    plain = run_model(seed=1, **{**DECOY_WORLD, "recommender.new_account_share": 0.0})
    table = boosted.decoy_table()
    assert (table["declared_age"] >= 18).all() and (table["true_age"] < 18).all()
    first = table["first_unwanted_contact_day"]
    assert (first > 0).sum() > len(first) // 2
    assert (first <= boosted.day).all()
    assert math.isfinite(boosted.summary()["decoy_days_to_first_unwanted_contact"])
    # Without the boost, nothing in this world leads an adult to the decoys.
    assert (plain.decoy_table()["first_unwanted_contact_day"] == -1).all()


@pytest.mark.parametrize("share", [0.0, 0.03, 0.1])
def test_decoy_days_to_first_unwanted_contact_is_the_median_from_the_decoy_table(share):
    model = run_model(seed=2, **{**DECOY_WORLD, "recommender.new_account_share": share})
    first = model.decoy_table()["first_unwanted_contact_day"]
    got = model.summary()["decoy_days_to_first_unwanted_contact"]
    expected = median_by_hand(first)
    assert (math.isnan(got) and math.isnan(expected)) or got == expected
    if share == 0.1:
        assert math.isfinite(got)
    if share == 0.0:
        assert math.isnan(got)


def test_decoys_get_no_unwanted_contact_without_boost_suggestions_offenders_or_strangers():
    model = run_model(seed=3, **{**DECOY_WORLD, "recommender.new_account_share": 0.0, "recommender.accounts": "off"})
    assert (model.decoy_table()["first_unwanted_contact_day"] == -1).all()
    assert counter(model, "unwanted_contacts") == 0
    assert counter(model, "contact_attempts") > 0           # known adults and peers still write
    s = model.summary()
    assert math.isnan(s["decoy_days_to_first_unwanted_contact"])
    assert s["decoy_unwanted_contacts_per_week"] == 0


# ============================================================ 8. summary formulas

M13, M16, ADULT_ROW, DECOY_ROW = MINOR_13_15, MINOR_16_17, ADULT, DECOY


def history(days: int) -> np.ndarray:
    return np.zeros((days, 4, len(COUNTERS)), dtype=np.int64)


def put(h, day, cohort, **counters):
    for name, value in counters.items():
        h[day, cohort, COLUMN[name]] = value


def test_contact_rates_and_shares_by_hand():
    h = history(3)
    # Day 0 is burn-in (outside a 2-day window); adults and decoys never count in minor figures.
    put(h, 0, M13, accounts=100, unwanted_contacts=99, unwanted_via_suggestion=99, contacts_blocked=99,
        legit_attempts=99, legit_blocked=99, sexual_advances=99)
    put(h, 1, M13, accounts=100, unwanted_contacts=6, unwanted_via_suggestion=3, unwanted_via_search=2,
        unwanted_via_group=1, contacts_blocked=4, legit_attempts=10, legit_blocked=2, sexual_advances=2)
    put(h, 1, M16, accounts=50, unwanted_contacts=4, unwanted_via_suggestion=1, unwanted_via_comment=3,
        contacts_blocked=1, legit_attempts=5, legit_blocked=1)
    put(h, 2, M13, accounts=100, legit_attempts=0)
    put(h, 2, M16, accounts=50, unwanted_contacts=10, unwanted_via_network=10, legit_attempts=5)
    for d in range(3):
        put(h, d, ADULT_ROW, accounts=300, unwanted_contacts=50, unwanted_via_suggestion=50, contacts_blocked=70,
            legit_attempts=80, legit_blocked=80)
        put(h, d, DECOY_ROW, accounts=4, unwanted_contacts=1 if d else 0)
    s = summarize(h, 2, np.array([1, -1, 2, 3]), np.array([2, -1, 4, 5]))
    minor_days = 300
    assert s["unwanted_contact_per_1k_minor_days"] == pytest.approx(1e3 * 20 / minor_days)
    assert s["sexual_advances_per_1k_minor_days"] == pytest.approx(1e3 * 2 / minor_days)
    assert s["unwanted_contact_share_via_suggestion"] == pytest.approx(4 / 20)
    assert s["unwanted_contact_share_via_network"] == pytest.approx(10 / 20)
    assert s["unwanted_contact_share_via_comment"] == pytest.approx(3 / 20)
    assert s["contacts_blocked_by_safeguards"] == pytest.approx(1e3 * 5 / minor_days)
    assert s["legit_contact_blocked_share"] == pytest.approx(3 / 20)
    # Decoys are probes from day 1: their weekly rate covers the whole run (3 days x 4 decoys), not the window.
    assert s["decoy_unwanted_contacts_per_week"] == pytest.approx(7 * 2 / 12)
    assert s["decoy_days_to_first_unwanted_contact"] == 4.5       # median of 2, 4, 5, never


def test_seven_day_contact_shares_are_means_of_daily_shares():
    h = history(3)
    put(h, 0, M13, accounts=100, unwanted_contacted_7d=100, sexual_advanced_7d=100)     # burn-in
    put(h, 1, M13, accounts=100, unwanted_contacted_7d=5, sexual_advanced_7d=1)
    put(h, 1, M16, accounts=50, unwanted_contacted_7d=10)
    put(h, 2, M13, accounts=100, unwanted_contacted_7d=5)
    put(h, 2, M16, accounts=50, unwanted_contacted_7d=20, sexual_advanced_7d=3)
    for d in range(3):
        put(h, d, ADULT_ROW, accounts=10, unwanted_contacted_7d=10, sexual_advanced_7d=10)
        put(h, d, DECOY_ROW, accounts=2, unwanted_contacted_7d=2, sexual_advanced_7d=2)
    s = summarize(h, 2, np.array([]))
    assert s["minor_unwanted_contact_7d_share"] == pytest.approx((15 / 150 + 25 / 150) / 2)
    assert s["minor_13_15_unwanted_contact_7d_share"] == pytest.approx(0.05)
    assert s["minor_sexual_advance_7d_share"] == pytest.approx((1 / 150 + 3 / 150) / 2)
    assert s["minor_13_15_sexual_advance_7d_share"] == pytest.approx((1 / 100 + 0) / 2)


def test_contact_figures_are_nan_without_a_denominator():
    h = history(2)
    put(h, 0, M13, accounts=10)
    put(h, 1, M13, accounts=10)
    s = summarize(h, 2, np.array([]))
    assert s["unwanted_contact_per_1k_minor_days"] == 0
    assert s["contacts_blocked_by_safeguards"] == 0
    for name in ("unwanted_contact_share_via_suggestion", "legit_contact_blocked_share",
                 "decoy_unwanted_contacts_per_week", "decoy_days_to_first_unwanted_contact"):
        assert math.isnan(s[name]), name


def test_unwanted_contacts_split_exactly_over_their_kinds():
    model = run_model(seed=2, **BUSY)
    h = model.metrics.as_array()
    kinds = sum(h[..., COLUMN[f"unwanted_{k}"]] for k in ("follow_request", "message", "message_request", "comment",
                                                          "group_add"))
    assert np.array_equal(kinds, h[..., COLUMN["unwanted_contacts"]])
    assert h[..., COLUMN["unwanted_follow_request"]].sum() > 0 and h[..., COLUMN["unwanted_comment"]].sum() > 0
    s = model.summary()
    minor_days = h[-model.config.measure_days:, [0, 1], COLUMN["accounts"]].sum()
    comments = h[-model.config.measure_days:, [0, 1], COLUMN["unwanted_comment"]].sum()
    assert s["unwanted_comment_per_1k_minor_days"] == pytest.approx(1e3 * comments / minor_days)
