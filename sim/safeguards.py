"""Safeguards as objects attached at named hook points, and their registry.

Core objects: :data:`HOOKS`, :class:`Safeguard`, :class:`SafeguardSet`,
:data:`SAFEGUARDS`, :class:`FeedFiltering`.

A phase never asks "is safeguard X on?". It calls a hook on the
:class:`SafeguardSet`; every enabled safeguard registered for that hook acts on
the whole batch with vectorised masks or score multipliers. Adding a safeguard
is one class here, one config dataclass in ``sim.config`` and its tests.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np

from sim.config import HARM_CLASSES, SafeguardsConfig
from sim.content import ItemStore
from sim.population import Population

#: The hook points phases call (DESIGN 1.3).
HOOKS = ("filter_feed", "filter_account_suggestions", "filter_group_suggestions",
         "allow_contact", "on_delivery", "daily")

SAFEGUARDS: dict[str, type[Safeguard]] = {}


def register_safeguard(cls: type[Safeguard]) -> type[Safeguard]:
    """Class decorator: make a safeguard available under its config name."""
    unknown = set(cls.hooks) - set(HOOKS)
    if unknown:
        raise ValueError(f"{cls.__name__} registers unknown hooks {sorted(unknown)}; hooks are {HOOKS}")
    SAFEGUARDS[cls.name] = cls
    return cls


class Safeguard:
    """Base class. Subclasses set ``name`` (the config key) and ``hooks`` and implement those methods."""

    name: ClassVar[str] = ""
    hooks: ClassVar[tuple[str, ...]] = ()

    def __init__(self, config: Any, population: Population, items: ItemStore) -> None:
        self.config = config
        self.population = population
        self.items = items


@register_safeguard
class FeedFiltering(Safeguard):
    """S8, recommender filtering for children (Ofcom Protection of Children Codes, 2025).

    For protected viewers, items of the filtered classes that the filter
    recognises are removed from the ranking; items of the downranked classes
    have their scores multiplied by ``downrank_factor``. Recognition is fixed
    per item (its ``filter_draw`` below ``classifier_recall``), so one item is
    either caught for every viewer or for none, as a real classifier would be.
    """

    name = "feed_filtering"
    hooks = ("filter_feed",)

    def __init__(self, config: Any, population: Population, items: ItemStore) -> None:
        super().__init__(config, population, items)
        self.filtered = np.zeros(len(HARM_CLASSES), dtype=bool)
        self.filtered[[HARM_CLASSES.index(c) for c in config.filter_classes]] = True
        self.downranked = np.zeros(len(HARM_CLASSES), dtype=bool)
        self.downranked[[HARM_CLASSES.index(c) for c in config.downrank_classes]] = True

    def filter_feed(self, viewers: np.ndarray, candidates: np.ndarray, scores: np.ndarray) -> None:
        protected = self.population.protected[viewers][:, None] & (candidates >= 0)
        slots = np.maximum(candidates, 0)
        harm = self.items.harm[slots]
        caught = self.filtered[harm] & (self.items.filter_draw[slots] < self.config.classifier_recall)
        scores[protected & caught] = -np.inf
        demote = protected & self.downranked[harm] & ~caught
        factor = self.config.downrank_factor
        # A factor of 0 means "never show": removal, not a score of zero that could still fill a slot.
        scores[demote] = scores[demote] * factor if factor > 0 else -np.inf


class SafeguardSet:
    """The enabled safeguards of a run, dispatched by hook."""

    def __init__(self, config: SafeguardsConfig, population: Population, items: ItemStore) -> None:
        self.enabled: list[Safeguard] = []
        for name, cls in SAFEGUARDS.items():
            section = getattr(config, name)
            if section.enabled:
                self.enabled.append(cls(section, population, items))
        self._by_hook = {hook: [s for s in self.enabled if hook in s.hooks] for hook in HOOKS}

    @property
    def names(self) -> list[str]:
        return [s.name for s in self.enabled]

    def filter_feed(self, viewers: np.ndarray, candidates: np.ndarray, scores: np.ndarray) -> None:
        """Let each feed safeguard lower scores in place (``-inf`` removes a candidate)."""
        for safeguard in self._by_hook["filter_feed"]:
            safeguard.filter_feed(viewers, candidates, scores)

    def filter_account_suggestions(self, viewers: np.ndarray, suggested: np.ndarray) -> None:
        """Let safeguards blank suggested accounts in place (``-1`` removes a suggestion)."""
        for safeguard in self._by_hook["filter_account_suggestions"]:
            safeguard.filter_account_suggestions(viewers, suggested)

    def filter_group_suggestions(self, viewers: np.ndarray, suggested: np.ndarray) -> None:
        """Let safeguards blank suggested groups in place (``-1`` removes a suggestion)."""
        for safeguard in self._by_hook["filter_group_suggestions"]:
            safeguard.filter_group_suggestions(viewers, suggested)

    def allow_contact(self, attempts: Any) -> tuple[np.ndarray, np.ndarray]:
        """Which attempts may be delivered, and which safeguard stopped each one that may not.

        Returns:
            ``(allowed, blocked_by)``: a bool mask, and per attempt the index (into
            :attr:`names`) of the first safeguard that blocked it, ``-1`` if none.
        """
        allowed = np.ones(attempts.n, dtype=bool)
        blocked_by = np.full(attempts.n, -1, dtype=np.int16)
        for safeguard in self._by_hook["allow_contact"]:
            ok = safeguard.allow_contact(attempts)
            blocked_by[allowed & ~ok] = self.enabled.index(safeguard)
            allowed &= ok
        return allowed, blocked_by

    def daily(self, model: Any) -> None:
        """Once-a-day safeguards (age-assurance sweeps, flagging)."""
        for safeguard in self._by_hook["daily"]:
            safeguard.daily(model)
