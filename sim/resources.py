"""Peak memory of a run, estimated before the world is built, and the memory there is to run it in.

Core objects:

- :func:`estimate_peak_bytes` — peak resident memory (RSS) of a whole run
  (``python -m sim ...``) for a config, built from the model's arrays and the
  temporaries of its heaviest steps; :func:`estimate_footprint` gives the same
  figure term by term (:class:`Footprint`).
- :func:`available_bytes` — memory a run may use: ``MemAvailable``, lowered by
  a cgroup limit, or ``EXPOSIM_MEMORY_LIMIT`` when that is set.
- :func:`check_memory` — refuse (:class:`sim.config.ConfigError`) a world that
  cannot fit, before anything is built.
- :func:`format_bytes` — "2.3 GB", "512 MB".
- :func:`keep_freed_memory` — let glibc's malloc keep the memory of freed large
  arrays for reuse instead of unmapping it (called once per process by the runner).

Why an estimate at all: a world of 5 * 10**7 accounts passes validation and
dies with ``MemoryError`` many seconds into building it. The estimate follows
the structure of the model — a fixed base (interpreter and libraries), arrays
per account, per follow, per group membership and per stored item, and the
largest temporary of each phase (graph generation, graph statistics, a block of
ranked feed sessions, engagement, suggestions, the day's follows merged into the
follow graphs) — so it scales the way a run does when a setting changes. Rows are
allocated at build time for every account of the run, the newcomers who
register later included (``population.arrivals_per_day``); the day's work
scales with the accounts present on a day. Its byte
coefficients were calibrated against the measured peak RSS of whole runs
(``benchmarks/bench_memory.py`` repeats the measurement) and rounded up: the
estimate is meant to be at or above the real peak, by at most about a third.

``EXPOSIM_MEMORY_LIMIT`` (bytes, or a number with a suffix: ``512M``, ``8G``,
``1.5T``; binary units) replaces the detected figure: use it on a shared
machine to keep a run within its share, or to test the check.
"""

from __future__ import annotations

import dataclasses
import functools
import math
import os
import re
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from sim.config import Config, ConfigError, DecoysConfig, PopulationConfig
from sim.content import ItemStore
from sim.engagement import BLOCK as ENGAGE_BLOCK
from sim.network.groups import GROUP_CANDIDATES, REGISTRATION_GROUPS
from sim.network.synthetic import REGISTRATION_FOLLOWS
from sim.population import build_population
from sim.recommenders.accounts import GROUP_PROBES

#: The environment variable that, when set, replaces the detected available memory.
MEMORY_LIMIT_ENV = "EXPOSIM_MEMORY_LIMIT"
#: The environment variable that, set to ``system``, leaves malloc's settings alone (:func:`keep_freed_memory`).
MALLOC_ENV = "EXPOSIM_MALLOC"

MB = 1 << 20
GB = 1 << 30

# --- calibrated coefficients ----------------------------------------------------------
# Bytes per unit of each quantity. The array sizes come from the code; each figure
# also absorbs what the allocator keeps of freed temporaries (glibc serves blocks
# under 32 MB from its heap and returns them to the system only from its top), so
# they were fitted to whole runs' measured peak RSS (CPython 3.11, numpy 2.4, Linux)
# and rounded up. Each names where the bytes go, so that a change to that code says
# which figure to re-measure with benchmarks/bench_memory.py.

#: The interpreter with numpy, networkx, Mesa, Hydra, pyarrow, numba (with LLVM and the
#: feed kernels loaded, about 100 MB) and the sim package imported, Hydra's composition
#: and the pre-flight checks done, and writing the parquet tables at the end (a
#: 1,000-account run peaks there: 290 MB, 2026-12-02; rounded up for other machines' libraries).
BASE_BYTES = 320 * MB
#: Per account, beside the population arrays (measured from a tiny build): the graph's
#: and followers' row offsets (2 x 8), communities (4), posting rates (8), group row
#: offsets (8), the offenders' index (8), today's sessions and recent posts (2 x 8),
#: the feed index's author offsets (8), per-account daily masks and counts.
ACCOUNT_EXTRA_BYTES = 96
#: A Mesa agent view (worlds up to ``population.agent_views_max`` accounts get one each).
AGENT_VIEW_BYTES = 400
#: A follow at rest: int32 in the follow graph and int32 in its reverse (followers), with the
#: 1/8 spare room each keeps for the day's new follows once it has been edited.
FOLLOW_BYTES = 9
#: A follow while the synthetic graph is generated: int64 keys ``src * n + dst``, their
#: sorted copy, the merged chunks and the CSR built from them.
FOLLOW_BUILD_BYTES = 32
#: A follow while graph statistics are computed: sources (int64), age flags, and the
#: forward and backward keys of the reciprocity match.
FOLLOW_STATS_BYTES = 28
#: A follow while the day's new follows are merged in: the graphs are edited in place, but the
#: first edit of each copies it (int32, with spare room) while the generated one is still held.
FOLLOW_EDIT_BYTES = 5
#: New follows per active account per day (accepted suggestions, contacts followed
#: back; measured 0.10), for the graph's growth over a long run.
NEW_FOLLOWS_PER_ACTIVE_DAY = 0.15
#: A group membership at rest (int32 in each direction) and while groups are built
#: (GROUP_CANDIDATES int32 candidates, scores, the sorted keys).
MEMBERSHIP_BYTES = 8
MEMBERSHIP_BUILD_BYTES = 4 * GROUP_CANDIDATES + 48
#: Group memberships added per active account per day (measured 0.04).
NEW_MEMBERSHIPS_PER_ACTIVE_DAY = 0.05
#: A newcomer's registration follow or group join, held from build time to its join day
#: (sim.network.sources.Registrations: two int64 per entry).
REGISTRATION_BYTES = 16
#: Per item slot beside the store's own arrays: the engagement policy's per-item logit
#: (float32) and harm flag, kept between days; and the impression and engagement
#: counts (zero-filled, but added to whole every day, so resident from day 1).
ITEM_EXTRA_BYTES = 13
#: Per item slot during engagement: the per-slot impression and engagement counts
#: (int64, then int32).
ITEM_ENGAGE_BYTES = 12
#: A live item in today's feed index: author and group CSR (int64), the
#: out-of-network pool and its cumulative weights, and the sort behind them.
FEED_INDEX_ITEM_BYTES = 48
#: Per item slot while feeds are served: its packed author, harm and removal (int64, item_info).
FEED_ITEM_BYTES = 8
#: A cell of the (sessions x candidates) feed block, in buffers reused from block to block:
#: random draws, candidates and their flags, the policy's and the nudged scores.
FEED_CELL_BYTES = 64
#: An impression: viewer (int32), item (int64) and in-network flag, written in place while
#: feeds are served and freed once engagement has been counted.
IMPRESSION_BYTES = 13
#: An impression's uniform draw, in the current engagement block, and the report draws'
#: flags and probabilities over it.
ENGAGE_BLOCK_BYTES = 40
#: An impression during engagement and its counting: engaged, reported and harm flags,
#: the harm classes gathered for the counts; and, about three in ten impressions being
#: engaged with, each engagement's viewer and item (interest drift) and the viewer, item
#: and author kept for suggestions and contact (the phase's traced peak at 10**6 accounts,
#: 178 MB, is 11 per impression).
ENGAGE_IMPRESSION_BYTES = 14
#: Per account while interests drift: the engagement counts and the engagements grouped
#: by viewer (row offsets, fill positions).
ENGAGE_ACCOUNT_BYTES = 24
#: An impression's share of the engagements kept through suggestions and contact
#: (viewer, item and author, int64, for about three in ten impressions).
ENGAGEMENT_BYTES_PER_IMPRESSION = 8
#: A group-suggestion probe: its id (int64); the similarities are computed in a compiled loop.
GROUP_PROBE_BYTES = 8
#: A group-suggestion slot beside its probes: the followee and co-membership picks and their
#: draws, the merge, the de-duplication sort and the membership checks.
GROUP_SLOT_BYTES = 200
#: An account-suggestion slot: both suggesters' picks and draws, the merge, the
#: de-duplication sort, the checks against the graph and the slots kept for the
#: recorder (the suggestion phase's traced peak at 10**6 accounts, 430 MB, is 129 per slot).
ACCOUNT_SLOT_BYTES = 130
#: Slack over the heaviest moment, for what the allocator keeps of earlier phases:
#: SLACK for a short run, rising by SLACK_LONG_RUN over the first SLACK_DAYS days
#: (the freed heap the allocator keeps varies from day to day, so a longer run meets
#: a worse day: a 100,000-account run peaked at 640-656 MB in 3 days, 691-705 MB in 30,
#: and no higher from day 19 on). Where freed memory is kept for reuse
#: (:func:`keep_freed_memory`) the building's temporaries stay with the process: a
#: 10**6-account run peaked at 1,802 MB in 3 days, 1,874 MB in 60 (1,448 MB and 1,772 MB
#: in 3 and 14 days with malloc's own settings).
SLACK = 1.15
SLACK_LONG_RUN = 0.1
SLACK_DAYS = 30


@dataclass(frozen=True)
class Footprint:
    """An estimate of a run's memory, term by term (bytes).

    Attributes:
        base: interpreter and libraries.
        accounts: the population arrays and other per-account arrays.
        follows: the follow graph and its reverse, at the end of the run.
        groups: group topics and memberships, at the end of the run.
        items: the item store and the per-item arrays kept with it.
        build: temporaries of generating the world (the follow graph, then the groups).
        stats: temporaries of the graph statistics.
        feed: the feed index, one block of ranked sessions, the impressions.
        engage: the engagement draws of a day's impressions.
        suggest: the day's account or group suggestions.
        rebuild: merging the day's follows into the follow graph and its reverse.
        peak: the estimate: the base plus the heaviest moment, with slack.
    """

    base: int
    accounts: int
    follows: int
    groups: int
    items: int
    build: int
    stats: int
    feed: int
    engage: int
    suggest: int
    rebuild: int
    peak: int

    def phases(self) -> dict[str, int]:
        """Resident bytes at the heaviest moment of each phase (base included, slack not)."""
        world = self.base + self.accounts + self.groups
        day = world + self.follows + self.items
        return {
            # While the world is generated and described only one direction of the graph exists.
            "build": world + self.build,
            "stats": world + self.follows // 2 + self.stats,
            "feed": day + self.feed,
            "engage": day + self.engage,
            "suggest": day + self.suggest,
            "rebuild": day + self.rebuild,
        }


# --- the quantities a config implies ----------------------------------------------------

@functools.lru_cache(maxsize=16)
def _population_bytes_per_account(interest_dim: int) -> float:
    """Bytes per account of :class:`sim.population.Population`, from a tiny build (cached)."""
    n = 64
    pop = build_population(PopulationConfig(n=n, interest_dim=interest_dim), DecoysConfig(n=0),
                           np.random.default_rng(0))
    return sum(getattr(pop, f.name).nbytes for f in dataclasses.fields(pop)) / n


@functools.lru_cache(maxsize=16)
def _item_slot_bytes(interest_dim: int) -> tuple[float, float]:
    """Bytes per slot of :class:`sim.content.ItemStore`: (filled at allocation, zero-filled).

    Zero-filled arrays come from ``calloc``: their pages become resident only as
    items are written into them, so a short run does not pay for the whole store.
    """
    store = ItemStore(1024, interest_dim)
    arrays = [a for a in vars(store).values() if isinstance(a, np.ndarray)]
    lazy = sum(a.nbytes for a in arrays if not a.any())
    return (sum(a.nbytes for a in arrays) - lazy) / store.capacity, lazy / store.capacity


def _posts_per_day(cfg: Config, m: float) -> float:
    """Expected posts per day (the role mix of build_population, the rates of posting_rates)."""
    p, c = cfg.population, cfg.content
    bad = p.offender_share + p.adult_content_producer_share + p.exploitative_seller_share
    ordinary = (1 - p.creator_share) * c.posts_per_day_regular + p.creator_share * c.posts_per_day_creator
    per_adult = (p.offender_share * c.posts_per_day_offender + p.adult_content_producer_share * c.posts_per_day_producer
                 + p.exploitative_seller_share * c.posts_per_day_seller + max(0.0, 1 - bad) * ordinary)
    per_account = (1 - p.minor_share) * per_adult + p.minor_share * ordinary
    return m * per_account + cfg.decoys.n * cfg.decoys.posts_per_day


@functools.lru_cache(maxsize=64)
def _active_share(mean: float, sigma: float) -> float:
    """P(Poisson(lambda) >= 1) for a log-normal lambda of the given mean and log-spread.

    The activity of :func:`sim.population.build_population`; Gauss-Hermite
    quadrature over its normal draw.
    """
    x, w = np.polynomial.hermite_e.hermegauss(40)
    lam = mean * np.exp(sigma * x - 0.5 * sigma**2)
    return float(1.0 - (w * np.exp(-lam)).sum() / math.sqrt(2 * math.pi))


def _follows(cfg: Config, m: int, newcomers: float) -> float:
    """Follows in the generated graph.

    ``network.mean_following`` is the mean *final* out-degree: triadic-closure
    slots are carved out of each account's degree, not added to it (see
    :func:`sim.network.synthetic.build_follow_graph`). Degrees are capped at
    ``m - 1``; newcomers (decoys included) follow REGISTRATION_FOLLOWS accounts each.
    """
    if m < 2:
        return float(newcomers * REGISTRATION_FOLLOWS)
    per_account = max(1.0, min(cfg.network.mean_following, m - 1))
    return m * per_account + newcomers * REGISTRATION_FOLLOWS


def _accounts_on_a_day(m: int, arrivals_per_day: float, departures_per_day: float, days: int) -> float:
    """The most ordinary accounts present on one day of the run (expected).

    ``m`` at the start; after t days m (1 - q)^t of them remain and
    m a (1 - (1 - q)^t) / q newcomers (m a t when q = 0), a count that moves
    monotonically towards the steady state m a / q, so its larger end is the
    start or the last day.
    """
    a, q = arrivals_per_day, departures_per_day
    survive = (1.0 - q) ** days
    joined = m * a * (1.0 - survive) / q if q > 0 else m * a * days
    return max(float(m), m * survive + joined)


def estimate_footprint(cfg: Config, n_accounts: int | None = None) -> Footprint:
    """The memory a run of ``cfg`` needs, term by term (see :func:`estimate_peak_bytes`).

    Args:
        cfg: the run's config (validated or not; only sizes are read).
        n_accounts: number of ordinary accounts, replacing ``cfg.population.n``
            (a graph file sets the size).

    Returns:
        The footprint; ``.peak`` is the estimate.
    """
    p, net, rec = cfg.population, cfg.network, cfg.recommender
    d = p.interest_dim
    m = int(p.n if n_accounts is None else n_accounts)
    nd = int(cfg.decoys.n)
    days = max(1, int(cfg.days))
    # Rows: the accounts at the start, the newcomers of the run (allocated at build time), the decoys.
    newcomers = m * p.arrivals_per_day * days + nd
    n = m + newcomers
    daily = _accounts_on_a_day(m, p.arrivals_per_day, p.departures_per_day, days)

    # Activity of a day's present accounts: sessions per day, accounts with at least
    # one session (they get suggestions), impressions (at most feed_size per session).
    minor_mean = p.sessions_per_day * p.minor_activity_multiplier
    sessions = (daily * ((1 - p.minor_share) * p.sessions_per_day + p.minor_share * minor_mean)
                + nd * cfg.decoys.sessions_per_day)
    active = (daily * ((1 - p.minor_share) * _active_share(p.sessions_per_day, p.activity_sigma)
                       + p.minor_share * _active_share(minor_mean, p.activity_sigma)) + nd)
    impressions = sessions * min(rec.feed_size, rec.candidates)

    # The graph and groups as generated (the newcomers' registration follows and joins
    # included), and as grown by the end of the run.
    follows0 = _follows(cfg, m, newcomers)
    follows = follows0 + NEW_FOLLOWS_PER_ACTIVE_DAY * active * days
    memberships0 = m * net.memberships_mean + newcomers * REGISTRATION_GROUPS
    memberships = memberships0 + NEW_MEMBERSHIPS_PER_ACTIVE_DAY * active * days
    n_groups = max(1.0, net.groups_per_1k * m / 1000) if net.groups_per_1k else 0.0

    # The item store, sized as ExposureModel sizes it (expected posts of the accounts
    # at the start x (retention + 1) x 1.3); its zero-filled arrays are resident only
    # for the slots written so far.
    capacity = int(_posts_per_day(cfg, m) * (cfg.content.retention_days + 1) * 1.3) + 64
    posts = _posts_per_day(cfg, daily)
    eager, lazy = _item_slot_bytes(d)
    written = min(capacity, posts * days)
    live_recent = posts * min(rec.recency_days, cfg.content.retention_days)

    accounts = n * (_population_bytes_per_account(d) + ACCOUNT_EXTRA_BYTES)
    if n <= p.agent_views_max:
        accounts += n * AGENT_VIEW_BYTES
    registrations = newcomers * (REGISTRATION_FOLLOWS + REGISTRATION_GROUPS) * REGISTRATION_BYTES
    follow_bytes = follows * FOLLOW_BYTES + registrations
    group_bytes = memberships * MEMBERSHIP_BYTES + n_groups * (4 * d + 32) + n * 8
    item_bytes = capacity * (eager + ITEM_EXTRA_BYTES) + written * lazy

    # World building: the graph's generation, then the groups' (the graph is kept).
    build = max(follows0 * FOLLOW_BUILD_BYTES,
                follows0 * FOLLOW_BYTES / 2 + memberships0 * MEMBERSHIP_BUILD_BYTES)
    stats = follows0 * FOLLOW_STATS_BYTES
    # Phase 3: the index of recent items and the per-slot item data, the block buffers of
    # chunk_sessions sessions x candidates, and the day's impressions as they are written.
    block = min(rec.chunk_sessions, sessions) * rec.candidates
    feed = (live_recent * FEED_INDEX_ITEM_BYTES + capacity * FEED_ITEM_BYTES + impressions * IMPRESSION_BYTES
            + block * FEED_CELL_BYTES)
    # Phase 4: the impressions still held, their flags and the engagements, the per-account
    # drift arrays, a block of draws.
    engage = (impressions * (IMPRESSION_BYTES + ENGAGE_IMPRESSION_BYTES) + capacity * ITEM_ENGAGE_BYTES
              + n * ENGAGE_ACCOUNT_BYTES + min(ENGAGE_BLOCK, impressions) * ENGAGE_BLOCK_BYTES)
    # Phase 5 (the impressions are gone; the engagements are kept): account suggestions, then
    # group suggestions.
    account_slots = active * rec.account_suggestions if rec.accounts != "off" else 0.0
    group_slots = active * rec.group_suggestions if rec.groups != "off" and n_groups else 0.0
    suggest = impressions * ENGAGEMENT_BYTES_PER_IMPRESSION + max(
        account_slots * ACCOUNT_SLOT_BYTES, group_slots * (GROUP_PROBES * GROUP_PROBE_BYTES + GROUP_SLOT_BYTES))
    # Phase 6: the day's follows merged into the graph and its reverse, in place.
    rebuild = follows * FOLLOW_EDIT_BYTES

    parts = dict(base=BASE_BYTES, accounts=accounts, follows=follow_bytes, groups=group_bytes, items=item_bytes,
                 build=build, stats=stats, feed=feed, engage=engage, suggest=suggest, rebuild=rebuild)
    draft = Footprint(**{k: int(math.ceil(v)) for k, v in parts.items()}, peak=0)
    heaviest = max(draft.phases().values())
    slack = SLACK + SLACK_LONG_RUN * min(days, SLACK_DAYS) / SLACK_DAYS
    peak = BASE_BYTES + slack * (heaviest - BASE_BYTES)
    return dataclasses.replace(draft, peak=int(math.ceil(peak)))


def estimate_peak_bytes(cfg: Config, n_accounts: int | None = None) -> int:
    """Estimated peak resident memory (bytes) of a whole run of ``cfg`` (``python -m sim ...``).

    The base (interpreter and libraries) plus the heaviest moment of the run —
    generating the follow graph, computing its statistics, or a day's feed
    serving, engagement, suggestions or the merge of the day's follows — each on top of the
    arrays alive then (accounts, follows, groups, items), with some slack for
    the allocator. Meant to be at or above the measured peak and within about a
    third of it (``benchmarks/bench_memory.py`` measures both).

    For a graph file (``network=file``) pass its accounts as ``n_accounts``;
    its follows are still counted as ``n_accounts x network.mean_following``
    (the file's own count is not known before it is read), and the memory of
    parsing the file is not included.

    Args:
        cfg: the run's config.
        n_accounts: number of ordinary accounts, replacing ``cfg.population.n``
            (a graph file sets the size).

    Returns:
        Bytes.
    """
    return estimate_footprint(cfg, n_accounts).peak


# --- what is available --------------------------------------------------------------------

_SUFFIXES = {"": 1, "B": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40}
_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([KMGT]?)(?:I?B)?\s*$", re.IGNORECASE)
#: cgroup v1 reports "no limit" as a huge number (the largest page-aligned int64).
_NO_LIMIT = 1 << 60


#: Arrays up to this size come from malloc's heap once :func:`keep_freed_memory` ran (glibc: M_MMAP_THRESHOLD):
#: every day-sized array at 10^6 accounts.
HEAP_ARRAY_MAX = 256 << 20
#: :func:`keep_freed_memory` acts only when the run's estimated peak times this still fits in the memory available.
FREED_MEMORY_HEADROOM = 1.5


def keep_freed_memory(cfg: Config | None = None) -> bool:
    """Let glibc's malloc serve arrays up to ``HEAP_ARRAY_MAX`` from its heap and keep freed memory for reuse.

    By default glibc maps every block over 32 MB afresh and unmaps it when it is
    freed. A simulated day of a large world allocates and frees gigabytes of such
    arrays (the day's impressions, numpy's temporaries over them), and the kernel
    faults in and zeroes every page of each one again: at 10^6 accounts that was
    about a sixth of the day's time (``benchmarks/README.md``). With a high mmap
    threshold and no trimming of the heap, the next day reuses the same pages.

    The cost: memory freed after a peak stays with the process (about a tenth
    more peak RSS at 10^6 accounts, more at 10^7). So with a config, the
    settings are made only when the run's estimated peak times
    ``FREED_MEMORY_HEADROOM`` fits in the memory available: where memory is
    tight, malloc is left as it is. The results are the same either way.
    Process-wide; it does nothing where the C library is not glibc, or when
    ``EXPOSIM_MALLOC=system``.

    Returns:
        Whether the settings are in force (when a run does not fit, they are
        set back to glibc's, at their largest, in case an earlier run of the
        process made them).
    """
    if os.environ.get(MALLOC_ENV, "").strip().lower() == "system" or not sys.platform.startswith("linux"):
        return False
    fits = True
    if cfg is not None:
        available = available_bytes()
        fits = available is None or estimate_peak_bytes(cfg) * FREED_MEMORY_HEADROOM <= available
    # A worker process of a sweep may run a small world and then a large one: each run sets what it needs.
    return _set_malloc(*(_REUSE if fits else _GLIBC_LARGEST)) and fits


#: (M_MMAP_THRESHOLD, M_TRIM_THRESHOLD) that keep freed memory, and glibc's own settings at their largest
#: (its dynamic threshold grows to 32 MB, with trimming above twice that).
_REUSE = (HEAP_ARRAY_MAX, 2**31 - 1)
_GLIBC_LARGEST = (32 << 20, 64 << 20)


def _set_malloc(mmap_threshold: int, trim_threshold: int) -> bool:
    """Set glibc's mmap and trim thresholds; False where mallopt is missing or refuses them."""
    import ctypes
    try:
        mallopt = ctypes.CDLL("libc.so.6").mallopt
    except (OSError, AttributeError):
        return False                   # not glibc (musl has no mallopt)
    m_trim_threshold, m_mmap_threshold = -1, -3
    return bool(mallopt(m_mmap_threshold, mmap_threshold)) and bool(mallopt(m_trim_threshold, trim_threshold))


def parse_bytes(text: str) -> int:
    """A byte count from ``"8000000000"``, ``"512M"``, ``"8G"``, ``"1.5GiB"`` (binary units).

    Raises:
        ValueError: the text is not a non-negative number with an optional K/M/G/T suffix.
    """
    match = _SIZE.match(text)
    if not match:
        raise ValueError(f"{text!r} is not a size: use bytes or a number with K, M, G or T (e.g. 8G, 512M)")
    number, suffix = match.groups()
    return int(float(number) * _SUFFIXES[suffix.upper()])


def _read_int(path: Path) -> int | None:
    try:
        text = path.read_text().strip()
    except OSError:
        return None
    return int(text) if text.isdigit() else None      # "max" (v2, no limit) gives None


def _mem_available(meminfo: Path) -> int | None:
    try:
        for line in meminfo.read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024    # reported in kB
    except (OSError, ValueError, IndexError):
        return None
    return None


def _ancestors(path: str) -> list[str]:
    """``/a/b`` -> ``["a/b", "a", ""]``: a cgroup and the groups above it (relative paths)."""
    parts = [p for p in path.split("/") if p]
    return ["/".join(parts[:i]) for i in range(len(parts), -1, -1)]


def _cgroup_room(root: Path, proc_cgroup: Path) -> int | None:
    """Bytes left under the tightest cgroup memory limit over this process (v2 or v1).

    A limit binds a cgroup and everything below it, so the process's own cgroup
    and each one above it are read, under the v2 mount (``root``, or
    ``root/unified`` on a hybrid system) and the v1 memory controller's
    (``root/memory``). Inside a container the mount usually *is* the process's
    cgroup, so the path from ``/proc/self/cgroup`` may not exist below it; the
    mount's own files are then the ones read. None when no limit is set.
    """
    try:
        lines = proc_cgroup.read_text().splitlines()
    except OSError:
        lines = []
    v2_path = v1_path = "/"
    for line in lines:
        hierarchy, _, rest = line.partition(":")
        controllers, _, path = rest.partition(":")
        if hierarchy == "0" and controllers == "":
            v2_path = path or "/"
        elif "memory" in controllers.split(","):
            v1_path = path or "/"
    folders = ([(mount / rel, "memory.max", "memory.current")
                for mount in (root, root / "unified") for rel in _ancestors(v2_path)]
               + [(root / "memory" / rel, "memory.limit_in_bytes", "memory.usage_in_bytes")
                  for rel in _ancestors(v1_path)])
    rooms = []
    for folder, limit_name, usage_name in folders:
        limit = _read_int(folder / limit_name)
        # v2 writes "max" for no limit (read as None); v1 a huge number.
        if limit is None or limit >= _NO_LIMIT:
            continue
        usage = _read_int(folder / usage_name) or 0
        rooms.append(max(0, limit - usage))
    return min(rooms) if rooms else None


def available_bytes(meminfo: str | Path = "/proc/meminfo", cgroup_root: str | Path = "/sys/fs/cgroup",
                    proc_cgroup: str | Path = "/proc/self/cgroup") -> int | None:
    """Memory a run may use, in bytes; None when it cannot be told.

    ``EXPOSIM_MEMORY_LIMIT`` (bytes, or a number with a K/M/G/T suffix, binary
    units) replaces the detected figure when set. Otherwise: ``MemAvailable`` of
    ``/proc/meminfo``, lowered to the room left under a cgroup memory limit
    (v2 ``memory.max`` - ``memory.current``, or v1 ``memory.limit_in_bytes`` -
    ``memory.usage_in_bytes``) when one is set.

    Args:
        meminfo, cgroup_root, proc_cgroup: where to read (for tests).

    Raises:
        ConfigError: ``EXPOSIM_MEMORY_LIMIT`` is set but is not a size.
    """
    override = os.environ.get(MEMORY_LIMIT_ENV)
    if override is not None and override.strip():
        try:
            return parse_bytes(override)
        except ValueError as exc:
            raise ConfigError(f"{MEMORY_LIMIT_ENV}={override!r}: {exc}") from None
    detected = _mem_available(Path(meminfo))
    room = _cgroup_room(Path(cgroup_root), Path(proc_cgroup))
    if detected is None:
        return room
    return detected if room is None else min(detected, room)


def format_bytes(n: int) -> str:
    """A byte count in human units: ``"2.3 GB"``, ``"512 MB"``, ``"900 kB"`` (binary multiples)."""
    n = int(n)
    for unit, size in (("TB", 1 << 40), ("GB", GB), ("MB", MB), ("kB", 1 << 10)):
        if abs(n) >= size:
            value = n / size
            return f"{value:.1f} {unit}" if value < 100 and unit in ("TB", "GB") else f"{value:.0f} {unit}"
    return f"{n} B"


def check_memory(cfg: Config, n_accounts: int | None = None, concurrent: int = 1) -> None:
    """Refuse a run whose estimated peak memory (times the runs in parallel) exceeds the memory available.

    Does nothing when the available memory cannot be told (no ``/proc/meminfo``,
    no cgroup limit, ``EXPOSIM_MEMORY_LIMIT`` unset).

    Args:
        cfg: the run's config (for a sweep, its largest run).
        n_accounts: number of ordinary accounts, replacing ``cfg.population.n``
            (a graph file sets the size).
        concurrent: how many such runs share the machine at once (a sweep's
            parallel workers).

    Raises:
        ConfigError: the run does not fit; the message names the setting that sets
            the size and its value (``population.n=50000000``, or the graph file and
            its accounts), the estimate, the memory available and what to do; or
            ``EXPOSIM_MEMORY_LIMIT`` is not a size.
    """
    available = available_bytes()
    if available is None:
        return
    per_run = estimate_peak_bytes(cfg, n_accounts)
    need = per_run * max(1, concurrent)
    if need <= available:
        return
    if n_accounts is None and cfg.network.kind != "file":
        size = f"population.n={cfg.population.n}"
    else:
        where = f"network.path={cfg.network.path}" if cfg.network.path else "the graph"
        size = f"{where} ({n_accounts or cfg.population.n} accounts)"
    source = (f"{MEMORY_LIMIT_ENV}={os.environ[MEMORY_LIMIT_ENV]}" if os.environ.get(MEMORY_LIMIT_ENV, "").strip()
              else "available on this machine")
    parallel = (f" per run, {format_bytes(need)} for the {concurrent} runs in parallel" if concurrent > 1 else "")
    fewer = ", run fewer jobs at once (hydra.launcher.n_jobs)" if concurrent > 1 else ""
    raise ConfigError(
        f"{size} with network.mean_following={cfg.network.mean_following:g} needs about {format_bytes(per_run)} "
        f"of memory at its peak (estimated){parallel}, but only {format_bytes(available)} is available ({source}); "
        f"lower population.n or network.mean_following{fewer}, or run on a machine with more memory")


#: Run in a child as ``python -c PEAK_PROBE <args of python -m sim>``: runs the command, then prints
#: the process's own peak RSS (VmHWM). ru_maxrss from wait4 would not do: it keeps the high-water
#: mark of the process before exec, i.e. of the (possibly large) parent it was forked from.
PEAK_PROBE = r"""
import atexit, sys
def _report():
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmHWM:"):
                sys.stderr.write("exposim-peak-rss-kib " + line.split()[1] + "\n")
atexit.register(_report)
sys.argv = ["exposim", *sys.argv[1:]]
from sim.__main__ import main
main()
"""


def measure_peak(args: list[str], env: dict[str, str] | None = None) -> tuple[int, int | None, str]:
    """Run ``python -m sim <args>`` in a child: (exit status, its own peak RSS in bytes or None, stderr)."""
    import subprocess
    import sys

    proc = subprocess.run([sys.executable, "-c", PEAK_PROBE, *args], stdout=subprocess.DEVNULL,
                          stderr=subprocess.PIPE, text=True, env=env)
    peak = None
    for line in proc.stderr.splitlines():
        if line.startswith("exposim-peak-rss-kib "):
            peak = int(line.split()[1]) * 1024
    return proc.returncode, peak, proc.stderr
