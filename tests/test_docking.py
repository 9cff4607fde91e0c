"""Docking: the fast engine and the plain per-agent reference model give equivalent headline figures.

:class:`sim.model.ExposureModel` (numpy arrays, keyed random streams) and
:class:`tests.reference.ReferenceModel` (Mesa agents, plain loops, written
from docs/ODD.md) simulate the same day. Both are run on the same tiny worlds
and their figures are tested for equivalence of means with two one-sided
tests (TOST): docking in the sense of Axtell et al. (1996,
docs/SOURCES.md#axtell-1996), with Schuirmann's (1987,
docs/SOURCES.md#schuirmann-1987) equivalence criterion.

**Design.** Each of :data:`SEEDS` (30 seeds) builds one world: a fast model is
built for the seed and its world (accounts, follow graph, groups) is copied
into the reference before the fast model's first day
(:class:`tests.reference.World`). Both then run :data:`DAYS` days on their own
random numbers, once with every safeguard off and once with the content
safeguard S8 ``feed_filtering`` and the contact safeguard S2
``dm_from_connections_only`` on. :data:`WORLD` switches off what the
reference does not implement (moderation, arrivals, departures, decoys,
interest drift, group suggestions; the feed is ``chronological``) and makes
the world small but busy: 250 accounts, 30% of them minors, 12% of adults
offenders and 5% adult-content producers, ten times the default rate of
stranger adults' contact, explicit images in half of offenders' messages,
and short sessions (20 candidates, 8 shown). Every docked figure then counts
tens to thousands of events per run. Figures are measured over the whole run.

**Test.** Per condition and figure, the paired differences
``d_i = reference_i − fast_i`` over the seeds (pairs where either side is NaN
are dropped) are tested with TOST at α = 0.05: the lower test
``H0: mean(d) ≤ −δ`` and the upper test ``H0: mean(d) ≥ +δ``, each a
one-sample t-test (``scipy.stats.ttest_1samp`` shifted by ∓δ). The figures
are equivalent when both reject, i.e. the 90% confidence interval of the
mean difference lies inside (−δ, +δ). Pairing is valid because the two runs
of a seed share the world and nothing else: the day's draws are independent,
so the ``d_i`` are independent across seeds, and pairing removes the
between-world variance (large in 250-account worlds, where the numbers of
offenders and producers vary from seed to seed) without assuming that the
two implementations share random streams, which they cannot.

**Margins** (``δ``, :data:`MARGINS`). A margin is a share of the fast model's
mean, with an absolute floor. The share is about five standard errors of the
mean paired difference measured on these seeds (the larger of the two
conditions), rounded up: two faithful implementations then pass a figure
with probability above 99.7% (the difference must stay within about three
standard errors), while a drift larger than the margin fails. Standard
errors, as shares of the mean: impressions per session 0.4%; unwanted
contact in all and from offenders, contact stopped by safeguards, the share
of peers' messages stopped, the 7-day exposed share 1.5–2.6%; harm
prevalence 3–4%; unwanted contact from ordinary adults, the share through
account suggestions, sexual advances and explicit images 5–6% (tens of
events per run). Hence:

- ±5%: impressions per session;
- ±15%: unwanted contact (all, from offenders), contact stopped by
  safeguards, the share of peers' messages stopped, the 7-day exposed share;
- ±20%: harm prevalence among minors;
- ±30%: unwanted contact from ordinary adults, the share of unwanted contact
  via account suggestions, sexual advances, explicit images;
- the absolute floors (0.02 for shares, 1 per 1,000 minor-days, 10 per
  10,000 impressions) matter only where a mean is near zero: the share of
  ordinary adults' contact S2 stops is almost always 0, and is compared on
  that absolute scale. Figures that are exactly zero on both sides in every
  run (contact stopped when no contact safeguard is on) are checked to be
  zero on both sides.

Drifts smaller than a margin are not detected: this is a test of the same
model, not of exact agreement. Drifts the test catches: doubling the
offenders' attempt rate in the reference alone, or letting the fast
chronological feed take out-of-network candidates, move several figures far
beyond their margins, and the test fails.

The module runs 2 × 30 runs of each model, about 40–50 seconds of CPU, spread
over two worker processes. ``python3 -m tests.test_docking`` prints the
table of both sides' means, margins and TOST p-values.
"""

from __future__ import annotations

import math
import multiprocessing
import os
from concurrent.futures import ProcessPoolExecutor

import numpy as np
import pytest
from scipy import stats

from sim.config import Config
from sim.model import ExposureModel
from tests.conftest import set_key, tiny_config
from tests.reference import SUPPORTED_FIGURES, ReferenceModel, World, check_supported

#: Seeds of the docked runs (one world each).
SEEDS = tuple(range(30))
#: Days simulated per run (the figures are measured over all of them).
DAYS = 15
#: Significance level of each one-sided test.
ALPHA = 0.05

#: The two docked conditions: every safeguard off, and S8 (content) with S2 (contact) on.
CONDITIONS = {
    "off": {},
    "on": {"safeguards.feed_filtering.enabled": True, "safeguards.dm_from_connections_only.enabled": True},
}

#: The docked configuration apart from the seed and the condition (dotted keys of sim.config.Config).
WORLD = {
    # Off: what the reference does not implement.
    "population.arrivals_per_day": 0.0,
    "population.departures_per_day": 0.0,
    "population.behaviour.interest_drift": 0.0,
    "decoys.n": 0,
    "moderation.enabled": False,
    "recommender.feed": "chronological",
    "recommender.groups": "off",
    # A small world, busy enough that every docked figure counts tens of events per run.
    "population.n": 250,
    "population.minor_share": 0.3,
    "population.offender_share": 0.12,
    "population.adult_content_producer_share": 0.05,
    "contact.offender_attempts_per_day": 1.0,
    "contact.adult_stranger_contact_per_day": 0.01,
    "contact.explicit_image_share": 0.5,
    # Cheaper sessions (plain loops are slow): fewer sessions, shorter vectors, 20 candidates, 8 shown.
    "population.sessions_per_day": 0.8,
    "population.interest_dim": 8,
    "recommender.candidates": 20,
    "recommender.feed_size": 8,
}

#: Equivalence margin per figure: (share of the fast model's mean, absolute floor).
MARGINS = {
    "minor_harm_prevalence_per_10k": (0.20, 10.0),
    "minor_impressions_per_session": (0.05, 0.1),
    "minor_exposed_7d_share": (0.15, 0.02),
    "unwanted_contact_per_1k_minor_days": (0.15, 1.0),
    "unwanted_contact_from_offenders_per_1k_minor_days": (0.15, 1.0),
    "unwanted_contact_from_other_adults_per_1k_minor_days": (0.30, 1.0),
    "unwanted_contact_share_via_suggestion": (0.30, 0.02),
    "sexual_advances_per_1k_minor_days": (0.30, 1.0),
    "minor_explicit_images_per_1k_minor_days": (0.30, 1.0),
    "contacts_blocked_by_safeguards": (0.15, 1.0),
    "legit_contact_blocked_share": (0.30, 0.02),
    "peer_contact_blocked_share": (0.15, 0.02),
}


def docking_config(seed: int, condition: str) -> Config:
    """The docked configuration: a small, busy world with only what the reference implements switched on."""
    cfg = tiny_config(**{**WORLD, "days": DAYS, **CONDITIONS[condition]})
    cfg.seed = seed
    cfg.measure_days = DAYS
    return cfg


def run_pair(seed: int, condition: str) -> tuple[dict[str, float], dict[str, float]]:
    """One world, both implementations: (fast figures, reference figures)."""
    cfg = docking_config(seed, condition)
    fast = ExposureModel(cfg)
    world = World.from_fast_model(fast)          # before the fast model's first day
    fast.run()
    reference = ReferenceModel(cfg, world, rng=10_000 + seed)
    for _ in range(cfg.days):
        reference.step()
    return fast.summary(), reference.summary()


def _figures(job: tuple[str, int]) -> tuple[list[float], list[float]]:
    """The docked figures of one (condition, seed), in SUPPORTED_FIGURES order (a worker's task)."""
    condition, seed = job
    fast, ref = run_pair(seed, condition)
    return [fast[name] for name in SUPPORTED_FIGURES], [ref[name] for name in SUPPORTED_FIGURES]


def dock_all(workers: int | None = None) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Every docked run: per condition, (fast, reference) figures as arrays of shape (seeds, figures), columns in
    SUPPORTED_FIGURES order.

    The runs are independent, so they are spread over ``workers`` processes (default: up to two).
    """
    jobs = [(condition, seed) for condition in CONDITIONS for seed in SEEDS]
    workers = min(2, os.cpu_count() or 1) if workers is None else workers
    if workers > 1:
        with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn")) as pool:
            results = list(pool.map(_figures, jobs))
    else:
        results = [_figures(job) for job in jobs]
    out = {}
    for condition in CONDITIONS:
        mine = [res for (c, _), res in zip(jobs, results) if c == condition]
        out[condition] = (np.array([f for f, _ in mine], dtype=float), np.array([r for _, r in mine], dtype=float))
    return out


@pytest.fixture(scope="module")
def docked() -> dict[str, tuple[np.ndarray, np.ndarray]]:
    return dock_all()


def tost(fast: np.ndarray, ref: np.ndarray, relative: float, floor: float) -> dict[str, float]:
    """Paired TOST of ``mean(ref - fast) = 0`` within ±δ, δ = max(relative · |mean(fast)|, floor)."""
    ok = ~(np.isnan(fast) | np.isnan(ref))
    f, r = fast[ok], ref[ok]
    d = r - f
    delta = max(relative * abs(float(f.mean())), floor)
    out = {"n": float(d.size), "fast_mean": float(f.mean()), "ref_mean": float(r.mean()),
           "diff": float(d.mean()), "delta": delta}
    if d.size < 2 or np.all(d == d[0]):        # no spread: equivalent iff the (constant) difference is inside
        inside = abs(float(d.mean())) < delta if d.size else False
        out.update(p_lower=0.0 if inside else 1.0, p_upper=0.0 if inside else 1.0)
    else:
        out["p_lower"] = float(stats.ttest_1samp(d, -delta, alternative="greater").pvalue)
        out["p_upper"] = float(stats.ttest_1samp(d, delta, alternative="less").pvalue)
    out["p"] = max(out["p_lower"], out["p_upper"])
    return out


def describe(figure: str, condition: str, t: dict[str, float]) -> str:
    return (f"{figure} [{condition}]: fast {t['fast_mean']:.4g}, reference {t['ref_mean']:.4g}, "
            f"mean difference {t['diff']:+.4g} (margin ±{t['delta']:.4g}, n={t['n']:.0f}); "
            f"TOST p_lower={t['p_lower']:.3g}, p_upper={t['p_upper']:.3g}")


@pytest.mark.parametrize("figure", SUPPORTED_FIGURES)
@pytest.mark.parametrize("condition", tuple(CONDITIONS))
def test_figures_are_equivalent(docked, condition, figure):
    fast, ref = docked[condition]
    j = SUPPORTED_FIGURES.index(figure)
    if np.all(fast[:, j] == 0) and np.all(ref[:, j] == 0):
        return                                   # zero on both sides in every run (e.g. nothing to stop)
    t = tost(fast[:, j], ref[:, j], *MARGINS[figure])
    assert t["p"] < ALPHA, "not shown equivalent: " + describe(figure, condition, t)


def test_safeguards_act_on_both_sides(docked):
    """With S2 and S8 on, both implementations stop contact and lower harm prevalence; with them off, neither
    stops anything (so the "on" comparison is not between two runs where the safeguards did nothing)."""
    blocked = SUPPORTED_FIGURES.index("contacts_blocked_by_safeguards")
    harm = SUPPORTED_FIGURES.index("minor_harm_prevalence_per_10k")
    for side in (0, 1):
        off, on = docked["off"][side], docked["on"][side]
        assert np.all(off[:, blocked] == 0)
        assert np.nanmean(on[:, blocked]) > 0
        assert np.nanmean(on[:, harm]) < 0.9 * np.nanmean(off[:, harm])


def test_reference_refuses_what_it_does_not_implement():
    check_supported(docking_config(0, "on"))
    for key, value, named in (("moderation.enabled", True, "moderation"),
                              ("recommender.feed", "engagement", "chronological"),
                              ("safeguards.private_by_default.enabled", True, "private_by_default"),
                              ("decoys.n", 2, "decoys")):
        cfg = docking_config(0, "on")
        set_key(cfg, key, value)
        with pytest.raises(NotImplementedError, match=named):
            check_supported(cfg)


def test_tost_detects_a_shift():
    """The equivalence test itself: a 30% shift fails a 15% margin, noise around the same mean passes."""
    rng = np.random.default_rng(1)
    base = rng.normal(100.0, 5.0, 30)
    assert tost(base, base + rng.normal(0.0, 3.0, 30), 0.15, 0.0)["p"] < ALPHA
    assert tost(base, 1.3 * base + rng.normal(0.0, 3.0, 30), 0.15, 0.0)["p"] > 0.5
    assert math.isclose(tost(base, base, 0.15, 0.0)["p"], 0.0)


def table(results: dict[str, tuple[np.ndarray, np.ndarray]]) -> str:
    """Both sides' means, the margin and the TOST p-value of every docked figure, one line each."""
    lines = [f"{'condition':9s} {'figure':53s} {'fast':>9s} {'reference':>9s} {'margin':>8s} {'p':>8s}"]
    for condition, (fast, ref) in results.items():
        for j, figure in enumerate(SUPPORTED_FIGURES):
            if np.all(fast[:, j] == 0) and np.all(ref[:, j] == 0):
                lines.append(f"{condition:9s} {figure:53s} {'0':>9s} {'0':>9s}   zero on both sides in every run")
                continue
            t = tost(fast[:, j], ref[:, j], *MARGINS[figure])
            lines.append(f"{condition:9s} {figure:53s} {t['fast_mean']:9.4g} {t['ref_mean']:9.4g} "
                         f"{t['delta']:8.3g} {t['p']:8.2g}")
    return "\n".join(lines)


if __name__ == "__main__":
    print(table(dock_all()))
