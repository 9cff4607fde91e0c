"""Account and group suggesters (phase 5): "people you may know" and groups to join.

Core objects: :class:`SuggestionContext`, :class:`AccountSuggester` and its
policies (``friends_of_friends``, ``co_engagement``, ``mixed``),
:class:`GroupSuggester` and its policy (``interest``: :func:`suggest_groups`),
all registered with :mod:`sim.registry` (kinds ``account_suggester`` and
``group_suggester``).

A suggester fills a padded matrix (viewers x k account rows, ``-1`` empty).
``friends_of_friends`` walks the follow graph (a followee's followee, or a
follower not yet followed back). ``co_engagement`` walks today's engagements:
the author of an item the viewer engaged with, another account that engaged
with the same item, or an account that engaged with the viewer's own items.
The last two are how an adult who engages with minors' posts is shown more
minors, and shown *to* them. Rows are de-duplicated; the viewer, accounts
already followed and banned accounts are removed before the
``filter_account_suggestions`` hook.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from sim import compiled, registry
from sim.draws import uniform
from sim.network import FollowGraph, Groups
from sim.population import Population
from sim.recommenders import kernels
from sim.recommenders import suggestion_kernels as kernels_s

#: The registered account suggesters by name (a view of :mod:`sim.registry`, for ``sim.model``).
ACCOUNT_SUGGESTERS = registry.view("account_suggester")
#: Random groups a viewer's interest is compared with per interest slot.
GROUP_PROBES = 8
_NO_DRAWS = np.zeros(0, dtype=np.float64)


@dataclass
class SuggestionContext:
    """What suggesters read: the graph, its reverse, groups, and today's engagements."""

    population: Population
    graph: FollowGraph
    followers: FollowGraph
    groups: Groups
    engaged_viewer: np.ndarray   # one entry per engagement today
    engaged_item: np.ndarray
    engaged_author: np.ndarray

    def __post_init__(self) -> None:
        n = self.population.n
        # Engagements grouped by engaging viewer, by item author, and by item.
        self.by_viewer_ptr, self.by_viewer = compiled.group_by_key(self.engaged_viewer, n)
        self.by_author_ptr, self.by_author = compiled.group_by_key(self.engaged_author, n)
        n_items = int(self.engaged_item.max()) + 1 if self.engaged_item.size else 0
        self.by_item_ptr, self.item_order = compiled.group_by_key(self.engaged_item, n_items)


class Suggester:
    """Base class of suggesters: one small class per policy, registered by name (which sets ``name``)."""

    name: ClassVar[str] = ""

    def suggest(self, ctx: SuggestionContext, viewers: np.ndarray, k: int, rng: np.random.Generator) -> np.ndarray:
        """(len(viewers), k) suggestions (account rows or groups), ``-1`` where none was found."""
        raise NotImplementedError


class AccountSuggester(Suggester):
    """Suggests accounts (kind ``account_suggester``): rows of the population, never the viewer."""


@registry.register("account_suggester", "friends_of_friends")
class FriendsOfFriends(AccountSuggester):
    """A followee's followee (3 in 4 slots) or a follower not followed back (1 in 4)."""

    def suggest(self, ctx, viewers, k, rng):
        g, rev = ctx.graph, ctx.followers
        viewers = np.ascontiguousarray(viewers, dtype=np.int64)
        n = viewers.shape[0] * k
        followee = np.empty(n, dtype=np.int64)
        found = kernels_s.first_hop(g.indptr, g.indices, viewers, k, uniform(rng, n), followee)
        u_two_hop = uniform(rng, found)
        u_follower = uniform(rng, n)
        out = np.empty(n, dtype=np.int64)
        kernels_s.friends_of_friends(g.indptr, g.indices, rev.indptr, rev.indices, viewers, k, followee, u_two_hop,
                                     u_follower, uniform(rng, n), out)
        return out.reshape(viewers.shape[0], k)


@registry.register("account_suggester", "co_engagement")
class CoEngagement(AccountSuggester):
    """Authors and co-engagers of what the viewer engaged with, and engagers of the viewer's own posts."""

    def suggest(self, ctx, viewers, k, rng):
        viewers = np.ascontiguousarray(viewers, dtype=np.int64)
        n = viewers.shape[0] * k
        mode = rng.integers(0, 3, n)
        # A random engagement of the viewer's (an index into today's engagements).
        mine = np.empty(n, dtype=np.int64)
        co, fans = kernels_s.own_engagements(ctx.by_viewer_ptr, ctx.by_viewer, viewers, k, uniform(rng, n), mode, mine)
        u_co = uniform(rng, co) if co else _NO_DRAWS
        u_fans = uniform(rng, fans) if fans else _NO_DRAWS
        out = np.empty(n, dtype=np.int64)
        kernels_s.co_engagement(ctx.engaged_viewer, ctx.engaged_item, ctx.engaged_author, ctx.by_item_ptr,
                                ctx.item_order, ctx.by_author_ptr, ctx.by_author, viewers, k, mode, mine, u_co, u_fans,
                                out)
        return out.reshape(viewers.shape[0], k)


@registry.register("account_suggester", "mixed")
class Mixed(AccountSuggester):
    """Half the slots from friends-of-friends, half from co-engagement."""

    def suggest(self, ctx, viewers, k, rng):
        fof = FriendsOfFriends().suggest(ctx, viewers, k, rng)
        co = CoEngagement().suggest(ctx, viewers, k, rng)
        take_co = uniform(rng, fof.shape) < 0.5
        return np.where(take_co & (co >= 0), co, fof)


def boost_new_accounts(suggested: np.ndarray, new_accounts: np.ndarray, share: float,
                       rng: np.random.Generator) -> np.ndarray:
    """Give each slot, with probability ``share``, to a random newly joined account (cold start).

    Platforms push new accounts into suggestions so that they find people to
    follow and be followed by; this is how a new account is shown to
    strangers within days of joining.
    """
    if new_accounts.size == 0 or share <= 0:
        return suggested
    take = uniform(rng, suggested.shape) < share
    out = suggested.copy()
    out[take] = new_accounts[rng.integers(0, new_accounts.size, int(take.sum()))]
    return out


def clean_account_suggestions(ctx: SuggestionContext, viewers: np.ndarray, suggested: np.ndarray,
                              removed: np.ndarray) -> np.ndarray:
    """Blank out repeats, the viewer, accounts already followed and removed (banned) accounts.

    Each row comes back sorted (repeats after the first copy set to -1, as
    :func:`sim.recommenders.serving.dedupe_rows` leaves them), in a new array; the input is unchanged.
    """
    out = np.array(suggested, dtype=np.int64, order="C")
    kernels_s.clean_accounts(out, np.ascontiguousarray(viewers, dtype=np.int64), ctx.graph.indptr, ctx.graph.indices,
                             removed)
    return out


class GroupSuggester(Suggester):
    """Suggests groups (kind ``group_suggester``); groups the viewer is already in are removed."""


@registry.register("group_suggester", "interest")
class InterestGroups(GroupSuggester):
    """A followee's group, or the group closest to the viewer's interest (:func:`suggest_groups`)."""

    def suggest(self, ctx, viewers, k, rng):
        return suggest_groups(ctx, viewers, k, rng)


def suggest_groups(ctx: SuggestionContext, viewers: np.ndarray, k: int, rng: np.random.Generator) -> np.ndarray:
    """(len(viewers), k) suggested groups, ``-1`` where none: co-membership or interest.

    Half the slots take a random group of a random followee (co-membership);
    the rest take the best of ``GROUP_PROBES`` random groups by cosine
    similarity with the viewer's interest. Groups the viewer is in are removed.
    """
    groups, g = ctx.groups, ctx.graph
    n_groups = groups.n_groups
    shape = (viewers.shape[0], k)
    if n_groups == 0 or k == 0:
        return np.full(shape, -1, dtype=np.int64)
    viewers = np.ascontiguousarray(viewers, dtype=np.int64)
    n = viewers.shape[0] * k
    followee = np.empty(n, dtype=np.int64)
    found = kernels_s.first_hop(g.indptr, g.indices, viewers, k, uniform(rng, n), followee)
    u_group = uniform(rng, found)
    probes = rng.integers(0, n_groups, (n, GROUP_PROBES))
    by_interest = np.empty(n, dtype=probes.dtype)
    # Each slot's probe with the highest similarity (the first of equals), summed as numpy's matmul sums.
    kernels.best_match(groups.topic, ctx.population.interest, np.repeat(viewers, k), probes, by_interest)
    out = np.empty(shape, dtype=np.int64)
    kernels_s.interest_groups(groups.account_indptr, groups.account_groups, viewers, followee, u_group, by_interest,
                              uniform(rng, n), out)
    return out
