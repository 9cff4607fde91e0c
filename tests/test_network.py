"""Tests for sim.network: the follow graph, groups, graph-file import and statistics.

Worlds are built here from plain arrays (no population module), small enough that
the whole file runs in seconds. Statistical tests state their tolerance and why.
"""

from __future__ import annotations

import json
import math

import networkx as nx
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import sim.network as network
import sim.network.files as network_files
import sim.network.graph as network_graph
import sim.network.groups as network_groups
import sim.network.kernels as network_kernels
import sim.network.stats as network_stats
from sim.config import ConfigError, NetworkConfig
from sim.network import (
    FollowGraph,
    Groups,
    NetworkFileError,
    build_follow_graph,
    build_groups,
    graph_statistics,
    load_follow_graph,
)
from sim.vocabulary import ADULT_CONTENT_PRODUCER, CREATOR, EXPLOITATIVE_SELLER, HARMFUL_ROLES, OFFENDER, REGULAR

BAD_ACTORS = HARMFUL_ROLES


# --- small worlds ---------------------------------------------------------------------------


def make_world(n: int, minor_share: float = 0.2, n_decoys: int = 0, seed: int = 0,
               dim: int = 8) -> dict[str, np.ndarray]:
    """Accounts as arrays: n ordinary rows, then n_decoys minor decoys."""
    rng = np.random.default_rng(seed)
    total = n + n_decoys
    is_minor = rng.random(total) < minor_share
    is_minor[n:] = True
    role = np.full(total, REGULAR, dtype=np.int8)
    u = rng.random(total)
    adult = ~is_minor
    role[adult & (u < 0.02)] = OFFENDER
    role[adult & (u >= 0.02) & (u < 0.05)] = ADULT_CONTENT_PRODUCER
    role[adult & (u >= 0.05) & (u < 0.06)] = EXPLOITATIVE_SELLER
    role[(role == REGULAR) & (rng.random(total) < 0.03)] = CREATOR
    role[n:] = REGULAR
    decoy = np.zeros(total, dtype=bool)
    decoy[n:] = True
    interest = rng.standard_normal((total, dim)).astype(np.float32)
    interest /= np.linalg.norm(interest, axis=1, keepdims=True)
    bad = np.isin(role, BAD_ACTORS)
    mean_aff = np.where(is_minor, 0.03, np.where(bad, 0.8, 0.12))
    affinity = rng.beta(mean_aff * 8, (1 - mean_aff) * 8).astype(np.float32)
    affinity[decoy] = 0.0
    return {"is_minor": is_minor, "role": role, "decoy": decoy, "interest": interest, "affinity": affinity}


def graph_of(w: dict[str, np.ndarray], cfg: NetworkConfig | None = None, seed: int = 1) -> FollowGraph:
    return build_follow_graph(w["is_minor"], w["role"], w["decoy"], cfg or NetworkConfig(),
                              np.random.default_rng(seed))


def groups_of(w: dict[str, np.ndarray], cfg: NetworkConfig | None = None, seed: int = 2) -> Groups:
    return build_groups(w["interest"], w["is_minor"], w["role"], w["affinity"], w["decoy"],
                        cfg or NetworkConfig(), np.random.default_rng(seed))


def assert_valid_csr(indptr: np.ndarray, indices: np.ndarray, n_rows: int, n_cols: int,
                     no_diagonal: bool = True) -> None:
    """Offsets well formed; every row strictly increasing (sorted, no repeats); ids in range."""
    assert indptr.dtype == np.int64 and indices.dtype == np.int32
    assert indptr.shape == (n_rows + 1,)
    assert indptr[0] == 0 and indptr[-1] == indices.size
    assert np.all(np.diff(indptr) >= 0)
    if indices.size:
        assert indices.min() >= 0 and indices.max() < n_cols
        rows = np.repeat(np.arange(n_rows), np.diff(indptr))
        same_row = rows[1:] == rows[:-1]
        assert np.all(np.diff(indices.astype(np.int64))[same_row] > 0), "row not strictly increasing"
        if no_diagonal:
            assert not np.any(rows == indices), "self-loop"


def edge_set(g: FollowGraph) -> set[tuple[int, int]]:
    src, dst = g.edges()
    return set(zip(src.tolist(), dst.tolist()))


def from_edges(n: int, edges: list[tuple[int, int]]) -> FollowGraph:
    return network_graph._graph_from_pairs(np.array([e[0] for e in edges], dtype=np.int64),
                                           np.array([e[1] for e in edges], dtype=np.int64), n)


# --- the synthetic follow graph ----------------------------------------------------------------


def test_generated_graph_is_a_valid_csr():
    w = make_world(3000, n_decoys=10)
    g = graph_of(w)
    assert_valid_csr(g.indptr, g.indices, g.n, g.n)
    assert g.n == 3010 and g.n_edges == g.indices.size
    assert g.community.dtype == np.int32 and g.community.shape == (g.n,)
    assert np.all(g.community[w["decoy"]] == -1) and np.all(g.community[~w["decoy"]] >= 0)
    assert np.array_equal(g.followees(5), g.indices[g.indptr[5]:g.indptr[6]])


def test_same_seed_gives_identical_graph_and_another_seed_does_not():
    w = make_world(2000, n_decoys=5)
    a, b, c = graph_of(w, seed=7), graph_of(w, seed=7), graph_of(w, seed=8)
    assert np.array_equal(a.indptr, b.indptr) and np.array_equal(a.indices, b.indices)
    assert np.array_equal(a.community, b.community)
    assert not (np.array_equal(a.indptr, c.indptr) and np.array_equal(a.indices, c.indices))


@pytest.mark.parametrize("triadic_share", [0.0, 0.5])
def test_mean_out_degree_is_mean_following(triadic_share):
    # Triadic follows are carved out of each account's log-normal degree, so the
    # final mean is mean_following. Tolerance 5%: the sample mean of 5000
    # log-normal(sigma=0.9) degrees has a relative s.e. of about 1.5%, and a few
    # slots are dropped after the redraw rounds.
    cfg = NetworkConfig(mean_following=20, triadic_share=triadic_share)
    g = graph_of(make_world(5000), cfg)
    assert g.out_degree().mean() == pytest.approx(20, rel=0.05)
    assert g.out_degree().min() >= 1


def test_communities_have_the_configured_mean_size():
    w = make_world(6000)
    g = graph_of(w, NetworkConfig(community_size=50))
    sizes = np.bincount(g.community[g.community >= 0])
    assert sizes.size == 120
    assert sizes.mean() == pytest.approx(50, rel=0.02)


@pytest.mark.parametrize("minor_minor, adult_minor, triadic_share", [
    (0.8, 0.03, 0.2), (0.8, 0.03, 1.0), (0.8, 0.03, 0.0), (0.5, 0.1, 0.2),
])
def test_age_mixing_follows_the_config(minor_minor, adult_minor, triadic_share):
    # Every slot draws its wanted age group once; duplicate redraws and triadic
    # closure keep that group (a closing path must end in it, else a global draw
    # in it is used), so only sampling noise remains: minors make about 1000 x 30
    # follows here (s.e. of the share ~0.0025) and adults about 3000 x 30
    # (s.e. ~0.001 at 0.03). Tolerances: 0.015 for minors, 0.008 for adults.
    cfg = NetworkConfig(minor_follows_minor_share=minor_minor, adult_follows_minor_share=adult_minor,
                        triadic_share=triadic_share)
    w = make_world(4000, minor_share=0.25)
    stats = graph_statistics(graph_of(w, cfg), w["is_minor"], np.random.default_rng(0), sample=10)
    assert stats["minor_follows_minor_share"] == pytest.approx(minor_minor, abs=0.015)
    assert stats["adult_follows_minor_share"] == pytest.approx(adult_minor, abs=0.008)


def test_in_degree_is_heavy_tailed_and_the_tail_follows_popularity_tail():
    w = make_world(20000)
    heavy = graph_statistics(graph_of(w, NetworkConfig(popularity_tail=1.6)), w["is_minor"],
                             np.random.default_rng(0), sample=10)
    light = graph_statistics(graph_of(w, NetworkConfig(popularity_tail=6.0, creator_boost=1.0)), w["is_minor"],
                             np.random.default_rng(0), sample=10)
    assert heavy["max_in_degree"] > 30 * heavy["mean_in_degree"]
    # Global follows go to accounts in proportion to a Pareto(1.6) weight, so the
    # in-degree tail exponent should be near 1.6; the Hill estimate on the top 1%
    # (200 accounts, s.e. ~0.12) is blurred by local follows and saturation.
    assert 1.2 <= heavy["in_degree_tail_exponent"] <= 2.3
    assert light["in_degree_tail_exponent"] > heavy["in_degree_tail_exponent"] + 1.0
    assert light["max_in_degree"] < heavy["max_in_degree"] / 5


def clustering(g: FollowGraph, is_minor: np.ndarray) -> float:
    return graph_statistics(g, is_minor, np.random.default_rng(0), sample=g.n)["average_clustering"]


def test_clustering_is_far_above_a_random_graph_of_the_same_density():
    w = make_world(3000)
    g = graph_of(w, NetworkConfig(mean_following=20))
    er = nx.gnm_random_graph(g.n, g.n_edges, seed=3, directed=True)
    er_graph = from_edges(g.n, list(er.edges()))
    assert g.n_edges == er_graph.n_edges
    assert clustering(g, w["is_minor"]) > 5 * clustering(er_graph, w["is_minor"])


def test_communities_and_triadic_closure_each_raise_clustering():
    # With heavy-tailed popularity, small worlds are clustered by their hubs
    # alone (everyone's neighbourhood holds the same few hubs), which would hide
    # the mechanisms; with near-uniform attractiveness each one shows.
    w = make_world(3000)
    light = {"mean_following": 20, "popularity_tail": 6.0, "creator_boost": 1.0}
    both = clustering(graph_of(w, NetworkConfig(**light)), w["is_minor"])
    no_local = clustering(graph_of(w, NetworkConfig(**light, local_share=0.0)), w["is_minor"])
    neither = clustering(graph_of(w, NetworkConfig(**light, local_share=0.0, triadic_share=0.0)), w["is_minor"])
    assert both > 1.5 * no_local
    assert no_local > 1.2 * neither


def test_decoys_follow_popular_accounts_of_their_age_and_have_no_followers():
    w = make_world(3000, n_decoys=20)
    g = graph_of(w)
    in_deg = g.in_degree()
    decoys = np.flatnonzero(w["decoy"])
    assert np.all(in_deg[decoys] == 0)
    assert np.all(g.out_degree()[decoys] == network.REGISTRATION_FOLLOWS)
    followed = np.concatenate([g.followees(d) for d in decoys])
    assert np.all(w["is_minor"][followed])
    assert not np.any(w["decoy"][followed])
    # Decoys have no community: no community holds much of their follows (over
    # seeds 0-9 the largest share was 0.08-0.17; with local draws it would be ~0.5).
    assert np.bincount(g.community[followed]).max() / followed.size < 0.3
    # Picked by attractiveness, like global follows, so the picks are size-biased
    # towards popular minors: over seeds 0-7 the ratio of mean in-degrees ran
    # 2.4-9.2; a uniform pick would give about 1.
    real_minors = w["is_minor"] & ~w["decoy"]
    assert in_deg[followed].mean() > 2 * in_deg[real_minors].mean()


@pytest.mark.parametrize("n, minor_share, n_decoys", [
    (2, 0.0, 0), (5, 1.0, 0), (30, 0.5, 3), (0, 0.2, 4), (1, 0.0, 2), (3, 0.0, 2),
])
def test_tiny_worlds_build_valid_graphs(n, minor_share, n_decoys):
    w = make_world(n, minor_share=minor_share, n_decoys=n_decoys)
    g = graph_of(w, NetworkConfig(community_size=100))
    assert_valid_csr(g.indptr, g.indices, n + n_decoys, n + n_decoys)
    assert np.all(g.in_degree()[w["decoy"]] == 0)
    if n >= 2:
        assert np.all(g.out_degree()[:n] >= 1)


# --- graph operations against networkx ------------------------------------------------------------


@pytest.fixture(scope="module")
def small_graph() -> tuple[FollowGraph, dict[str, np.ndarray]]:
    w = make_world(300, minor_share=0.3, n_decoys=3)
    return graph_of(w, NetworkConfig(mean_following=8, community_size=30)), w


def test_to_networkx_has_the_same_nodes_and_edges(small_graph):
    g, _ = small_graph
    G = g.to_networkx()
    assert G.is_directed() and G.number_of_nodes() == g.n and G.number_of_edges() == g.n_edges
    assert set(G.edges()) == edge_set(g)
    assert np.array_equal(g.out_degree(), [G.out_degree(i) for i in range(g.n)])
    assert np.array_equal(g.in_degree(), [G.in_degree(i) for i in range(g.n)])


def test_has_edges_agrees_with_networkx(small_graph):
    g, _ = small_graph
    G = g.to_networkx()
    rng = np.random.default_rng(5)
    src, dst = g.edges()
    q_src = np.concatenate([src, rng.integers(0, g.n, 5000), dst])
    q_dst = np.concatenate([dst, rng.integers(0, g.n, 5000), src])
    expected = np.array([G.has_edge(a, b) for a, b in zip(q_src.tolist(), q_dst.tolist())])
    got = g.has_edges(q_src, q_dst)
    assert got.dtype == bool and np.array_equal(got, expected)
    assert 0 < expected.sum() < expected.size


def test_reversed_lists_followers_and_reverses_back(small_graph):
    g, _ = small_graph
    G = g.to_networkx()
    r = g.reversed()
    assert_valid_csr(r.indptr, r.indices, g.n, g.n)
    for i in range(g.n):
        assert r.followees(i).tolist() == sorted(G.predecessors(i))
    rr = r.reversed()
    assert np.array_equal(rr.indptr, g.indptr) and np.array_equal(rr.indices, g.indices)


def test_with_edges_adds_new_follows_and_ignores_repeats_and_self_loops(small_graph):
    g, _ = small_graph
    rng = np.random.default_rng(9)
    src_old, dst_old = g.edges()
    src = np.concatenate([rng.integers(0, g.n, 400), src_old[:50], np.arange(10)])
    dst = np.concatenate([rng.integers(0, g.n, 400), dst_old[:50], np.arange(10)])
    h = g.with_edges(src, dst)
    G = g.to_networkx()
    G.add_edges_from((a, b) for a, b in zip(src.tolist(), dst.tolist()) if a != b)
    assert edge_set(h) == set(G.edges())
    assert_valid_csr(h.indptr, h.indices, g.n, g.n)
    assert h.community is g.community
    assert g.n_edges == src_old.size  # the original is unchanged


def test_with_edges_rejects_ids_outside_the_graph(small_graph):
    g, _ = small_graph
    with pytest.raises(ValueError, match="outside 0..302"):
        g.with_edges(np.array([0]), np.array([g.n]))
    with pytest.raises(ValueError, match="same length"):
        g.has_edges(np.array([0, 1]), np.array([1]))


edge_lists = st.lists(st.tuples(st.integers(0, 11), st.integers(0, 11)), max_size=60)


@settings(max_examples=200, derandomize=True, deadline=None)
@given(n=st.integers(1, 12), initial=edge_lists, added=edge_lists)
def test_with_edges_is_a_set_union(n, initial, added):
    initial = [(a % n, b % n) for a, b in initial]
    added = [(a % n, b % n) for a, b in added]
    g = from_edges(n, initial)
    before = edge_set(g)
    h = g.with_edges(np.array([a for a, _ in added], dtype=np.int64), np.array([b for _, b in added], dtype=np.int64))
    assert edge_set(h) == before | {(a, b) for a, b in added if a != b}
    assert edge_set(g) == before
    assert_valid_csr(h.indptr, h.indices, n, n)
    assert np.array_equal(h.has_edges(*g.edges()), np.ones(g.n_edges, dtype=bool))


@settings(max_examples=200, derandomize=True, deadline=None)
@given(n=st.integers(1, 12), initial=edge_lists, gone=st.lists(st.integers(0, 11), max_size=5),
       added=edge_lists)
def test_removing_accounts_and_merging_follows_keep_the_reverse_the_exact_transpose(n, initial, gone, added):
    """The model keeps the followers graph up to date by the same operation on both sides (no transpose):
    removing accounts drops every follow touching them, and a merge adds the reversed follows."""
    g = from_edges(n, [(a % n, b % n) for a, b in initial])
    r = g.reversed()
    gone = np.array(sorted({a % n for a in gone}), dtype=np.int64)
    g2, r2 = g.without_accounts(gone), r.without_accounts(gone)
    assert edge_set(g2) == {(a, b) for a, b in edge_set(g) if a not in gone and b not in gone}
    assert_valid_csr(g2.indptr, g2.indices, n, n)
    src = np.array([a % n for a, _ in added], dtype=np.int64)
    dst = np.array([b % n for _, b in added], dtype=np.int64)
    g3, r3 = g2.with_edges(src, dst), r2.with_edges(dst, src)
    t = g3.reversed()
    assert np.array_equal(r3.indptr, t.indptr) and np.array_equal(r3.indices, t.indices)
    assert r3.indices.dtype == t.indices.dtype and r3.indptr.dtype == t.indptr.dtype


edits = st.lists(st.one_of(st.tuples(st.just("add"), edge_lists),
                          st.tuples(st.just("remove"), st.lists(st.integers(0, 11), max_size=4))),
                min_size=1, max_size=8)


@settings(max_examples=200, derandomize=True, deadline=None)
@given(n=st.integers(1, 12), initial=edge_lists, steps=edits, growth=st.sampled_from([0.0, 0.125, 3.0]),
       threaded=st.booleans())
def test_edits_in_place_give_the_graphs_the_copying_edits_give(n, initial, steps, growth, threaded):
    """The model edits its graphs in place (merges inside a buffer with spare room, removals moving
    follows left, a new buffer when it is full): after any sequence of edits the arrays are exactly
    those of the copying ``with_edges``/``without_accounts``, and the arrays the graph started from
    (which may be shared) are untouched. ``threaded``: merges split between numba's threads even on
    a tiny graph."""
    g = from_edges(n, [(a % n, b % n) for a, b in initial])
    original = (g.indptr.copy(), g.indices.copy())
    edited = FollowGraph(g.indptr, g.indices, g.community)
    edited.GROWTH = growth               # no spare room, the default, or room for every later merge
    if threaded:
        edited.PARALLEL_MERGE = 0
    expected = g
    for kind, arg in steps:
        if kind == "add":
            src = np.array([a % n for a, _ in arg], dtype=np.int64)
            dst = np.array([b % n for _, b in arg], dtype=np.int64)
            edited.add_edges(src, dst)
            expected = expected.with_edges(src, dst)
        else:
            gone = np.array(sorted({a % n for a in arg}), dtype=np.int64)
            edited.remove_accounts(gone)
            expected = expected.without_accounts(gone)
        assert edited.indptr.tolist() == expected.indptr.tolist()
        assert edited.indices.tolist() == expected.indices.tolist()
        assert edited.indices.dtype == expected.indices.dtype and edited.indptr.dtype == np.int64
        assert edited.n_edges == int(edited.indptr[-1])
    assert np.array_equal(g.indptr, original[0]) and np.array_equal(g.indices, original[1])


@settings(max_examples=300, derandomize=True, deadline=None)
@given(n=st.integers(1, 12), initial=edge_lists, added=edge_lists, parts=st.integers(1, 7),
       spare=st.integers(0, 5))
def test_a_merge_in_place_in_parts_writes_what_the_copying_merge_writes(n, initial, added, parts, spare):
    """Split into ``parts`` runs of rows merged in parallel, a run's merged rows may cover the start of
    the next runs' old rows (whose entries it must not read after overwriting them): the buffer ends
    up holding exactly the rows :func:`merge_rows` writes to a new array, and nothing past them moves."""
    g = from_edges(n, [(a % n, b % n) for a, b in initial])
    src = np.array([a % n for a, _ in added], dtype=np.int64)
    dst = np.array([b % n for _, b in added], dtype=np.int64)
    src, dst = g._new_edges(src, dst)
    new_ptr = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(np.bincount(src, minlength=n), out=new_ptr[1:])
    out_ptr = g.indptr + new_ptr
    nnz = int(out_ptr[-1])
    cols = dst.astype(g.indices.dtype)
    expected = np.empty(nnz, dtype=g.indices.dtype)
    network_kernels.merge_rows(g.indptr, g.indices, new_ptr, cols, out_ptr, expected)
    buf = np.full(nnz + spare, -7, dtype=g.indices.dtype)
    buf[:g.indices.shape[0]] = g.indices
    network_kernels.merge_rows_in_place(g.indptr, buf, new_ptr, cols, out_ptr, parts)
    assert buf[:nnz].tolist() == expected.tolist()
    assert (buf[nnz:] == -7).all()


def test_an_edit_in_place_reuses_the_spare_room_and_grows_it_when_full():
    g = from_edges(40, [(i, i + 1) for i in range(20)])
    g.add_edges(np.array([39]), np.array([0]))                # first edit: a new buffer, 21 follows + 2 spare
    buffer = g._buffer
    assert buffer.shape[0] == 21 + int(21 * FollowGraph.GROWTH) == 23
    g.add_edges(np.array([30, 31]), np.array([32, 33]))       # fills the spare room: same buffer
    assert g._buffer is buffer and g.n_edges == 23
    assert edge_set(g) == {(i, i + 1) for i in range(20)} | {(39, 0), (30, 32), (31, 33)}
    g.add_edges(np.array([1]), np.array([0]))                 # one more: a larger buffer
    assert g._buffer is not buffer and g._buffer.shape[0] == 24 + 3 and (1, 0) in edge_set(g)
    buffer = g._buffer
    g.remove_accounts(np.array([0]))                          # removals stay in the buffer
    assert g._buffer is buffer and g.n_edges == 21        # (0, 1), (39, 0) and (1, 0) gone
    assert all(0 not in e for e in edge_set(g))


# --- statistics ------------------------------------------------------------------------------------


def test_statistics_match_networkx_on_a_small_graph(small_graph):
    g, w = small_graph
    G = g.to_networkx()
    nx.set_node_attributes(G, {i: bool(m) for i, m in enumerate(w["is_minor"])}, "minor")
    stats = graph_statistics(g, w["is_minor"], np.random.default_rng(0), sample=g.n)
    assert stats["n"] == G.number_of_nodes() and stats["edges"] == G.number_of_edges()
    assert stats["age_assortativity"] == pytest.approx(nx.attribute_assortativity_coefficient(G, "minor"), abs=1e-9)
    assert stats["reciprocity"] == pytest.approx(nx.reciprocity(G), abs=1e-12)
    assert stats["clustering_nodes"] == g.n
    assert stats["average_clustering"] == pytest.approx(nx.average_clustering(G.to_undirected()), abs=1e-12)
    assert stats["max_in_degree"] == max(d for _, d in G.in_degree())
    assert stats["mean_out_degree"] == pytest.approx(G.number_of_edges() / G.number_of_nodes())
    minor = w["is_minor"]
    by_minors = [(a, b) for a, b in G.edges() if minor[a]]
    assert stats["minor_follows_minor_share"] == pytest.approx(
        sum(minor[b] for _, b in by_minors) / len(by_minors))


@settings(max_examples=60, deadline=None)
@given(n=st.integers(1, 14), data=st.data())
def test_clustering_of_any_sampled_nodes_is_networkx_local_clustering(n, data):
    """The compiled clustering (followees and followers as the neighbourhood; a follow either way, or
    both, links a pair once) is networkx's local clustering of the undirected graph, averaged over
    any set of nodes."""
    pairs = [(a, b) for a in range(n) for b in range(n) if a != b]
    edges = data.draw(st.lists(st.sampled_from(pairs), unique=True, max_size=len(pairs)) if pairs else st.just([]))
    nodes = np.array(data.draw(st.lists(st.integers(0, n - 1), min_size=1, max_size=n, unique=True)))
    g = from_edges(n, edges)
    local = nx.clustering(g.to_networkx().to_undirected())
    expected = sum(local[v] for v in sorted(nodes.tolist())) / nodes.size
    assert network_stats._clustering(g, nodes) == pytest.approx(expected, abs=1e-12)


def test_statistics_on_a_hand_made_graph():
    # 0 <-> 1, 1 -> 2, 2 -> 0: one mutual pair (2 of 4 follows reciprocated), one triangle.
    g = from_edges(4, [(0, 1), (1, 0), (1, 2), (2, 0)])
    minor = np.array([True, True, False, False])
    stats = graph_statistics(g, minor, np.random.default_rng(0), sample=4)
    assert stats["reciprocity"] == pytest.approx(0.5)
    assert stats["average_clustering"] == pytest.approx(3 / 4)  # three nodes with C = 1, node 3 isolated
    assert stats["minor_follows_minor_share"] == pytest.approx(2 / 3)
    assert stats["adult_follows_minor_share"] == pytest.approx(1.0)
    # Mixing matrix e = [[0, 1], [1, 2]] / 4: a = b = (1/4, 3/4), r = (1/2 - 10/16) / (1 - 10/16).
    assert stats["age_assortativity"] == pytest.approx((0.5 - 0.625) / 0.375)


def test_sampled_clustering_estimates_the_full_average():
    w = make_world(3000)
    g = graph_of(w)
    full = graph_statistics(g, w["is_minor"], np.random.default_rng(0), sample=g.n)["average_clustering"]
    # Local clustering has s.d. about 0.1 across nodes, so 400 nodes give s.e. ~0.005.
    est = graph_statistics(g, w["is_minor"], np.random.default_rng(1), sample=400)
    assert est["clustering_nodes"] == 400
    assert est["average_clustering"] == pytest.approx(full, abs=0.025)


def test_hill_estimator_recovers_a_pareto_exponent():
    rng = np.random.default_rng(4)
    for alpha in (1.5, 2.5):
        x = np.floor(10 * (1 + rng.pareto(alpha, 200_000))).astype(np.int64)
        # k = 2000 upper order statistics: s.e. alpha / sqrt(k) < 0.06.
        assert network_stats._hill_exponent(x) == pytest.approx(alpha, abs=0.25)


def test_statistics_are_json_ready_even_without_edges():
    w = make_world(200)
    g = graph_of(w)
    stats = graph_statistics(g, w["is_minor"], np.random.default_rng(0))
    json.dumps(stats, allow_nan=False)
    assert all(v is None or type(v) in (int, float) for v in stats.values())
    assert all(v is None or math.isfinite(v) for v in stats.values())
    empty = from_edges(5, [])
    stats = graph_statistics(empty, np.zeros(5, dtype=bool), np.random.default_rng(0))
    json.dumps(stats, allow_nan=False)
    assert stats["edges"] == 0 and stats["reciprocity"] is None and stats["age_assortativity"] is None
    assert stats["average_clustering"] == 0.0


# --- groups ----------------------------------------------------------------------------------------


def assert_valid_groups(gr: Groups, n: int) -> None:
    assert_valid_csr(gr.account_indptr, gr.account_groups, n, gr.n_groups, no_diagonal=False)
    assert_valid_csr(gr.member_indptr, gr.members, gr.n_groups, n, no_diagonal=False)
    pairs = {(a, int(x)) for a in range(n) for x in gr.groups_of(a)}
    assert pairs == {(int(m), j) for j in range(gr.n_groups) for m in gr.members_of(j)}
    assert gr.sizes().sum() == gr.account_groups.size


def test_groups_are_valid_and_sized_by_the_config():
    w = make_world(4000, n_decoys=5, dim=8)
    cfg = NetworkConfig(groups_per_1k=5, memberships_mean=3)
    gr = groups_of(w, cfg)
    assert gr.n_groups == 20
    assert gr.topic.shape == (20, 8) and gr.topic.dtype == np.float32
    assert np.allclose(np.linalg.norm(gr.topic, axis=1), 1, atol=1e-5)
    assert gr.harmful.dtype == bool and gr.moderated.dtype == bool
    assert_valid_groups(gr, 4005)
    # Poisson(3) joins per account, minus repeats (8 candidates out of 20 groups
    # sometimes pick the same best group): between 2 and 3 memberships on average.
    per_account = np.diff(gr.account_indptr)[:4000]
    assert 2.0 < per_account.mean() <= 3.05


def test_bad_actors_concentrate_in_harmful_groups_and_minors_avoid_them():
    w = make_world(6000, minor_share=0.2, n_decoys=20)
    gr = groups_of(w, NetworkConfig(groups_per_1k=10, harmful_group_share=0.2))
    assert 8 <= gr.harmful.sum() <= 16
    harmful_members = np.concatenate([gr.members_of(j) for j in np.flatnonzero(gr.harmful)])
    benign_members = np.concatenate([gr.members_of(j) for j in np.flatnonzero(~gr.harmful)])
    bad = np.isin(w["role"], BAD_ACTORS)
    assert bad[harmful_members].mean() > 4 * bad[~w["decoy"]].mean()
    assert w["is_minor"][harmful_members].mean() < 0.2 * w["is_minor"][benign_members].mean()
    # Decoys join REGISTRATION_GROUPS benign groups (fewer only if both picks coincide).
    decoy_groups = [gr.groups_of(d) for d in np.flatnonzero(w["decoy"])]
    assert all(1 <= len(x) <= network.REGISTRATION_GROUPS for x in decoy_groups)
    assert not gr.harmful[np.concatenate(decoy_groups)].any()


def test_decoys_never_join_harmful_groups_whatever_their_affinity():
    w = make_world(3000, n_decoys=50)
    w["affinity"][w["decoy"]] = 1.0  # would make a harmful group the best match
    gr = groups_of(w, NetworkConfig(groups_per_1k=10, harmful_group_share=0.5))
    decoy_groups = np.concatenate([gr.groups_of(d) for d in np.flatnonzero(w["decoy"])])
    assert decoy_groups.size >= 50
    assert not gr.harmful[decoy_groups].any()


def test_harmful_groups_are_rarely_moderated():
    w = make_world(5000)
    gr = groups_of(w, NetworkConfig(groups_per_1k=100, harmful_group_share=0.2, moderated_group_share=0.7))
    # 500 groups, about 100 harmful: shares have s.e. ~0.03 (harmful) and ~0.02 (benign).
    assert gr.moderated[gr.harmful].mean() < network.HARMFUL_MODERATED_SHARE + 0.1
    assert gr.moderated[~gr.harmful].mean() == pytest.approx(0.7, abs=0.07)


def test_no_groups_when_groups_per_1k_is_zero():
    w = make_world(500)
    gr = groups_of(w, NetworkConfig(groups_per_1k=0))
    assert gr.n_groups == 0 and gr.members.size == 0
    assert_valid_groups(gr, 500)


def test_same_seed_gives_identical_groups_and_another_seed_does_not():
    w = make_world(2000)
    a, b, c = groups_of(w, seed=3), groups_of(w, seed=3), groups_of(w, seed=4)
    for name in ("topic", "harmful", "moderated", "member_indptr", "members", "account_indptr", "account_groups"):
        assert np.array_equal(getattr(a, name), getattr(b, name)), name
    assert not np.array_equal(a.account_groups, c.account_groups)


@settings(max_examples=100, derandomize=True, deadline=None)
@given(joins=st.lists(st.tuples(st.integers(0, 39), st.integers(0, 9)), max_size=50))
def test_with_members_is_a_set_union(joins):
    w = make_world(40)
    gr = groups_of(w, NetworkConfig(groups_per_1k=250))  # 10 groups
    before = {(a, int(x)) for a in range(40) for x in gr.groups_of(a)}
    account = np.array([a for a, _ in joins], dtype=np.int64)
    h = gr.with_members(account, np.array([j for _, j in joins], dtype=np.int64))
    assert {(a, int(x)) for a in range(40) for x in h.groups_of(a)} == before | set(joins)
    assert {(a, int(x)) for a in range(40) for x in gr.groups_of(a)} == before
    assert_valid_groups(h, 40)


@settings(max_examples=100, derandomize=True, deadline=None)
@given(joins=st.lists(st.tuples(st.integers(0, 39), st.integers(0, 9)), max_size=50),
       gone=st.lists(st.integers(0, 39), max_size=6))
def test_membership_edits_give_the_groups_rebuilt_from_their_pairs(joins, gone):
    """Joins are merged and leavers dropped row by row in both membership CSRs: the arrays are exactly
    those built from scratch from the resulting (account, group) pairs."""
    w = make_world(40)
    gr = groups_of(w, NetworkConfig(groups_per_1k=250))  # 10 groups
    account = np.array([a for a, _ in joins], dtype=np.int64)
    h = gr.with_members(account, np.array([j for _, j in joins], dtype=np.int64))
    gone = np.array(sorted(set(gone)), dtype=np.int64)
    k = h.without_accounts(gone)
    pairs = sorted({(a, int(x)) for a in range(40) for x in gr.groups_of(a)} | set(joins))
    for result, kept in ((h, pairs), (k, [(a, x) for a, x in pairs if a not in gone])):
        rebuilt = network_groups._groups_from_pairs(np.array([a for a, _ in kept], dtype=np.int64),
                                                    np.array([x for _, x in kept], dtype=np.int64), 40,
                                                    gr.topic, gr.harmful, gr.moderated)
        for name in ("member_indptr", "members", "account_indptr", "account_groups"):
            a, b = getattr(result, name), getattr(rebuilt, name)
            assert a.dtype == b.dtype and a.tolist() == b.tolist(), name


# --- graph files -------------------------------------------------------------------------------------


def test_edge_list_with_header_comments_labels_and_weights(tmp_path):
    path = tmp_path / "follows.csv"
    path.write_text("# follows exported from the class\n"
                    "source,target,weight\n"
                    "alice,bob,1\n"
                    "bob, carol ,2   # inline comment\n"
                    "alice,bob,3\n"
                    "\n"
                    "carol,alice\n"
                    "dave,dave\n")
    g, ages = load_follow_graph(str(path))
    assert ages is None and g.community is None
    assert g.n == 4  # alice, bob, carol, dave in order of first appearance
    assert edge_set(g) == {(0, 1), (1, 2), (2, 0)}
    assert_valid_csr(g.indptr, g.indices, 4, 4)


def test_integer_labels_are_numbered_by_first_appearance(tmp_path):
    path = tmp_path / "follows.tsv"
    path.write_text("10\t3\n3   7\n7 10\n\r\n3 10\n")
    g, _ = load_follow_graph(str(path))
    assert g.n == 3  # 10 -> 0, 3 -> 1, 7 -> 2
    assert edge_set(g) == {(0, 1), (1, 2), (2, 0), (1, 0)}


def test_labels_are_strings_not_numbers(tmp_path):
    path = tmp_path / "follows.txt"
    path.write_text("007 7\n7 007\n")
    g, _ = load_follow_graph(str(path))
    assert g.n == 2 and edge_set(g) == {(0, 1), (1, 0)}


@pytest.mark.parametrize("text, n, edges", [
    ("u v\n1 2\n2 3\n", 3, {(0, 1), (1, 2)}),                 # non-numeric over numeric: a header
    ("a b\nc d\n", 4, {(0, 1), (2, 3)}),                      # all labels words: an edge
    ("Follower Followee\nx y\n", 2, {(0, 1)}),                # known column names
    ("\ufeffsrc dst\n1 2\n", 2, {(0, 1)}),                    # byte-order mark before the header
    ("\ufeffa b\nb a\n", 2, {(0, 1), (1, 0)}),                  # the mark is not part of the first label
])
def test_header_detection(tmp_path, text, n, edges):
    path = tmp_path / "g.edgelist"
    path.write_text(text, encoding="utf-8")
    g, _ = load_follow_graph(str(path))
    assert g.n == n and edge_set(g) == edges


def reference_parse(text: str) -> tuple[int, set[tuple[int, int]]]:
    """A plain-Python reading of an edge list without header: the behaviour to match."""
    ids: dict[str, int] = {}
    edges = set()
    for line in text.splitlines():
        fields = line.split("#")[0].replace(",", " ").split()
        if not fields:
            continue
        a, b = (ids.setdefault(f, len(ids)) for f in fields[:2])
        if a != b:
            edges.add((a, b))
    return len(ids), edges


@pytest.mark.parametrize("block_bytes", [7, 64, 1 << 24])
def test_edge_list_parses_the_same_across_block_boundaries(tmp_path, monkeypatch, block_bytes):
    rng = np.random.default_rng(11)
    names = [f"user{i}" if i % 3 else str(i) for i in range(60)]
    lines = []
    for k in range(400):
        a, b = rng.integers(0, 60, 2)
        sep = (" ", ",", "\t", "  ")[k % 4]
        extra = f"{sep}{k}" if k % 5 == 0 else ""
        comment = "  # note" if k % 7 == 0 else ""
        lines.append(f"{names[a]}{sep}{names[b]}{extra}{comment}")
        if k % 50 == 0:
            lines.append("# a comment line")
    text = "\n".join(lines)  # no final newline
    path = tmp_path / "big.txt"
    path.write_text(text)
    monkeypatch.setattr(network_files, "_BLOCK_BYTES", block_bytes)
    g, _ = load_follow_graph(str(path))
    n, edges = reference_parse(text)
    assert g.n == n and edge_set(g) == edges


@pytest.mark.parametrize("block_bytes", [5, 1 << 24])
def test_malformed_line_is_reported_with_its_number_and_content(tmp_path, monkeypatch, block_bytes):
    monkeypatch.setattr(network_files, "_BLOCK_BYTES", block_bytes)
    path = tmp_path / "g.csv"
    path.write_text("a,b\n# comment\n\nb,c\nlonely\nc,d\n")
    with pytest.raises(NetworkFileError) as err:
        load_follow_graph(str(path))
    msg = str(err.value)
    assert str(path) in msg and "line 5" in msg and "'lonely'" in msg and "1 field" in msg
    path.write_text("a b\nb c d e\n")
    with pytest.raises(NetworkFileError, match=r"line 2: 'b c d e' has 4 field\(s\)"):
        load_follow_graph(str(path))


def test_graphml_with_ages(tmp_path):
    G = nx.DiGraph()
    G.add_node("anna", age=14)
    G.add_node("ben", age=41)
    G.add_node("cleo")
    G.add_edges_from([("anna", "ben"), ("ben", "cleo"), ("cleo", "anna"), ("anna", "anna")])
    path = tmp_path / "class.graphml"
    nx.write_graphml(G, path)
    g, ages = load_follow_graph(str(path))
    assert g.n == 3 and edge_set(g) == {(0, 1), (1, 2), (2, 0)}
    assert ages.tolist() == [14, 41, -1]
    assert g.community is None


def test_undirected_graphml_edges_are_mutual_follows(tmp_path):
    G = nx.Graph([("x", "y"), ("y", "z")])
    path = tmp_path / "friends.graphml"
    nx.write_graphml(G, path)
    g, ages = load_follow_graph(str(path))
    assert ages is None
    assert edge_set(g) == {(0, 1), (1, 0), (1, 2), (2, 1)}


def test_graphml_age_that_is_not_a_number_is_an_error(tmp_path):
    G = nx.DiGraph()
    G.add_node("a", age="teen")
    G.add_node("b", age="")
    G.add_edge("a", "b")
    path = tmp_path / "g.graphml"
    nx.write_graphml(G, path)
    with pytest.raises(NetworkFileError, match=r"node 'a' has age 'teen'.*whole numbers"):
        load_follow_graph(str(path))


@pytest.mark.parametrize("name, content, expected", [
    ("missing.csv", None, "no such file"),
    ("graph.json", '{"edges": []}', "unknown extension '.json'"),
    ("noext", "a b\n", "unknown extension '(none)'"),
    ("empty.csv", "# nothing here\n\n", "no edges"),
    ("header_only.csv", "source,target\n", "no edges"),
    ("loops.txt", "a a\nb b\n", "no edges between two different nodes"),
    ("broken.graphml", "<graphml><graph", "not readable as GraphML"),
    ("text.graphml", "a b\n", "not readable as GraphML"),
])
def test_file_errors_name_the_path_and_what_is_allowed(tmp_path, name, content, expected):
    path = tmp_path / name
    if content is not None:
        path.write_text(content)
    with pytest.raises(NetworkFileError) as err:
        load_follow_graph(str(path))
    msg = str(err.value)
    assert expected in msg
    assert str(path) in msg
    assert ".graphml" in msg and ".edgelist" in msg  # what is allowed
    assert isinstance(err.value, ConfigError)


def test_directory_is_an_error(tmp_path):
    folder = tmp_path / "graph.csv"
    folder.mkdir()
    with pytest.raises(NetworkFileError, match="is a directory") as err:
        load_follow_graph(str(folder))
    assert str(folder) in str(err.value)


def test_graphml_age_below_thirteen_is_an_error(tmp_path):
    # The model has no account band under 13; silently redrawing such ages would hide the user's data problem.
    g = nx.DiGraph()
    g.add_node("a", age=9)
    g.add_node("b", age=30)
    g.add_edge("a", "b")
    path = tmp_path / "young.graphml"
    nx.write_graphml(g, path)
    with pytest.raises(NetworkFileError, match=r"node 'a' has age 9.*between 13 and 120"):
        load_follow_graph(str(path))
