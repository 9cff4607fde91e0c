"""The shared world: accounts, follow graph and groups, copied out of a freshly built fast model.

World construction (docs/ODD.md §5: population, synthetic follow graph,
groups) is not part of the docking. The reference takes the world the fast
model built for the same config and seed, before the fast model's first day,
so that both implementations start every run from the same accounts and
connections. This module is the only place that reads the fast model; it
copies plain values (ints, floats, lists) and keeps no reference to it.

What is copied, per account row: true and declared age, role, interest
vector, harmful affinity and its baseline, mean sessions per day
(``activity``) and privacy; the follow graph (who follows whom); and, per
group, its members and its ``harmful`` flag. The item store of a fresh model
is empty (§5.4), which :meth:`World.from_fast_model` checks. Everything the
day derives from these (cohorts, posting rates, protection, followers lists)
the reference computes itself from the ODD's definitions.
"""

from __future__ import annotations

from dataclasses import dataclass

from sim.vocabulary import ROLE_NAMES


@dataclass
class AccountState:
    """One account's state at the start of day 1 (docs/ODD.md §2.1)."""

    row: int
    true_age: int
    declared_age: int
    role: str                  # one of sim.vocabulary.ROLE_NAMES, by name
    interest: list[float]      # unit vector
    harmful_affinity: float
    affinity_baseline: float
    activity: float            # mean feed sessions per day
    private: bool
    joined_day: int


@dataclass
class World:
    """Accounts, follows and group memberships at the start of day 1."""

    accounts: list[AccountState]
    follows: list[list[int]]          # follows[i]: the rows account i follows
    group_members: list[list[int]]    # group_members[g]: the member rows of group g
    group_harmful: list[bool]

    @classmethod
    def from_fast_model(cls, model) -> World:
        """Copy the world of a freshly built :class:`sim.model.ExposureModel` (before ``step()`` is called)."""
        if model.steps != 0:
            raise ValueError("copy the world before the fast model's first day")
        if model.items.next_id != 0:
            raise ValueError("the fast model's item store should be empty before day 1")
        pop = model.population
        accounts = [
            AccountState(
                row=row,
                true_age=int(pop.true_age[row]),
                declared_age=int(pop.declared_age[row]),
                role=ROLE_NAMES[int(pop.role[row])],
                interest=[float(x) for x in pop.interest[row]],
                harmful_affinity=float(pop.harmful_affinity[row]),
                affinity_baseline=float(pop.affinity_baseline[row]),
                activity=float(pop.activity[row]),
                private=bool(pop.private[row]),
                joined_day=int(pop.joined_day[row]),
            )
            for row in range(pop.n)
        ]
        graph = model.graph
        follows = [[int(j) for j in graph.indices[graph.indptr[i]:graph.indptr[i + 1]]] for i in range(pop.n)]
        groups = model.groups
        members = [[int(a) for a in groups.members[groups.member_indptr[g]:groups.member_indptr[g + 1]]]
                   for g in range(groups.n_groups)]
        return cls(accounts, follows, members, [bool(h) for h in groups.harmful])
