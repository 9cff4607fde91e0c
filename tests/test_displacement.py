"""Offender adaptation (contact.displacement): closed discovery deters, blocked attempts are re-aimed."""

from __future__ import annotations

import numpy as np
import pytest

from sim.config import ContactConfig
from sim.contact import EFFORT_HALF_LIFE_DAYS, Discovered, discover, offender_attempts, retarget
from sim.vocabulary import COMMENT, FOLLOW_REQUEST, MESSAGE, MESSAGE_REQUEST, OFFENDER, S_ADULT, S_OFFENDER, SEARCH
from tests.test_contact import attempts, rng, world


def test_closed_share_counts_withheld_against_found_and_decays_with_its_half_life():
    found = Discovered(np.array([0, 1]), 5, 8)
    assert found.closed_share().tolist() == [0.0, 0.0]             # no history: nothing closed
    found.add(np.array([0, 0, 0]), np.array([2, 3, 4]), SEARCH)     # offender 0 found three minors
    found.note_closed(np.array([0, 1, 3]))                          # one withheld from each offender (3 is not one)
    assert found.closed_share().tolist() == [0.25, 1.0]
    found.decay()
    factor = 0.5 ** (1 / EFFORT_HALF_LIFE_DAYS)
    assert np.allclose(found.opened, [3 * factor, 0.0]) and np.allclose(found.closed, [factor, factor])
    # The share itself is unchanged by decay; new events weigh more than old ones.
    assert found.closed_share().tolist() == pytest.approx([0.25, 1.0])
    for _ in range(int(EFFORT_HALF_LIFE_DAYS)):
        found.decay()
    found.add(np.array([1]), np.array([2]), SEARCH)
    assert found.closed_share()[1] == pytest.approx(factor ** 8 / (factor ** 8 + 1))


def offender_world(n_offenders: int = 200, n_minors: int = 10):
    ages = [30] * n_offenders + [14] * n_minors
    roles = [OFFENDER] * n_offenders + [0] * n_minors
    pop, graph, _, groups = world(ages, roles=roles)
    found = Discovered(np.arange(n_offenders), len(ages), 16)
    minors = np.arange(n_offenders, n_offenders + n_minors)
    found.add(np.repeat(np.arange(n_offenders), n_minors), np.tile(minors, n_offenders), SEARCH)
    return pop, graph, groups, found


@pytest.mark.parametrize("displacement, expected", [(0.0, 0.25), (0.5, 0.625), (1.0, 1.0)])
def test_the_budget_shrinks_by_the_closed_share_times_one_minus_displacement(displacement, expected):
    pop, graph, groups, found = offender_world()
    # Each offender found 10 minors and had 30 withheld: closed share 0.75, so the budget keeps
    # 1 - (1 - d) * 0.75 of its mean.
    found.note_closed(np.repeat(np.arange(200), 30))
    assert np.allclose(found.closed_share(), 0.75)
    cfg = ContactConfig(offender_attempts_per_day=5.0, displacement=displacement)
    active = np.ones(pop.n, dtype=bool)
    made = sum(offender_attempts(found, pop, graph, groups, cfg, active, rng(7, day)).n for day in range(20))
    mean = 5.0 * expected * 200 * 20
    assert abs(made - mean) < 5 * np.sqrt(mean)


def test_with_no_closed_discovery_displacement_does_not_change_the_budget():
    counts = []
    for d in (0.0, 1.0):
        pop, graph, groups, found = offender_world()
        cfg = ContactConfig(offender_attempts_per_day=2.0, displacement=d)
        counts.append(offender_attempts(found, pop, graph, groups, cfg, np.ones(pop.n, bool), rng(3)).n)
    assert counts[0] == counts[1]                                   # same draws, same budget


def test_full_displacement_re_aims_every_blocked_offender_attempt_at_another_discovered_minor():
    pop, graph, groups, found = offender_world(n_offenders=3, n_minors=4)
    blocked = attempts([0, 1, 2, 0], [3, 4, 5, 6], [MESSAGE_REQUEST, COMMENT, FOLLOW_REQUEST, MESSAGE],
                       S_OFFENDER)
    cfg = ContactConfig(displacement=1.0)
    again = retarget(found, pop, graph, blocked, cfg, np.ones(pop.n, bool), rng(1))
    assert again.n == 4
    assert (again.sender == blocked.sender).all()
    assert (again.target != blocked.target).all()
    for s, t in zip(again.sender, again.target):
        row = found.target[found.index_of[s]]
        assert t in row                                            # one of his own discovered minors
    assert (again.sender_type == S_OFFENDER).all()
    # Messages to a minor who does not follow back arrive as requests; other kinds are kept.
    assert again.kind.tolist() == [MESSAGE_REQUEST, COMMENT, FOLLOW_REQUEST, MESSAGE_REQUEST]


def test_no_displacement_re_aims_nothing_and_ordinary_adults_are_never_re_aimed():
    pop, graph, groups, found = offender_world(n_offenders=3, n_minors=4)
    blocked = attempts([0, 1], [3, 4], MESSAGE_REQUEST, S_OFFENDER)
    assert retarget(found, pop, graph, blocked, ContactConfig(displacement=0.0), np.ones(pop.n, bool), rng(1)).n == 0
    ordinary = attempts([0, 1], [3, 4], MESSAGE_REQUEST, S_ADULT)
    assert retarget(found, pop, graph, ordinary, ContactConfig(displacement=1.0), np.ones(pop.n, bool), rng(1)).n == 0


def test_an_offender_with_no_other_reachable_target_gives_up():
    pop, graph, groups, found = offender_world(n_offenders=2, n_minors=2)
    active = np.ones(pop.n, bool)
    active[3] = False                                               # his only other minor has left
    blocked = attempts([0, 1], [2, 2], MESSAGE_REQUEST, S_OFFENDER)
    again = retarget(found, pop, graph, blocked, ContactConfig(displacement=1.0), active, rng(2))
    assert again.n == 0


def test_partial_displacement_re_aims_that_share():
    pop, graph, groups, found = offender_world(n_offenders=100, n_minors=3)
    n = 4000
    blocked = attempts(np.arange(n) % 100, np.full(n, 100), MESSAGE_REQUEST, S_OFFENDER)
    again = retarget(found, pop, graph, blocked, ContactConfig(displacement=0.3), np.ones(pop.n, bool), rng(5))
    assert abs(again.n / n - 0.3) < 5 * np.sqrt(0.3 * 0.7 / n)


def test_minors_a_safeguard_made_private_count_as_search_discovery_closed():
    """Search shows public minors; a minor the default made private is a share of search closed."""
    ages = [30] * 10 + [14] * 4
    pop, graph, followers, groups = world(ages, roles=[OFFENDER] * 10 + [0] * 4)
    pop.private[[12, 13]] = True
    pop.private_by_safeguard[[12, 13]] = True          # two of four minors made private by a safeguard
    found = Discovered(np.arange(10), len(ages), 8)
    cfg = ContactConfig(search_per_day=3.0, group_browse_per_day=0.0, network_browse_per_day=0.0)
    discover(found, pop, graph, followers, groups, cfg, np.ones(len(ages), bool), np.zeros(len(ages)), rng(4))
    # Equal weights: half of what search would show is hidden, so the closed share is one half.
    searched = found.opened > 0
    assert searched.any()
    assert np.allclose(found.closed_share()[searched], 0.5)
    # Accounts private by their own choice close nothing.
    pop.private_by_safeguard[:] = False
    found = Discovered(np.arange(10), len(ages), 8)
    discover(found, pop, graph, followers, groups, cfg, np.ones(len(ages), bool), np.zeros(len(ages)), rng(4))
    assert (found.closed == 0).all()
