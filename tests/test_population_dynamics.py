"""A living population: accounts register and leave during the run; decoys register as ordinary newcomers.

Rows are allocated at build time for every account of the run; a row is dormant
until its join day and gone once it leaves. These tests check that dormant and
departed accounts are never seen, that arrivals and departures follow their
rates, that newcomers are drawn like everyone else, that a world without
turnover is the fixed world it was, and that per-decoy figures no longer depend
on how many decoys there are.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from sim import registry
from sim.config import Config, ConfigError, DecoysConfig, PopulationConfig, validate
from sim.metrics import COLUMN
from sim.model import ExposureModel
from sim.network import REGISTRATION_FOLLOWS, REGISTRATION_GROUPS, FollowGraph
from sim.network.sources import Registrations, attach_newcomers
from sim.population import (ESTABLISHED_JOIN_DAY, arrival_days, build_population, initial_join_days)
from sim.safeguards import SafeguardSet
from sim.vocabulary import (ADULT, ADULT_AGE, DECOY, MINOR_13_15, MINOR_16_17, NONE, OFFENDER, YOUNG_BELOW)
from tests.conftest import tiny_config

#: A small world with a lot of turnover, so that every day has arrivals and departures.
CHURN = {"population.n": 600, "population.arrivals_per_day": 0.02, "population.departures_per_day": 0.02,
         "days": 12, "decoys.n": 4, "decoys.join_day": 5}


def _binomial_ok(count: float, n: float, p: float, z: float = 4.0) -> bool:
    """Whether ``count`` is within ``z`` standard deviations of Binomial(n, p)."""
    sd = math.sqrt(max(n * p * (1 - p), 1e-12))
    return abs(count - n * p) <= z * sd + 1e-9


# ----------------------------------------------------------------------------- nobody unseen is seen

def _watch(model: ExposureModel) -> list[str]:
    """Wrap the model's recorder so that every day's records are checked against ``present``; returns the problems."""
    pop, rec, items = model.population, model.recorder, model.items
    problems: list[str] = []

    def check(what: str, accounts: np.ndarray) -> None:
        accounts = np.asarray(accounts, dtype=np.int64)
        if accounts.size and not pop.present[accounts].all():
            problems.append(f"day {model.day}: {what} of an account not present")

    def wrap(name, check_out):
        original = getattr(rec, name)

        def recorder(out, *args, **kwargs):
            check_out(out)
            return original(out, *args, **kwargs)
        setattr(rec, name, recorder)

    def served(out):
        if (out.sessions[~pop.present] > 0).any():
            problems.append(f"day {model.day}: a session of an account not present")
        check("impression", out.impressions.viewer)
        check("impression of a post", items.author[out.impressions.item])

    def suggested(out):
        check("account suggestion to", out.account_viewer)
        check("account suggestion of", out.account_shown)
        check("group suggestion to", out.group_viewer)
        check("follow from a suggestion", np.concatenate(out.follows))
        check("group join", out.joins[0])

    def contacted(out):
        check("contact from", out.attempts.sender)
        check("contact to", out.attempts.target)

    wrap("posted", lambda out: check("post", items.author[out.slots]))
    wrap("served", served)
    wrap("suggested", suggested)
    wrap("contacted", contacted)
    add = model.discovered.add

    def discovered(offender, target, channel):
        check("discovery by", offender)
        check("discovery of", target)
        return add(offender, target, channel)
    model.discovered.add = discovered
    return problems


def test_no_dormant_or_departed_account_is_ever_seen():
    model = ExposureModel(tiny_config(**CHURN))
    pop = model.population
    problems = _watch(model)
    newcomer = pop.joined_day > 0
    assert newcomer.sum() > 50 and pop.decoy[newcomer].sum() == 4       # every day has arrivals
    for _ in range(model.config.days):
        model.step()
        day = model.day
        dormant = np.flatnonzero(pop.joined_day > day)
        # A dormant row has no follows, no followers and no groups: it cannot be found through them.
        assert not model.graph.out_degree()[dormant].any()
        assert not model.followers.out_degree()[dormant].any()
        assert not np.diff(model.groups.account_indptr)[dormant].any()
        # Departed accounts' posts went with them.
        up = model.items.live(day, model.config.content.retention_days)
        assert not pop.left[model.items.author[up]].any()
        # The day's accounts counter is today's present accounts, per cohort.
        today = model.metrics.history[-1][:, COLUMN["accounts"]]
        assert today.tolist() == np.bincount(pop.cohort[pop.present], minlength=today.size).tolist()
    assert problems == []
    assert pop.left.sum() > 20 and not pop.left[pop.decoy].any()
    assert not (pop.present & pop.left).any() and not (pop.present & pop.banned).any()


def test_departed_accounts_are_not_shown_even_by_followers_who_still_follow_them():
    # Departures leave the follow graph as it is: a follower's in-network candidates may point at
    # someone who left, but his posts are gone, so no impression, suggestion or contact comes of it.
    model = ExposureModel(tiny_config(**{**CHURN, "population.departures_per_day": 0.05}))
    problems = _watch(model)
    model.run()
    pop = model.population
    assert pop.left.sum() > 100
    assert np.isin(model.graph.indices, np.flatnonzero(pop.left)).sum() > 100
    assert problems == []


# ----------------------------------------------------------------------------- rates

def test_arrivals_per_day_match_the_configured_rate():
    n, rate, days = 2000, 0.01, 30
    cfg = tiny_config(**{"population.n": n, "population.arrivals_per_day": rate, "days": days, "decoys.n": 0})
    model = ExposureModel(cfg)
    pop = model.population
    joined = pop.joined_day[pop.joined_day > 0]
    per_day = np.bincount(joined, minlength=days + 1)[1:]
    assert joined.min() >= 1 and joined.max() <= days
    # Total ~ Poisson(n * rate * days) = Poisson(600): within 4 standard deviations (about +-98).
    mean = n * rate * days
    assert abs(per_day.sum() - mean) <= 4 * math.sqrt(mean)
    # Poisson per day: the variance of the daily counts is about their mean (dispersion 1; with 30
    # days its standard error is sqrt(2 / 29) = 0.26).
    assert 0.3 < per_day.var(ddof=1) / per_day.mean() < 2.2
    # The rows really arrive on their day.
    arrived = []
    original = SafeguardSet.on_join

    def on_join(self, accounts, context):
        arrived.append((context.day, np.sort(accounts)))
        return original(self, accounts, context)
    model.safeguards.on_join = on_join.__get__(model.safeguards)
    registration_day = pop.joined_day.copy()        # a banned offender's return later rewrites his row's day
    model.run(10)
    for day, accounts in arrived:
        expected = np.flatnonzero(registration_day == day)
        assert set(expected.tolist()) <= set(accounts.tolist())
        # The others are banned offenders back with a new account (they returned the day before).
        others = np.setdiff1d(accounts, expected)
        assert (pop.role[others] == OFFENDER).all()
        assert (pop.joined_day[others] >= day - 1).all()


def test_departures_per_day_match_the_configured_rate():
    q = 0.02
    model = ExposureModel(tiny_config(**{"population.n": 1000, "population.departures_per_day": q,
                                         "population.arrivals_per_day": 0.0, "days": 10}))
    pop = model.population
    at_risk = 0
    for _ in range(10):
        eligible = (pop.joined_day < model.day + 1) & ~pop.banned & ~pop.left & ~pop.decoy
        at_risk += int(eligible.sum())
        model.step()
    assert _binomial_ok(int(pop.left.sum()), at_risk, q)
    assert not pop.left[pop.decoy].any()


def test_initial_tenures_are_the_steady_state_of_the_departure_rate():
    q = 0.01
    joined = initial_join_days(200_000, q, np.random.default_rng(0))
    tenure = -joined                     # 0: joined the day before the run
    assert tenure.min() == 0
    # Geometric from 0: mean (1 - q) / q = 99; P(tenure < 30) = 1 - (1 - q)^30 = 0.26.
    assert abs(tenure.mean() - (1 - q) / q) < 1.0
    assert _binomial_ok(int((tenure < 30).sum()), tenure.size, 1 - (1 - q) ** 30)
    assert (initial_join_days(5, 0.0, np.random.default_rng(0)) == ESTABLISHED_JOIN_DAY).all()


def test_some_accounts_present_at_the_start_share_the_cold_start_boost_from_day_one():
    model = ExposureModel(tiny_config(**{"population.n": 2000, "population.departures_per_day": 0.001}))
    pop, days = model.population, model.config.recommender.new_account_days
    recent = (1 - pop.joined_day < days) & pop.present
    # 1 - 0.999^30 = 3.0% of 2000 accounts: about 59.
    assert _binomial_ok(int(recent.sum()), 2000, 1 - 0.999 ** days)


# ----------------------------------------------------------------------------- who the newcomers are

def test_newcomers_are_drawn_from_the_same_population_model():
    cfg = PopulationConfig(n=20_000, offender_share=0.02)
    rng = np.random.default_rng(5)
    arrivals = arrival_days(cfg.n, 0.01, 30, rng)
    pop = build_population(cfg, DecoysConfig(n=0), rng, arrivals=arrivals)
    new = pop.joined_day > 0
    assert new.sum() == arrivals.size > 5000
    for rows in (new, ~new):
        minor = pop.is_minor[rows]
        assert _binomial_ok(int(minor.sum()), rows.sum(), cfg.minor_share)
        young = pop.true_age[rows] < YOUNG_BELOW
        assert _binomial_ok(int(young.sum()), int(minor.sum()), cfg.minor_13_15_share)
        adult = ~minor
        assert _binomial_ok(int((pop.role[rows][adult] == OFFENDER).sum()), int(adult.sum()), cfg.offender_share)
        declared_adult = pop.declared_age[rows][minor] >= ADULT_AGE
        assert 0 < declared_adult.mean() < 1
    # The same age distribution: each age's share agrees between newcomers and the rest.
    ages = np.arange(pop.true_age.max() + 1)
    for age in ages[np.bincount(pop.true_age) > 300]:
        a, b = pop.true_age[new] == age, pop.true_age[~new] == age
        pooled = (a.sum() + b.sum()) / pop.n
        se = math.sqrt(pooled * (1 - pooled) * (1 / a.size + 1 / b.size))
        assert abs(a.mean() - b.mean()) <= 4 * se, age
    # Cohorts of newcomers are the ordinary ones (the decoys' is for decoys only).
    assert set(np.unique(pop.cohort[new]).tolist()) == {MINOR_13_15, MINOR_16_17, ADULT}


def test_newcomers_follow_popular_accounts_of_their_age_and_join_benign_groups_when_they_register():
    model = ExposureModel(tiny_config(**{**CHURN, "network.harmful_group_share": 0.3}))
    pop, regs = model.population, model.registrations
    newcomers = np.flatnonzero(pop.joined_day > 0)
    (follower, followed), (member, group) = regs.of(newcomers)
    per = np.bincount(follower, minlength=pop.n)[newcomers]
    assert (per == REGISTRATION_FOLLOWS).all()
    assert (pop.is_minor[follower] == pop.is_minor[followed]).all()
    assert (pop.joined_day[followed] <= 0).all()                   # accounts present at the start
    groups_each = np.bincount(member, minlength=pop.n)[newcomers]
    assert groups_each.min() >= 1 and groups_each.max() <= REGISTRATION_GROUPS
    assert not model.groups.harmful[group].any()
    # On its join day a newcomer's registration follows are in the graph (of the accounts present),
    # and so are its groups.
    for _ in range(8):
        model.step()
        today = np.flatnonzero(pop.joined_day == model.day)
        (follower, followed), (member, group) = regs.of(today)
        kept = pop.present[followed]
        assert model.graph.has_edges(follower[kept], followed[kept]).all()
        assert model.groups.is_member(member, group).all()


def test_newcomers_of_a_graph_file_follow_its_popular_accounts_of_their_age():
    rng = np.random.default_rng(3)
    n = 300
    src = rng.integers(0, n, 3000)
    dst = np.minimum(rng.exponential(40.0, 3000).astype(np.int64), n - 1)     # low rows are popular
    base = FollowGraph(np.zeros(n + 1, dtype=np.int64), np.zeros(0, dtype=np.int32)).with_edges(src, dst)
    ages = np.where(np.arange(n) % 3 == 0, 15, 40)
    pop = build_population(PopulationConfig(n=n), DecoysConfig(n=5, join_day=4), rng, n=n, true_age=ages,
                           arrivals=arrival_days(n, 0.02, 10, rng))
    graph = attach_newcomers(base, pop, np.random.default_rng(4))
    newcomers = np.arange(n, pop.n)
    assert graph.n == pop.n and (graph.in_degree()[newcomers] == 0).all()
    assert (graph.out_degree()[newcomers] == REGISTRATION_FOLLOWS).all()
    src, dst = graph.edges()
    mine = src >= n
    assert (pop.is_minor[src[mine]] == pop.is_minor[dst[mine]]).all() and (dst[mine] < n).all()
    # Drawn by popularity: the accounts they follow have far more followers than the average.
    assert base.in_degree()[dst[mine]].mean() > 2 * base.in_degree().mean()


# ----------------------------------------------------------------------------- no turnover: the fixed world

def test_without_arrivals_and_departures_the_world_is_the_fixed_one():
    cfg = tiny_config(**{"population.arrivals_per_day": 0.0, "population.departures_per_day": 0.0,
                         "decoys.join_day": 1, "moderation.enabled": False})     # no bans: nobody goes
    model = ExposureModel(cfg)
    pop = model.population
    n, nd = cfg.population.n, cfg.decoys.n
    assert pop.n == n + nd and pop.decoy[n:].all() and not pop.decoy[:n].any()
    assert (pop.joined_day[:n] == ESTABLISHED_JOIN_DAY).all() and (pop.joined_day[n:] == 1).all()
    # The graph and groups the source built are the ones the decoys find when they register on day 1.
    built, graph = registry.get("graph_source", "synthetic")().build(cfg, model.streams)
    (follower, followed), joins = model.registrations.of(np.flatnonzero(pop.decoy))
    rejoined = model.graph.with_edges(follower, followed)
    assert np.array_equal(rejoined.indptr, graph.indptr) and np.array_equal(rejoined.indices, graph.indices)
    assert np.array_equal(built.true_age, pop.true_age) and np.array_equal(built.role, pop.role)
    model.run()
    assert not pop.left.any() and pop.present.all()
    accounts = model.metrics.as_array()[:, :, COLUMN["accounts"]]
    assert (accounts == np.bincount(pop.cohort, minlength=accounts.shape[1])).all()


def test_registrations_split_and_hand_back_exactly_the_newcomers_connections():
    model = ExposureModel(tiny_config(**CHURN))
    pop = model.population
    assert model.registrations.follower.size == REGISTRATION_FOLLOWS * int((pop.joined_day > 0).sum())
    empty = Registrations.none()
    assert empty.of(np.arange(5))[0][0].size == 0


# ----------------------------------------------------------------------------- decoys are ordinary newcomers

def test_decoys_join_on_join_day_and_do_nothing_before():
    join = 6
    model = ExposureModel(tiny_config(**{**CHURN, "decoys.join_day": join, "days": 9}))
    pop = model.population
    decoys = np.flatnonzero(pop.decoy)
    assert (pop.joined_day[decoys] == join).all()
    assert not model.graph.out_degree()[decoys].any()
    model.run()
    h = model.metrics.as_array()[:, DECOY]
    before, after = h[: join - 1], h[join - 1:]
    for counter in ("accounts", "sessions", "impressions", "posts", "contact_attempts", "account_suggestions",
                    "age_checks"):
        assert before[:, COLUMN[counter]].sum() == 0, counter
    assert (after[:, COLUMN["accounts"]] == decoys.size).all()
    assert after[:, COLUMN["sessions"]].sum() > 0 and after[:, COLUMN["impressions"]].sum() > 0
    firsts = np.concatenate([pop.first_harm_day[decoys], pop.first_unwanted_day[decoys],
                             pop.first_harmful_suggestion_day[decoys]])
    assert ((firsts == -1) | (firsts >= join)).all()                 # absolute days, all on or after joining
    assert (model.graph.out_degree()[decoys] >= 1).all()


def test_decoys_may_not_join_after_the_run():
    cfg = Config(days=10, measure_days=5)
    with pytest.raises(ConfigError, match=r"decoys.join_day=15 exceeds days=10.*decoys.join_day<=10"):
        validate(cfg)
    cfg.decoys.n = 0
    validate(cfg)


def _per_decoy_week(n_decoys: int, seed: int, **overrides) -> tuple[np.ndarray, np.ndarray]:
    """Unwanted contacts and harmful impressions of each decoy of one world in its first 7 days."""
    join = 3
    cfg = tiny_config(**{"population.n": 2000, "network.mean_following": 15, "decoys.n": n_decoys,
                         "decoys.join_day": join, "days": join + 6, "seed": seed, **overrides})
    model = ExposureModel(cfg)
    pop, rec, items = model.population, model.recorder, model.items
    index = np.full(pop.n, -1)
    index[pop.decoy] = np.arange(n_decoys)
    contacts, harmful = np.zeros(n_decoys), np.zeros(n_decoys)
    contacted, engaged = rec.contacted, rec.engaged

    def count_contacts(out, day):
        reached = out.delivered.target[out.unwanted]
        np.add.at(contacts, index[reached[pop.decoy[reached]]], 1)
        return contacted(out, day)

    def count_harmful(out, served, day):
        imps = served.impressions
        viewer = imps.viewer[items.harm[imps.item] > NONE]
        np.add.at(harmful, index[viewer[pop.decoy[viewer]]], 1)
        return engaged(out, served, day)
    rec.contacted, rec.engaged = count_contacts, count_harmful
    model.run()
    return contacts, harmful


def _worlds(n_decoys: int, seeds: range, **overrides) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Per-decoy weekly contacts and harmful impressions, one array per world (seed)."""
    runs = [_per_decoy_week(n_decoys, seed, **overrides) for seed in seeds]
    return [c for c, _ in runs], [h for _, h in runs]


def _interval(worlds: list[np.ndarray], level: float = 0.95, draws: int = 4000) -> tuple[float, float]:
    """Two-stage bootstrap interval of the mean per decoy-week: worlds, then decoys within each world.

    Worlds differ (a few offenders and producers more or less), so the worlds
    are resampled, not only the decoys: an interval over decoys alone would
    be too narrow.
    """
    rng = np.random.default_rng(0)
    k, size = len(worlds), worlds[0].size
    table = np.stack(worlds)                                    # worlds x decoys
    w = rng.integers(0, k, (draws, k))
    d = rng.integers(0, size, (draws, k, size))
    means = table[w[:, :, None], d].mean(axis=(1, 2))
    return tuple(np.quantile(means, [(1 - level) / 2, (1 + level) / 2]))


def _overlap(a: tuple[float, float], b: tuple[float, float]) -> bool:
    return a[0] <= b[1] and b[0] <= a[1]


def test_per_decoy_rates_do_not_depend_on_the_number_of_decoys():
    """The audit's figures are per decoy: 10 or 80 decoys must see the same weekly rates.

    Unwanted contacts and harmful impressions per decoy in its first week,
    over 8 worlds with 10 decoys and 3 with 80. The cold-start boost is a
    share of suggestion slots split among every account in its first
    ``new_account_days``; decoys are newcomers among others, so they must be
    few beside them for their share not to shrink. Here 1% of accounts
    register and leave each day (about 520 accounts in the boost window of a
    2,000-account world, against 80 decoys at most). With no turnover the
    decoys are the only newcomers, and the same comparison shows the
    dependence the living population removes: the control below makes sure
    this test can see it.

    Offenders' finite attention is a second, separate reason: at the
    calibrated share (1.2% of adults, about 21 here) 80 decoys add a quarter
    to the 300 minors offenders can find, and each decoy's share of their
    attempts shrinks (first-week contacts per decoy 0.64–1.64 with 10,
    0.32–0.55 with 80). That is why decoys must stay few beside the minors
    they resemble (20 among 1,500 in the default world); this test holds
    offenders at 0.5% of adults to test the boost alone.
    """
    churn = {"population.arrivals_per_day": 0.01, "population.departures_per_day": 0.01,
             "population.offender_share": 0.005}
    few_c, few_h = _worlds(10, range(8), **churn)
    many_c, many_h = _worlds(80, range(3), **churn)
    assert sum(c.sum() for c in few_c) > 0 and sum(c.sum() for c in many_c) > 0
    assert _overlap(_interval(few_c), _interval(many_c)), (_interval(few_c), _interval(many_c))
    assert _overlap(_interval(few_h), _interval(many_h)), (_interval(few_h), _interval(many_h))

    # Control: decoys alone share the boost; ten decoys get several times the contacts of eighty.
    fixed = {"population.arrivals_per_day": 0.0, "population.departures_per_day": 0.0,
             "population.offender_share": 0.005}
    alone_few, _ = _worlds(10, range(3), **fixed)
    alone_many, _ = _worlds(80, range(2), **fixed)
    assert not _overlap(_interval(alone_few), _interval(alone_many)), (_interval(alone_few), _interval(alone_many))
    assert np.mean(alone_few) > 3 * np.mean(alone_many)
