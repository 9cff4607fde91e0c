"""Phase 3: sessions, candidates from followees, groups and the global pool, ranking, filtering, top-k.

Core objects: :func:`serve`, :class:`Served`, :func:`sessions_today`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from sim.config import Config
from sim.content import ItemStore
from sim.network import FollowGraph, Groups
from sim.population import Population
from sim.recommenders import FeedContext, FeedIndex, FeedPolicy, Impressions, serve_feeds
from sim.safeguards import SafeguardSet


@dataclass
class Served:
    """Today's feeds."""

    impressions: Impressions   # one row per item shown: viewer, item, in-network flag
    sessions: np.ndarray       # per account: feed sessions today (after usage limits; 0 for accounts not present)
    recent_posts: np.ndarray   # per account: its live items recent enough to be served (searchable accounts)
    #: Viewer rows, one per candidate the feed safeguards removed: "benign" (class none, the filters'
    #: cost) and "harmful".
    withheld: dict[str, np.ndarray]


def sessions_today(pop: Population, rng: np.random.Generator) -> np.ndarray:
    """Poisson sessions by activity; decoys are scripted probes with exactly their configured sessions."""
    sessions = rng.poisson(pop.activity)
    d = pop.decoy
    whole = np.floor(pop.activity[d])
    sessions[d] = (whole + (rng.random(int(d.sum())) < pop.activity[d] - whole)).astype(sessions.dtype)
    return sessions


def serve(items: ItemStore, pop: Population, graph: FollowGraph, groups: Groups, policy: FeedPolicy,
          safeguards: SafeguardSet, config: Config, day: int, rng: np.random.Generator,
          session_rng: np.random.Generator, limit_rng: np.random.Generator) -> Served:
    """Every session gets candidates, the policy's ranking, the ``filter_feed`` hook and its top-k.

    Args:
        rng: the serving stream; ``session_rng`` draws today's sessions and
            ``limit_rng`` the usage-limit safeguards' cuts (separate streams, so
            a safeguard never shifts the feed's draws).
    """
    index = FeedIndex.build(items, pop.private, pop.n, groups.n_groups, day, config.recommender.recency_days)
    sessions = sessions_today(pop, session_rng)
    sessions[~pop.present] = 0
    safeguards.limit_sessions(sessions, limit_rng)
    viewers = np.repeat(np.arange(pop.n, dtype=np.int32), sessions)
    ctx = FeedContext(items, pop, config.recommender, day)
    impressions = serve_feeds(ctx, policy, index, viewers, graph.indptr, graph.indices, groups.account_indptr,
                              groups.account_groups, safeguards.filter_feed, rng)
    return Served(impressions, sessions, np.diff(index.author_ptr), safeguards.take_withheld())
