"""The item store and posting."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from sim.config import ContentConfig, ModerationConfig
from sim.content import REMOVAL_THRESHOLD, ItemStore, class_probabilities, classifier_scores
from sim.vocabulary import ADULT_SEXUAL, EXPLOITATIVE, FIRST_VIOLATING, NONE, SUGGESTIVE


def _add(store: ItemStore, day: int, count: int, retention: int = 3) -> np.ndarray:
    return store.add(day, retention, author=np.arange(count, dtype=np.int32),
                     day=np.full(count, day, dtype=np.int32), harm=np.zeros(count, dtype=np.int8))


def test_item_ids_are_sequential_and_slots_hold_them():
    store = ItemStore(capacity=16, dim=4)
    slots = _add(store, day=1, count=10)
    assert store.item_id[slots].tolist() == list(range(10))
    slots = _add(store, day=1, count=5)
    assert store.item_id[slots].tolist() == list(range(10, 15))


def test_store_grows_instead_of_overwriting_items_inside_retention():
    store = ItemStore(capacity=16, dim=4)
    for day in (1, 2, 3):
        _add(store, day=day, count=10, retention=3)
    # 30 items posted within 3 days cannot fit 16 slots: all must still be present.
    assert store.capacity >= 30
    assert sorted(store.item_id[store.item_id >= 0].tolist()) == list(range(30))


def test_old_items_are_overwritten_after_retention():
    store = ItemStore(capacity=16, dim=4)
    _add(store, day=1, count=10, retention=1)
    _add(store, day=2, count=10, retention=1)
    assert store.capacity == 16
    live = store.item_id[store.item_id >= 0]
    assert set(range(10, 20)) <= set(live.tolist())


def test_live_excludes_removed_and_old_items():
    store = ItemStore(capacity=64, dim=2)
    a = _add(store, day=1, count=3, retention=10)
    b = _add(store, day=5, count=3, retention=10)
    store.removed_day[b[0]] = 5
    live = set(store.live(day=5, max_age_days=2).tolist())
    assert live == {int(b[1]), int(b[2])}
    assert not live & set(a.tolist())


def test_class_probabilities_are_distributions():
    table = class_probabilities(ContentConfig())
    assert np.allclose(table.sum(axis=1), 1.0)
    assert (table >= 0).all()


def test_zero_harm_shares_give_only_benign_classes():
    cfg = ContentConfig(suggestive_share=0, producer_adult_sexual_share=0, producer_suggestive_share=0,
                        seller_exploitative_share=0, seller_adult_sexual_share=0, offender_adult_sexual_share=0)
    table = class_probabilities(cfg)
    assert (table[:, NONE] == 1).all()


@settings(max_examples=60, deadline=None)
@given(recall=st.floats(0, 1), fpr=st.floats(0, 1), seed=st.integers(0, 2**32 - 1))
def test_classifier_threshold_crossing_is_exactly_the_operating_point(recall, fpr, seed):
    # Score >= threshold exactly when the uniform draw lies in the top `recall`
    # (violating classes) or top `fpr` (the rest) share: recall and FPR hold by construction.
    rng = np.random.default_rng(seed)
    u = rng.random(2000)
    harm = rng.integers(0, 4, 2000).astype(np.int8)
    cfg = ModerationConfig()
    cfg.classifier.recall, cfg.classifier.false_positive_rate = recall, fpr
    scores = classifier_scores(harm, cfg, u)
    above = np.where(harm >= FIRST_VIOLATING, recall, fpr)
    assert np.array_equal(scores >= REMOVAL_THRESHOLD, u >= 1 - above)
    assert ((scores >= 0) & (scores <= 1)).all()


def test_classifier_scores_increase_with_the_draw_within_a_class():
    cfg = ModerationConfig()
    u = np.linspace(0, 0.999, 500)
    for cls in (NONE, SUGGESTIVE, ADULT_SEXUAL, EXPLOITATIVE):
        scores = classifier_scores(np.full(500, cls, dtype=np.int8), cfg, u)
        assert (np.diff(scores) >= 0).all()
