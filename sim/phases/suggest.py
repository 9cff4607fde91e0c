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
    #: The account suggestions the safeguards removed (``filter_account_suggestions``): who would
    #: have been shown ...
    withheld_viewer: np.ndarray = field(default_factory=_none)
    withheld_shown: np.ndarray = field(default_factory=_none)   # ... which account
    #: Minors an ordinary adult would have sent a follow request to, had the safeguards not withheld
    #: the suggestion (one entry per request prevented upstream of contact).
    legit_prevented: np.ndarray = field(default_factory=_none)


def _prevented_requests(pop: Population, viewer: np.ndarray, shown: np.ndarray, accept: float,
                        rng: np.random.Generator | None) -> np.ndarray:
    """The minors to whom ordinary adults would have sent a follow request from a withheld suggestion.

    Drawn as an accepted suggestion is (``accept_suggestion_adult``), from ``rng`` alone.
    """
    if rng is None or viewer.size == 0:
        return _none()
    ordinary_adult = ~pop.is_minor[viewer] & (pop.role[viewer] != OFFENDER)
    candidates = np.flatnonzero(ordinary_adult & pop.is_minor[shown])
    request = rng.random(candidates.size) < accept
    return shown[candidates[request]].astype(np.int64)


def suggest(pop: Population, graph: FollowGraph, followers: FollowGraph, groups: Groups,
            suggester: AccountSuggester | None, group_suggester: GroupSuggester | None, safeguards: SafeguardSet,
            discovered: Discovered,
            engaged: Engaged, sessions: np.ndarray, cfg: RecommenderConfig, day: int,
            rng: np.random.Generator, withheld_rng: np.random.Generator | None = None) -> Suggested:
    """Suggest accounts and groups to today's active accounts; offenders note the minors they are shown.

    Args:
        withheld_rng: a stream of its own for the follow requests ordinary adults would have sent to
            the minors the safeguards withheld from their suggestions (``Suggested.legit_prevented``),
            so counting them shifts no other draw; None: they are not drawn.
    """
    out = Suggested()
    viewers = np.flatnonzero((sessions > 0) & pop.present)
    ctx = SuggestionContext(pop, graph, followers, groups, engaged.viewer, engaged.item, engaged.author)

    if suggester is not None and cfg.account_suggestions > 0:
        sug = suggester.suggest(ctx, viewers, cfg.account_suggestions, rng)
        # The cold-start pool: every account present that joined within new_account_days (decoys alike).
        new = np.flatnonzero((day - pop.joined_day < cfg.new_account_days) & pop.present)
        sug = boost_new_accounts(sug, new, cfg.new_account_share, rng)
        sug = clean_account_suggestions(ctx, viewers, sug, ~pop.present)
        offered = sug.copy()
        safeguards.filter_account_suggestions(viewers, sug)
        rows, cols = np.nonzero((offered >= 0) & (sug < 0))
        out.withheld_viewer, out.withheld_shown = viewers[rows], offered[rows, cols]
        out.legit_prevented = _prevented_requests(pop, out.withheld_viewer, out.withheld_shown,
                                                  cfg.accept_suggestion_adult, withheld_rng)
        # Minors kept out of an offender's suggestions are discovery a safeguard closed to him
        # (they set how much of his effort is deterred: contact.displacement).
        closed = (pop.role[out.withheld_viewer] == OFFENDER) & pop.is_minor[out.withheld_shown]
        discovered.note_closed(out.withheld_viewer[closed])
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
