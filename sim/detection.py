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
from numba import njit

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_MIX1 = np.uint64(0xBF58476D1CE4E5B9)
_MIX2 = np.uint64(0x94D049BB133111EB)
# Shift counts and the scale as typed constants: numba keeps uint64 arithmetic in uint64 only when
# both operands are unsigned.
_S11, _S27, _S30, _S31 = np.uint64(11), np.uint64(27), np.uint64(30), np.uint64(31)
_UNIT = 2.0**-53
#: Mixed into a detector's key for the draw that decides whether it reads the shared latent.
_SHARED_KEY = 0x5DEECE66D


def _offset(key: int) -> np.uint64:
    """``key * golden`` modulo 2**64: what SplitMix64 adds to every id under ``key``."""
    return np.uint64((int(key) * int(_GOLDEN)) % 2**64)


@njit(cache=True, nogil=True)
def _unit(z):
    """SplitMix64's finaliser of ``z`` (uint64), as a uniform in [0, 1) with 53 random bits."""
    z = (z ^ (z >> _S30)) * _MIX1
    z = (z ^ (z >> _S27)) * _MIX2
    z = z ^ (z >> _S31)
    return np.float64(z >> _S11) * _UNIT


@njit(cache=True, nogil=True)
def _hashed_into(ids, offset, out):
    for i in range(ids.shape[0]):
        out[i] = _unit(np.uint64(ids[i]) + offset)


@njit(cache=True, nogil=True, inline="always")
def _flag(id_, latent, target, own, shared, correlation, read_own, mix, above_target, above_other):
    """Whether one id is flagged: its uniform (the latent, its own, or either by the shared draw)
    against the threshold of its kind (the arguments are :meth:`Detector.operating_point`'s)."""
    v = np.float64(latent)
    if read_own:
        x = np.uint64(id_)
        if not mix or _unit(x + shared) >= correlation:
            v = _unit(x + own)
    return v >= (above_target if target else above_other)


@njit(cache=True, nogil=True)
def _flags_into(ids, latent, target, own, shared, correlation, read_own, mix, above_target, above_other, out):
    """One pass of :meth:`Detector.flags`: :func:`_flag` for every id."""
    for i in range(ids.shape[0]):
        out[i] = _flag(ids[i], latent[i], target[i], own, shared, correlation, read_own, mix, above_target,
                       above_other)


@njit(cache=True, nogil=True)
def _filter_rows_into(rows, candidates, in_network, scores, item_id, detect_u, harm, target_classes,
                      demoted_classes, factor, out_of_network_only, own, shared, correlation, read_own, mix,
                      above_target, above_other):
    """:meth:`Detector.filter_feed`: for each real candidate of ``rows`` (out-of-network only, if asked)
    that :func:`_flag` flags, its score becomes ``-inf``, or for a demoted class ``score * factor``
    (``-inf`` when ``factor`` is 0)."""
    for r in rows:
        for j in range(candidates.shape[1]):
            s = candidates[r, j]
            if s < 0 or (out_of_network_only and in_network[r, j]):
                continue
            h = harm[s]
            if not _flag(item_id[s], detect_u[s], target_classes[h], own, shared, correlation, read_own, mix,
                         above_target, above_other):
                continue
            if demoted_classes[h] and factor > 0:
                scores[r, j] = scores[r, j] * factor
            else:
                scores[r, j] = -np.inf


def hashed_uniform(ids: np.ndarray, key: int) -> np.ndarray:
    """A uniform in [0, 1) per id, fixed by (id, key): SplitMix64's finaliser over ``id + key * golden``.

    Independent across keys and ids for every statistical purpose here; the
    same (id, key) always gives the same number.
    """
    ids = np.asarray(ids)
    out = np.empty(ids.shape, dtype=np.float64)
    _hashed_into(np.ascontiguousarray(ids, dtype=np.int64).reshape(-1), _offset(key), out.reshape(-1))
    return out


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
        shared = hashed_uniform(ids, self.key ^ _SHARED_KEY) < self.correlation
        return np.where(shared, latent, own)

    def operating_point(self) -> tuple:
        """What the compiled flag test reads: the keys' offsets, the correlation and its two cases,
        and the thresholds for target and other ids."""
        return (_offset(self.key), _offset(self.key ^ _SHARED_KEY), float(self.correlation), self.correlation < 1,
                0 < self.correlation < 1, 1.0 - self.recall, 1.0 - self.false_positive_rate)

    def flags(self, ids: np.ndarray, latent: np.ndarray, target: np.ndarray) -> np.ndarray:
        """Which ids it flags: targets with its recall, the others with its false-positive rate.

        The same answer as comparing :meth:`draws` with the threshold of each id's kind, in one
        compiled pass with no temporaries.
        """
        ids, latent, target = np.broadcast_arrays(np.asarray(ids), np.asarray(latent), np.asarray(target))
        out = np.empty(ids.shape, dtype=bool)
        _flags_into(np.ascontiguousarray(ids, dtype=np.int64).reshape(-1),
                    np.ascontiguousarray(latent).reshape(-1), np.ascontiguousarray(target, dtype=bool).reshape(-1),
                    *self.operating_point(), out.reshape(-1))
        return out

    def filter_feed(self, rows: np.ndarray, candidates: np.ndarray, in_network: np.ndarray, scores: np.ndarray,
                    item_id: np.ndarray, detect_u: np.ndarray, harm: np.ndarray, target_classes: np.ndarray,
                    demoted_classes: np.ndarray | None = None, factor: float = 0.0,
                    out_of_network_only: bool = False) -> None:
        """A feed filter's action on a block of feeds, in place: the flagged candidates of ``rows`` go.

        Each real candidate (slot >= 0) of the listed rows is flagged as :meth:`flags` would flag its
        item (``item_id``, ``detect_u``; a target if its ``harm`` class is in ``target_classes``).
        A flagged candidate's score becomes ``-inf`` (removed), or, if its class is in
        ``demoted_classes``, is multiplied by ``factor`` (a factor of 0 removes it too).

        Args:
            rows: the block's rows to filter (the viewers the filter covers).
            candidates, in_network, scores: the block (B, C), as the ``filter_feed`` hook gets it.
            item_id, detect_u, harm: per item slot (the item store's arrays).
            target_classes, demoted_classes: bool per harm class.
            out_of_network_only: leave in-network candidates alone.
        """
        if demoted_classes is None:
            demoted_classes = np.zeros_like(target_classes)
        if scores.dtype != np.float64 or not scores.flags.c_contiguous:
            raise ValueError(f"filter_feed: scores must be a C-contiguous float64 array (the hook's block), not "
                             f"{scores.dtype} (C-contiguous: {scores.flags.c_contiguous})")
        _filter_rows_into(np.ascontiguousarray(rows, dtype=np.int64), candidates, in_network, scores, item_id,
                          detect_u, harm, np.asarray(target_classes, dtype=bool),
                          np.asarray(demoted_classes, dtype=bool), float(factor), bool(out_of_network_only),
                          *self.operating_point())


def account_latent(rows: np.ndarray, seed: int) -> np.ndarray:
    """Each account's latent uniform (how recognisable its conduct is), shared by the account detectors."""
    return hashed_uniform(rows, detector_key(seed, "account"))
