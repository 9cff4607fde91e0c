"""The feed-policy protocol.

Core objects: :class:`FeedContext`, :class:`FeedPolicy`.

A feed policy scores a padded candidate matrix (sessions x candidates, item
slots, ``-1`` for padding). Scores must be strictly positive where a candidate
is valid, larger meaning "show first", so that safeguards can demote by
multiplying. A policy is registered as kind ``feed_policy`` of
:mod:`sim.registry` (``@registry.register("feed_policy", "<name>")``); config
names resolve through the registry, never through an import path.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from sim.config import RecommenderConfig
from sim.content import ItemStore
from sim.population import Population
from sim.recommenders import kernels


@dataclass
class FeedContext:
    """What a policy may read when scoring: the platform's view of the world."""

    items: ItemStore
    population: Population
    config: RecommenderConfig
    day: int


class FeedPolicy:
    """Base class: one small class per policy, registered by name (which sets ``name``)."""

    name: ClassVar[str] = ""
    #: Chronological feeds show followed accounts and groups only.
    in_network_only: ClassVar[bool] = False

    def __init__(self, config: RecommenderConfig) -> None:
        self.config = config

    def prepare_day(self, ctx: FeedContext) -> None:
        """Compute per-item quantities that stay fixed while today's feeds are served (optional)."""

    def score(self, ctx: FeedContext, viewers: np.ndarray, candidates: np.ndarray,
              rng: np.random.Generator) -> np.ndarray:
        """Scores (float32, same shape as ``candidates``), > 0 where a candidate is valid.

        Args:
            ctx: the platform state.
            viewers: account row of each session, shape (B,).
            candidates: item slots, shape (B, C); ``-1`` marks padding (its score is ignored).
            rng: the ranking stream (for policies with randomness or tie-breaking).
        """
        raise NotImplementedError


def similarity(ctx: FeedContext, viewers: np.ndarray, candidates: np.ndarray) -> np.ndarray:
    """Cosine similarity of each viewer's interest with each candidate's topic (both unit vectors).

    Float32, shape of ``candidates`` (padding reads slot 0; its value is ignored). A compiled loop
    (:func:`sim.recommenders.kernels.similarity_rows`) that sums each product in the order numpy's
    batched ``matmul`` did, without gathering a (B, C, d) block of topic rows.
    """
    if candidates.shape[1] < 2:
        return _similarity_numpy(ctx, viewers, candidates)
    out = np.empty(candidates.shape, dtype=np.float32)
    kernels.similarity_rows(ctx.items.topic, ctx.population.interest, np.asarray(viewers),
                            np.ascontiguousarray(candidates), out)
    return out


def _similarity_numpy(ctx: FeedContext, viewers: np.ndarray, candidates: np.ndarray) -> np.ndarray:
    """:func:`similarity` by gathering topic rows and a batched matmul (a single candidate per row is a
    dot product, which BLAS sums in another order than the kernel repeats)."""
    b, c = candidates.shape
    topics = np.take(ctx.items.topic, np.maximum(candidates, 0).ravel(), axis=0).reshape(b, c, -1)
    return np.matmul(topics, ctx.population.interest[viewers][:, :, None])[..., 0]
