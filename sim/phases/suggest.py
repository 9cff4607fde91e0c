"""Phase 5: account and group suggestions, and what they become: follows, follow requests, joins, discoveries.

Core objects: :func:`suggest`, :class:`Suggested`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from sim.config import RecommenderConfig
from sim.contact import Discovered
from sim.network import FollowGraph, Groups
from sim.phases.engage import Engaged
from sim.population import Population
from sim.recommenders.accounts import (AccountSuggester, GroupSuggester, SuggestionContext, boost_new_accounts,
                                       clean_account_suggestions)
from sim.safeguards import SafeguardSet
from sim.vocabulary import OFFENDER, SUGGESTION


def _none() -> np.ndarray:
    return np.zeros(0, dtype=np.int64)


def _no_pairs() -> tuple[np.ndarray, np.ndarray]:
    return _none(), _none()


@dataclass
class Suggested:
    """Today's suggestions shown (one entry per suggestion) and what came of them."""

    account_viewer: np.ndarray = field(default_factory=_none)   # who was shown an account ...
    account_shown: np.ndarray = field(default_factory=_none)    # ... and which
    follows: tuple[np.ndarray, np.ndarray] = field(default_factory=_no_pairs)   # (follower, followed): plain follows
    #: (adult, minor): adults' follows of a suggested minor, which are contact attempts (phase 6);
    #: None when no account suggestions were made today.
    follow_requests: tuple[np.ndarray, np.ndarray] | None = None
    group_viewer: np.ndarray = field(default_factory=_none)     # who was shown a group ...
    group_shown: np.ndarray = field(default_factory=_none)      # ... and which
    joins: tuple[np.ndarray, np.ndarray] = field(default_factory=_no_pairs)     # (account, group): groups joined


def suggest(pop: Population, graph: FollowGraph, followers: FollowGraph, groups: Groups,
            suggester: AccountSuggester | None, group_suggester: GroupSuggester | None, safeguards: SafeguardSet,
            discovered: Discovered,
            engaged: Engaged, sessions: np.ndarray, cfg: RecommenderConfig, day: int,
            rng: np.random.Generator) -> Suggested:
    """Suggest accounts and groups to today's active accounts; offenders note the minors they are shown."""
    out = Suggested()
    viewers = np.flatnonzero((sessions > 0) & ~pop.banned)
    ctx = SuggestionContext(pop, graph, followers, groups, engaged.viewer, engaged.item, engaged.author)

    if suggester is not None and cfg.account_suggestions > 0:
        sug = suggester.suggest(ctx, viewers, cfg.account_suggestions, rng)
        new = np.flatnonzero((day - pop.joined_day < cfg.new_account_days) & ~pop.banned)
        sug = boost_new_accounts(sug, new, cfg.new_account_share, rng)
        sug = clean_account_suggestions(ctx, viewers, sug, pop.banned)
        safeguards.filter_account_suggestions(viewers, sug)
        rows, cols = np.nonzero(sug >= 0)
        viewer, shown = viewers[rows], sug[rows, cols]
        out.account_viewer, out.account_shown = viewer, shown
        # Offenders note every minor they are shown; others follow with a small chance.
        offender = pop.role[viewer] == OFFENDER
        to_minor = pop.is_minor[shown]
        discovered.add(viewer[offender & to_minor], shown[offender & to_minor], SUGGESTION)
        accept_p = np.where(pop.is_minor[viewer], cfg.accept_suggestion_minor, cfg.accept_suggestion_adult)
        accepted = ~offender & (rng.random(viewer.size) < accept_p)
        # An adult following a minor is a contact (a follow request); everything else is a plain follow.
        request = accepted & to_minor & ~pop.is_minor[viewer]
        out.follow_requests = (viewer[request], shown[request])
        plain = accepted & ~request
        out.follows = (viewer[plain], shown[plain])

    if group_suggester is not None and cfg.group_suggestions > 0 and groups.n_groups:
        sug = group_suggester.suggest(ctx, viewers, cfg.group_suggestions, rng)
        safeguards.filter_group_suggestions(viewers, sug)
        rows, cols = np.nonzero(sug >= 0)
        viewer, group = viewers[rows], sug[rows, cols]
        out.group_viewer, out.group_shown = viewer, group
        offender = pop.role[viewer] == OFFENDER
        join = (offender & groups.harmful[group]) | (rng.random(viewer.size) < cfg.accept_group)
        out.joins = (viewer[join], group[join])
    return out
