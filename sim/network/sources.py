"""Graph sources: where the follow graph, and with it the population's size, comes from (``network.kind``).

Core objects: :class:`GraphSource`, :class:`SyntheticGraph` (``synthetic``),
:class:`GraphFile` (``file``), :func:`attach_newcomers`, :class:`Registrations`,
:class:`Streams`.

A source is registered as kind ``graph_source`` of :mod:`sim.registry`; the
world is built with::

    source = registry.get("graph_source", config.network.kind)()
    population, graph = source.build(config, streams)

after which the groups are built on the population (the same for every
source), and :meth:`Registrations.split` takes the newcomers' follows and
group joins out of the world until each newcomer registers. A source draws
only from the streams it names (``world.arrivals``, ``world.population``,
``world.graph``), so a run's world depends on the seed, not on which phases
come after.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Protocol

import numpy as np

from sim import registry
from sim.config import Config
from sim.network.files import load_follow_graph
from sim.network.graph import FollowGraph
from sim.network.groups import Groups
from sim.network.synthetic import REGISTRATION_FOLLOWS, build_follow_graph
from sim.population import Population, arrival_days, build_population


class Streams(Protocol):
    """The random streams of a run (``sim.model.RandomStreams`` is one)."""

    def get(self, name: str, day: int | None = None) -> np.random.Generator:
        """The generator for ``name`` (on ``day``, for daily phases)."""
        ...


class GraphSource:
    """Base class: builds the population and its follow graph; registered by name (which sets ``name``)."""

    name: ClassVar[str] = ""

    def build(self, config: Config, streams: Streams) -> tuple[Population, FollowGraph]:
        """The population and the follow graph over all its rows.

        The population's rows are the accounts present at the start, the
        newcomers who register during the run, and the decoys (the last rows);
        a newcomer's row in the graph holds the follows it makes when it
        registers (see :class:`Registrations`).

        Args:
            config: the run's validated config.
            streams: the run's random streams.
        """
        raise NotImplementedError


def _arrivals(config: Config, n: int, streams: Streams) -> np.ndarray:
    """Join days of the newcomers of a world with ``n`` accounts at the start."""
    return arrival_days(n, config.population.arrivals_per_day, config.days, streams.get("world.arrivals"))


@registry.register("graph_source", "synthetic")
class SyntheticGraph(GraphSource):
    """``population.n`` accounts and the newcomers, then a generated graph (:func:`sim.network.build_follow_graph`)."""

    def build(self, config: Config, streams: Streams) -> tuple[Population, FollowGraph]:
        pop = build_population(config.population, config.decoys, streams.get("world.population"),
                               arrivals=_arrivals(config, config.population.n, streams))
        graph = build_follow_graph(pop.is_minor, pop.role, pop.joined_day > 0, config.network,
                                   streams.get("world.graph"))
        return pop, graph


@registry.register("graph_source", "file")
class GraphFile(GraphSource):
    """The graph in ``network.path``: one account per node (ages from the file where it has them), then
    the newcomers and decoys (:func:`attach_newcomers`)."""

    def build(self, config: Config, streams: Streams) -> tuple[Population, FollowGraph]:
        graph, ages = load_follow_graph(config.network.path)
        pop = build_population(config.population, config.decoys, streams.get("world.population"),
                               n=graph.n, true_age=ages, arrivals=_arrivals(config, graph.n, streams))
        return pop, attach_newcomers(graph, pop, streams.get("world.graph"))


def attach_newcomers(graph: FollowGraph, pop: Population, rng: np.random.Generator) -> FollowGraph:
    """Give an imported graph rows for the newcomers and decoys, each following a few popular accounts.

    Each newcomer follows ``REGISTRATION_FOLLOWS`` distinct accounts of the
    file of its own age group (the other group if that one is empty), drawn
    in proportion to 1 + their number of followers; nobody follows a newcomer.
    """
    extra = pop.n - graph.n
    if extra == 0:
        return graph
    indptr = np.concatenate([graph.indptr, np.full(extra, graph.indptr[-1], dtype=graph.indptr.dtype)])
    extended = FollowGraph(indptr=indptr, indices=graph.indices, community=None)
    if graph.n == 0:
        return extended
    weight = graph.in_degree() + 1.0
    newcomers = np.arange(graph.n, pop.n, dtype=np.int64)
    minor_new = pop.is_minor[newcomers]
    src, dst = [], []
    for want in (False, True):
        who = newcomers[minor_new == want]
        pool = np.flatnonzero(pop.is_minor[: graph.n] == want)
        if pool.size == 0:
            pool = np.arange(graph.n)
        if who.size == 0:
            continue
        picks = _distinct_picks(who.size, min(REGISTRATION_FOLLOWS, pool.size), pool, weight[pool], rng)
        ok = picks >= 0
        src.append(np.broadcast_to(who[:, None], picks.shape)[ok])
        dst.append(picks[ok])
    return extended.with_edges(np.concatenate(src), np.concatenate(dst))


def _distinct_picks(rows: int, k: int, pool: np.ndarray, weight: np.ndarray, rng: np.random.Generator,
                    rounds: int = 8) -> np.ndarray:
    """(rows, k) picks from ``pool`` in proportion to ``weight``, distinct within each row (-1: none found).

    Draws with replacement and redraws a row's repeats: sampling without
    replacement, as a person picks accounts to follow. The last half of the
    ``rounds`` redraw uniformly, so a row is not stuck on a dominant hub.
    """
    cdf = np.cumsum(weight, dtype=np.float64)
    out = np.full((rows, k), -1, dtype=np.int64)
    todo = np.ones((rows, k), dtype=bool)
    for round_ in range(rounds):
        cells = np.flatnonzero(todo)
        if cells.size == 0:
            break
        if round_ < rounds // 2:
            pick = np.searchsorted(cdf, rng.random(cells.size) * cdf[-1], side="right")
        else:
            pick = (rng.random(cells.size) * pool.size).astype(np.int64)
        out.ravel()[cells] = pool[np.minimum(pick, pool.size - 1)]
        # A cell repeats an earlier cell of its row: redraw it.
        repeat = np.zeros((rows, k), dtype=bool)
        for j in range(1, k):
            repeat[:, j] = (out[:, :j] == out[:, j:j + 1]).any(axis=1)
        todo = repeat
    out[todo] = -1
    return out


@dataclass
class Registrations:
    """What each newcomer does when it registers: its follows and group joins, decided when the world is built.

    A source builds every newcomer's follows into the graph and
    :func:`sim.network.build_groups` its group joins into the groups;
    :meth:`split` takes them out again, so that a newcomer's row has no
    follows and no groups until its join day, when :meth:`of` hands them to
    the model. Arrays are sorted by account.

    Attributes:
        follower, followed: int64, the registration follows (follower -> followed).
        member, group: int64, the registration group joins (account -> group).
    """

    follower: np.ndarray
    followed: np.ndarray
    member: np.ndarray
    group: np.ndarray

    @classmethod
    def none(cls) -> Registrations:
        """No newcomers."""
        empty = np.zeros(0, dtype=np.int64)
        return cls(empty, empty, empty, empty)

    @classmethod
    def split(cls, graph: FollowGraph, groups: Groups,
              newcomer: np.ndarray) -> tuple[FollowGraph, Groups, Registrations]:
        """The world before anyone registers, and the newcomers' registrations.

        Args:
            graph: the follow graph over all rows, newcomers' follows included.
            groups: the groups, newcomers' joins included.
            newcomer: bool per row, the accounts that register during the run.

        Returns:
            The graph without any follow from or to a newcomer, the groups
            without the newcomers, and the newcomers' follows and joins.
        """
        newcomer = np.asarray(newcomer, dtype=bool)
        if not newcomer.any():
            return graph, groups, cls.none()
        src, dst = graph.edges()
        mine = newcomer[src]
        keep = ~mine & ~newcomer[dst]
        # Edges in CSR order stay in CSR order when some are dropped: no sort needed.
        indptr = np.zeros(graph.n + 1, dtype=np.int64)
        np.cumsum(np.bincount(src[keep], minlength=graph.n), out=indptr[1:])
        before = FollowGraph(indptr, graph.indices[keep], graph.community)
        acc = np.repeat(np.arange(groups.n_accounts, dtype=np.int64), np.diff(groups.account_indptr))
        joins = newcomer[acc]
        regs = cls(src[mine].astype(np.int64), dst[mine].astype(np.int64),
                   acc[joins], groups.account_groups[joins].astype(np.int64))
        return before, groups.without_accounts(np.flatnonzero(newcomer)), regs

    def of(self, accounts: np.ndarray) -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]:
        """The registration follows ``(follower, followed)`` and joins ``(account, group)`` of ``accounts``."""
        accounts = np.unique(np.asarray(accounts, dtype=np.int64))
        f = _rows_of(self.follower, accounts)
        g = _rows_of(self.member, accounts)
        return (self.follower[f], self.followed[f]), (self.member[g], self.group[g])


def _rows_of(keys: np.ndarray, accounts: np.ndarray) -> np.ndarray:
    """Positions of the entries of the sorted ``keys`` that equal one of ``accounts``."""
    lo = np.searchsorted(keys, accounts, side="left")
    counts = np.searchsorted(keys, accounts, side="right") - lo
    start = np.repeat(lo - np.cumsum(counts) + counts, counts)
    return start + np.arange(int(counts.sum()))
