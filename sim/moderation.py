"""Moderation: the proactive classifier acting on new uploads (phase 2).

Core objects: :func:`moderate_uploads`.

Every item is scored at upload (``sim.content.classifier_scores``); with
moderation enabled, items scoring at or above the removal threshold are removed
before anyone is served them. The operating point (recall on harmful classes,
false-positive rate on benign items) comes straight from the config.
"""

from __future__ import annotations

import numpy as np

from sim.config import ModerationConfig
from sim.content import REMOVAL_THRESHOLD, ItemStore


def moderate_uploads(items: ItemStore, new_slots: np.ndarray, cfg: ModerationConfig, day: int) -> np.ndarray:
    """Remove today's uploads the classifier flags; returns the removed slots."""
    if not cfg.enabled or new_slots.size == 0:
        return new_slots[:0]
    removed = new_slots[items.score[new_slots] >= REMOVAL_THRESHOLD]
    items.removed_day[removed] = day
    return removed
