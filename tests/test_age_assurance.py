"""S9 age assurance (sim.age_assurance): methods with an error, evasion, and the moments checks run.

Tiny hand-built populations where the answer can be computed: each test builds
one ``AgeAssurance`` (or a ``SafeguardSet``) directly and calls its hooks with
a ``SafeguardContext`` over ``RandomStreams``.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sim.age_assurance import AgeAssurance, estimation_sigma
from sim.config import AgeAssuranceConfig, SafeguardsConfig, validate
from sim.contact import Attempts
from sim.content import ItemStore
from sim.model import ExposureModel, RandomStreams
from sim.population import Population
from sim.safeguards import SafeguardContext, SafeguardSet
from sim.vocabulary import ADULT_AGE, MESSAGE, OFFENDER, S_ADULT, SEARCH
from tests.conftest import tiny_config
from tests.test_safeguards import world

NO_ITEMS = ItemStore(8, 4)
COUNTERS = ("age_checks", "minors_found_by_age_assurance", "adults_wrongly_protected", "posers_found_by_age_assurance")


def config(**keys) -> AgeAssuranceConfig:
    """Age assurance on, with every trigger off unless asked for (periodic checks every day by default)."""
    base = dict(enabled=True, at_registration=False, before_first_contact=False, on_flags=False,
                youth_signal_per_day=0.0, false_signal_per_day=0.0, cadence_days=1)
    return AgeAssuranceConfig(**{**base, **keys})


def context(day: int = 1, seed: int = 0) -> SafeguardContext:
    return SafeguardContext(day, RandomStreams(seed))


def guard(pop: Population, seed: int = 0, **keys) -> AgeAssurance:
    g = AgeAssurance(config(**keys), pop, NO_ITEMS)
    g.setup(context(0, seed))
    return g


def counted(ctx: SafeguardContext) -> dict[str, list[int]]:
    return {c: sorted(ctx.counts.get(c, np.zeros(0, np.int64)).tolist()) for c in COUNTERS}


def stranger_messages(sender, target) -> Attempts:
    sender = np.asarray(sender, dtype=np.int64)
    n = sender.size
    return Attempts(sender, np.asarray(target, dtype=np.int64), np.full(n, MESSAGE, np.int8),
                    np.full(n, SEARCH, np.int8), np.full(n, S_ADULT, np.int8), np.full(n, -1, np.int64))


# ------------------------------------------------------------------ the error model and the config


def test_the_estimation_sigma_gives_the_stated_mean_absolute_error():
    assert estimation_sigma(1.5) * math.sqrt(2 / math.pi) == pytest.approx(1.5)
    assert estimation_sigma(0.0) == 0.0
    error = estimation_sigma(4.3) * np.random.default_rng(1).standard_normal(200_000)
    assert np.abs(error).mean() == pytest.approx(4.3, rel=0.01)


def test_the_defaults_describe_facial_estimation_with_a_buffer_and_document_fallback():
    cfg = AgeAssuranceConfig()
    assert (cfg.method, cfg.estimation_mae_years, cfg.buffer_years, cfg.document_adult_pass) == (
        "facial_estimation", 1.5, 3.0, 0.97)
    assert (cfg.evasion_share, cfg.at_registration, cfg.before_first_contact, cfg.on_flags) == (0.1, True, False, True)
    assert (cfg.youth_signal_per_day, cfg.false_signal_per_day, cfg.cadence_days) == (0.01, 0.0005, 0)
    assert not hasattr(cfg, "recall") and not hasattr(cfg, "false_positive_rate")


def test_an_unknown_method_is_refused_by_validation():
    cfg = tiny_config()
    cfg.safeguards.age_assurance.method = "oracle"
    with pytest.raises(ValueError, match="age_assurance.method='oracle'"):
        validate(cfg)


# ------------------------------------------------------------------ methods


def test_self_declaration_finds_nobody():
    # A minor registered as an adult, an adult, an offender posing as a 15-year-old, a decoy.
    pop = world([14, 30, 35, 13], declared=[19, 30, 15, 21], roles=[0, 0, OFFENDER, 0],
                decoy=[False, False, False, True])
    before = (pop.declared_age.copy(), pop.protected.copy())
    g = guard(pop, method="self_declaration", evasion_share=0.0)
    ctx = context()
    g.daily(ctx)
    assert np.array_equal(pop.declared_age, before[0]) and np.array_equal(pop.protected, before[1])
    assert counted(ctx) == {"age_checks": [0, 1, 2, 3], "minors_found_by_age_assurance": [],
                            "adults_wrongly_protected": [], "posers_found_by_age_assurance": []}


def test_exact_facial_estimation_finds_every_non_evading_minor_and_no_adult():
    ages = np.repeat(np.arange(13, 40), 40)
    pop = world(ages, declared=np.maximum(ages, 19))          # every minor registered as an adult
    g = guard(pop, seed=3, method="facial_estimation", estimation_mae_years=0.0, buffer_years=0.0,
              document_adult_pass=0.5, evasion_share=0.3)
    ctx = context()
    g.daily(ctx)
    minor = ages < ADULT_AGE
    assert g.evades[minor].any() and not g.evades[~minor].any()
    assert np.array_equal(pop.protected, minor & ~g.evades)
    assert (pop.declared_age[pop.protected] == ages[pop.protected]).all()   # found minors get their true age
    assert counted(ctx)["adults_wrongly_protected"] == []
    assert counted(ctx)["minors_found_by_age_assurance"] == np.flatnonzero(minor & ~g.evades).tolist()


def test_facial_estimation_false_positives_fall_only_on_adults_near_the_threshold():
    ages = np.repeat(np.arange(18, 61), 300)
    pop = world(ages)
    g = guard(pop, seed=5, method="facial_estimation", estimation_mae_years=1.5, buffer_years=3.0,
              document_adult_pass=0.8, evasion_share=0.1)
    ctx = context()
    g.daily(ctx)
    sigma = estimation_sigma(1.5)
    wrong = np.asarray(counted(ctx)["adults_wrongly_protected"])
    assert np.array_equal(np.sort(np.flatnonzero(pop.protected)), wrong)
    assert (pop.declared_age[wrong] == ADULT_AGE - 1).all()          # taken for a 17-year-old
    assert (ages[wrong] <= ADULT_AGE + 3.0 + 5 * sigma).all()
    young = (ages >= 18) & (ages <= 20)
    # 18-20-year-olds are mostly estimated under 21 and a fifth of those have no ID at hand.
    share = pop.protected[young].mean()
    assert 0.1 < share < 0.2
    assert pop.protected[ages >= 40].sum() == 0


def test_document_checks_pass_adults_with_the_stated_share_and_never_a_minor():
    ages = np.concatenate([np.full(4000, 30), np.full(500, 15)])
    pop = world(ages, declared=np.full(ages.size, 25))
    g = guard(pop, seed=2, method="document", document_adult_pass=0.9, evasion_share=0.0)
    g.daily(context())
    adult = ages >= ADULT_AGE
    assert pop.protected[~adult].all()
    assert abs(pop.protected[adult].mean() - 0.1) < 4 * math.sqrt(0.1 * 0.9 / 4000)


def test_a_passed_document_check_gives_the_same_answer_later():
    pop = world(np.full(200, 30))
    g = guard(pop, method="document", document_adult_pass=1.0)
    g.daily(context(1))
    assert not pop.protected.any() and g.document_passed.all()
    g.config.document_adult_pass = 0.0                     # an ID no longer at hand does not matter: it was shown
    for day in range(2, 6):
        g.daily(context(day))
    assert not pop.protected.any()


def test_facial_estimation_draws_a_new_error_at_each_check():
    # Nineteen-year-olds without any ID: each check estimates their face again.
    pop = world(np.full(2000, 19))
    g = guard(pop, method="facial_estimation", estimation_mae_years=1.5, buffer_years=1.0, document_adult_pass=0.0)
    ctx1 = context(1)
    g.daily(ctx1)
    first = pop.protected.copy()
    assert 0 < first.mean() < 1
    ctx2 = context(2)
    g.daily(ctx2)
    # Some who passed fail this time; nobody wrongly protected is let out by a face alone (that takes a
    # document, and these adults have none).
    assert (~first & pop.protected).any()
    assert not (first & ~pop.protected).any()
    assert counted(ctx2)["posers_found_by_age_assurance"] == []


def test_a_wrongly_protected_adult_is_let_out_by_a_document_and_not_counted_as_a_poser():
    pop = world(np.full(500, 19))
    g = guard(pop, method="facial_estimation", estimation_mae_years=1.5, buffer_years=3.0, document_adult_pass=0.0)
    g.daily(context(1))
    wrongly = pop.protected.copy()
    assert wrongly.any()
    g.config.document_adult_pass = 1.0
    ctx = context(2)
    g.daily(ctx)
    assert not pop.protected.any()
    assert (pop.declared_age == 19).all()
    assert counted(ctx)["posers_found_by_age_assurance"] == []


# ------------------------------------------------------------------ evasion and decoys


def test_evaders_are_never_found_on_any_repeated_check():
    ages = np.full(2000, 15)
    for method in ("facial_estimation", "document"):
        pop = world(ages, declared=np.full(ages.size, 20))
        g = guard(pop, seed=4, method=method, evasion_share=0.25)
        assert abs(g.evades.mean() - 0.25) < 4 * math.sqrt(0.25 * 0.75 / ages.size)
        found = np.zeros(ages.size, dtype=bool)
        for day in range(1, 8):
            ctx = context(day)
            g.daily(ctx)
            found[counted(ctx)["minors_found_by_age_assurance"]] = True
            assert not pop.protected[g.evades].any()
        assert np.array_equal(found, ~g.evades)


def test_a_protected_minor_is_never_taken_for_an_adult_by_her_face():
    # With no buffer about 30% of 17-year-olds are estimated at 18 or more (sigma 1.88), but leaving
    # protection takes a document, which a minor never passes: every one stays protected.
    pop = world(np.full(2000, 17))
    g = guard(pop, seed=8, method="facial_estimation", estimation_mae_years=1.5, buffer_years=0.0)
    g.daily(context())
    assert pop.protected.all()
    pop = world(np.full(2000, 17))
    guard(pop, method="document").daily(context())
    assert pop.protected.all()


def test_decoys_never_evade():
    pop = world(np.full(40, 13), declared=np.full(40, 21), decoy=np.arange(40) < 20)
    g = guard(pop, method="document", evasion_share=1.0)
    g.daily(context())
    assert pop.protected[pop.decoy].all()
    assert not pop.protected[~pop.decoy].any()


def test_a_minor_registered_with_her_own_age_does_not_evade():
    # Evasion is keeping an adult account: a protected minor stays protected whatever her draw.
    pop = world(np.full(50, 14))
    g = guard(pop, method="document", evasion_share=1.0)
    g.daily(context())
    assert pop.protected.all()


# ------------------------------------------------------------------ when checks run


def test_a_minor_registering_as_an_adult_is_protected_on_her_first_day_only_with_registration_checks():
    for at_registration, expected in ((True, True), (False, False)):
        pop = world([30, 14, 40], declared=[30, 14, 40])
        g = guard(pop, at_registration=at_registration, cadence_days=0, evasion_share=0.0)
        # Account 1 registers today as a 20-year-old (a new account in the row).
        pop.declared_age[1], pop.protected[1], pop.joined_day[1] = 20, False, 5
        ctx = context(5)
        g.on_join(np.array([1]), ctx)
        assert bool(pop.protected[1]) is expected
        assert counted(ctx)["age_checks"] == ([1] if at_registration else [])


def test_newcomers_in_new_rows_get_an_evasion_draw_and_a_registration_check():
    pop = world([30, 30])
    g = guard(pop, at_registration=True, cadence_days=0, evasion_share=0.0, method="document")
    grown = world([30, 30, 15, 13], declared=[30, 30, 22, 21], decoy=[False, False, False, True])
    grown.joined_day[2:] = 3
    g.population = grown
    g.on_join(np.array([2, 3]), context(3))
    assert g.evades.size == 4 and grown.protected.tolist() == [False, False, True, True]


def test_before_first_contact_protects_a_minor_target_before_the_contact_is_allowed():
    for before_first_contact in (True, False):
        # 0: adult stranger; 1: a 14-year-old registered as 19; 2: a 15-year-old who follows the sender.
        pop = world([30, 14, 15], declared=[30, 19, 20])
        cfg = SafeguardsConfig()
        cfg.age_assurance = config(before_first_contact=before_first_contact, cadence_days=0, evasion_share=0.0)
        cfg.dm_from_connections_only.enabled = True
        cfg.dm_from_connections_only.request_allowance = 0
        guards = SafeguardSet(cfg, pop, NO_ITEMS, RandomStreams(0))
        guards.begin_day(0)
        guards.setup(context(0))
        guards.begin_day(1)
        att = stranger_messages([0, 0], [1, 2])
        follows = np.array([False, True])
        ctx = context(1)
        guards.before_contact(att, follows, ctx)
        allowed, _ = guards.allow_contact(att, follows)
        assert allowed.tolist() == [not before_first_contact, True]
        assert bool(pop.protected[1]) is before_first_contact
        assert not pop.protected[2]                     # contact from someone she follows is not a stranger's
        assert counted(ctx)["age_checks"] == ([0, 1] if before_first_contact else [])


def test_before_first_contact_checks_an_account_only_once():
    pop = world([30, 14, 30], declared=[30, 19, 30])
    g = guard(pop, before_first_contact=True, cadence_days=0, evasion_share=1.0)   # the minor evades
    att = stranger_messages([0, 2], [1, 1])
    first, second = context(1), context(2)
    g.before_contact(att, np.zeros(2, bool), first)
    g.before_contact(att, np.zeros(2, bool), second)
    assert counted(first)["age_checks"] == [0, 1, 2] and counted(second)["age_checks"] == []
    # A banned offender's new account in the same row is a new account: checked again.
    pop.joined_day[2] = 9
    third = context(9)
    g.before_contact(att, np.zeros(2, bool), third)
    assert counted(third)["age_checks"] == [2]


def test_cadence_zero_means_no_periodic_checks():
    pop = world(np.full(500, 15), declared=np.full(500, 20))
    g = guard(pop, cadence_days=0, evasion_share=0.0)
    for day in range(1, 30):
        ctx = context(day)
        g.daily(ctx)
        assert counted(ctx)["age_checks"] == []
    assert not pop.protected.any()


def test_the_periodic_check_reaches_one_account_in_cadence_days_a_day():
    n = 4000
    pop = world(np.full(n, 14), declared=np.full(n, 20))
    g = guard(pop, seed=5, cadence_days=4, method="document", evasion_share=0.0)
    ctx = context(1, seed=5)
    g.daily(ctx)
    assert abs(pop.protected.mean() - 0.25) < 4 * math.sqrt(0.25 * 0.75 / n)
    assert len(counted(ctx)["age_checks"]) == int(pop.protected.sum())


def test_youth_signals_trigger_checks_of_unprotected_minors_and_false_signals_of_adults():
    n = 4000
    ages = np.where(np.arange(n) < n // 2, 15, 30)
    pop = world(ages, declared=np.full(n, 22))
    g = guard(pop, seed=6, cadence_days=0, youth_signal_per_day=0.2, false_signal_per_day=0.05,
              method="document", document_adult_pass=0.0, evasion_share=0.0)
    ctx = context(1, seed=6)
    g.daily(ctx)
    minor = ages < ADULT_AGE
    half = n // 2
    assert abs(pop.protected[minor].mean() - 0.2) < 4 * math.sqrt(0.2 * 0.8 / half)
    assert abs(pop.protected[~minor].mean() - 0.05) < 4 * math.sqrt(0.05 * 0.95 / half)


def test_accounts_not_yet_registered_and_banned_accounts_are_not_checked():
    pop = world([15, 15, 15], declared=[20, 20, 20])
    pop.joined_day[1] = 10                              # registers on day 10
    pop.banned[2] = True
    g = guard(pop, evasion_share=0.0)
    pop.update_present(3)
    ctx = context(3)
    g.daily(ctx)
    assert pop.protected.tolist() == [True, False, False]
    assert counted(ctx)["age_checks"] == [0]


# ------------------------------------------------------------------ posers and flags


def test_posers_are_found_and_lose_protection():
    ages = np.full(300, 32)
    pop = world(ages, declared=np.full(300, 15), roles=np.full(300, OFFENDER))
    g = guard(pop, seed=7, document_adult_pass=1.0)      # default facial estimation, then the poser's own ID
    ctx = context()
    g.daily(ctx)
    assert not pop.protected.any()
    assert (pop.declared_age == 32).all()
    assert counted(ctx)["posers_found_by_age_assurance"] == list(range(300))


def test_newly_flagged_accounts_are_checked_once():
    # 0: offender posing as 15; 1: an adult; 2: a flagged adult nobody re-flags.
    pop = world([30, 40, 25], declared=[15, 40, 25], roles=[OFFENDER, 0, 0])
    g = guard(pop, on_flags=True, cadence_days=0, document_adult_pass=1.0)
    pop.suspicious[[0, 2]] = True
    day1 = context(1)
    g.daily(day1)
    assert counted(day1)["age_checks"] == [0, 2]
    assert counted(day1)["posers_found_by_age_assurance"] == [0]
    day2 = context(2)
    g.daily(day2)
    assert counted(day2)["age_checks"] == []            # still flagged, not newly


def test_counters_count_what_happened():
    # 0: minor registered as adult; 1: adult; 2: poser; 3: protected minor; 4: decoy registered as 21.
    pop = world([14, 30, 40, 16, 13], declared=[19, 30, 16, 16, 21], roles=[0, 0, OFFENDER, 0, 0],
                decoy=[False, False, False, False, True])
    g = guard(pop, method="document", document_adult_pass=0.0, evasion_share=0.0)
    ctx = context()
    g.daily(ctx)
    assert counted(ctx) == {"age_checks": [0, 1, 2, 3, 4], "minors_found_by_age_assurance": [0, 4],
                            "adults_wrongly_protected": [1], "posers_found_by_age_assurance": []}
    assert pop.declared_age.tolist() == [14, 17, 16, 16, 13]
    g.config.document_adult_pass = 1.0
    ctx = context(2)
    g.daily(ctx)
    # The poser shows an adult's document now; the wrongly protected adult is restored, not a poser.
    assert counted(ctx)["posers_found_by_age_assurance"] == [2]
    assert pop.protected.tolist() == [True, False, False, True, True]
    assert pop.declared_age.tolist() == [14, 30, 40, 16, 13]


def test_age_assurance_draws_only_from_its_own_streams():
    seen: list[str] = []

    class Recording(RandomStreams):
        def get(self, name, day=None):
            seen.append(name)
            return super().get(name, day)

    pop = world([14, 30, 40], declared=[19, 30, 16], roles=[0, 0, OFFENDER])
    g = AgeAssurance(config(at_registration=True, before_first_contact=True, on_flags=True, cadence_days=2,
                            youth_signal_per_day=0.5), pop, NO_ITEMS)
    ctx = SafeguardContext(1, Recording(0))
    g.setup(ctx)
    g.on_join(np.array([0]), ctx)
    g.before_contact(stranger_messages([1], [0]), np.zeros(1, bool), ctx)
    g.daily(ctx)
    assert seen and all(name.startswith("age_assurance.") for name in seen)


def test_the_model_corrects_every_declared_age_in_one_day_with_daily_document_checks():
    model = ExposureModel(tiny_config(**{"population.n": 300, "population.minor_declares_adult_share": 1.0,
                                         "population.offender_share": 0.05,
                                         "population.offender_poses_as_minor_share": 1.0}))
    pop = model.population
    pop.update_present(1)
    here = pop.present                                     # accounts on the platform on day 1
    minors = pop.is_minor & here
    posers = (pop.role == OFFENDER) & here
    assert minors.any() and posers.any()
    assert not pop.protected[minors].any() and pop.protected[posers].all()
    g = AgeAssurance(config(method="document", document_adult_pass=1.0, evasion_share=0.0), pop, model.items)
    ctx = SafeguardContext(1, model.streams)
    g.setup(SafeguardContext(0, model.streams))
    g.daily(ctx)
    assert pop.protected[minors].all()
    assert not pop.protected[here & ~minors].any()        # posers lose protection
    assert (pop.declared_age[minors] == pop.true_age[minors]).all()
    assert len(counted(ctx)["minors_found_by_age_assurance"]) == minors.sum()
    assert len(counted(ctx)["posers_found_by_age_assurance"]) == posers.sum()
    assert counted(ctx)["age_checks"] == np.flatnonzero(here).tolist()


def test_a_model_run_with_the_default_age_assurance_protects_some_minors_who_declared_adult():
    cfg = tiny_config(**{"population.minor_declares_adult_share": 1.0, "days": 10, "decoys.n": 0})
    cfg.safeguards.age_assurance.enabled = True
    model = ExposureModel(cfg)
    model.run()
    pop = model.population
    assert pop.protected[pop.is_minor].any()
    assert np.array_equal(pop.protected, pop.declared_age < ADULT_AGE)


# ------------------------------------------------------------------ invariants

ACTIONS = st.lists(st.sampled_from(["daily", "join", "contact", "flag", "ban"]), min_size=1, max_size=8)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(ages=st.lists(st.integers(13, 70), min_size=2, max_size=30),
       lies=st.lists(st.booleans(), min_size=30, max_size=30),
       method=st.sampled_from(["self_declaration", "facial_estimation", "document"]),
       mae=st.floats(0, 6), buffer=st.floats(0, 7), evasion=st.floats(0, 1), cadence=st.integers(0, 5),
       actions=ACTIONS, seed=st.integers(0, 1000))
def test_protection_always_follows_the_believed_age_and_no_adult_far_above_the_threshold_fails(
        ages, lies, method, mae, buffer, evasion, cadence, actions, seed):
    ages = np.asarray(ages)
    n = ages.size
    # Some minors registered as adults, some adults as minors (posers).
    declared = np.where(np.asarray(lies[:n]), np.where(ages < ADULT_AGE, 20, 15), ages)
    pop = world(ages, declared=declared, roles=np.where((ages >= ADULT_AGE) & (declared < ADULT_AGE), OFFENDER, 0))
    g = AgeAssurance(config(method=method, estimation_mae_years=mae, buffer_years=buffer, document_adult_pass=1.0,
                            evasion_share=evasion, cadence_days=cadence, at_registration=True,
                            before_first_contact=True, on_flags=True, youth_signal_per_day=0.3,
                            false_signal_per_day=0.3), pop, NO_ITEMS)
    g.setup(context(0, seed))
    rng = np.random.default_rng(seed)
    far = (ages >= ADULT_AGE + buffer + 6 * estimation_sigma(mae)) & (declared >= ADULT_AGE)
    for day, action in enumerate(actions, start=1):
        ctx = context(day, seed)
        if action == "daily":
            g.daily(ctx)
        elif action == "join":
            g.on_join(rng.integers(0, n, 2), ctx)
        elif action == "contact":
            g.before_contact(stranger_messages(rng.integers(0, n, 3), rng.integers(0, n, 3)),
                             rng.random(3) < 0.3, ctx)
        elif action == "flag":
            pop.suspicious[rng.integers(0, n)] = True
        else:
            pop.banned[rng.integers(0, n)] = True
        assert np.array_equal(pop.protected, pop.declared_age < ADULT_AGE)
        # Every adult has an ID at hand (document_adult_pass 1): an adult who registered as one is never failed.
        assert not pop.protected[far].any()
        assert not pop.protected[(ages >= ADULT_AGE) & (declared >= ADULT_AGE)].any()
        if method == "self_declaration":
            assert np.array_equal(pop.declared_age, declared)
        # Evaders who registered as adults stay adults.
        assert not pop.protected[g.evades & (declared >= ADULT_AGE)].any()
