"""The follow graph and groups: synthetic generation, import of a user's graph, statistics.

Core objects:

- :class:`FollowGraph` (:mod:`sim.network.graph`) — who follows whom, as a CSR
  adjacency over follower rows (``indptr``, ``indices``), with vectorised
  queries and updates.
- :func:`build_follow_graph` (:mod:`sim.network.synthetic`) — the synthetic
  graph: local communities, age assortativity, heavy-tailed popularity, triadic
  closure; newcomers (decoys included) follow a few popular accounts and have no followers.
- :class:`Groups` and :func:`build_groups` (:mod:`sim.network.groups`) — groups
  with a topic, a harmful flag and a moderated flag; membership as CSR in both
  directions.
- :func:`load_follow_graph` and :class:`NetworkFileError`
  (:mod:`sim.network.files`) — read an edge list or GraphML file
  (``network=file``).
- :func:`graph_statistics` (:mod:`sim.network.stats`) — degrees, in-degree
  tail, age mixing, reciprocity and clustering of a graph, as a JSON-ready dict.
- :class:`GraphSource` and the registered sources ``synthetic`` and ``file``
  (:mod:`sim.network.sources`, kind ``graph_source`` of :mod:`sim.registry`) —
  the population and its follow graph for ``network.kind``.

Everything is numpy arrays and whole-array operations: generation never loops in
Python over accounts or edges, so 10**6 accounts build in seconds. All randomness
comes from the ``numpy.random.Generator`` passed in.
"""

from sim.network.files import NetworkFileError, load_follow_graph
from sim.network.graph import FollowGraph
from sim.network.groups import HARMFUL_MODERATED_SHARE, REGISTRATION_GROUPS, Groups, build_groups
from sim.network.stats import graph_statistics
from sim.network.synthetic import REGISTRATION_FOLLOWS, build_follow_graph

__all__ = [
    "HARMFUL_MODERATED_SHARE",
    "REGISTRATION_FOLLOWS",
    "REGISTRATION_GROUPS",
    "FollowGraph",
    "Groups",
    "NetworkFileError",
    "build_follow_graph",
    "build_groups",
    "graph_statistics",
    "load_follow_graph",
]
