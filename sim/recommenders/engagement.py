"""Engagement-optimised feed policy: the platform default that amplifies borderline content.

Core objects: :class:`EngagementFeed`.

It ranks by a predicted engagement probability built from what a platform
observes: topic similarity, the item's engagement count, its appeal (the
platform's quality/attention signal) and, for harmful classes, the viewer's
*learned* rate of engaging with such items. The last term is the feedback loop
(Chaney et al. 2018): engaging with harmful items teaches the ranker to show
more of them, which is how "rabbit holes" form.
"""

from __future__ import annotations

import numpy as np

from sim import libm, registry
from sim.recommenders import kernels
from sim.recommenders.base import FeedContext, FeedPolicy, similarity
from sim.vocabulary import NONE


@registry.register("feed_policy", "engagement")
class EngagementFeed(FeedPolicy):
    """Predicted engagement: sigmoid of similarity, popularity, appeal and learned harmful affinity."""

    #: Logit offset so that an average item scores well below saturation.
    INTERCEPT = -2.0

    def prepare_day(self, ctx: FeedContext) -> None:
        # Engagement counts and appeal do not change while feeds are served, so the
        # item part of the logit is computed once per day, not once per candidate cell.
        items, cfg = ctx.items, self.config
        self._item_logit = (cfg.w_popularity * libm.log1p(items.engagements)
                            + cfg.w_appeal * np.log(np.maximum(items.appeal, 1e-12))
                            + self.INTERCEPT).astype(np.float32)
        self._harmful = items.harm > NONE

    def score(self, ctx: FeedContext, viewers: np.ndarray, candidates: np.ndarray,
              rng: np.random.Generator) -> np.ndarray:
        if getattr(self, "_item_logit", None) is None or self._item_logit.shape[0] != ctx.items.capacity:
            self.prepare_day(ctx)
        cfg = self.config
        if candidates.shape[1] >= 2:
            # The expression below, row by row in a compiled loop (no (B, C, d) topic gather).
            pop = ctx.population
            out = np.empty(candidates.shape, dtype=np.float32)
            kernels.engagement_scores(self._item_logit, self._harmful, ctx.items.topic, pop.interest,
                                      pop.learned_harm_rate, np.asarray(viewers), np.ascontiguousarray(candidates),
                                      cfg.w_similarity, cfg.w_affinity, out)
            return out
        slots = np.maximum(candidates, 0)
        learned = ctx.population.learned_harm_rate[viewers][:, None]
        logit = (np.take(self._item_logit, slots)
                 + cfg.w_similarity * similarity(ctx, viewers, candidates)
                 + cfg.w_affinity * np.take(self._harmful, slots) * learned)
        return (1.0 / (1.0 + libm.exp(-logit))).astype(np.float32) + np.float32(1e-9)
