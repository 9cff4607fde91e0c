"""Detectors with a miss rate and a false-positive rate, tied to moderation's latent score (sim.detection)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sim.config import ModerationConfig
from sim.content import REMOVAL_THRESHOLD, classifier_scores
from sim.detection import Detector, account_latent, detector_key, hashed_uniform
from sim.vocabulary import ADULT_SEXUAL, NONE

N = 200_000


def bound(p: float, n: int) -> float:
    """A 5-sigma binomial tolerance."""
    return 5 * np.sqrt(max(p * (1 - p), 1e-12) / n) + 1e-9


def test_hashed_uniforms_are_fixed_per_id_and_key_and_look_uniform():
    ids = np.arange(N)
    u = hashed_uniform(ids, 12345)
    assert (u == hashed_uniform(ids, 12345)).all()
    assert ((u >= 0) & (u < 1)).all()
    counts = np.histogram(u, bins=10, range=(0, 1))[0]
    assert np.all(np.abs(counts - N / 10) < 5 * np.sqrt(N / 10))
    other = hashed_uniform(ids, 54321)
    assert abs(np.corrcoef(u, other)[0, 1]) < 5 / np.sqrt(N)
    # Neighbouring ids are not correlated either.
    assert abs(np.corrcoef(u[:-1], u[1:])[0, 1]) < 5 / np.sqrt(N)


def test_detector_keys_differ_by_seed_and_name():
    assert detector_key(0, "feed_filtering") != detector_key(1, "feed_filtering")
    assert detector_key(0, "feed_filtering") != detector_key(0, "hash_matching")
    assert detector_key(3, "x") == detector_key(3, "x")
    assert (account_latent(np.arange(10), 0) != account_latent(np.arange(10), 1)).any()


@settings(max_examples=25, deadline=None)
@given(recall=st.floats(0, 1), fpr=st.floats(0, 0.5), rho=st.floats(0, 1),
       key=st.integers(0, 2**32).map(lambda seed: detector_key(seed, "feed_filtering")))
def test_a_detector_flags_a_recall_share_of_targets_and_a_fpr_share_of_the_rest(recall, fpr, rho, key):
    # Keys as the model makes them (detector_key); key 0 would map id 0 to the hash's fixed point 0.
    ids = np.arange(20_000)
    latent = np.random.default_rng(key % 2**32).random(ids.size)
    target = ids % 2 == 0
    flagged = Detector(recall, fpr, rho, key).flags(ids, latent, target)
    assert abs(flagged[target].mean() - recall) < bound(recall, target.sum())
    assert abs(flagged[~target].mean() - fpr) < bound(fpr, (~target).sum())


def test_operating_points_at_the_ends_are_exact():
    ids = np.arange(1000)
    latent = np.random.default_rng(1).random(ids.size)
    target = ids % 3 == 0
    assert (Detector(1.0, 0.0, 0.3, 7).flags(ids, latent, target) == target).all()
    assert not Detector(0.0, 0.0, 0.3, 7).flags(ids, latent, target).any()
    assert Detector(1.0, 1.0, 0.3, 7).flags(ids, latent, target).all()


@settings(max_examples=20, deadline=None)
@given(rho=st.floats(0, 1), r_mod=st.floats(0.05, 0.95), r_det=st.floats(0.05, 0.95))
def test_correlation_is_the_chance_the_detector_errs_with_moderation(rho, r_mod, r_det):
    """Both miss a target with probability rho*min(misses) + (1-rho)*product(misses)."""
    ids = np.arange(N)
    latent = np.random.default_rng(11).random(N)
    mod_miss = latent < 1 - r_mod
    det_miss = ~Detector(r_det, 0.0, rho, 99).flags(ids, latent, np.ones(N, bool))
    expected = rho * min(1 - r_mod, 1 - r_det) + (1 - rho) * (1 - r_mod) * (1 - r_det)
    assert abs((mod_miss & det_miss).mean() - expected) < bound(expected, N)


def test_a_fully_correlated_filter_no_more_sensitive_than_moderation_catches_nothing_moderation_missed():
    """The latent is the moderation classifier's own draw: its score crosses the removal threshold
    exactly for the items a correlated detector of the same recall flags."""
    cfg = ModerationConfig()
    cfg.classifier.recall = 0.9
    harm = np.full(N, ADULT_SEXUAL, dtype=np.int8)
    latent = np.random.default_rng(5).random(N).astype(np.float32)
    removed = classifier_scores(harm, cfg, latent) >= REMOVAL_THRESHOLD
    ids = np.arange(N)
    same = Detector(0.9, 0.0, 1.0, 3).flags(ids, latent, np.ones(N, bool))
    assert (same == removed).mean() > 0.9999            # float32 rounding at the boundary only
    weaker = Detector(0.8, 0.0, 1.0, 3).flags(ids, latent, np.ones(N, bool))
    assert not (weaker & ~removed).any()
    independent = Detector(0.8, 0.0, 0.0, 3).flags(ids, latent, np.ones(N, bool))
    # Independent errors: 0.8 of moderation's misses are caught.
    assert abs(independent[~removed].mean() - 0.8) < bound(0.8, (~removed).sum())


def test_false_positives_follow_the_latent_too():
    """Benign items the classifier wrongly removes are the ones a correlated detector wrongly flags."""
    cfg = ModerationConfig()
    cfg.classifier.false_positive_rate = 0.01
    harm = np.full(N, NONE, dtype=np.int8)
    latent = np.random.default_rng(6).random(N).astype(np.float32)
    removed = classifier_scores(harm, cfg, latent) >= REMOVAL_THRESHOLD
    flagged = Detector(0.9, 0.01, 1.0, 8).flags(np.arange(N), latent, np.zeros(N, bool))
    assert (flagged == removed).mean() > 0.9999


def _splitmix_reference(ids: np.ndarray, key: int) -> np.ndarray:
    """SplitMix64's finaliser over ``id + key * golden`` in plain numpy (wrapping uint64 arithmetic)."""
    with np.errstate(over="ignore"):
        z = ids.astype(np.uint64) + np.uint64(key) * np.uint64(0x9E3779B97F4A7C15)
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        z = z ^ (z >> np.uint64(31))
    return (z >> np.uint64(11)).astype(np.float64) * 2.0**-53


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(-1, 2**62), min_size=0, max_size=60), st.integers(0, 2**64 - 1))
def test_the_compiled_hash_is_splitmix64_bit_for_bit(ids, key):
    ids = np.array(ids, dtype=np.int64)
    assert hashed_uniform(ids, key).tobytes() == _splitmix_reference(ids, key).tobytes()


@settings(max_examples=80, deadline=None)
@given(st.integers(1, 7), st.integers(1, 9), st.sampled_from([0.0, 1e-9, 0.3, 0.5, 0.999, 1.0]),
       st.floats(0, 1), st.floats(0, 1), st.integers(0, 2**64 - 1), st.integers(0, 2**32))
def test_flags_in_one_pass_equal_the_draws_against_the_thresholds(rows, cols, rho, recall, fpr, key, seed):
    """``flags`` (compiled, fused) gives what ``draws`` >= the kind's threshold gives, for any shape and
    correlation, the ends included (0: own draws only; 1: the latent only)."""
    rng = np.random.default_rng(seed)
    ids = rng.integers(-1, 10**6, size=(rows, cols))
    latent = rng.random((rows, cols)).astype(np.float32)
    latent.flat[::3] = np.float32(1.0 - recall)          # draws exactly at a threshold
    target = rng.random((rows, cols)) < 0.4
    det = Detector(recall, fpr, rho, key)
    expected = det.draws(ids, latent) >= np.where(target, 1.0 - recall, 1.0 - fpr)
    got = det.flags(ids, latent, target)
    assert got.shape == (rows, cols) and got.dtype == bool
    np.testing.assert_array_equal(got, expected)


@settings(max_examples=60, deadline=None)
@given(st.integers(1, 12), st.integers(1, 9), st.sampled_from([0.0, 0.3, 1.0]), st.floats(0, 1), st.floats(0, 1),
       st.sampled_from([0.0, 0.25, 1.0]), st.booleans(), st.integers(0, 2**64 - 1), st.integers(0, 2**32))
def test_a_feed_filter_removes_or_demotes_exactly_the_flagged_candidates_of_its_rows(
        b, c, rho, recall, fpr, factor, out_of_network_only, key, seed):
    """``Detector.filter_feed`` (compiled) does to a feed block what the masks say: in the listed rows,
    each real candidate ``flags`` flags is removed, or demoted by ``factor`` if its class is demoted
    (a factor of 0 removes it); nothing else moves, in-network ones are spared when asked."""
    rng = np.random.default_rng(seed)
    n_items = 30
    item_id = rng.permutation(10**6)[:n_items].astype(np.int64)
    detect_u = rng.random(n_items).astype(np.float32)
    harm = rng.integers(0, 4, n_items).astype(np.uint8)
    candidates = rng.integers(-1, n_items, size=(b, c))
    in_network = rng.random((b, c)) < 0.5
    scores = rng.random((b, c))
    scores[rng.random((b, c)) < 0.2] = -np.inf
    rows = np.flatnonzero(rng.random(b) < 0.6)
    target = rng.random(4) < 0.5
    demoted = rng.random(4) < 0.5
    det = Detector(recall, fpr, rho, key)

    slots = np.maximum(candidates, 0)
    flagged = det.flags(item_id[slots], detect_u[slots], target[harm[slots]]) & (candidates >= 0)
    flagged &= np.isin(np.arange(b), rows)[:, None]
    if out_of_network_only:
        flagged &= ~in_network
    demote = flagged & demoted[harm[slots]] & (factor > 0)
    expected = scores.copy()
    expected[flagged & ~demote] = -np.inf
    expected[demote] = scores[demote] * factor

    got = scores.copy()
    det.filter_feed(rows, candidates, in_network, got, item_id, detect_u, harm, target, demoted, factor,
                    out_of_network_only)
    assert got.tobytes() == expected.tobytes()


def test_a_feed_filter_refuses_scores_it_would_round_differently():
    det = Detector(0.5, 0.1, 0.5, 7)
    args = (np.zeros(1, np.int64), np.zeros(1, np.float32), np.zeros(1, np.uint8), np.ones(4, bool))
    with pytest.raises(ValueError, match="C-contiguous float64.*float32"):
        det.filter_feed(np.array([0]), np.zeros((1, 2), np.int64), np.zeros((1, 2), bool),
                        np.zeros((1, 2), np.float32), *args)
    with pytest.raises(ValueError, match="C-contiguous: False"):
        det.filter_feed(np.array([0]), np.zeros((1, 2), np.int64), np.zeros((1, 2), bool),
                        np.zeros((1, 4))[:, ::2], *args)
