"""Phase 6: how adults find minors, contact attempts, minors' responses, conversations.

Core objects: :class:`Discovered`, :class:`Attempts`, :class:`Conversations`,
:class:`ContactLog`, :func:`offender_attempts`, :func:`ordinary_attempts`, :func:`respond`
(the contact kinds, channels, sender types and stages are defined in :mod:`sim.vocabulary`).

Offenders keep a bounded set of minors they have discovered, each tagged with
the channel it came through (``suggestion``, ``group``, ``search``,
``comment``, ``network``). Each day they spend a Poisson budget of attempts on
those targets, preferring younger and public ones; ordinary adults message
minors who follow them (``known``) and, rarely, strangers; minors message
peers. Every attempt passes the ``allow_contact`` hook, then minors respond:
ignore, reply, accept, block or report. Adult-to-minor pairs carry a
conversation whose stage only moves forward: contact -> rapport ->
solicitation -> escalated (off-platform), or ended.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from sim.config import ContactConfig
from sim.network import FollowGraph, Groups
from sim.population import Population
from sim.recommenders.serving import pick_from_csr
from sim.vocabulary import (ACQUAINTANCE, CHANNELS, COHORTS, COMMENT, CONTACT, CONTACT_KINDS, ENDED, ESCALATED,
                            FOLLOW_REQUEST, GROUP, GROUP_ADD, MESSAGE, MESSAGE_REQUEST, NETWORK, OFFENDER, RAPPORT,
                            S_ADULT, S_MINOR, S_OFFENDER, SEARCH, SENDERS, SOLICITATION, STAGES, YOUNG_BELOW)

#: Half-life, in days, of the discovery counts behind an offender's closed share (:meth:`Discovered.closed_share`).
EFFORT_HALF_LIFE_DAYS = 7.0


class Discovered:
    """Each offender's bounded set of discovered minors (a ring of ``capacity`` slots).

    It also keeps, per offender, how many minors he was shown through open
    channels (every :meth:`add`) and how many safeguards withheld from him
    (:meth:`note_closed`), both decaying with a half-life of
    :data:`EFFORT_HALF_LIFE_DAYS`: their ratio is the share of his discovery a
    safeguard has closed, which sets how much of his effort is deterred
    (``contact.displacement``).
    """

    def __init__(self, offenders: np.ndarray, n_accounts: int, capacity: int) -> None:
        self.offenders = offenders.astype(np.int64)
        self.index_of = np.full(n_accounts, -1, dtype=np.int64)
        self.index_of[self.offenders] = np.arange(self.offenders.size)
        self.target = np.full((self.offenders.size, capacity), -1, dtype=np.int64)
        self.channel = np.full((self.offenders.size, capacity), -1, dtype=np.int8)
        self.cursor = np.zeros(self.offenders.size, dtype=np.int64)
        self.opened = np.zeros(self.offenders.size)     # minors found through open channels (decaying)
        self.closed = np.zeros(self.offenders.size)     # minors safeguards withheld from him (decaying)

    def note_closed(self, offender: np.ndarray, weight: float = 1.0) -> None:
        """``weight`` discoveries a safeguard withheld from each listed offender row (e.g. a minor kept out of
        his suggestions: 1 each)."""
        idx = self.index_of[np.asarray(offender, dtype=np.int64)]
        np.add.at(self.closed, idx[idx >= 0], weight)

    def closed_share(self) -> np.ndarray:
        """Per offender: the share of his recent discovery that safeguards closed (0 with no history)."""
        total = self.opened + self.closed
        return np.where(total > 0, self.closed / np.maximum(total, 1e-300), 0.0)

    def decay(self) -> None:
        """Age the discovery counts by one day."""
        factor = 0.5 ** (1.0 / EFFORT_HALF_LIFE_DAYS)
        self.opened *= factor
        self.closed *= factor

    @property
    def capacity(self) -> int:
        return int(self.target.shape[1])

    def add(self, offender: np.ndarray, target: np.ndarray, channel: int | np.ndarray) -> None:
        """Record discoveries (offender rows, target rows); targets already held keep their first channel."""
        idx = self.index_of[offender]
        channel = np.broadcast_to(np.asarray(channel, dtype=np.int8), idx.shape)
        keep = idx >= 0
        idx, target, channel = idx[keep], np.asarray(target, dtype=np.int64)[keep], channel[keep]
        if idx.size == 0:
            return
        np.add.at(self.opened, idx, 1.0)
        # One entry per (offender, target), first channel wins; drop those already held.
        key = idx * (target.max() + 1) + target
        _, first = np.unique(key, return_index=True)
        idx, target, channel = idx[first], target[first], channel[first]
        held = (self.target[idx] == target[:, None]).any(axis=1)
        idx, target, channel = idx[~held], target[~held], channel[~held]
        if idx.size == 0:
            return
        order = np.argsort(idx, kind="stable")
        idx, target, channel = idx[order], target[order], channel[order]
        start = np.searchsorted(idx, idx, side="left")
        rank = np.arange(idx.size) - start
        slot = (self.cursor[idx] + rank) % self.capacity
        self.target[idx, slot] = target
        self.channel[idx, slot] = channel
        np.add.at(self.cursor, idx, 1)

    def forget(self, offender: np.ndarray, target: np.ndarray) -> None:
        """Drop targets from offenders' sets (after a block the offender does not come back to)."""
        idx = self.index_of[offender]
        ok = idx >= 0
        idx, target = idx[ok], np.asarray(target)[ok]
        hit = self.target[idx] == target[:, None]
        rows, cols = np.nonzero(hit)
        self.target[idx[rows], cols] = -1
        self.channel[idx[rows], cols] = -1

    def channel_of(self, offender: np.ndarray, target: np.ndarray) -> np.ndarray:
        """The channel through which each offender found each target (-1 if not held)."""
        idx = self.index_of[offender]
        hit = self.target[idx] == np.asarray(target)[:, None]
        col = hit.argmax(axis=1)
        return np.where(hit.any(axis=1), self.channel[idx, col], -1).astype(np.int8)

    def size(self) -> np.ndarray:
        return (self.target >= 0).sum(axis=1)


@dataclass
class Attempts:
    """A batch of contact attempts, one entry each."""

    sender: np.ndarray
    target: np.ndarray
    kind: np.ndarray
    channel: np.ndarray
    sender_type: np.ndarray
    group: np.ndarray          # for group adds: the group (-1 otherwise)

    @staticmethod
    def concat(parts: list[Attempts]) -> Attempts:
        fields = ("sender", "target", "kind", "channel", "sender_type", "group")
        return Attempts(*(np.concatenate([getattr(p, f) for p in parts]) for f in fields))

    @property
    def n(self) -> int:
        return int(self.sender.shape[0])

    def subset(self, mask: np.ndarray) -> Attempts:
        return Attempts(self.sender[mask], self.target[mask], self.kind[mask], self.channel[mask],
                        self.sender_type[mask], self.group[mask])


def _attempts(sender, target, kind, channel, sender_type, group=None) -> Attempts:
    n = np.asarray(sender).shape[0]
    return Attempts(np.asarray(sender, dtype=np.int64), np.asarray(target, dtype=np.int64),
                    np.broadcast_to(np.asarray(kind, dtype=np.int8), (n,)).copy(),
                    np.broadcast_to(np.asarray(channel, dtype=np.int8), (n,)).copy(),
                    np.full(n, sender_type, dtype=np.int8),
                    np.full(n, -1, dtype=np.int64) if group is None else np.asarray(group, dtype=np.int64))


def discover(found: Discovered, pop: Population, graph: FollowGraph, followers: FollowGraph, groups: Groups,
             cfg: ContactConfig, visible: np.ndarray, recent_posts: np.ndarray, rng: np.random.Generator) -> None:
    """Offenders browse search, their groups and their followees' followers for minors.

    Args:
        found: the offenders' discovered sets (updated in place).
        pop, graph, followers, groups: the platform.
        cfg: contact settings.
        visible: accounts that can be found by browsing (present today; safeguards may hide more).
        recent_posts: each account's servable posts today (search favours accounts that post).
        rng: today's discovery stream.
    """
    off = found.offenders
    on = pop.present[off]            # only offenders on the platform today browse (draws made for all)
    is_target = pop.is_minor & visible

    # Search: public minors, in proportion to 1 + their recent posts (search and explore
    # surface active accounts; the offender recognises a minor from the profile and posts).
    public = np.flatnonzero(~pop.private & is_target)
    n_search = rng.poisson(cfg.search_per_day, off.size) * on
    if public.size and n_search.sum():
        who = np.repeat(off, n_search)
        cdf = np.cumsum(1.0 + recent_posts[public])
        pick = np.minimum(np.searchsorted(cdf, rng.random(who.size) * cdf[-1], side="right"), public.size - 1)
        found.add(who, public[pick], SEARCH)
        # Minors a safeguard made private would have been a share c of what search shows: each search
        # made is then c / (1 - c) discoveries closed (so the closed share of search is c).
        hidden = pop.private_by_safeguard & pop.private & is_target
        hidden_weight = float((1.0 + recent_posts[hidden]).sum())
        if hidden_weight > 0:
            found.note_closed(who, hidden_weight / float(cdf[-1]))

    # Groups: fellow members of a random group of the offender's.
    who, member = _browse(np.repeat(off, rng.poisson(cfg.group_browse_per_day, off.size) * on),
                          (groups.account_indptr, groups.account_groups), (groups.member_indptr, groups.members), rng)
    keep = is_target[member]
    found.add(who[keep], member[keep], GROUP)

    # Network: followers of accounts the offender follows.
    who, fan = _browse(np.repeat(off, rng.poisson(cfg.network_browse_per_day, off.size) * on),
                       (graph.indptr, graph.indices), (followers.indptr, followers.indices), rng)
    keep = is_target[fan]
    found.add(who[keep], fan[keep], NETWORK)


def _browse(who: np.ndarray, first: tuple[np.ndarray, np.ndarray], second: tuple[np.ndarray, np.ndarray],
            rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Two random hops through two CSRs (e.g. account -> group -> member); pairs (who, end) that got there."""
    middle = pick_from_csr(*first, who, rng.random(who.size))
    ok = middle >= 0
    end = pick_from_csr(*second, middle[ok], rng.random(int(ok.sum())))
    hit = end >= 0
    return who[ok][hit], end[hit]


def target_weight(pop: Population, targets: np.ndarray, cfg: ContactConfig) -> np.ndarray:
    """How much an offender favours each target: ``prefer_young`` for a 13-15-year-old, ``prefer_public`` for a
    public account (multiplied)."""
    return (np.where(pop.true_age[targets] < YOUNG_BELOW, cfg.prefer_young, 1.0)
            * np.where(pop.private[targets], 1.0, cfg.prefer_public))


def offender_attempts(found: Discovered, pop: Population, graph: FollowGraph, groups: Groups,
                      cfg: ContactConfig, active: np.ndarray, rng: np.random.Generator) -> Attempts:
    """Each offender spends a Poisson budget on discovered targets, weighted young and public.

    The budget's mean is ``offender_attempts_per_day`` times
    ``1 - (1 - displacement) * closed_share``: of the discovery safeguards closed
    to him, the share ``1 - displacement`` is effort he gives up rather than
    spends on the minors he can still reach.
    """
    t = np.maximum(found.target, 0)
    weight = np.where(found.target >= 0, 1.0, 0.0) * target_weight(pop, t, cfg)
    weight *= active[found.offenders][:, None] & active[t]    # both on the platform today
    total = weight.sum(axis=1)
    rate = cfg.offender_attempts_per_day * (1.0 - (1.0 - cfg.displacement) * found.closed_share())
    budget = np.where(total > 0, rng.poisson(rate), 0)
    row = np.repeat(np.arange(found.offenders.size), budget)
    if row.size == 0:
        return _attempts(np.zeros(0), np.zeros(0), 0, 0, S_OFFENDER)
    cdf = np.cumsum(weight[row], axis=1)
    col = (cdf < (rng.random(row.size) * total[row])[:, None]).sum(axis=1)
    col = np.minimum(col, found.capacity - 1)
    held = found.target[row, col] >= 0      # guards the measure-zero draw that lands on an empty slot
    row, col = row[held], col[held]
    sender = found.offenders[row]
    target = found.target[row, col]
    channel = found.channel[row, col]

    # One share per kind, in the order of CONTACT_KINDS (message requests only arise from messages, below).
    shares = np.array([cfg.follow_share, cfg.message_share, 0.0, cfg.comment_share, cfg.group_add_share])
    drawn = (rng.random(row.size)[:, None] > np.cumsum(shares / shares.sum())).sum(axis=1)
    kind = np.minimum(drawn, len(CONTACT_KINDS) - 1)
    # A follow request to someone already followed becomes a message; a message to a
    # minor who does not follow the sender arrives as a message request; a group add
    # needs a group of the offender's to add to.
    already = graph.has_edges(sender, target)
    kind = np.where((kind == FOLLOW_REQUEST) & already, MESSAGE, kind)
    group = pick_from_csr(groups.account_indptr, groups.account_groups, sender, rng.random(row.size))
    kind = np.where((kind == GROUP_ADD) & (group < 0), MESSAGE, kind)
    followed_back = graph.has_edges(target, sender)
    kind = np.where((kind == MESSAGE) & ~followed_back, MESSAGE_REQUEST, kind)
    group = np.where(kind == GROUP_ADD, group, -1)
    return Attempts(sender.astype(np.int64), target.astype(np.int64), kind.astype(np.int8),
                    channel.astype(np.int8), np.full(row.size, S_OFFENDER, dtype=np.int8), group.astype(np.int64))


def retarget(found: Discovered, pop: Population, graph: FollowGraph, blocked: Attempts, cfg: ContactConfig,
             active: np.ndarray, rng: np.random.Generator) -> Attempts:
    """Offenders' blocked attempts, each aimed again with chance ``displacement`` at another discovered minor.

    The new target is drawn as in :func:`offender_attempts` (weighted young and
    public) among the offender's other discovered minors; the attempt keeps its
    kind, settled for the new target (a follow request to someone already
    followed becomes a message; a message to a minor who does not follow back
    arrives as a request). An offender with no other target gives up.
    """
    again = np.flatnonzero((blocked.sender_type == S_OFFENDER) & (rng.random(blocked.n) < cfg.displacement))
    idx = found.index_of[blocked.sender[again]]
    again, idx = again[idx >= 0], idx[idx >= 0]
    t = found.target[idx]
    tt = np.maximum(t, 0)
    weight = ((t >= 0) & (t != blocked.target[again][:, None]) & active[tt]) * target_weight(pop, tt, cfg)
    total = weight.sum(axis=1)
    u = rng.random(again.size)
    has = total > 0
    again, idx, weight, total, u = again[has], idx[has], weight[has], total[has], u[has]
    if again.size == 0:
        return blocked.subset(np.zeros(blocked.n, dtype=bool))
    col = np.minimum((np.cumsum(weight, axis=1) < (u * total)[:, None]).sum(axis=1), found.capacity - 1)
    sender = blocked.sender[again]
    target = found.target[idx, col]
    kind = blocked.kind[again].copy()
    kind = np.where((kind == FOLLOW_REQUEST) & graph.has_edges(sender, target), MESSAGE, kind)
    messages = (kind == MESSAGE) | (kind == MESSAGE_REQUEST)
    kind = np.where(messages, np.where(graph.has_edges(target, sender), MESSAGE, MESSAGE_REQUEST), kind)
    return Attempts(sender, target, kind.astype(np.int8), found.channel[idx, col].astype(np.int8),
                    blocked.sender_type[again], blocked.group[again])


def ordinary_attempts(pop: Population, graph: FollowGraph, followers: FollowGraph, cfg: ContactConfig,
                      active: np.ndarray, rng: np.random.Generator) -> Attempts:
    """Ordinary adults message minors who follow them and, rarely, strangers; minors message peers."""
    adult = ~pop.is_minor & (pop.role != OFFENDER) & active
    parts = []

    # Acquaintances (family, teachers; channel "known"): a random follower of theirs, if a minor.
    n_to_acquaintances = rng.poisson(cfg.adult_known_contact_per_day, pop.n) * adult
    who = np.repeat(np.arange(pop.n), n_to_acquaintances)
    fan = pick_from_csr(followers.indptr, followers.indices, who, rng.random(who.size))
    ok = (fan >= 0)
    ok[ok] = pop.is_minor[fan[ok]] & active[fan[ok]]
    parts.append(_attempts(who[ok], fan[ok], MESSAGE, ACQUAINTANCE, S_ADULT))

    # Stranger adults: a random public minor, found through search.
    public_minors = np.flatnonzero(pop.is_minor & ~pop.private & active)
    n_stranger = rng.poisson(cfg.adult_stranger_contact_per_day, pop.n) * adult
    who = np.repeat(np.arange(pop.n), n_stranger)
    if public_minors.size and who.size:
        target = public_minors[rng.integers(0, public_minors.size, who.size)]
        kind = np.where(rng.random(who.size) < 0.5, MESSAGE_REQUEST, COMMENT)
        parts.append(_attempts(who, target, kind, SEARCH, S_ADULT))

    # Minors message minors they follow.
    n_peer = rng.poisson(cfg.minor_peer_contact_per_day, pop.n) * (pop.is_minor & active)
    who = np.repeat(np.arange(pop.n), n_peer)
    peer = pick_from_csr(graph.indptr, graph.indices, who, rng.random(who.size))
    ok = peer >= 0
    ok[ok] = pop.is_minor[peer[ok]] & active[peer[ok]]
    parts.append(_attempts(who[ok], peer[ok], MESSAGE, ACQUAINTANCE, S_MINOR))
    return Attempts.concat(parts)


@dataclass
class Responses:
    """Per delivered attempt: whether the target follows the sender, and what they did."""

    target_follows_sender: np.ndarray
    replied: np.ndarray
    blocked: np.ndarray
    reported: np.ndarray
    follow_made: np.ndarray    # the attempt created a follow (sender -> target)


def respond(att: Attempts, pop: Population, graph: FollowGraph, cfg: ContactConfig,
            rng: np.random.Generator, block_lift: np.ndarray | None = None,
            report_lift: np.ndarray | None = None) -> Responses:
    """Minors' responses to delivered attempts; senders the minor follows get replies, strangers risk blocks.

    ``block_lift`` and ``report_lift`` multiply the stranger block and report
    probabilities per attempt (safety notices, blurred images).
    """
    n = att.n
    target_follows_sender = graph.has_edges(att.target, att.sender)
    block_p = cfg.block_stranger * (1.0 if block_lift is None else block_lift)
    report_p = cfg.report_stranger * (1.0 if report_lift is None else report_lift)
    to_minor = pop.is_minor[att.target]
    stranger = to_minor & ~target_follows_sender & (att.sender_type != S_MINOR)
    young = pop.true_age[att.target] < YOUNG_BELOW
    reply_p = np.where(target_follows_sender, cfg.reply_known,
                       np.where(young, cfg.reply_stranger_13_15, cfg.reply_stranger_16_17))
    blocked = stranger & (rng.random(n) < block_p)
    reported = stranger & (rng.random(n) < report_p)
    replied = to_minor & ~blocked & (rng.random(n) < reply_p)
    is_follow = att.kind == FOLLOW_REQUEST
    accept = np.where(pop.private[att.target], rng.random(n) < cfg.accept_follow_request, True)
    follow_made = is_follow & ~blocked & accept
    return Responses(target_follows_sender, replied, blocked, reported, follow_made)


class Conversations:
    """Adult-to-minor pairs with a stage that only moves forward."""

    def __init__(self, n_accounts: int) -> None:
        self.n = n_accounts
        self.key = np.zeros(0, dtype=np.int64)        # sender * n + target, sorted
        self.stage = np.zeros(0, dtype=np.int8)
        self.channel = np.zeros(0, dtype=np.int8)
        self.opened = np.zeros(0, dtype=np.int32)
        self.last = np.zeros(0, dtype=np.int32)

    @property
    def sender(self) -> np.ndarray:
        return self.key // self.n

    @property
    def target(self) -> np.ndarray:
        return self.key % self.n

    def lookup(self, sender: np.ndarray, target: np.ndarray) -> np.ndarray:
        """Index of each pair's conversation, -1 if none."""
        key = sender.astype(np.int64) * self.n + target
        pos = np.searchsorted(self.key, key)
        hit = pos < self.key.size
        hit[hit] = self.key[pos[hit]] == key[hit]
        return np.where(hit, pos, -1)

    def update(self, sender: np.ndarray, target: np.ndarray, channel: np.ndarray, replied: np.ndarray,
               ended: np.ndarray, offender: np.ndarray, cfg: ContactConfig, day: int,
               rng: np.random.Generator) -> np.ndarray:
        """Open, advance or end conversations for today's delivered adult-to-minor attempts.

        Returns each attempt's conversation stage after the update.
        """
        key = sender.astype(np.int64) * self.n + target
        new = np.setdiff1d(key, self.key)          # sorted, distinct pairs without a conversation
        if new.size:
            # The first attempt of each new pair today gives the conversation its channel.
            order = np.argsort(key, kind="stable")
            sorted_key = key[order]
            first_idx = order[np.searchsorted(sorted_key, new)]
            merged = np.concatenate([self.key, new])
            perm = np.argsort(merged, kind="stable")
            self.key = merged[perm]
            self.stage = np.concatenate([self.stage, np.full(new.size, CONTACT, np.int8)])[perm]
            self.channel = np.concatenate([self.channel, channel[first_idx].astype(np.int8)])[perm]
            self.opened = np.concatenate([self.opened, np.full(new.size, day, np.int32)])[perm]
            self.last = np.concatenate([self.last, np.full(new.size, day, np.int32)])[perm]
        idx = self.lookup(sender, target)

        # Ends first (block or report), then at most one step forward per conversation and day.
        open_ = self.stage < ESCALATED
        end_idx = np.unique(idx[ended & open_[idx]])
        advance = replied & ~ended
        adv_idx, first = np.unique(idx[advance], return_index=True)
        adv_offender = offender[advance][first]
        stage = self.stage[adv_idx]
        step_p = np.select([stage == CONTACT, (stage == RAPPORT) & adv_offender,
                            (stage == SOLICITATION) & adv_offender],
                           [cfg.advance_rapport, cfg.advance_solicitation, cfg.advance_escalated], 0.0)
        moves = (rng.random(adv_idx.size) < step_p) & (stage < ESCALATED)
        self.stage[adv_idx[moves]] += 1
        self.stage[end_idx] = ENDED
        self.last[idx] = day

        # Conversations left alone today may fade out.
        idle = (self.stage < ESCALATED) & (self.last < day)
        fade = idle & (rng.random(self.stage.size) < cfg.end_per_day)
        self.stage[fade] = ENDED
        return self.stage[idx]

    def counts_by_stage(self, cohort: np.ndarray, n_cohorts: int) -> np.ndarray:
        """(cohorts x stages) number of conversations, by the target's cohort."""
        code = cohort[self.target].astype(np.int64) * len(STAGES) + self.stage
        return np.bincount(code, minlength=n_cohorts * len(STAGES)).reshape(n_cohorts, len(STAGES))


class ContactLog:
    """Each day's attempts counted by target cohort x sender type x channel x kind x outcome.

    Outcomes: attempted, delivered, blocked (by a safeguard), unwanted, sexual_advance.
    """

    OUTCOMES = ("attempted", "delivered", "blocked", "unwanted", "sexual_advance")

    def __init__(self) -> None:
        self.days: list[np.ndarray] = []

    def _shape(self) -> tuple[int, int, int, int]:
        return (len(COHORTS), len(SENDERS), len(CHANNELS), len(CONTACT_KINDS))

    def record(self, cohort: np.ndarray, att: Attempts, allowed: np.ndarray, delivered: Attempts,
               unwanted: np.ndarray, advance: np.ndarray) -> None:
        """Add today's counts (``unwanted`` and ``advance``, the sexual advances, are masks over ``delivered``)."""
        shape = self._shape()

        def cube(a: Attempts, mask: np.ndarray | None = None) -> np.ndarray:
            if mask is not None:
                a = a.subset(mask)
            code = np.ravel_multi_index((cohort[a.target], a.sender_type, a.channel, a.kind), shape)
            return np.bincount(code, minlength=int(np.prod(shape))).reshape(shape)

        self.days.append(np.stack([cube(att), cube(delivered), cube(att, ~allowed),
                                   cube(delivered, unwanted), cube(delivered, advance)], axis=-1))

    def table(self) -> dict[str, np.ndarray]:
        """Columns: day, cohort, sender, channel, kind and one per outcome; rows with any count only."""
        shape = self._shape()
        cube = (np.stack(self.days) if self.days
                else np.zeros((0, *shape, len(self.OUTCOMES)), dtype=np.int64))
        flat = cube.reshape(-1, len(self.OUTCOMES))
        keep = flat.any(axis=1)
        index = np.unravel_index(np.flatnonzero(keep), cube.shape[:-1])
        cols: dict[str, np.ndarray] = {"day": (index[0] + 1).astype(np.int32)}
        for label, axis, values in zip(("cohort", "sender", "channel", "kind"), index[1:],
                                       (COHORTS, SENDERS, CHANNELS, CONTACT_KINDS)):
            cols[label] = np.array(values, dtype=object)[axis]
        for j, name in enumerate(self.OUTCOMES):
            cols[name] = flat[keep, j].astype(np.int64)
        return cols
