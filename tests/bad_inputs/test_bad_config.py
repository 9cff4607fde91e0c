"""Group 1 — Config: every refused override names the key, the value and what is allowed; nothing is written.

Checked in-process with :func:`sim.preflight.check` (what ``python -m sim`` runs
before Hydra), with ``hydra.run.dir`` under the test's folder: a refusal must
leave that folder empty (the working folder is the test's folder too).
"""

from __future__ import annotations

import re

import pytest

from sim.config import Config
from sim.resources import available_bytes, estimate_peak_bytes, format_bytes
from tests.bad_inputs.helpers import accepted, refused, tree

FEEDS = "chronological, engagement, interest, popularity, random"

# (id, overrides, fragments the message must hold)
CASES = [
    # --- out of range, in several sections
    ("range-population-minor_share", ["population.minor_share=1.5"],
     ["population.minor_share=1.5", "out of range", "0 <= minor_share <= 0.95"]),
    ("range-days-zero", ["days=0"], ["days=0", "1 <= days <= 3650"]),
    ("range-recommender-feed_size", ["recommender.feed_size=500"],
     ["recommender.feed_size=500", "1 <= feed_size <= 200"]),
    ("range-contact-negative-share", ["contact.reply_known=-0.1"],
     ["contact.reply_known=-0.1", "0 <= reply_known <= 1"]),
    ("range-moderation-classifier", ["moderation.classifier.recall=2"],
     ["moderation.classifier.recall=2", "0 <= recall <= 1"]),
    ("range-safeguard-section", ["safeguards.age_assurance.evasion_share=3"],
     ["safeguards.age_assurance.evasion_share=3", "0 <= evasion_share <= 1"]),
    ("range-decoys-age", ["decoys.age=12"], ["decoys.age=12", "13 <= age <= 17"]),
    ("range-population-n-below-minimum", ["population.n=5"], ["population.n=5", "10 <= n <= 50000000"]),
    ("non-finite-nan", ["population.minor_share=nan"], ["population.minor_share=nan", "must be a finite number"]),
    # --- unknown choices and group options
    ("choice-recommender-accounts", ["recommender.accounts=bogus"],
     ["recommender.accounts='bogus'", "choose from friends_of_friends, co_engagement, mixed, off"]),
    ("choice-network-kind", ["network.kind=graph"], ["network.kind='graph'", "choose from synthetic, file"]),
    ("unknown-feed-policy", ["recommender.feed=tiktok"],
     ["recommender.feed='tiktok'", "not a feed policy", f"choose from {FEEDS}"]),
    ("unknown-group-option-recommender", ["recommender=tiktok"],
     ["recommender=tiktok", *FEEDS.split(", ")]),
    ("unknown-group-option-safeguards", ["safeguards=everything"],
     ["safeguards=everything", "none", "teen_accounts_2024", "ofcom_2025", "dsa_2025", "all_on"]),
    # --- wrong types
    ("type-int-given-word", ["population.n=many"], ["population.n=many", "'many'", "Integer"]),
    ("type-int-given-float", ["population.n=1.5"], ["population.n=1.5", "'1.5'", "Integer"]),
    ("type-section-given-value", ["population=foo"], ["population=foo", "PopulationConfig"]),
    # --- unknown keys, with and without + and ++, and keys Hydra would let '+' add
    ("unknown-key-plain", ["populaton.n=600"],
     ["populaton.n=600", "no key 'populaton.n'", "did you mean 'population.n'", "docs/CONFIG.md"]),
    ("unknown-key-plus", ["+populaton.n=600"],
     ["+populaton.n=600", "did you mean 'population.n'", "'+' cannot add keys"]),
    ("unknown-key-plusplus", ["++populaton.n=600"],
     ["++populaton.n=600", "did you mean 'population.n'", "'+' cannot add keys"]),
    ("unknown-key-target-injection", ["+foo._target_=os.system"],
     ["+foo._target_=os.system", "no key 'foo._target_'", "'+' cannot add keys"]),
    ("unknown-key-in-a-section", ["population.behaviour.nope=1"],
     ["population.behaviour.nope=1", "no key 'population.behaviour.nope'"]),
    ("plus-on-an-existing-key", ["+population.n=600"], ["population.n", "already"]),
    # --- strict booleans
    ("bool-given-2", ["moderation.enabled=2"], ["moderation.enabled=2", "must be true or false"]),
    ("bool-given-yes", ["moderation.enabled=yes"], ["moderation.enabled=yes", "must be true or false"]),
    ("bool-given-0", ["moderation.enabled=0"], ["moderation.enabled=0", "must be true or false"]),
    ("bool-given-null", ["moderation.enabled=null"], ["moderation.enabled=null", "must be true or false"]),
    # --- deletions
    ("delete-section-population", ["~population"], ["~population", "removing a part of the config is not allowed"]),
    ("delete-section-network", ["~network"], ["~network", "removing a part of the config is not allowed"]),
    ("delete-key-safeguards-preset", ["~safeguards.preset"],
     ["~safeguards.preset", "removing a part of the config is not allowed"]),
    # --- cross-field rules
    ("measure-days-exceed-days", ["days=5", "measure_days=50"], ["measure_days=50 exceeds days=5", "measure_days<=5"]),
    ("decoys-join-after-the-run", ["days=10", "measure_days=5"],
     ["decoys.join_day=15 exceeds days=10", "decoys.join_day<=10"]),
    ("role-shares-sum-above-1", ["population.offender_share=0.5", "population.adult_content_producer_share=0.5",
                                 "population.exploitative_seller_share=0.3"],
     ["offender_share + adult_content_producer_share + exploitative_seller_share", "= 1.3", "exceeds 1"]),
    ("contact-kinds-not-summing-to-1", ["contact.message_share=0.9"],
     ["message_share + follow_share + comment_share + group_add_share = 1.4", "must add up to 1"]),
    ("recency-beyond-retention", ["recommender.recency_days=10"],
     ["recommender.recency_days=10 exceeds content.retention_days=7", "lower recency_days or raise retention_days"]),
    ("too-many-decoys-for-population", ["population.n=100"],
     ["decoys.n=20 is too many for population.n=100", "10%", "decoys.n<=10"]),
    ("network-file-without-path", ["network=file"], ["network.path is empty", "network.path=<"]),
    # --- sweep syntax in a single run
    ("sweep-syntax-without-m", ["population.n=10,20"], ["population.n=10,20", "--multirun"]),
]


@pytest.mark.parametrize("args, fragments", [pytest.param(a, f, id=i) for i, a, f in CASES])
def test_refused_naming_the_problem_and_nothing_written(tmp_path, args, fragments):
    message = refused(tmp_path, args, fragments)
    assert "Config search path" not in message          # Hydra's internals are not the user's problem
    assert tree(tmp_path) == []


@pytest.mark.parametrize("value, expected", [pytest.param("true", True, id="bool-true"),
                                             pytest.param("false", False, id="bool-false")])
def test_strict_booleans_accept_true_and_false(tmp_path, value, expected):
    checked = accepted(tmp_path, [f"moderation.enabled={value}"])
    assert checked.runs[0].config.moderation.enabled is expected
    assert tree(tmp_path) == []


def test_unknown_experiment_is_refused_listing_the_studies(tmp_path):
    refused(tmp_path, ["experiment=safeguard_comparisn"],
            ["safeguard_comparisn", "safeguard_comparison", "decoy_audit", "pymk_ablation"])
    assert tree(tmp_path) == []


def test_network_path_without_network_file_is_refused(tmp_path):
    refused(tmp_path, [f"network.path={tmp_path / 'missing.csv'}"], ["network.path", "network=file"])
    assert tree(tmp_path) == []


# --- memory

def test_a_world_too_large_for_this_machine_is_refused_with_the_estimate(tmp_path):
    big = Config()
    big.population.n = 50_000_000
    need, have = estimate_peak_bytes(big), available_bytes()
    if have is None or need <= have:
        pytest.skip(f"this machine has {have} bytes available, enough for population.n=50000000")
    message = refused(tmp_path, ["population.n=50000000"],
                      ["population.n=50000000", f"needs about {format_bytes(need)} of memory"])
    assert re.search(r"[\d.]+ [kMGT]?B is available", message), message     # the figure moves: not compared
    assert "lower population.n" in message
    assert tree(tmp_path) == []


def test_a_modest_world_over_the_memory_limit_is_refused_with_the_estimate(tmp_path, monkeypatch):
    monkeypatch.setenv("EXPOSIM_MEMORY_LIMIT", "1M")
    small = Config()
    small.population.n, small.decoys.n = 300, 2
    refused(tmp_path, ["population.n=300", "decoys.n=2"],
            ["population.n=300", f"needs about {format_bytes(estimate_peak_bytes(small))} of memory",
             "1 MB is available", "EXPOSIM_MEMORY_LIMIT"])
    assert tree(tmp_path) == []


def test_a_memory_limit_that_is_not_a_size_is_refused(tmp_path, monkeypatch):
    monkeypatch.setenv("EXPOSIM_MEMORY_LIMIT", "lots")
    refused(tmp_path, ["population.n=300", "decoys.n=2"], ["EXPOSIM_MEMORY_LIMIT='lots'", "not a size", "512M"])
    assert tree(tmp_path) == []
