"""Graph sources: where the follow graph, and with it the population's size, comes from (``network.kind``).

Core objects: :class:`GraphSource`, :class:`SyntheticGraph` (``synthetic``),
:class:`GraphFile` (``file``), :func:`attach_decoys`, :class:`Streams`.

A source is registered as kind ``graph_source`` of :mod:`sim.registry`; the
world is built with::

    source = registry.get("graph_source", config.network.kind)()
    population, graph = source.build(config, streams)

after which the groups are built on the population (the same for every
source). A source draws only from the streams it names (``world.population``,
``world.graph``), so a run's world depends on the seed, not on which phases
come after.
"""

from __future__ import annotations

from typing import ClassVar, Protocol

import numpy as np

from sim import registry
from sim.config import Config
from sim.network.files import load_follow_graph
from sim.network.graph import FollowGraph
from sim.network.synthetic import DECOY_FOLLOWS, build_follow_graph
from sim.population import Population, build_population


class Streams(Protocol):
    """The random streams of a run (``sim.model.RandomStreams`` is one)."""

    def get(self, name: str, day: int | None = None) -> np.random.Generator:
        """The generator for ``name`` (on ``day``, for daily phases)."""
        ...


class GraphSource:
    """Base class: builds the population and its follow graph; registered by name (which sets ``name``)."""

    name: ClassVar[str] = ""

    def build(self, config: Config, streams: Streams) -> tuple[Population, FollowGraph]:
        """The population (decoys are its last rows) and the follow graph over all its rows.

        Args:
            config: the run's validated config.
            streams: the run's random streams.
        """
        raise NotImplementedError


@registry.register("graph_source", "synthetic")
class SyntheticGraph(GraphSource):
    """``population.n`` accounts, then a generated graph (:func:`sim.network.build_follow_graph`)."""

    def build(self, config: Config, streams: Streams) -> tuple[Population, FollowGraph]:
        pop = build_population(config.population, config.decoys, streams.get("world.population"))
        graph = build_follow_graph(pop.is_minor, pop.role, pop.decoy, config.network, streams.get("world.graph"))
        return pop, graph


@registry.register("graph_source", "file")
class GraphFile(GraphSource):
    """The graph in ``network.path``: one account per node (ages from the file where it has them), plus decoys."""

    def build(self, config: Config, streams: Streams) -> tuple[Population, FollowGraph]:
        graph, ages = load_follow_graph(config.network.path)
        pop = build_population(config.population, config.decoys, streams.get("world.population"),
                               n=graph.n, true_age=ages)
        return pop, attach_decoys(graph, pop)


def attach_decoys(graph: FollowGraph, pop: Population) -> FollowGraph:
    """Give an imported graph rows for the decoys, each following a few of the most-followed minors."""
    n_decoys = int(pop.decoy.sum())
    if n_decoys == 0:
        return graph
    indptr = np.concatenate([graph.indptr, np.full(n_decoys, graph.indptr[-1], dtype=graph.indptr.dtype)])
    extended = FollowGraph(indptr=indptr, indices=graph.indices, community=None)
    in_degree = graph.in_degree()
    minors = np.flatnonzero(pop.is_minor[: graph.n])
    pool = minors if minors.size else np.arange(graph.n)
    popular = pool[np.argsort(-in_degree[pool], kind="stable")[:DECOY_FOLLOWS]]
    src = np.repeat(np.arange(graph.n, graph.n + n_decoys), popular.size)
    dst = np.tile(popular, n_decoys)
    return extended.with_edges(src, dst)
