"""Mesa agent types as thin views onto population rows.

Core objects: :class:`AccountView`, :class:`MinorAccount`, :class:`AdultAccount`,
:class:`AccountModel`.

The arrays in :class:`sim.population.Population` are the single source of
truth; an agent only holds its ``row`` and reads (or writes) through to the
arrays, so Mesa's ``model.agents``, ``agents_by_type``, agent reporters and
visualisation work without a second copy of the state.
"""

from __future__ import annotations

import itertools
import weakref
from typing import Protocol

import mesa
import numpy as np

from sim.network import FollowGraph
from sim.population import Population
from sim.vocabulary import ADULT_AGE, ROLE_NAMES


class AccountModel(Protocol):
    """What an account view reads from its model (:class:`sim.model.ExposureModel` is one).

    The model is also a ``mesa.Model``, with which the view registers as an agent.
    """

    population: Population      # the state arrays, one row per account
    graph: FollowGraph          # today's follow graph
    steps: int                  # days run so far (Mesa's step counter)


class _IdCounters:
    """Each model's counter of agent ids, held without keeping the model alive.

    Mesa 3.3's ``Agent.__init__`` numbers agents with ``next(self._ids[model])``
    from a dict on the ``Agent`` class that holds every model it has seen: a
    process that builds model after model (a sweep's worker, the classroom page)
    then keeps every world it ran (mesa/mesa#3179, fixed in 3.4 by numbering in
    ``Model.register_agent``, where this is unused). The same ids, 1, 2, ... per
    model, from a mapping whose keys are weak references.
    """

    def __init__(self) -> None:
        self._counters: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()

    def __getitem__(self, model) -> itertools.count:
        counter = self._counters.get(model)
        if counter is None:
            counter = self._counters[model] = itertools.count(1)
        return counter


class AccountView(mesa.Agent):
    """One account, seen through its row in the population arrays."""

    _ids = _IdCounters()

    def __init__(self, model: AccountModel, row: int) -> None:
        super().__init__(model)
        self.row = int(row)

    @property
    def _pop(self):
        return self.model.population

    @property
    def true_age(self) -> int:
        return int(self._pop.true_age[self.row])

    @property
    def declared_age(self) -> int:
        return int(self._pop.declared_age[self.row])

    @property
    def protected(self) -> bool:
        return bool(self._pop.protected[self.row])

    @property
    def role(self) -> str:
        return ROLE_NAMES[int(self._pop.role[self.row])]

    @property
    def decoy(self) -> bool:
        return bool(self._pop.decoy[self.row])

    @property
    def harmful_affinity(self) -> float:
        return float(self._pop.harmful_affinity[self.row])

    @property
    def private(self) -> bool:
        return bool(self._pop.private[self.row])

    @private.setter
    def private(self, value: bool) -> None:
        self._pop.private[self.row] = bool(value)

    @property
    def interest(self) -> np.ndarray:
        """The interest vector (a read-only copy: change it through the arrays)."""
        return self._pop.interest[self.row].copy()

    @property
    def following(self) -> np.ndarray:
        """Rows of the accounts this account follows (a copy: the model edits its graph in place)."""
        return self.model.graph.followees(self.row).copy()

    @property
    def exposed_7d(self) -> bool:
        """Whether this account had a harmful impression in the last 7 days."""
        return bool(self._pop.last_harm_day[self.row] > self.model.steps - 7)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(row={self.row}, age={self.true_age}, role={self.role})"


class MinorAccount(AccountView):
    """An account whose true age is 13-17 (decoys included)."""


class AdultAccount(AccountView):
    """An account whose true age is 18 or more."""


def view_class(true_age: int) -> type[AccountView]:
    """The agent type for an account of this true age."""
    return MinorAccount if true_age < ADULT_AGE else AdultAccount
