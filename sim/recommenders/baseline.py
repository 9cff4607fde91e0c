"""Baseline feed policies that use no model of the viewer.

Core objects: :class:`RandomFeed`, :class:`ChronologicalFeed`, :class:`PopularityFeed`.
"""

from __future__ import annotations

import numpy as np

from sim import libm, registry
from sim.recommenders.base import FeedContext, FeedPolicy


@registry.register("feed_policy", "random")
class RandomFeed(FeedPolicy):
    """Uniform over candidates: the analytic baseline (impressions mirror candidates)."""

    def score(self, ctx: FeedContext, viewers: np.ndarray, candidates: np.ndarray,
              rng: np.random.Generator) -> np.ndarray:
        # 1 - U lies in (0, 1]: strictly positive, uniformly ordered.
        return (1.0 - rng.random(candidates.shape, dtype=np.float32)).astype(np.float32)


@registry.register("feed_policy", "chronological")
class ChronologicalFeed(FeedPolicy):
    """Followed accounts and groups only, newest first."""

    in_network_only = True

    def score(self, ctx: FeedContext, viewers: np.ndarray, candidates: np.ndarray,
              rng: np.random.Generator) -> np.ndarray:
        # Posting times lie in [day, day + 1); age is positive and smaller is newer.
        age_days = ctx.day + 1 - ctx.items.time[np.maximum(candidates, 0)]
        return (1.0 / (age_days + 1e-3)).astype(np.float32)


@registry.register("feed_policy", "popularity")
class PopularityFeed(FeedPolicy):
    """Most engaged-with first (global engagement counts)."""

    def score(self, ctx: FeedContext, viewers: np.ndarray, candidates: np.ndarray,
              rng: np.random.Generator) -> np.ndarray:
        engagements = ctx.items.engagements[np.maximum(candidates, 0)]
        # A small random tie-break so equal counts do not favour low slots.
        return (libm.log1p(engagements) + 1.0 + 0.01 * rng.random(candidates.shape)).astype(np.float32)
