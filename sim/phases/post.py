"""Phase 1: accounts post (Poisson by role), items get their harm class, appeal and classifier score.

Core objects: :func:`post`, :class:`Posted`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from sim.config import Config
from sim.content import ItemStore, post_items
from sim.network import Groups
from sim.population import Population


@dataclass
class Posted:
    """Today's uploads."""

    slots: np.ndarray      # item-store slots of the new items


def post(items: ItemStore, pop: Population, posts_per_day: np.ndarray, groups: Groups, config: Config,
         day: int, rng: np.random.Generator) -> Posted:
    """Every account on the platform today (``Population.present``) posts a Poisson number of items into the store."""
    slots = post_items(items, pop, posts_per_day, groups.account_indptr, groups.account_groups, config.content,
                       config.moderation, day, rng, active=pop.present,
                       hash_listed_share=config.safeguards.hash_matching.known_share)
    return Posted(slots)
