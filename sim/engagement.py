"""Phase 4: how viewers respond to what they were shown.

Core objects: :func:`engage`, :class:`EngagementOutcome`.

Each impression is engaged with with probability
``sigmoid(b0 + b_sim * cos(interest, topic) + b_appeal * log(appeal)
+ [harmful] * b_harm * (affinity - threshold))``. Engagement raises the item's
count, drifts the viewer's interest towards what they engaged with, reinforces
harmful affinity (rabbit holes), and updates the platform's learned
harmful-engagement rate that the engagement ranker reads. Some harmful
impressions are reported.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from sim import compiled, libm, pcg64
from sim import engagement_kernels as kernels
from sim.config import BehaviourConfig
from sim.content import ItemStore
from sim.draws import skip, uniform
from sim.population import Population
from sim.recommenders.serving import Impressions
from sim.vocabulary import ADULT_AGE, NONE

#: Weight of today's observation in the platform's running estimate of each
#: viewer's harmful-engagement rate (an exponential moving average).
LEARNING_RATE = 0.3
#: Impressions scored per block on numpy's wide-vector path, to bound the (block x dim) gathers.
BLOCK = 1 << 21
#: Engagers whose interests drift per block, to bound the (block x dim) sums and rows.
DRIFT_BLOCK = 1 << 16


@dataclass
class EngagementOutcome:
    """Per-impression results of today's engagement."""

    engaged: np.ndarray    # bool, per impression
    reported: np.ndarray   # bool, per impression (harmful ones only can be reported)
    engager: np.ndarray    # per engagement, in impression order: the viewer ...
    engaged_item: np.ndarray  # ... and the item slot


def engagement_probability(pop: Population, items: ItemStore, viewer: np.ndarray, item: np.ndarray,
                           cfg: BehaviourConfig) -> np.ndarray:
    """The chance each (viewer, item) impression is engaged with."""
    sim = np.matmul(np.take(items.topic, item, axis=0)[:, None, :], np.take(pop.interest, viewer, axis=0)[:, :, None])
    sim = sim[:, 0, 0]
    harmful = items.harm[item] > NONE
    logit = (cfg.engage_intercept + cfg.engage_similarity * sim + cfg.engage_appeal * np.log(items.appeal[item])
             + harmful * cfg.engage_harm * (pop.harmful_affinity[viewer] - cfg.harm_threshold))
    return 1.0 / (1.0 + libm.exp(-logit))


def engage(pop: Population, items: ItemStore, imps: Impressions, cfg: BehaviourConfig,
           rng: np.random.Generator) -> EngagementOutcome:
    """Draw engagement for every impression and apply its consequences to accounts and items."""
    n = imps.n
    engaged = np.zeros(n, dtype=bool)
    # One uniform per impression for engagement, then one per impression for reports (``rng.random(n)``
    # twice): made inside the kernels, or drawn a block at a time for numpy's wide-vector path.
    if items.topic.shape[1] < kernels.EXACT_MAX_DIM:
        with np.errstate(divide="ignore"):      # empty slots have appeal 0; no impression reads them
            log_appeal = np.log(items.appeal)
        skip(rng, kernels.engage_draws(items.topic, pop.interest, log_appeal, items.harm, pop.harmful_affinity,
                                       imps.viewer, imps.item, pcg64.position(rng), cfg.engage_intercept,
                                       cfg.engage_similarity, cfg.engage_appeal, cfg.engage_harm,
                                       cfg.harm_threshold, NONE, engaged))
    else:
        for start in range(0, n, BLOCK):
            sl = slice(start, start + BLOCK)
            u = uniform(rng, min(BLOCK, n - start))
            engaged[sl] = u < engagement_probability(pop, items, imps.viewer[sl], imps.item[sl], cfg)

    # A harmful impression is reported if its draw is below the viewer's age group's rate.
    harmful = np.empty(n, dtype=bool)
    reported = np.empty(n, dtype=bool)
    skip(rng, kernels.report_draws(items.harm, NONE, pop.true_age, ADULT_AGE, imps.viewer, imps.item,
                                   pcg64.position(rng), cfg.report_harmful_minor, cfg.report_harmful_adult,
                                   harmful, reported))

    compiled.tally(items.impressions, imps.item, compiled.ALL)
    compiled.tally(items.engagements, imps.item, engaged)

    engager, engaged_item = imps.viewer[engaged], imps.item[engaged]
    _drift_interests(pop, items, engager, engaged_item, cfg.interest_drift)
    _update_affinity(pop, imps.viewer, harmful, engaged, cfg)
    return EngagementOutcome(engaged=engaged, reported=reported, engager=engager, engaged_item=engaged_item)


def _drift_interests(pop: Population, items: ItemStore, viewer: np.ndarray, item: np.ndarray,
                     rate: float) -> None:
    """Move each engager's interest towards the mean topic of what they engaged with, then renormalise.

    Engagers are taken ``DRIFT_BLOCK`` at a time: each row's arithmetic is the same whatever the
    block, and the (engagers x dim) float64 sums never exist whole (at 10^7 accounts they were 1 GB).
    """
    if rate == 0 or viewer.size == 0:
        return
    # Each engager's engagements, in impression order: its topic sums are added in that order.
    indptr, order = compiled.group_by_key(viewer, pop.n)
    counts = np.diff(indptr)
    who = np.flatnonzero(counts)
    dim = pop.interest.shape[1]
    sums = np.empty((min(DRIFT_BLOCK, who.size), dim), dtype=np.float64)
    for start in range(0, who.size, DRIFT_BLOCK):
        block = who[start:start + DRIFT_BLOCK]
        block_sums = sums[:block.size]
        kernels.grouped_topic_sums(indptr, order, item, block, items.topic, block_sums)
        mean_topic = (block_sums / counts[block][:, None]).astype(np.float32)
        current = pop.interest[block]
        moved = current + rate * (mean_topic - current)
        moved /= np.maximum(np.linalg.norm(moved, axis=1, keepdims=True), 1e-12)
        pop.interest[block] = moved


def _update_affinity(pop: Population, viewer: np.ndarray, harmful: np.ndarray, engaged: np.ndarray,
                     cfg: BehaviourConfig) -> None:
    harmful_seen, harmful_engaged = kernels.harmful_counts(viewer, harmful, engaged, pop.n)

    # Reinforcement with diminishing returns, then relaxation towards the account's own baseline.
    aff = pop.harmful_affinity
    aff += (1.0 - libm.power(1.0 - cfg.affinity_reinforcement, harmful_engaged)).astype(np.float32) * (1.0 - aff)
    aff += cfg.affinity_decay * (pop.affinity_baseline - aff)
    np.clip(aff, 0.0, 1.0, out=aff)

    # The platform only learns from viewers who were shown harmful items today.
    seen = harmful_seen > 0
    observed = harmful_engaged[seen] / harmful_seen[seen]
    rate = pop.learned_harm_rate
    rate[seen] = (1 - LEARNING_RATE) * rate[seen] + LEARNING_RATE * observed
