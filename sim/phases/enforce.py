"""Phase 7: strikes become bans, banned offenders come back, daily safeguards run, items expire.

Core objects: :func:`enforce`, :class:`Enforced`, :func:`without_accounts`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from sim.contact import Discovered
from sim.content import ItemStore
from sim.moderation import Moderation
from sim.network import FollowGraph, Groups
from sim.safeguards import SafeguardContext, SafeguardSet


@dataclass
class Enforced:
    """Today's enforcement."""

    banned: np.ndarray            # accounts banned today
    settled_views: np.ndarray     # (cohorts x causes) violating views settled by the bans' removals
    returned: np.ndarray          # banned offenders back today as new accounts
    expired_views: np.ndarray     # (cohorts x causes) uncaught violating views of items leaving the store
    #: The follow graph, its reverse and the groups once the returned accounts lost their connections
    #: (None when nobody returned: they are unchanged).
    connections: tuple[FollowGraph, FollowGraph, Groups] | None = None
    safeguard_counts: dict[str, np.ndarray] = field(default_factory=dict)   # counter -> accounts (daily safeguards)


def without_accounts(graph: FollowGraph, followers: FollowGraph, groups: Groups, discovered: Discovered,
                     accounts: np.ndarray) -> tuple[FollowGraph, FollowGraph, Groups]:
    """A returning offender's new account has no follows, followers, groups or discoveries.

    The follow graph and its reverse drop the accounts' entries in place, one pass each (no transpose,
    no copy); the groups are new.
    """
    idx = discovered.index_of[accounts]
    discovered.target[idx[idx >= 0]] = -1
    discovered.channel[idx[idx >= 0]] = -1
    graph.remove_accounts(accounts)
    followers.remove_accounts(accounts)
    return graph, followers, groups.without_accounts(accounts)


def enforce(moderation: Moderation, safeguards: SafeguardSet, items: ItemStore, graph: FollowGraph,
            followers: FollowGraph, groups: Groups, discovered: Discovered, retention_days: int, n_cohorts: int,
            context: SafeguardContext, day: int, rng: np.random.Generator) -> Enforced:
    """Bans and returns; then the daily safeguards (age assurance, defaults for the newly protected); then expiry."""
    banned, settled = moderation.ban(day, rng)
    back = moderation.returns_today(day)
    connections = without_accounts(graph, followers, groups, discovered, back) if back.size else None
    safeguards.daily(context)
    # Items leaving the store today took their uncaught violating views with them.
    expiring = np.flatnonzero((items.item_id >= 0) & (items.day == day - retention_days + 1)
                              & (items.removed_day < 0))
    expired = moderation.resolve_views(expiring[:0], expiring, n_cohorts)
    return Enforced(banned, settled, back, expired, connections, context.counts)
