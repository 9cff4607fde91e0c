"""Recommender policies: feed rankers (one file per family) and candidate serving.

Core objects: :data:`FEED_POLICIES` (the registry), :func:`make_feed_policy`,
:func:`serve_feeds`.
"""

from sim.recommenders import baseline, content_based, engagement  # noqa: F401  (registers the policies)
from sim.recommenders.base import FEED_POLICIES, FeedContext, FeedPolicy, register_feed
from sim.recommenders.serving import FeedIndex, Impressions, serve_feeds


def make_feed_policy(config) -> FeedPolicy:
    """The registered policy named by ``config.feed``."""
    return FEED_POLICIES[config.feed](config)


__all__ = ["FEED_POLICIES", "FeedContext", "FeedIndex", "FeedPolicy", "Impressions", "make_feed_policy",
           "register_feed", "serve_feeds"]
