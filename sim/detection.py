"""Detectors that miss and over-flag, their errors tied to one latent score per item or account.

Core objects: :class:`Detector`, :func:`hashed_uniform`.

Every item carries a latent uniform ``detect_u`` drawn at upload: how
recognisable it is. The moderation classifier's score is a monotone function
of it (:func:`sim.content.classifier_scores`), so a high ``detect_u`` is an item
the classifier removes. A safeguard's detector (a feed filter, hash matching,
a comment filter, the suspicious-adult flag) reads its own uniform ``v`` per
item (or account):

* with probability ``correlation`` (fixed per item and detector) ``v`` is the
  shared latent itself, otherwise an independent uniform of its own, so
  ``correlation`` is the chance the detector and moderation err together;
* an item of the detector's target classes is flagged when
  ``v >= 1 - recall`` (so a ``recall`` share is caught), any other item when
  ``v >= 1 - false_positive_rate``.

At correlation 1 a feed filter no more sensitive than the moderation
classifier catches only what moderation already removed; at 0 its misses are
independent of moderation's. The per-detector uniforms are counter-based
(a hash of the item's id and the detector's key, see :func:`hashed_uniform`),
so a detector gives one item the same answer for every viewer and every day
without storing a draw per item, and switching a detector on draws nothing
from any random stream.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_MIX1 = np.uint64(0xBF58476D1CE4E5B9)
_MIX2 = np.uint64(0x94D049BB133111EB)


def hashed_uniform(ids: np.ndarray, key: int) -> np.ndarray:
    """A uniform in [0, 1) per id, fixed by (id, key): SplitMix64's finaliser over ``id + key * golden``.

    Independent across keys and ids for every statistical purpose here; the
    same (id, key) always gives the same number.
    """
    with np.errstate(over="ignore"):
        z = np.asarray(ids).astype(np.uint64) + np.uint64(key) * _GOLDEN
        z = (z ^ (z >> np.uint64(30))) * _MIX1
        z = (z ^ (z >> np.uint64(27))) * _MIX2
        z = z ^ (z >> np.uint64(31))
    return (z >> np.uint64(11)).astype(np.float64) * 2.0**-53


def detector_key(seed: int, name: str) -> int:
    """The key of detector ``name`` in a run with root seed ``seed`` (different runs, different errors)."""
    digest = hashlib.blake2b(f"exposim-detector:{seed}:{name}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "little")


@dataclass(frozen=True)
class Detector:
    """One detector's operating point and its tie to the shared latent score.

    Args:
        recall: share of target items it flags.
        false_positive_rate: share of other items it flags.
        correlation: chance, per item, that it reads the shared latent instead of its own draw.
        key: its key (:func:`detector_key`); two detectors with different keys err independently
            except through the shared latent.
    """

    recall: float
    false_positive_rate: float
    correlation: float
    key: int

    def draws(self, ids: np.ndarray, latent: np.ndarray) -> np.ndarray:
        """The detector's uniform per id: the shared ``latent`` with probability ``correlation``, else its own."""
        ids = np.asarray(ids)
        if self.correlation >= 1:
            return np.asarray(latent, dtype=np.float64)
        own = hashed_uniform(ids, self.key)
        if self.correlation <= 0:
            return own
        shared = hashed_uniform(ids, self.key ^ 0x5DEECE66D) < self.correlation
        return np.where(shared, latent, own)

    def flags(self, ids: np.ndarray, latent: np.ndarray, target: np.ndarray) -> np.ndarray:
        """Which ids it flags: targets with its recall, the others with its false-positive rate."""
        v = self.draws(ids, latent)
        return v >= np.where(target, 1.0 - self.recall, 1.0 - self.false_positive_rate)


def account_latent(rows: np.ndarray, seed: int) -> np.ndarray:
    """Each account's latent uniform (how recognisable its conduct is), shared by the account detectors."""
    return hashed_uniform(rows, detector_key(seed, "account"))
