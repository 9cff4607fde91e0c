"""Phase 4: viewers engage with what they were shown; interests drift, harmful taste is reinforced, some report.

Core objects: :func:`engage_feeds`, :class:`Engaged`.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np

from sim.config import Config
from sim.content import ItemStore
from sim.engagement import engage
from sim.moderation import Moderation
from sim.population import Population
from sim.recommenders import Impressions


@dataclass
class Engaged:
    """Today's engagement with the impressions served."""

    engaged: np.ndarray        # bool, per impression
    reported: np.ndarray       # bool, per impression (the item was reported)
    viewer: np.ndarray         # int64, per engagement: who engaged ...
    item: np.ndarray           # ... with which item slot ...
    author: np.ndarray         # int64 ... by whom (offenders find minors through the posts they engage with)
    views_by_cause: np.ndarray # (cohorts x causes) violating views attributed today (Meta's four causes)

    def engagements_only(self) -> Engaged:
        """The same engagements without the per-impression flags ``engaged`` and ``reported`` (empty),
        for the phases after the recorder has counted them: at 10^7 accounts the flags are 300 MB."""
        return dataclasses.replace(self, engaged=_NO_FLAGS, reported=_NO_FLAGS)


_NO_FLAGS = np.zeros(0, dtype=bool)


def engage_feeds(pop: Population, items: ItemStore, moderation: Moderation, impressions: Impressions,
                 config: Config, n_cohorts: int, day: int, rng: np.random.Generator) -> Engaged:
    """Draw engagement and reports; reported items join the review queue; violating views are attributed."""
    outcome = engage(pop, items, impressions, config.population.behaviour, rng)
    moderation.queue_reports(impressions.item[outcome.reported], day)
    views = moderation.attribute_views(impressions.item, impressions.viewer, pop.cohort, n_cohorts)
    item = outcome.engaged_item
    return Engaged(outcome.engaged, outcome.reported, outcome.engager.astype(np.int64), item,
                   items.author[item].astype(np.int64), views)
