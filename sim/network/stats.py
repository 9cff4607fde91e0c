"""Summary statistics of a follow graph.

Core objects:

- :func:`graph_statistics` — degrees, in-degree tail, age mixing, reciprocity and
  clustering of a graph, as a JSON-ready dict.
- Helpers: ``_hill_exponent`` (in-degree tail exponent), ``_assortativity``
  (Newman's attribute assortativity) and ``_clustering`` (mean local clustering).
"""

from __future__ import annotations

import numpy as np

from sim import libm
from sim.network import kernels
from sim.network.graph import FollowGraph


def _hill_exponent(in_degree: np.ndarray, share: float = 0.01, min_tail: int = 10) -> float | None:
    """Hill estimate of the in-degree tail exponent alpha (P(X > x) ~ x**-alpha).

    Uses the top k = max(min_tail, share * n) in-degrees against the (k+1)-th:
    alpha = k / sum(ln(x_i / x_(k+1))). None when there are fewer than k + 1
    positive in-degrees or the top k + 1 are all equal.
    """
    positive = in_degree[in_degree > 0]
    k = max(min_tail, int(share * in_degree.size))
    if positive.size <= k:
        return None
    top = np.partition(positive, positive.size - k - 1)[positive.size - k - 1:].astype(np.float64)
    threshold = top.min()
    logs = libm.log(top) - libm.log(threshold)
    total = float(logs.sum())
    return k / total if total > 0 else None


def _assortativity(mix: np.ndarray) -> float | None:
    """Newman's attribute assortativity from a mixing-count matrix (source x target)."""
    total = mix.sum()
    if total == 0:
        return None
    e = mix / total
    ab = float((e.sum(axis=1) * e.sum(axis=0)).sum())
    if ab >= 1.0:
        return None  # one label only: undefined
    return (float(np.trace(e)) - ab) / (1.0 - ab)


def _clustering(graph: FollowGraph, nodes: np.ndarray) -> float:
    """Mean undirected local clustering of ``nodes`` (nodes of degree < 2 count 0).

    Undirected neighbourhood = followees and followers. Triangles at v are the
    distinct unordered pairs of neighbours joined by a follow in either
    direction (compiled: :func:`sim.network.kernels.clustering_sum`, which adds
    the nodes' values in ascending order).
    """
    nodes = np.sort(np.asarray(nodes, dtype=np.int64))
    return kernels.clustering_sum(graph.indptr, graph.indices, nodes) / nodes.size


def graph_statistics(graph: FollowGraph, is_minor: np.ndarray, rng: np.random.Generator,
                     sample: int = 500) -> dict[str, float | int | None]:
    """Summary statistics of a follow graph (JSON-ready: Python ints/floats, None if undefined).

    Keys:
        ``n``, ``edges``; ``mean_out_degree``, ``max_out_degree``,
        ``mean_in_degree``, ``max_in_degree``;
        ``in_degree_tail_exponent``: Hill estimator on the top 1% (at least 10)
        of in-degrees (see :func:`_hill_exponent`);
        ``age_assortativity``: Newman's attribute assortativity of the
        minor/adult label over follows (source label x target label), equal to
        ``networkx.attribute_assortativity_coefficient`` on the DiGraph;
        ``minor_follows_minor_share``, ``adult_follows_minor_share``: share of
        minors' (adults') follows that go to minors;
        ``reciprocity``: share of follows that are followed back
        (``networkx.reciprocity``);
        ``average_clustering``: mean local clustering of the undirected graph,
        over ``clustering_nodes`` nodes drawn without replacement (all nodes
        when ``sample >= n``; then it equals ``networkx.average_clustering`` of
        the undirected graph).

    Args:
        graph: the follow graph.
        is_minor: bool (n,).
        rng: stream for the clustering sample.
        sample: nodes used for the clustering estimate.

    Returns:
        The statistics.
    """
    n = graph.n
    is_minor = np.asarray(is_minor, dtype=bool)
    if is_minor.shape != (n,):
        raise ValueError(f"is_minor has shape {is_minor.shape}; the graph has {n} accounts")
    out_deg = graph.out_degree()
    in_deg = graph.in_degree()
    stats: dict[str, float | int | None] = {
        "n": n,
        "edges": graph.n_edges,
        "mean_out_degree": float(out_deg.mean()) if n else None,
        "max_out_degree": int(out_deg.max()) if n else 0,
        "mean_in_degree": float(in_deg.mean()) if n else None,
        "max_in_degree": int(in_deg.max()) if n else 0,
        "in_degree_tail_exponent": _hill_exponent(in_deg),
    }

    # Age mixing and reciprocity from the edge arrays (the sources are expanded once).
    src = np.repeat(np.arange(n, dtype=np.int64), out_deg)
    dst = graph.indices
    to_minor = is_minor[dst]
    from_minor = np.repeat(is_minor, out_deg)
    minor_minor = np.count_nonzero(to_minor & from_minor)
    adult_minor = np.count_nonzero(to_minor) - minor_minor
    minor_all = np.count_nonzero(from_minor)
    del to_minor, from_minor
    mix = np.array([[graph.n_edges - minor_all - adult_minor, adult_minor],
                    [minor_all - minor_minor, minor_minor]], dtype=np.float64)
    stats["age_assortativity"] = _assortativity(mix)
    for name, label in (("minor_follows_minor_share", 1), ("adult_follows_minor_share", 0)):
        made = mix[label].sum()
        stats[name] = float(mix[label, 1] / made) if made else None

    # Reciprocity: a follow u->v with u < v is matched against the follows x->y with
    # x > y, written as the key y * n + x. The first set is sorted already (CSR
    # order), so only the second needs sorting; each mutual pair counts twice.
    if graph.n_edges:
        up = src < dst
        forward = src[up] * n + dst[up]
        down = ~up
        backward = dst[down].astype(np.int64) * n + src[down]
        del up, down, src
        backward.sort()
        mutual = 0
        if forward.size and backward.size:
            pos = np.minimum(np.searchsorted(forward, backward), forward.size - 1)
            mutual = np.count_nonzero(forward[pos] == backward)
        stats["reciprocity"] = float(2 * mutual / graph.n_edges)
        del forward, backward
    else:
        stats["reciprocity"] = None

    nodes = np.arange(n) if sample >= n else rng.choice(n, size=max(sample, 0), replace=False)
    stats["average_clustering"] = float(_clustering(graph, nodes)) if nodes.size else None
    stats["clustering_nodes"] = int(nodes.size)
    return stats
