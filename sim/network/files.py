"""Reading a user's follow graph from a file (``network=file``).

Core objects:

- :func:`load_follow_graph` — read an edge list (.csv .tsv .txt .edgelist) or a
  GraphML file (.graphml) into a :class:`~sim.network.graph.FollowGraph`, with
  per-node ages when the file has them.
- :class:`NetworkFileError` — a graph file that cannot be used; the message says why.
- The parsers: ``_read_edge_list`` / ``_tokenise_block`` / ``_number_labels``
  (block-wise numpy tokenising of edge lists) and ``_load_graphml``.
"""

from __future__ import annotations

import math
import re
from pathlib import Path

import networkx as nx
import numpy as np

from sim.config import ConfigError
from sim.network.graph import FollowGraph, _graph_from_pairs
from sim.vocabulary import MIN_AGE


class NetworkFileError(ConfigError):
    """A graph file given as ``network.path`` cannot be used; the message says why."""


EDGE_LIST_SUFFIXES = (".csv", ".tsv", ".txt", ".edgelist")
GRAPHML_SUFFIXES = (".graphml",)
_ALLOWED = ("an edge list (.csv, .tsv, .txt, .edgelist: two columns 'follower followed', "
            "whitespace or comma separated, optional third column, '#' comments, optional header) "
            "or a GraphML file (.graphml)")
#: Pairs of column names recognised as an edge-list header line.
_HEADER_PAIRS = {
    ("source", "target"), ("src", "dst"), ("from", "to"), ("follower", "followee"),
    ("follower", "followed"), ("follower", "following"), ("node1", "node2"), ("source_id", "target_id"),
    ("from_id", "to_id"), ("follower_id", "followee_id"), ("user", "follows"), ("id1", "id2"),
}
_SEPARATOR = np.zeros(256, dtype=bool)
_SEPARATOR[[9, 10, 11, 12, 13, 32, 44]] = True  # tab, newlines, space, comma
_BLOCK_BYTES = 1 << 24


def load_follow_graph(path: str) -> tuple[FollowGraph, np.ndarray | None]:
    """Read a follow graph from an edge list or a GraphML file.

    Edge lists (.csv .tsv .txt .edgelist): one follow per line, ``u v`` meaning
    "u follows v", separated by whitespace or commas; an optional third column
    (e.g. a weight) is ignored; ``#`` starts a comment; blank lines are skipped.
    The first line is a header, and skipped, when its first two fields are a
    known pair of column names (``source,target``, ``src,dst``, ``from,to``,
    ``follower,followee``, ...) or are non-numeric while the next line's are
    numeric. Node labels are arbitrary strings, numbered 0.. in order of first
    appearance. GraphML: nodes are numbered in document order; a directed graph's
    edges are follows, an undirected graph's edges are mutual follows; a node
    attribute ``age`` gives ages. Self-loops and repeated edges are dropped.

    Args:
        path: the file.

    Returns:
        The graph (``community`` is None) and per-node ages (int64, -1 where
        unknown), or None when the file carries no ages (edge lists never do).

    Raises:
        NetworkFileError: missing file, directory, unknown extension, malformed
            line, no edges, or unreadable GraphML; the message names the path.
    """
    p = Path(path)
    if not p.exists():
        raise NetworkFileError(f"network.path={path!r}: no such file; expected {_ALLOWED}")
    if p.is_dir():
        raise NetworkFileError(f"network.path={path!r} is a directory; expected {_ALLOWED}")
    suffix = p.suffix.lower()
    if suffix in GRAPHML_SUFFIXES:
        return _load_graphml(p, path)
    if suffix in EDGE_LIST_SUFFIXES:
        src, dst, n = _read_edge_list(p, path)
        graph = _graph_from_pairs(src, dst, n)
        if graph.n_edges == 0:
            raise NetworkFileError(f"network.path={path!r}: no edges between two different nodes; "
                                   f"expected {_ALLOWED}")
        return graph, None
    raise NetworkFileError(f"network.path={path!r}: unknown extension {suffix or '(none)'!r}; "
                           f"allowed: {', '.join(EDGE_LIST_SUFFIXES + GRAPHML_SUFFIXES)} — {_ALLOWED}")


def _read_edge_list(p: Path, path: str) -> tuple[np.ndarray, np.ndarray, int]:
    """Tokenise an edge list block by block with numpy; labels -> ids by first appearance."""
    label_blocks: list[np.ndarray] = []
    lines_before = 0
    first_block = True
    header_checked = False
    carry = b""
    with open(p, "rb") as fh:
        while True:
            chunk = fh.read(_BLOCK_BYTES)
            data = carry + chunk
            if chunk:
                cut = data.rfind(b"\n") + 1
                if cut == 0:  # one line longer than a block: keep reading
                    carry = data
                    continue
                data, carry = data[:cut], data[cut:]
            elif not data:
                break
            else:
                carry = b""
                if not data.endswith(b"\n"):
                    data += b"\n"
            if first_block:
                data = data.removeprefix(b"\xef\xbb\xbf")  # UTF-8 byte-order mark
                first_block = False
            labels, n_lines = _tokenise_block(data, lines_before, path)
            lines_before += n_lines
            if not header_checked and labels.size:
                header_checked = True
                if _is_header(labels):
                    labels = labels[2:]
            label_blocks.append(labels)
            if not chunk:
                break
    if not label_blocks or sum(b.size for b in label_blocks) == 0:
        raise NetworkFileError(f"network.path={path!r}: the file has no edges; expected {_ALLOWED}")
    labels = np.concatenate(label_blocks)
    del label_blocks
    ids, n = _number_labels(labels)
    return ids[0::2], ids[1::2], n


def _tokenise_block(data: bytes, lines_before: int, path: str) -> tuple[np.ndarray, int]:
    """Return the first two fields of every non-blank line (interleaved, dtype S) and the line count."""
    text = re.sub(rb"#[^\n]*", b"", data) if b"#" in data else data  # line breaks are kept
    arr = np.frombuffer(text, dtype=np.uint8)
    sep = _SEPARATOR[arr]
    line_end = np.flatnonzero(arr == 10)
    starts = np.flatnonzero(~sep & np.concatenate(([True], sep[:-1])))
    ends = np.flatnonzero(~sep & np.concatenate((sep[1:], [True]))) + 1
    line_of_token = np.searchsorted(line_end, starts)
    count = np.bincount(line_of_token, minlength=line_end.size)
    bad = np.flatnonzero((count == 1) | (count > 3))
    if bad.size:
        i = int(bad[0])
        content = data.split(b"\n")[i].rstrip(b"\r").decode("utf-8", errors="replace")
        raise NetworkFileError(
            f"network.path={path!r}, line {lines_before + i + 1}: {content!r} has {count[i]} field(s); "
            f"each line must be 'follower followed' (2 fields, an optional third is ignored), "
            f"separated by whitespace or commas")
    first = np.concatenate(([0], np.cumsum(count)[:-1]))[count >= 2]
    token = np.stack([first, first + 1], axis=1).ravel()
    if token.size == 0:
        return np.zeros(0, dtype="S1"), int(line_end.size)
    start, length = starts[token], ends[token] - starts[token]
    width = int(length.max())
    # Fixed-width byte strings, filled one character column at a time (a loop
    # over the longest label's length, not over lines).
    mat = np.zeros((token.size, width), dtype=np.uint8)
    for j in range(width):
        live = np.flatnonzero(length > j)
        mat[live, j] = arr[start[live] + j]
    return mat.view(f"S{width}").ravel(), int(line_end.size)


def _is_numeric(label: bytes) -> bool:
    try:
        float(label)
    except ValueError:
        return False
    return True


def _is_header(labels: np.ndarray) -> bool:
    """Whether the first line (labels[0:2]) is a header rather than an edge."""
    a, b = (x.decode("utf-8", errors="replace").strip().lower() for x in labels[:2])
    if (a, b) in _HEADER_PAIRS:
        return True
    if labels.size < 4:
        return False
    return (not _is_numeric(labels[0]) and not _is_numeric(labels[1])
            and _is_numeric(labels[2]) and _is_numeric(labels[3]))


def _number_labels(labels: np.ndarray) -> tuple[np.ndarray, int]:
    """Map labels (dtype S) to 0..k-1 in order of first appearance.

    Plain non-negative integers without leading zeros (the common case) are
    parsed and numbered through a table, which is much faster than sorting
    strings; anything else goes through ``np.unique`` on the strings. Both give
    the same numbering.
    """
    width = labels.dtype.itemsize
    mat = labels.view(np.uint8).reshape(labels.size, width)
    length = (mat != 0).sum(axis=1)
    is_digit = (mat >= 48) & (mat <= 57)
    plain = (width <= 18 and bool(np.all(is_digit | (mat == 0)))
             and not bool(np.any((mat[:, 0] == 48) & (length > 1))))
    if plain:
        values = np.zeros(labels.size, dtype=np.int64)
        for j in range(width):  # Horner over the (at most 18) digit columns
            values = np.where(length > j, values * 10 + (mat[:, j].astype(np.int64) - 48), values)
        top = int(values.max())
        if top < 4 * labels.size + 10_000_000:
            first = np.full(top + 1, labels.size, dtype=np.int64)
            np.minimum.at(first, values, np.arange(labels.size, dtype=np.int64))
            present = np.flatnonzero(first < labels.size)
            rank = np.empty(top + 1, dtype=np.int64)
            rank[present[np.argsort(first[present], kind="stable")]] = np.arange(present.size)
            return rank[values], int(present.size)
        keys: np.ndarray = values
    else:
        keys = labels
    _, first_idx, inverse = np.unique(keys, return_index=True, return_inverse=True)
    rank = np.empty(first_idx.size, dtype=np.int64)
    rank[np.argsort(first_idx, kind="stable")] = np.arange(first_idx.size)
    return rank[inverse.ravel()], int(first_idx.size)


def _load_graphml(p: Path, path: str) -> tuple[FollowGraph, np.ndarray | None]:
    """Read GraphML through networkx; ages from the node attribute ``age``."""
    import xml.etree.ElementTree as ET

    try:
        g = nx.read_graphml(p)
    except (ET.ParseError, nx.NetworkXError, ValueError, KeyError, TypeError, IndexError) as exc:
        raise NetworkFileError(f"network.path={path!r}: not readable as GraphML ({type(exc).__name__}: {exc}); "
                               f"expected {_ALLOWED}") from exc
    nodes = list(g.nodes)
    index = {node: i for i, node in enumerate(nodes)}
    # networkx holds the graph as Python objects, so converting it is a Python
    # loop; GraphML files are small next to what the generator builds.
    pairs = np.array([(index[u], index[v]) for u, v in g.edges()], dtype=np.int64).reshape(-1, 2)
    src, dst = pairs[:, 0], pairs[:, 1]
    if not g.is_directed():
        src, dst = np.concatenate([src, dst]), np.concatenate([dst, src])
    graph = _graph_from_pairs(src, dst, len(nodes))
    if graph.n_edges == 0:
        raise NetworkFileError(f"network.path={path!r}: the GraphML has no edges between two different nodes; "
                               f"expected {_ALLOWED}")
    ages = None
    if any("age" in attrs for _, attrs in g.nodes(data=True)):
        ages = np.full(len(nodes), -1, dtype=np.int64)
        for i, (node, attrs) in enumerate(g.nodes(data=True)):
            if "age" in attrs:
                ages[i] = _parse_age(attrs["age"], node, path)
    return graph, ages


def _parse_age(value: object, node: object, path: str) -> int:
    """A node's age in whole years; -1 for an empty or NaN value (unknown)."""
    if isinstance(value, str) and not value.strip():
        return -1
    try:
        age = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        age = -math.inf
    if math.isnan(age):
        return -1
    # Accounts are MIN_AGE (13, the platforms' minimum age) or older; the population model has no younger band.
    if not math.isfinite(age) or age != int(age) or not MIN_AGE <= age <= 120:
        raise NetworkFileError(f"network.path={path!r}: node {node!r} has age {value!r}; "
                               f"ages must be whole numbers of years between {MIN_AGE} and 120 (leave the attribute "
                               f"out, empty or NaN when unknown)")
    return int(age)
