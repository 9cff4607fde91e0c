"""Phase 2: hash matching and the classifier act on uploads; reviewers work the queue; strikes follow.

Core objects: :func:`moderate`, :class:`Moderated`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from sim.content import ItemStore
from sim.moderation import Moderation
from sim.safeguards import SafeguardSet


@dataclass
class Moderated:
    """What moderation did to items today (all arrays are item-store slots)."""

    hash_matched: np.ndarray      # blocked at upload by hash matching
    queued_at_upload: np.ndarray  # new items queued for review (score in the review band)
    reviewed_kept: np.ndarray     # reviewed and kept up
    reviewed_out: np.ndarray      # removed by a reviewer
    reported_out: np.ndarray      # of those, items a viewer had reported
    removed: np.ndarray           # every item removed today (hash match, classifier, review)
    settled_views: np.ndarray     # (cohorts x causes) violating views settled by today's reviews


def moderate(items: ItemStore, moderation: Moderation, safeguards: SafeguardSet, new: np.ndarray,
             n_accounts: int, n_cohorts: int, day: int, rng: np.random.Generator) -> Moderated:
    """Act on today's uploads ``new`` and on the review queue; authors of removed items get strikes."""
    matched = safeguards.on_upload(new, day, rng)
    items.removed_day[matched] = day
    removed_at_upload = moderation.on_upload(new[items.removed_day[new] < 0], day)
    queued = new[items.queued_day[new] == day]
    reviewed_out, kept = moderation.review(day, n_accounts, rng)
    removed = np.concatenate([matched, removed_at_upload, reviewed_out])
    moderation.strike(items.author[removed])
    settled = moderation.resolve_views(reviewed_out, reviewed_out[:0], n_cohorts)
    return Moderated(matched, queued, kept, reviewed_out, reviewed_out[items.reported[reviewed_out]], removed, settled)
