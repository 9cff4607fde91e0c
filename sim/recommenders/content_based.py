"""Content-based feed policy: topic similarity only.

Core objects: :class:`InterestFeed`.
"""

from __future__ import annotations

import numpy as np

from sim import registry
from sim.recommenders import kernels
from sim.recommenders.base import FeedContext, FeedPolicy, similarity


@registry.register("feed_policy", "interest")
class InterestFeed(FeedPolicy):
    """Candidates closest to the viewer's interests first; blind to popularity and harm."""

    def score(self, ctx: FeedContext, viewers: np.ndarray, candidates: np.ndarray,
              rng: np.random.Generator) -> np.ndarray:
        # Cosine lies in [-1, 1]; shift into (0, 2] to keep scores positive.
        if candidates.shape[1] >= 2:
            out = np.empty(candidates.shape, dtype=np.float32)
            kernels.interest_scores(ctx.items.topic, ctx.population.interest, np.asarray(viewers),
                                    np.ascontiguousarray(candidates), out)
            return out
        return (similarity(ctx, viewers, candidates) + 1.0 + 1e-6).astype(np.float32)
