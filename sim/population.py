"""Account state as arrays (a struct of arrays, one row per account).

Core objects: :class:`Population`, :func:`build_population` (the role and cohort
codes it assigns are defined in :mod:`sim.vocabulary`).

Every per-account quantity the model reads or changes lives here as one numpy
array indexed by account row. Mesa agents (``sim.agents``) are views onto these rows.

The population lives: rows are allocated at build time for every account that
will ever be on the platform during the run, in three blocks:

1. the ``n`` accounts present when the run starts, with tenures drawn from the
   steady state of the departure rate (:func:`initial_join_days`);
2. the newcomers who register during the run (:func:`arrival_days`), sorted by
   join day, drawn from the same population model as everyone else;
3. the decoys, flagged by ``decoy``, who register on ``decoys.join_day``.

A row is dormant until its ``joined_day``; ``present`` says who is on the
platform today (joined, not banned, not ``left``). The model updates it at the
start of each day (:meth:`sim.model.ExposureModel.step`), and every phase looks
only at present accounts.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np

from sim import libm
from sim.compiled import cache_aligned
from sim.config import DecoysConfig, PopulationConfig
from sim.vocabulary import (ADULT, ADULT_AGE, ADULT_CONTENT_PRODUCER, COHORTS, CREATOR, DECOY, EXPLOITATIVE_SELLER,
                            HARMFUL_ROLES, MIN_AGE, MINOR_13_15, MINOR_16_17, OFFENDER, REGULAR, ROLE_NAMES,
                            YOUNG_BELOW)

#: Join day of the accounts that exist when a run starts, when accounts never leave
#: (long established); with departures, the earliest join day drawn.
ESTABLISHED_JOIN_DAY = -10_000


@dataclass
class Population:
    """Per-account arrays, one row per account that is on the platform at some time in the run.

    Rows: the accounts present at the start, then the newcomers (by join day),
    then the decoys (the last rows). ``present`` and ``left`` default to the
    state before day 1: the accounts that joined on day 0 or before, none left.
    """

    true_age: np.ndarray            # int8, MIN_AGE..90
    declared_age: np.ndarray        # int8, what the platform believes
    protected: np.ndarray           # bool, minor protections apply (declared minor or caught)
    role: np.ndarray                # int8, role code (sim.vocabulary)
    decoy: np.ndarray               # bool
    cohort: np.ndarray              # int8, cohort code (sim.vocabulary; fixed: true age band, or decoy)
    interest: np.ndarray            # float32 (n, d), unit rows
    harmful_affinity: np.ndarray    # float32 in [0, 1], latent taste for sexual content
    affinity_baseline: np.ndarray   # float32, where affinity relaxes to
    learned_harm_rate: np.ndarray   # float32, platform's estimate of harmful-engagement rate
    activity: np.ndarray            # float32, mean sessions per day
    private: np.ndarray             # bool, profile posts reach followers only (group posts reach the group)
    last_harm_day: np.ndarray       # int32, last day with a harmful impression (-10**6: never)
    last_explicit_day: np.ndarray   # int32, last day with an adult_sexual/exploitative impression
    last_unwanted_day: np.ndarray   # int32, last day an adult stranger's contact reached the account
    first_unwanted_day: np.ndarray  # int32, first such day (-1: never)
    first_harmful_suggestion_day: np.ndarray  # int32, first day a harmful account or group was suggested (-1: never)
    banned: np.ndarray              # bool, removed from the platform
    joined_day: np.ndarray          # int32, day the account registered (<= 0: before the run; decoys: decoys.join_day)
    strikes: np.ndarray             # int16, upheld violations (removed items, upheld reports)
    suspicious: np.ndarray          # bool, flagged as a suspicious adult
    returns_day: np.ndarray         # int32, day a banned offender returns as a new account (-1: not returning)
    first_harm_day: np.ndarray      # int32, first such day (-1: never)
    present: np.ndarray | None = None   # bool, on the platform today: joined, not banned, not left
    left: np.ndarray | None = None      # bool, left the platform for good (decoys never do)
    #: bool, private because a safeguard made it so (not by the account's own choice): the
    #: discovery that privacy closes to offenders (sim.contact.discover) counts as closed by a safeguard
    private_by_safeguard: np.ndarray | None = None

    def __post_init__(self) -> None:
        if self.left is None:
            self.left = np.zeros(self.true_age.shape[0], dtype=bool)
        if self.private_by_safeguard is None:
            self.private_by_safeguard = np.zeros(self.true_age.shape[0], dtype=bool)
        if self.present is None:
            self.present = np.zeros(self.true_age.shape[0], dtype=bool)
            self.update_present(0)

    def update_present(self, day: int) -> np.ndarray:
        """Set ``present`` for ``day``: joined by then, not banned, not left.

        Returns:
            The rows present today that were not before: newcomers registering,
            and banned offenders back with a new account.
        """
        today = (self.joined_day <= day) & ~self.banned & ~self.left
        arrived = np.flatnonzero(today & ~self.present)
        self.present[:] = today
        return arrived

    @property
    def n(self) -> int:
        return int(self.true_age.shape[0])

    @property
    def is_minor(self) -> np.ndarray:
        return self.true_age < ADULT_AGE

    def summary(self) -> dict[str, int]:
        """Counts by role and cohort, for the manifest."""
        out = {f"role_{name}": int((self.role == code).sum()) for code, name in enumerate(ROLE_NAMES)}
        out.update({f"cohort_{name}": int((self.cohort == code).sum()) for code, name in enumerate(COHORTS)})
        out["minors_declared_adult"] = int((self.is_minor & ~self.decoy & (self.declared_age >= ADULT_AGE)).sum())
        out["newcomers"] = int(((self.joined_day > 0) & ~self.decoy).sum())
        return out

    def check(self) -> None:
        """Assert that every array has one row per account (used by tests)."""
        n = self.n
        for f in fields(self):
            assert getattr(self, f.name).shape[0] == n, f.name


def _beta_with_mean(rng: np.random.Generator, mean: np.ndarray, concentration: float = 8.0) -> np.ndarray:
    mean = np.clip(mean, 1e-4, 1 - 1e-4)
    return rng.beta(mean * concentration, (1 - mean) * concentration).astype(np.float32)


def _unit_rows(x: np.ndarray) -> np.ndarray:
    norm = np.linalg.norm(x, axis=1, keepdims=True)
    norm[norm == 0] = 1.0
    return (x / norm).astype(np.float32)


def topic_centres(cfg: PopulationConfig, rng: np.random.Generator) -> np.ndarray:
    """Cluster centres of interests (random unit vectors); see :func:`draw_interests`."""
    return _unit_rows(rng.standard_normal((cfg.topic_clusters, cfg.interest_dim)))


def draw_interests(is_minor: np.ndarray, centres: np.ndarray, rng: np.random.Generator,
                   spread: float = 0.5) -> np.ndarray:
    """Unit interest vectors near a cluster centre drawn from an age-typical range of clusters.

    Minors draw uniformly from the first ``span`` clusters and adults from the
    last ``span``, with ``span = (k + max(1, k // 2)) // 2 + 1`` capped at k
    (10 of 12 by default): overlapping tastes, but age-typical ones.
    """
    k = centres.shape[0]
    span = min(k, (k + max(1, k // 2)) // 2 + 1)
    lo = np.where(is_minor, 0, k - span)
    hi = np.where(is_minor, span, k)
    cluster = lo + (rng.random(is_minor.shape[0]) * (hi - lo)).astype(np.int64)
    x = centres[cluster] + spread * rng.standard_normal((is_minor.shape[0], centres.shape[1])).astype(np.float32)
    return _unit_rows(x)


def arrival_days(n: int, per_day: float, days: int, rng: np.random.Generator) -> np.ndarray:
    """Join days of the accounts registering during a run, sorted (one entry per newcomer).

    Each day ``1..days`` a Poisson(``n * per_day``) number of accounts
    registers: independent sign-ups at a constant rate, so the count on a day
    varies as it does on a real platform. Nothing is drawn when ``per_day`` is 0.
    """
    if per_day <= 0 or days <= 0:
        return np.zeros(0, dtype=np.int32)
    counts = rng.poisson(n * per_day, days)
    return np.repeat(np.arange(1, days + 1, dtype=np.int32), counts)


def initial_join_days(n: int, departures_per_day: float, rng: np.random.Generator) -> np.ndarray:
    """Join days of the accounts present when the run starts.

    With a daily departure chance q, the tenures of the accounts on the platform
    in the steady state are geometric: P(joined k days before day 1, counting day 0
    as k = 0) = q (1 - q)^k, whatever the arrival rate. Some are recent enough to
    share the cold-start boost from day 1. Without departures (q = 0) every
    account is long established (:data:`ESTABLISHED_JOIN_DAY`) and nothing is drawn.
    """
    if departures_per_day <= 0:
        return np.full(n, ESTABLISHED_JOIN_DAY, dtype=np.int32)
    tenure = rng.geometric(departures_per_day, n) - 1
    return np.maximum(-tenure, ESTABLISHED_JOIN_DAY).astype(np.int32)


def build_population(cfg: PopulationConfig, decoys: DecoysConfig, rng: np.random.Generator,
                     n: int | None = None, true_age: np.ndarray | None = None,
                     arrivals: np.ndarray | None = None) -> Population:
    """Draw every account's state: the accounts present at the start, the newcomers, the decoys.

    Newcomers are drawn from the same model as the accounts present at the
    start (ages, roles including offenders, declared ages, tastes, activity):
    they differ only in their ``joined_day``.

    Args:
        cfg: population settings.
        decoys: decoy settings; decoys are the last rows and join on ``decoys.join_day``.
        rng: the world-building stream.
        n: number of accounts present at the start (defaults to ``cfg.n``; an imported graph sets it).
        true_age: optional ages of those ``n`` accounts given by an imported graph;
            missing entries (< MIN_AGE) are drawn.
        arrivals: join day of each newcomer, sorted (:func:`arrival_days`); none by default.

    Returns:
        The population: the ``n`` accounts present at the start, the newcomers, the decoys.
    """
    n = cfg.n if n is None else n
    arrivals = np.zeros(0, dtype=np.int32) if arrivals is None else np.asarray(arrivals, dtype=np.int32)
    m = n + arrivals.size          # ordinary accounts: present at the start, then newcomers
    nd = decoys.n
    total = m + nd

    # Ages: minors 13-17 with the configured 13-15 share; adults 18-75, younger-skewed.
    is_minor = rng.random(m) < cfg.minor_share
    young_band = rng.random(m) < cfg.minor_13_15_share
    minor_age = np.where(young_band, rng.integers(MIN_AGE, YOUNG_BELOW, m), rng.integers(YOUNG_BELOW, ADULT_AGE, m))
    adult_age = np.minimum(ADULT_AGE + rng.gamma(2.0, 9.0, m).astype(np.int64), 75)
    age = np.where(is_minor, minor_age, adult_age)
    if true_age is not None:
        given = np.full(m, -1, dtype=np.int64)
        given[:n] = true_age
        age = np.where(given >= MIN_AGE, np.minimum(given, 90), age)
    age = np.concatenate([age, np.full(nd, decoys.age)]).astype(np.int8)
    is_minor = age < ADULT_AGE
    is_decoy = np.zeros(total, dtype=bool)
    is_decoy[m:] = True

    # Declared age: some minors register as adults (often the minimum plus a few years).
    share_13_15 = (cfg.minor_declares_adult_share if cfg.minor_13_15_declares_adult_share is None
                   else cfg.minor_13_15_declares_adult_share)
    declare_p = np.where(age < YOUNG_BELOW, share_13_15, cfg.minor_declares_adult_share)
    declares_adult = is_minor & ~is_decoy & (rng.random(total) < declare_p)
    declared = np.where(declares_adult, ADULT_AGE + rng.integers(0, 8, total), age)
    declared[m:] = decoys.declared_age

    # Roles: drawn for adults by the configured shares; minors may be creators.
    u = rng.random(total)
    role = np.full(total, REGULAR, dtype=np.int8)
    cuts = np.cumsum([cfg.offender_share, cfg.adult_content_producer_share, cfg.exploitative_seller_share])
    adult = ~is_minor
    role[adult & (u < cuts[0])] = OFFENDER
    role[adult & (u >= cuts[0]) & (u < cuts[1])] = ADULT_CONTENT_PRODUCER
    role[adult & (u >= cuts[1]) & (u < cuts[2])] = EXPLOITATIVE_SELLER
    creator_draw = rng.random(total) < cfg.creator_share
    role[(role == REGULAR) & creator_draw & ~is_decoy] = CREATOR

    # Some offenders register as teenagers, which also buys them minor protections.
    poses = (role == OFFENDER) & (rng.random(total) < cfg.offender_poses_as_minor_share)
    declared = np.where(poses, rng.integers(14, ADULT_AGE, total), declared).astype(np.int8)
    protected = declared < ADULT_AGE

    cohort = np.where(age < YOUNG_BELOW, MINOR_13_15, np.where(age < ADULT_AGE, MINOR_16_17, ADULT)).astype(np.int8)
    cohort[is_decoy] = DECOY

    centres = topic_centres(cfg, rng)
    # Read a row per impression: one cache line each (16 dimensions).
    interest = cache_aligned(draw_interests(is_minor, centres, rng))

    bad_actor = np.isin(role, HARMFUL_ROLES)
    mean_aff = np.where(is_minor, cfg.affinity_minor, np.where(bad_actor, cfg.affinity_offender, cfg.affinity_adult))
    affinity = _beta_with_mean(rng, mean_aff)
    affinity[is_decoy] = 0.0

    multiplier = np.where(is_minor, cfg.minor_activity_multiplier, 1.0)
    # Log-normal with the requested mean: exp(mu + sigma^2 / 2) = mean.
    sigma = cfg.activity_sigma
    activity = (cfg.sessions_per_day * multiplier
                * libm.exp(sigma * rng.standard_normal(total) - 0.5 * sigma**2)).astype(np.float32)
    activity[is_decoy] = decoys.sessions_per_day

    private = rng.random(total) < cfg.private_share
    private[is_decoy] = decoys.private

    # Drawn last, so that without departures the draws above are those of a fixed population.
    joined_day = np.concatenate([initial_join_days(n, cfg.departures_per_day, rng), arrivals,
                                 np.full(nd, decoys.join_day, dtype=np.int32)])

    return Population(
        true_age=age,
        declared_age=declared,
        protected=protected,
        role=role,
        decoy=is_decoy,
        cohort=cohort,
        interest=interest,
        harmful_affinity=affinity,
        affinity_baseline=affinity.copy(),
        learned_harm_rate=np.zeros(total, dtype=np.float32),
        activity=activity,
        private=private,
        last_harm_day=np.full(total, -10**6, dtype=np.int32),
        last_explicit_day=np.full(total, -10**6, dtype=np.int32),
        last_unwanted_day=np.full(total, -10**6, dtype=np.int32),
        first_unwanted_day=np.full(total, -1, dtype=np.int32),
        first_harmful_suggestion_day=np.full(total, -1, dtype=np.int32),
        banned=np.zeros(total, dtype=bool),
        joined_day=joined_day,
        strikes=np.zeros(total, dtype=np.int16),
        suspicious=np.zeros(total, dtype=bool),
        returns_day=np.full(total, -1, dtype=np.int32),
        first_harm_day=np.full(total, -1, dtype=np.int32),
    )
