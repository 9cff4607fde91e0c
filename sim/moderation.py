"""Moderation: classifier removal at upload, the review queue, strikes, bans and ban evasion.

Core objects: :class:`Moderation` (the view causes are defined in :mod:`sim.vocabulary`).

Phase 2: every upload is scored; at or above the removal threshold it is
removed at once, in the review band just below it is queued. Reports from
viewers (phase 4) queue items too, with priority. Each day reviewers decide
the highest-priority due items up to their capacity, correctly with
``reviewer_accuracy``. Every removal is a strike for the author; reports by
minors about a contact are reviewed as account reports and may add a strike.
Phase 7: accounts reaching ``strikes_to_ban`` are banned (their live items
removed); some banned offenders come back days later as a new account with
the same role and no graph. Adults blocked or reported by a minor, or making
many stranger contacts to minors within a window, are flagged suspicious.

Why violating content still gets seen (Meta's enforcement report): each view
of a violating item is attributed to one of :data:`sim.vocabulary.VIEW_CAUSES`.
"""

from __future__ import annotations

from collections import deque

import numpy as np

from sim import compiled
from sim.config import ModerationConfig
from sim.content import REMOVAL_THRESHOLD, ItemStore
from sim.population import Population
from sim.vocabulary import (BEFORE_REMOVAL, FIRST_VIOLATING, LEFT_UP, N_COHORTS, NEVER_DETECTED, OFFENDER,
                            REVIEW_DELAY, VIEW_CAUSES)


def highest(priority: np.ndarray, k: int) -> np.ndarray:
    """Positions of the ``k`` largest ``priority`` values, ties to the lower position, in ascending order.

    The choice and its order depend on the values alone. ``np.argpartition`` would return the
    top ``k`` in an order of its own and choose among equal values its own way, and both differ
    between numpy's AVX-512 and AVX2 code (x86-simd-sort): the same seed would review other
    items on another CPU. ``np.partition`` is used only for a value, the k-th largest, which is
    the same whatever the algorithm.
    """
    n = priority.shape[0]
    if k <= 0:
        return np.zeros(0, dtype=np.int64)
    if k >= n:
        return np.arange(n, dtype=np.int64)
    kth = np.partition(priority, n - k)[n - k]
    chosen = priority > kth
    ties = np.flatnonzero(priority == kth)
    chosen[ties[:k - np.count_nonzero(chosen)]] = True
    return np.flatnonzero(chosen)


class Moderation:
    """The platform's moderation state and actions."""

    def __init__(self, cfg: ModerationConfig, items: ItemStore, pop: Population, retention_days: int = 10**6) -> None:
        self.cfg = cfg
        self.retention_days = retention_days
        self.items = items
        self.pop = pop
        self.stranger_senders: deque[np.ndarray] = deque(maxlen=cfg.flag_window_days)

    # ----------------------------------------------------------------- items

    def on_upload(self, new: np.ndarray, day: int) -> np.ndarray:
        """Remove today's uploads scoring at or above the threshold; queue the review band. Returns removed slots."""
        if not self.cfg.enabled or new.size == 0:
            return new[:0]
        score = self.items.score[new]
        removed = new[score >= REMOVAL_THRESHOLD]
        self.items.removed_day[removed] = day
        band = new[(score >= self.cfg.review_threshold) & (score < REMOVAL_THRESHOLD)]
        self.items.queued_day[band] = day
        return removed

    def queue_reports(self, slots: np.ndarray, day: int) -> None:
        """Viewers reported these items: mark them and queue those not yet queued, reviewed or removed."""
        if not self.cfg.enabled or slots.size == 0:
            return
        items = self.items
        slots = np.unique(slots)
        items.reported[slots] = True
        fresh = slots[(items.queued_day[slots] < 0) & (items.removed_day[slots] < 0) & (items.kept_day[slots] < 0)]
        items.queued_day[fresh] = day

    def review(self, day: int, n_accounts: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """Reviewers decide today's share of the due queue. Returns (removed slots, kept slots)."""
        items, cfg = self.items, self.cfg
        if not cfg.enabled:
            return np.zeros(0, np.int64), np.zeros(0, np.int64)
        # Items that left the store (or were removed another way) leave the queue.
        gone = (items.item_id < 0) | (items.removed_day >= 0) | (items.day <= day - self.retention_days)
        expired = (items.queued_day >= 0) & gone
        items.queued_day[expired] = -1
        due = np.flatnonzero((items.queued_day >= 0) & (items.queued_day <= day - cfg.review_latency_days))
        # Fractional capacity is kept by chance, so small worlds still review now and then.
        mean_capacity = cfg.review_capacity_per_1k * n_accounts / 1000.0
        capacity = int(np.floor(mean_capacity) + (rng.random() < mean_capacity - np.floor(mean_capacity)))
        if due.size > capacity:
            # Reported items first, then by classifier score; among equals, the lower slot.
            due = due[highest(items.reported[due] + items.score[due], capacity)]
        violating = items.harm[due] >= FIRST_VIOLATING
        correct = rng.random(due.size) < cfg.reviewer_accuracy
        remove = violating == correct
        removed, kept = due[remove], due[~remove]
        items.removed_day[removed] = day
        items.kept_day[kept] = day
        items.queued_day[due] = -1
        return removed, kept

    # -------------------------------------------------------------- accounts

    def strike(self, accounts: np.ndarray) -> None:
        """One strike per entry (an account may appear several times)."""
        if self.cfg.enabled:
            np.add.at(self.pop.strikes, accounts, 1)

    def review_account_reports(self, reported: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """Minors reported these senders: each report is upheld when right with ``reviewer_accuracy``.

        Returns the accounts that received a strike.
        """
        if not self.cfg.enabled or reported.size == 0:
            return reported[:0]
        offender = self.pop.role[reported] == OFFENDER
        upheld = np.where(offender, rng.random(reported.size) < self.cfg.reviewer_accuracy,
                          rng.random(reported.size) >= self.cfg.reviewer_accuracy)
        np.add.at(self.pop.strikes, reported[upheld], self.cfg.report_strikes)
        return reported[upheld]

    def flag(self, blocked_or_reported_by_minor: np.ndarray, stranger_senders_today: np.ndarray) -> np.ndarray:
        """Flag adults a minor blocked or reported, or with many stranger contacts to minors in the window.

        Returns the newly flagged accounts.
        """
        pop = self.pop
        self.stranger_senders.append(stranger_senders_today)
        counts = np.bincount(np.concatenate(list(self.stranger_senders)), minlength=pop.n)
        hit = np.zeros(pop.n, dtype=bool)
        hit[blocked_or_reported_by_minor] = True
        hit |= counts >= self.cfg.flag_requests_threshold
        # The platform judges "adult" by the age it believes (declared or assured), not the true one.
        new = np.flatnonzero(hit & ~pop.suspicious & ~pop.protected)
        pop.suspicious[new] = True
        return new

    def ban(self, day: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """Ban accounts at the strike limit, remove their live items and schedule some offenders' return.

        Returns:
            The banned accounts, and the (cohorts x causes) views of their removed items, now
            settled as seen before removal.
        """
        pop, cfg = self.pop, self.cfg
        if not cfg.enabled:
            return np.zeros(0, np.int64), np.zeros((N_COHORTS, len(VIEW_CAUSES)), dtype=np.int64)
        banned = np.flatnonzero((pop.strikes >= cfg.strikes_to_ban) & ~pop.banned)
        pop.banned[banned] = True
        items = self.items
        theirs = np.flatnonzero(np.isin(items.author, banned) & (items.removed_day < 0) & (items.item_id >= 0))
        items.removed_day[theirs] = day
        settled = self.resolve_views(theirs, theirs[:0], N_COHORTS)
        evades = banned[(pop.role[banned] == OFFENDER) & (rng.random(banned.size) < cfg.ban_evasion_share)]
        pop.returns_day[evades] = day + max(1, cfg.ban_evasion_delay_days)
        return banned, settled

    def returns_today(self, day: int) -> np.ndarray:
        """Banned offenders whose new account appears today: reset as a newly joined account (graph dropped by the caller)."""
        pop = self.pop
        back = np.flatnonzero(pop.banned & (pop.returns_day == day))
        pop.banned[back] = False
        pop.strikes[back] = 0
        pop.suspicious[back] = False
        pop.joined_day[back] = day
        pop.returns_day[back] = -1
        return back

    # ----------------------------------------------------------------- views

    def attribute_views(self, item: np.ndarray, viewer: np.ndarray, cohort: np.ndarray, n_cohorts: int) -> np.ndarray:
        """Attribute today's views of violating items; returns (cohorts x causes) counts known today.

        ``item`` and ``viewer`` are the impressions, ``cohort`` each account's cohort. Views during
        review or after a wrong keep are attributed at once; the rest wait on the item
        (``pending_views``) until it is removed (``before_removal``) or leaves the store uncaught
        (``never_detected``).
        """
        items = self.items
        out = np.zeros((n_cohorts, len(VIEW_CAUSES)), dtype=np.int64)
        compiled.attribute_views(item, viewer, cohort, items.harm, FIRST_VIOLATING, items.queued_day, items.kept_day,
                                 items.pending_views, out, REVIEW_DELAY, LEFT_UP)
        return out

    def resolve_views(self, removed: np.ndarray, expiring: np.ndarray, n_cohorts: int) -> np.ndarray:
        """Move pending views of removed items to ``before_removal`` and of expiring ones to ``never_detected``."""
        items = self.items
        out = np.zeros((n_cohorts, len(VIEW_CAUSES)), dtype=np.int64)
        out[:, BEFORE_REMOVAL] = items.pending_views[removed].sum(axis=0)
        items.pending_views[removed] = 0
        out[:, NEVER_DETECTED] = items.pending_views[expiring].sum(axis=0)
        items.pending_views[expiring] = 0
        return out
