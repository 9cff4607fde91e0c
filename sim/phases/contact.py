"""Phase 6: offenders discover minors and contact them, ordinary adults and peers too; safeguards decide
what is delivered; minors respond; conversations move on; blocks and reports have consequences.

Core objects: :func:`contact`, :class:`Contacted`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from sim.config import ContactConfig
from sim.contact import (Attempts, Conversations, Discovered, Responses, discover, offender_attempts,
                         ordinary_attempts, respond, retarget)
from sim.moderation import Moderation
from sim.network import FollowGraph, Groups
from sim.phases.engage import Engaged
from sim.population import Population
from sim.safeguards import Delivery, SafeguardContext, SafeguardSet
from sim.vocabulary import (COMMENT_CHANNEL, FOLLOW_REQUEST, GROUP_ADD, MESSAGE, MESSAGE_REQUEST, OFFENDER, S_ADULT,
                            S_MINOR, S_OFFENDER, SUGGESTION)


@dataclass
class Contacted:
    """Today's contact: every attempt, what was delivered and how minors responded."""

    attempts: Attempts            # every attempt made today
    allowed: np.ndarray           # bool per attempt: delivered (no safeguard stopped it)
    blocked_by: np.ndarray        # per attempt: index into the enabled safeguards' names of the one that stopped it, -1
    delivered: Attempts           # the attempts delivered
    delivery: Delivery            # per delivered attempt: explicit image, blurred, block/report lifts
    responses: Responses          # per delivered attempt: the minor's response
    unwanted: np.ndarray          # bool per delivered attempt: an adult stranger reached a minor
    stage: np.ndarray             # per delivered attempt: its conversation's stage after today (-1: not adult->minor)
    account_strikes: np.ndarray   # accounts that got a strike from a minor's report
    flagged: np.ndarray           # accounts newly flagged as suspicious adults
    follows: tuple[np.ndarray, np.ndarray]   # (follower, followed): follows made by accepted requests
    joins: tuple[np.ndarray, np.ndarray]     # (account, group): group adds that were not blocked
    safeguard_counts: dict[str, np.ndarray]  # counter -> accounts, from the before_contact safeguards


def contact(pop: Population, graph: FollowGraph, followers: FollowGraph, groups: Groups,
            discovered: Discovered, conversations: Conversations, moderation: Moderation,
            safeguards: SafeguardSet, engaged: Engaged, recent_posts: np.ndarray,
            follow_requests: tuple[np.ndarray, np.ndarray] | None, cfg: ContactConfig, day: int,
            rng: np.random.Generator, context: SafeguardContext | None = None) -> Contacted:
    """Discovery, attempts, the ``allow_contact`` and ``on_delivery`` hooks, responses and their consequences.

    Args:
        engaged: today's engagements (the comment channel: minors whose posts an offender engaged with).
        recent_posts: per account, its servable posts (phase 3; search finds accounts that post).
        follow_requests: adults' follows of suggested minors (phase 5), or None.
        context: what the ``before_contact`` safeguards may use (today's streams); None: no such hook runs.
    """
    active = pop.present
    discovered.decay()
    discover(discovered, pop, graph, followers, groups, cfg, active, recent_posts, rng)
    via_post = (pop.role[engaged.viewer] == OFFENDER) & pop.is_minor[engaged.author] & active[engaged.author]
    discovered.add(engaged.viewer[via_post], engaged.author[via_post], COMMENT_CHANNEL)

    parts = [offender_attempts(discovered, pop, graph, groups, cfg, active, rng),
             ordinary_attempts(pop, graph, followers, cfg, active, rng)]
    if follow_requests is not None:
        src, dst = follow_requests
        parts.append(Attempts(src.astype(np.int64), dst.astype(np.int64),
                              np.full(src.size, FOLLOW_REQUEST, np.int8), np.full(src.size, SUGGESTION, np.int8),
                              np.full(src.size, S_ADULT, np.int8), np.full(src.size, -1, np.int64)))
    att = Attempts.concat(parts)
    target_follows_sender = graph.has_edges(att.target, att.sender)
    counts: dict[str, np.ndarray] = {}
    if context is not None:
        safeguards.before_contact(att, target_follows_sender, context)
        counts = context.counts
    allowed, blocked_by = safeguards.allow_contact(att, target_follows_sender, rng)
    # Displacement: offenders aim some blocked attempts at another minor they know of (one round).
    retried = retarget(discovered, pop, graph, att.subset(~allowed), cfg, active, rng)
    if retried.n:
        again_follows = graph.has_edges(retried.target, retried.sender)
        if context is not None:
            safeguards.before_contact(retried, again_follows, context)
        again_allowed, again_by = safeguards.allow_contact(retried, again_follows, rng)
        att = Attempts.concat([att, retried])
        target_follows_sender = np.concatenate([target_follows_sender, again_follows])
        allowed = np.concatenate([allowed, again_allowed])
        blocked_by = np.concatenate([blocked_by, again_by])
    delivered = att.subset(allowed)
    # Offenders' messages and requests may carry an explicit image.
    image = ((delivered.sender_type == S_OFFENDER) & np.isin(delivered.kind, (MESSAGE, MESSAGE_REQUEST))
             & (rng.random(delivered.n) < cfg.explicit_image_share))
    delivery = Delivery(np.ones(delivered.n), np.ones(delivered.n), image, np.zeros(delivered.n, dtype=bool))
    safeguards.on_delivery(delivered, target_follows_sender[allowed], day, delivery, rng)
    resp = respond(delivered, pop, graph, cfg, rng, delivery.block_lift, delivery.report_lift)

    adult_to_minor = (delivered.sender_type != S_MINOR) & pop.is_minor[delivered.target]
    a2m = np.flatnonzero(adult_to_minor)
    stage = conversations.update(
        delivered.sender[a2m], delivered.target[a2m], delivered.channel[a2m], resp.replied[a2m],
        resp.blocked[a2m] | resp.reported[a2m], delivered.sender_type[a2m] == S_OFFENDER, cfg, day, rng)
    unwanted = adult_to_minor & ~resp.target_follows_sender
    stage_of = np.full(delivered.n, -1, dtype=np.int8)
    stage_of[a2m] = stage

    # Minors' reports go to account review; blocks and reports flag the sender.
    reported = delivered.sender[resp.reported & pop.is_minor[delivered.target]]
    strikes = moderation.review_account_reports(reported, rng)
    flagged = moderation.flag(delivered.sender[(resp.blocked | resp.reported) & unwanted],
                              delivered.sender[unwanted])
    # A blocked offender keeps the target (and comes back from another account) with some chance.
    gone = resp.blocked & (delivered.sender_type == S_OFFENDER) & (rng.random(delivered.n) >= cfg.recontact_after_block)
    discovered.forget(delivered.sender[gone], delivered.target[gone])
    adds = (delivered.kind == GROUP_ADD) & ~resp.blocked
    return Contacted(att, allowed, blocked_by, delivered, delivery, resp, unwanted, stage_of, strikes, flagged,
                     (delivered.sender[resp.follow_made], delivered.target[resp.follow_made]),
                     (delivered.target[adds], delivered.group[adds]), counts)
