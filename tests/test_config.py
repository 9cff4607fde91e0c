"""Validation at the boundary: every bad value is named with what is allowed."""

from __future__ import annotations

import dataclasses

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sim.config import Config, ConfigError, field_docs, validate
from tests.conftest import tiny_config


def test_defaults_are_valid():
    assert validate(Config()) is not None


@pytest.mark.parametrize("key,value,fragment", [
    ("population.minor_share", 1.5, "population.minor_share=1.5 is out of range: allowed 0 <= minor_share <= 0.95"),
    ("population.n", 3, "population.n=3 is out of range: allowed 10 <= n <= 50000000"),
    ("days", 0, "days=0 is out of range"),
    ("moderation.classifier.recall", -0.1, "moderation.classifier.recall=-0.1 is out of range"),
    ("recommender.feed", "tiktok", "recommender.feed='tiktok' is not a feed policy; choose from chronological, "
                                   "engagement, interest, popularity, random"),
    ("network.kind", "magic", "network.kind='magic': 'magic' is not allowed; choose from synthetic, file"),
    ("safeguards.feed_filtering.filter_classes", ["adult_sexual", "gore"],
     "'gore' is not allowed; choose from suggestive, adult_sexual, exploitative"),
    ("content.appeal_sigma", float("nan"), "content.appeal_sigma=nan: must be a finite number"),
])
def test_bad_values_name_key_value_and_allowed(key, value, fragment):
    with pytest.raises(ConfigError) as err:
        validate(tiny_config(**{key: value}))
    assert fragment in str(err.value)


def test_role_shares_may_not_exceed_one():
    cfg = tiny_config(**{"population.offender_share": 0.5, "population.adult_content_producer_share": 0.4,
                         "population.exploitative_seller_share": 0.2})
    with pytest.raises(ConfigError, match="exceeds 1"):
        validate(cfg)
    # Creators are drawn among the remaining regular accounts: they do not count against the sum.
    validate(tiny_config(**{"population.offender_share": 0.5, "population.adult_content_producer_share": 0.4,
                            "population.creator_share": 0.5}))


def test_items_must_stay_in_the_store_as_long_as_they_can_be_served():
    with pytest.raises(ConfigError, match="recommender.recency_days=9 exceeds content.retention_days=7"):
        validate(tiny_config(**{"recommender.recency_days": 9}))


def test_file_network_needs_a_path():
    with pytest.raises(ConfigError, match="network.path is empty"):
        validate(tiny_config(**{"network.kind": "file"}))


@given(st.floats(min_value=0, max_value=0.95))
def test_any_share_inside_the_range_is_accepted(share):
    validate(tiny_config(**{"population.minor_share": share}))


@given(st.one_of(st.floats(max_value=-1e-9, allow_nan=False), st.floats(min_value=1 + 1e-9, allow_nan=False)))
def test_any_recall_outside_zero_one_is_rejected(recall):
    with pytest.raises(ConfigError, match="moderation.classifier.recall"):
        validate(tiny_config(**{"moderation.classifier.recall": recall}))


def test_every_leaf_field_is_documented_with_a_range_or_choices():
    rows = field_docs()
    assert len(rows) > 80
    for key, default, allowed, doc in rows:
        assert doc, f"{key} has no description"
        if isinstance(default, (int, float)) and not isinstance(default, bool):
            assert allowed, f"{key} has no documented range"


def test_every_default_lies_in_its_own_range():
    # A default outside its range would make the unmodified config invalid.
    def walk(obj, prefix=""):
        for f in dataclasses.fields(obj):
            value = getattr(obj, f.name)
            if dataclasses.is_dataclass(value):
                walk(value, prefix + f.name + ".")
            elif isinstance(value, (int, float)) and not isinstance(value, bool):
                lo, hi = f.metadata["lo"], f.metadata["hi"]
                assert lo <= value <= hi, prefix + f.name
    walk(Config())


def test_config_reference_doc_is_current():
    from pathlib import Path

    from sim.config import config_reference_markdown

    doc = Path(__file__).resolve().parents[1] / "docs" / "CONFIG.md"
    assert doc.read_text() == config_reference_markdown(), "docs/CONFIG.md is stale: see sim.config.config_reference_markdown"
