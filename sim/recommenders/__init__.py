"""Recommender policies: feed rankers (one file per family) and candidate serving.

Core objects: :func:`make_feed_policy`, :func:`serve_feeds`. Policies are
registered as kind ``feed_policy`` of :mod:`sim.registry`.
"""

from sim import registry
from sim.recommenders.base import FeedContext, FeedPolicy
from sim.recommenders.serving import FeedIndex, Impressions, serve_feeds


def make_feed_policy(config) -> FeedPolicy:
    """The registered policy named by ``config.feed``."""
    return registry.get("feed_policy", config.feed)(config)


__all__ = ["FeedContext", "FeedIndex", "FeedPolicy", "Impressions", "make_feed_policy", "serve_feeds"]
