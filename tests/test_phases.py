"""The day's phases called one at a time, on hand-built inputs: each returns what it did, and the recorder counts it."""

from __future__ import annotations

import numpy as np

from sim.measurement import DayRecorder
from sim.metrics import COLUMN
from sim.model import ExposureModel
from sim.phases.contact import contact
from sim.phases.engage import Engaged
from sim.phases.post import Posted
from sim.phases.suggest import Suggested, suggest
from sim.phases.enforce import without_accounts
from sim.phases.serve import sessions_today
from sim.vocabulary import FOLLOW_REQUEST, S_ADULT, SUGGESTION
from tests.conftest import tiny_config


def _no_engagement() -> Engaged:
    none = np.zeros(0, dtype=np.int64)
    return Engaged(np.zeros(0, bool), np.zeros(0, bool), none, none, none, np.zeros((4, 4), np.int64))


def test_suggestions_go_only_to_the_accounts_with_a_session():
    model = ExposureModel(tiny_config())
    pop = model.population
    sessions = np.zeros(pop.n, dtype=np.int64)
    sessions[[3, 11]] = 1                                   # a hand-built serving outcome: two accounts online
    out = suggest(pop, model.graph, model.followers, model.groups, model.account_suggester, model.group_suggester,
                  model.safeguards,
                  model.discovered, _no_engagement(), sessions, model.config.recommender, 1,
                  np.random.default_rng(0))
    assert out.account_viewer.size > 0
    assert set(out.account_viewer.tolist()) <= {3, 11}
    assert set(out.group_viewer.tolist()) <= {3, 11}
    assert out.follow_requests is not None


def test_no_account_suggester_means_no_follow_requests_from_suggestions():
    model = ExposureModel(tiny_config(**{"recommender.accounts": "off"}))
    out = suggest(model.population, model.graph, model.followers, model.groups, None, model.group_suggester,
                  model.safeguards,
                  model.discovered, _no_engagement(), np.ones(model.population.n, np.int64),
                  model.config.recommender, 1, np.random.default_rng(0))
    assert out.follow_requests is None and out.account_viewer.size == 0


def test_suggested_follow_requests_become_contact_attempts_through_suggestions():
    cfg = tiny_config(**{"population.offender_share": 0.0, "contact.adult_known_contact_per_day": 0.0,
                         "contact.adult_stranger_contact_per_day": 0.0, "contact.minor_peer_contact_per_day": 0.0})
    model = ExposureModel(cfg)
    pop = model.population
    adult = int(np.flatnonzero(~pop.is_minor & ~pop.decoy)[0])
    minor = int(np.flatnonzero(pop.is_minor & ~pop.decoy)[0])
    requests = (np.array([adult]), np.array([minor]))       # a hand-built suggestion outcome
    out = contact(pop, model.graph, model.followers, model.groups, model.discovered, model.conversations,
                  model.moderation, model.safeguards, _no_engagement(), np.zeros(pop.n, np.int64), requests,
                  cfg.contact, 1, np.random.default_rng(0))
    att = out.attempts
    assert att.n == 1
    assert (att.sender[0], att.target[0]) == (adult, minor)
    assert (att.kind[0], att.channel[0], att.sender_type[0]) == (FOLLOW_REQUEST, SUGGESTION, S_ADULT)
    assert out.allowed.all() and out.delivered.n == 1      # no safeguard is on


def test_decoys_get_exactly_their_whole_sessions():
    model = ExposureModel(tiny_config(**{"decoys.sessions_per_day": 3.0}))
    sessions = sessions_today(model.population, np.random.default_rng(1))
    assert (sessions[model.population.decoy] == 3).all()


def test_a_returning_account_loses_its_follows_followers_groups_and_discoveries():
    model = ExposureModel(tiny_config())
    account = int(np.argmax(model.graph.in_degree()))
    graph, followers, groups = without_accounts(model.graph, model.followers, model.groups, model.discovered,
                                                np.array([account]))
    assert graph.followees(account).size == 0 and followers.followees(account).size == 0
    assert not np.isin(account, graph.indices)
    reversed_ = graph.reversed()                  # the reverse is still exactly the graph's transpose
    assert np.array_equal(followers.indptr, reversed_.indptr) and np.array_equal(followers.indices, reversed_.indices)
    assert groups.account_indptr[account + 1] == groups.account_indptr[account]


def test_the_recorder_counts_posts_by_the_authors_cohort_and_the_items_class():
    model = ExposureModel(tiny_config())
    pop, items = model.population, model.items
    minor = int(np.flatnonzero(pop.is_minor & ~pop.decoy)[0])
    adult = int(np.flatnonzero(~pop.is_minor & ~pop.decoy)[0])
    slots = np.arange(3)
    items.author[slots] = [minor, adult, adult]
    items.harm[slots] = [0, 1, 0]
    recorder = DayRecorder(model.metrics, pop, items, model.contact_log, model.safeguards.names)
    recorder.posted(Posted(slots))
    today = model.metrics.today
    assert today[pop.cohort[minor], COLUMN["posts"]] == 1
    assert today[pop.cohort[adult], COLUMN["posts"]] == 2
    assert today[pop.cohort[adult], COLUMN["posts_suggestive"]] == 1
    assert today[:, COLUMN["posts"]].sum() == 3


def test_the_recorder_counts_suggestions_shown_and_follows_made():
    model = ExposureModel(tiny_config())
    pop = model.population
    minor = int(np.flatnonzero(pop.is_minor & ~pop.decoy)[0])
    adult = int(np.flatnonzero(~pop.is_minor & ~pop.decoy)[0])
    out = Suggested(account_viewer=np.array([minor, minor]), account_shown=np.array([adult, minor]),
                    follows=(np.array([minor]), np.array([adult])), follow_requests=(np.zeros(0, int),) * 2)
    DayRecorder(model.metrics, pop, model.items, model.contact_log, []).suggested(out, model.groups, 1)
    row = model.metrics.today[pop.cohort[minor]]
    assert row[COLUMN["account_suggestions"]] == 2
    assert row[COLUMN["adult_stranger_suggestions"]] == 1      # the adult shown to the minor
    assert row[COLUMN["follows_from_suggestions"]] == 1
