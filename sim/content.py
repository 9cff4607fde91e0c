"""Items and posting: the item store (a ring buffer of arrays) and phase 1.

Core objects: :class:`ItemStore`, :func:`post_items`, :func:`classifier_scores`
(the harm-class codes are defined in :mod:`sim.vocabulary`).

An item carries an abstract harm *class* label, never content. Item ids grow
forever; an id lives in slot ``id % capacity`` until ``retention_days`` have
passed, after which its slot may be reused. Ids therefore stay valid references
(for review queues and event logs) for as long as the item exists.
"""

from __future__ import annotations

import numpy as np

from sim import libm
from sim.compiled import aligned_empty
from sim.config import ContentConfig, ModerationConfig
from sim.population import Population
from sim.vocabulary import (ADULT_CONTENT_PRODUCER, ADULT_SEXUAL, CREATOR, EXPLOITATIVE, EXPLOITATIVE_SELLER,
                            FIRST_VIOLATING, N_CLASSES, N_COHORTS, N_ROLES, NONE, OFFENDER, REGULAR, SUGGESTIVE)

#: Where a classifier score crosses into "remove": scores are built so that
#: P(score >= REMOVAL_THRESHOLD) is exactly the configured recall (harmful) or
#: false-positive rate (benign).
REMOVAL_THRESHOLD = 0.5
#: How strongly scores below the threshold separate violating from other items.
SCORE_SHAPE = 4.0


class ItemStore:
    """All live items, one array per attribute, indexed by slot."""

    def __init__(self, capacity: int, dim: int) -> None:
        self.capacity = 0
        self.dim = dim
        self.next_id = 0
        self._allocate(max(16, capacity))

    def _allocate(self, capacity: int) -> None:
        old = None if self.capacity == 0 else self._arrays()
        self.item_id = np.full(capacity, -1, dtype=np.int64)
        self.author = np.full(capacity, -1, dtype=np.int32)
        # Rows read at random for every candidate: one cache line each (16 dimensions).
        self.topic = aligned_empty((capacity, self.dim), np.float32, zeros=True)
        self.harm = np.zeros(capacity, dtype=np.int8)
        self.appeal = np.zeros(capacity, dtype=np.float32)
        self.day = np.full(capacity, -(10**6), dtype=np.int32)
        self.time = np.zeros(capacity, dtype=np.float32)          # day + fraction of the day posted
        self.group = np.full(capacity, -1, dtype=np.int32)
        self.score = np.zeros(capacity, dtype=np.float32)         # proactive classifier score
        self.detect_u = np.zeros(capacity, dtype=np.float32)      # latent detectability (sim.detection); the classifier's draw
        self.removed_day = np.full(capacity, -1, dtype=np.int32)
        self.engagements = np.zeros(capacity, dtype=np.int32)
        self.impressions = np.zeros(capacity, dtype=np.int32)
        self.hash_listed = np.zeros(capacity, dtype=bool)         # exploitative and its hash already in a hash database
        self.queued_day = np.full(capacity, -1, dtype=np.int32)   # day it entered the review queue
        self.kept_day = np.full(capacity, -1, dtype=np.int32)     # day a review wrongly or rightly kept it
        self.reported = np.zeros(capacity, dtype=bool)
        self.pending_views = np.zeros((capacity, N_COHORTS), dtype=np.int32)  # harmful views awaiting their cause
        if old is not None:
            live = old["item_id"] >= 0
            slots = old["item_id"][live] % capacity
            for name, values in old.items():
                getattr(self, name)[slots] = values[live]
        self.capacity = capacity

    def _arrays(self) -> dict[str, np.ndarray]:
        names = ("item_id", "author", "topic", "harm", "appeal", "day", "time", "group", "score",
                 "detect_u", "removed_day", "engagements", "impressions", "hash_listed", "queued_day", "kept_day",
                 "reported", "pending_views")
        return {name: getattr(self, name) for name in names}

    def add(self, today: int, retention_days: int, **columns: np.ndarray) -> np.ndarray:
        """Append items posted ``today``; returns their slots.

        Grows the buffer (doubling) when the new items would overwrite items
        younger than ``retention_days``.
        """
        count = int(columns["author"].shape[0])
        oldest_kept = today - retention_days + 1
        while True:
            ids = np.arange(self.next_id, self.next_id + count, dtype=np.int64)
            slots = ids % self.capacity
            displaced = self.item_id[slots]
            young = (displaced >= 0) & (self.day[slots] >= oldest_kept)
            # A batch larger than the buffer would also overwrite itself.
            if count <= self.capacity and not young.any():
                break
            self._allocate(self.capacity * 2)
        self.item_id[slots] = ids
        for name, values in columns.items():
            getattr(self, name)[slots] = values
        self.removed_day[slots] = -1
        self.engagements[slots] = 0
        self.impressions[slots] = 0
        self.queued_day[slots] = -1
        self.kept_day[slots] = -1
        self.reported[slots] = False
        self.pending_views[slots] = 0
        self.next_id += count
        return slots

    def live(self, day: int, max_age_days: int) -> np.ndarray:
        """Slots of items posted within ``max_age_days`` (today included) and not removed."""
        return np.flatnonzero((self.item_id >= 0) & (self.day > day - max_age_days) & (self.removed_day < 0))



def class_probabilities(cfg: ContentConfig) -> np.ndarray:
    """Probability of each harm class (columns) for a post by each role (rows)."""
    table = np.zeros((N_ROLES, N_CLASSES))
    table[REGULAR, SUGGESTIVE] = cfg.suggestive_share
    table[CREATOR, SUGGESTIVE] = min(1.0, 2 * cfg.suggestive_share)
    table[ADULT_CONTENT_PRODUCER, ADULT_SEXUAL] = cfg.producer_adult_sexual_share
    table[ADULT_CONTENT_PRODUCER, SUGGESTIVE] = cfg.producer_suggestive_share
    table[EXPLOITATIVE_SELLER, EXPLOITATIVE] = cfg.seller_exploitative_share
    table[EXPLOITATIVE_SELLER, ADULT_SEXUAL] = cfg.seller_adult_sexual_share
    table[OFFENDER, ADULT_SEXUAL] = cfg.offender_adult_sexual_share
    table[OFFENDER, SUGGESTIVE] = cfg.suggestive_share
    table[:, NONE] = 1.0 - table[:, SUGGESTIVE:].sum(axis=1)
    return table


def classifier_scores(harm: np.ndarray, cfg: ModerationConfig, u: np.ndarray) -> np.ndarray:
    """Proactive classifier scores in [0, 1] from uniform draws ``u``.

    Scores follow a monotone quantile function per class, built so that exactly
    a ``recall`` share of violating items (``adult_sexual``, ``exploitative``)
    and a ``false_positive_rate`` share of other items score at or above
    :data:`REMOVAL_THRESHOLD`; a higher draw always means a higher score. Below
    the threshold, violating items' scores are pushed towards it
    (``T * x ** (1 / SCORE_SHAPE)``) and the others' away (``T * x ** SCORE_SHAPE``),
    so that a review band just under the threshold catches mostly misses.
    """
    above = np.where(harm >= FIRST_VIOLATING, cfg.classifier.recall, cfg.classifier.false_positive_rate)
    below = 1.0 - above
    # u < below: scaled into [0, T); u >= below: scaled into [T, 1]. Fractions are
    # clipped so extreme operating points (an FPR of 1e-300) cannot overflow.
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        low_frac = np.clip(np.nan_to_num(u / below, nan=0.0, posinf=1.0), 0.0, 1.0)
        high_frac = np.clip(np.nan_to_num((u - below) / above, nan=0.0, posinf=1.0), 0.0, 1.0)
    # Below the threshold the classes still differ: missed violating items score close
    # to it, other items far below (so a review band just under the threshold catches
    # mostly the misses). The shaping keeps the crossing point exact.
    violating = harm >= FIRST_VIOLATING
    low_frac = np.where(violating, libm.power(low_frac, 1.0 / SCORE_SHAPE), libm.power(low_frac, SCORE_SHAPE))
    low = (REMOVAL_THRESHOLD * low_frac).astype(np.float32)
    high = (REMOVAL_THRESHOLD + (1 - REMOVAL_THRESHOLD) * high_frac).astype(np.float32)
    # Clamp after the float32 cast so rounding can never lift a score across the threshold.
    low = np.minimum(low, np.nextafter(np.float32(REMOVAL_THRESHOLD), np.float32(0)))
    return np.where(u < below, low, high).astype(np.float32)


def post_items(items: ItemStore, pop: Population, posts_per_day: np.ndarray,
               account_indptr: np.ndarray, account_groups: np.ndarray,
               content: ContentConfig, moderation: ModerationConfig,
               day: int, rng: np.random.Generator, active: np.ndarray | None = None,
               hash_listed_share: float = 0.0) -> np.ndarray:
    """Phase 1: every account posts a Poisson number of items; returns the new slots.

    Args:
        items: the store to append to.
        pop: the population (authors' roles, interests).
        posts_per_day: mean posts per day for each account.
        account_indptr, account_groups: account -> groups CSR (where group posts go).
        content: content settings.
        moderation: classifier operating point (scores are drawn at upload).
        day: today.
        rng: the posting stream for today.
        active: optional mask of accounts allowed to post (e.g. not banned).
        hash_listed_share: share of exploitative items whose hash is already in a hash database,
            so hash matching can catch them (config ``safeguards.hash_matching.known_share``).
    """
    # Draw for every account, then silence the inactive: a zero rate would consume no
    # random number and shift every later account's draw between paired runs.
    counts = rng.poisson(posts_per_day)
    if active is not None:
        counts[~active] = 0
    author = np.repeat(np.arange(pop.n, dtype=np.int32), counts)
    k = author.shape[0]

    probs = class_probabilities(content)[pop.role[author]]
    harm = (rng.random(k)[:, None] > np.cumsum(probs, axis=1)).sum(axis=1).astype(np.int8)
    harm = np.minimum(harm, N_CLASSES - 1)

    noise = content.topic_noise * rng.standard_normal((k, items.dim)).astype(np.float32)
    topic = pop.interest[author] + noise
    topic /= np.maximum(np.linalg.norm(topic, axis=1, keepdims=True), 1e-12)

    appeal = libm.exp(content.appeal_sigma * rng.standard_normal(k) - 0.5 * content.appeal_sigma**2)
    appeal = np.where(harm > NONE, appeal * (1.0 + content.harm_appeal_lift), appeal).astype(np.float32)

    n_groups_of = account_indptr[author + 1] - account_indptr[author]
    to_group = (rng.random(k) < content.group_post_share) & (n_groups_of > 0)
    pick = account_indptr[author] + (rng.random(k) * n_groups_of).astype(np.int64)
    if account_groups.size:
        group = np.where(to_group, account_groups[np.minimum(pick, account_groups.shape[0] - 1)], -1)
    else:
        group = np.full(k, -1)

    # One latent draw per item: the moderation classifier's score is a monotone function of it, and
    # every safeguard detector reads it too (sim.detection), so their errors can be correlated.
    detect_u = rng.random(k).astype(np.float32)
    return items.add(
        day, content.retention_days,
        author=author, topic=topic, harm=harm, appeal=appeal,
        day=np.full(k, day, dtype=np.int32),
        time=(day + rng.random(k)).astype(np.float32),
        group=group.astype(np.int32),
        score=classifier_scores(harm, moderation, detect_u),
        detect_u=detect_u,
        hash_listed=(harm == EXPLOITATIVE) & (rng.random(k) < hash_listed_share),
    )


def posting_rates(pop: Population, cfg: ContentConfig, decoy_posts_per_day: float) -> np.ndarray:
    """Mean posts per day for each account, by role (decoys: their own scripted rate)."""
    by_role = np.array([cfg.posts_per_day_regular, cfg.posts_per_day_creator, cfg.posts_per_day_producer,
                        cfg.posts_per_day_seller, cfg.posts_per_day_offender])
    return np.where(pop.decoy, decoy_posts_per_day, by_role[pop.role])
