"""The follow graph as a CSR adjacency, and the CSR helpers the other modules share.

Core objects:

- :class:`FollowGraph` — who follows whom, as a CSR adjacency over follower rows
  (``indptr``, ``indices``), with vectorised queries and updates.
- CSR helpers used across :mod:`sim.network`: ``_sorted_unique``,
  ``csr_contains`` (compiled binary searches in rows), ``_csr_insert``,
  ``_transpose``, ``_csr_from_keys`` and ``_graph_from_pairs``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import networkx as nx
import numpy as np

from sim.compiled import parts_for
from sim.network import kernels

@dataclass
class FollowGraph:
    """Directed follow graph as CSR over follower rows.

    Row ``i`` (``indices[indptr[i]:indptr[i + 1]]``) lists the accounts ``i``
    follows, sorted ascending, without self-loops or duplicates.

    The ``with_``/``without_`` methods return new graphs and leave this one
    unchanged. The model edits its graphs in place instead (:meth:`add_edges`,
    :meth:`remove_accounts`): at 10^7 accounts a copy of the follows is over a
    gigabyte. A graph edited in place owns its arrays and keeps spare room after
    its follows (``GROWTH``), so most edits allocate nothing.

    Attributes:
        indptr: int64, shape (n + 1,), row offsets.
        indices: int32, shape (n_edges,), followed accounts.
        community: int32, shape (n,), local community per account (-1 for decoys),
            or None for imported graphs.
    """

    indptr: np.ndarray
    indices: np.ndarray
    community: np.ndarray | None = None
    #: The buffer ``indices`` is the start of, once the graph owns its arrays (after its first edit in place).
    _buffer: np.ndarray | None = field(default=None, init=False, repr=False, compare=False)

    #: Spare room kept after the follows when a graph edited in place grows: a share of its follows.
    GROWTH = 0.125
    #: Follows per thread below which an in-place merge is not split further between numba's threads.
    PARALLEL_MERGE = 1 << 16

    @property
    def n(self) -> int:
        """Number of accounts (rows)."""
        return int(self.indptr.shape[0] - 1)

    @property
    def n_edges(self) -> int:
        """Number of follows."""
        return int(self.indices.shape[0])

    def followees(self, i: int) -> np.ndarray:
        """Accounts ``i`` follows (a view, sorted ascending)."""
        return self.indices[self.indptr[i]:self.indptr[i + 1]]

    def out_degree(self) -> np.ndarray:
        """Number of accounts each account follows (int64, shape (n,))."""
        return np.diff(self.indptr)

    def in_degree(self) -> np.ndarray:
        """Number of followers of each account (int64, shape (n,))."""
        return np.bincount(self.indices, minlength=self.n).astype(np.int64)

    def edges(self) -> tuple[np.ndarray, np.ndarray]:
        """All follows as (follower, followed) arrays (int32), in CSR order."""
        src = np.repeat(np.arange(self.n, dtype=np.int32), self.out_degree())
        return src, self.indices

    def reversed(self) -> FollowGraph:
        """The followers graph: row ``i`` lists the accounts following ``i`` (sorted)."""
        indptr, indices = _transpose(self.indptr, self.indices, self.n)
        return FollowGraph(indptr, indices, self.community)

    def has_edges(self, src: np.ndarray, dst: np.ndarray) -> np.ndarray:
        """Whether ``src[k]`` follows ``dst[k]``, for every k (vectorised binary search).

        Args:
            src: follower rows (any integer dtype).
            dst: followed rows, same shape as ``src``.

        Returns:
            Boolean array of the same shape.
        """
        src, dst = self._check_pairs(src, dst)
        return csr_contains(self.indptr, self.indices, src, dst)

    def with_edges(self, src: np.ndarray, dst: np.ndarray) -> FollowGraph:
        """A new graph with the follows ``src[k] -> dst[k]`` added.

        Self-loops, repeats and follows that already exist are ignored (union
        semantics). The work is a linear merge of the new follows into the
        existing rows, not a re-sort.

        Args:
            src: follower rows.
            dst: followed rows, same shape as ``src``.

        Returns:
            The new graph (``self`` is unchanged; ``community`` is shared).
        """
        src, dst = self._new_edges(src, dst)
        indptr, indices = _csr_insert(self.indptr, self.indices, src, dst, self.n)
        return FollowGraph(indptr, indices, self.community)

    def add_edges(self, src: np.ndarray, dst: np.ndarray) -> None:
        """Add the follows ``src[k] -> dst[k]`` in place: the graph :meth:`with_edges` returns, without a copy.

        The new follows are merged into the rows inside the graph's own buffer,
        from the last row backwards. When the buffer is full (and on a graph's
        first edit, whose arrays may be shared) the rows are merged into a new
        buffer with ``GROWTH`` spare room. Views of ``indices`` or ``indptr``
        taken before see the change.
        """
        src, dst = self._new_edges(src, dst)
        if src.size == 0:
            return
        n = self.n
        new_ptr = np.zeros(n + 1, dtype=np.int64)
        np.cumsum(np.bincount(src, minlength=n), out=new_ptr[1:])
        out_ptr = self.indptr + new_ptr
        nnz = int(out_ptr[-1])
        cols = np.ascontiguousarray(dst, dtype=self.indices.dtype)
        buf = self._buffer
        if buf is not None and buf.shape[0] >= nnz:
            kernels.merge_rows_in_place(self.indptr, buf, new_ptr, cols, out_ptr,
                                        parts_for(nnz, self.PARALLEL_MERGE))
        else:
            buf = np.empty(nnz + int(nnz * self.GROWTH), dtype=self.indices.dtype)
            kernels.merge_rows(self.indptr, self.indices, new_ptr, cols, out_ptr, buf)
        self.indptr, self.indices, self._buffer = out_ptr, buf[:nnz], buf

    def remove_accounts(self, accounts: np.ndarray) -> None:
        """Remove the follows of ``accounts`` and to them in place: the graph :meth:`without_accounts`
        returns, without a copy (one pass moving the kept follows left; a graph's first edit copies)."""
        gone = np.zeros(self.n, dtype=bool)
        gone[np.asarray(accounts, dtype=np.int64)] = True
        if self._buffer is None:
            self.indptr, self.indices = kernels.drop_entries(self.indptr, self.indices, gone, gone)
            self._buffer = self.indices
        else:
            nnz = kernels.drop_entries_in_place(self.indptr, self._buffer, gone, gone)
            self.indices = self._buffer[:nnz]

    def _new_edges(self, src: np.ndarray, dst: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The follows among ``src[k] -> dst[k]`` that are not self-loops, repeats or present, sorted."""
        src, dst = self._check_pairs(src, dst)
        keep = src != dst
        return _new_entries(self.indptr, self.indices, src[keep], dst[keep], self.n)

    def without_accounts(self, accounts: np.ndarray) -> FollowGraph:
        """A new graph in which ``accounts`` follow nobody and nobody follows them.

        One pass that drops their entries (rows stay sorted): no re-sort of the follows.
        """
        gone = np.zeros(self.n, dtype=bool)
        gone[np.asarray(accounts, dtype=np.int64)] = True
        indptr, indices = kernels.drop_entries(self.indptr, self.indices, gone, gone)
        return FollowGraph(indptr, indices, self.community)

    def to_networkx(self) -> nx.DiGraph:
        """The graph as a ``networkx.DiGraph`` on nodes 0..n-1 (for small graphs and tests)."""
        g = nx.DiGraph()
        g.add_nodes_from(range(self.n))
        src, dst = self.edges()
        g.add_edges_from(zip(src.tolist(), dst.tolist()))
        return g

    def _check_pairs(self, src: np.ndarray, dst: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        src = np.asarray(src, dtype=np.int64).ravel()
        dst = np.asarray(dst, dtype=np.int64).ravel()
        if src.shape != dst.shape:
            raise ValueError(f"src and dst must have the same length, got {src.size} and {dst.size}")
        for name, a in (("src", src), ("dst", dst)):
            if a.size and (a.min() < 0 or a.max() >= self.n):
                raise ValueError(f"{name} holds an account id outside 0..{self.n - 1}")
        return src, dst


def csr_contains(indptr: np.ndarray, indices: np.ndarray, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
    """Whether row ``rows[k]`` of a CSR with sorted rows holds ``cols[k]``, for every k (compiled binary searches)."""
    rows = np.ascontiguousarray(rows, dtype=np.int64)
    cols = np.ascontiguousarray(cols, dtype=np.int64)
    out = np.empty(rows.shape, dtype=bool)
    kernels.contains(indptr, indices, rows.ravel(), cols.ravel(), out.ravel())
    return out


def _sorted_unique(keys: np.ndarray) -> np.ndarray:
    """Sorted distinct values of an int array (``np.unique`` without its slower hash pass)."""
    keys = np.sort(keys)
    if keys.size:
        keep = np.ones(keys.size, dtype=bool)
        keep[1:] = keys[1:] != keys[:-1]
        keys = keys[keep]
    return keys


def _new_entries(indptr: np.ndarray, indices: np.ndarray, rows: np.ndarray, cols: np.ndarray,
                 n_cols: int) -> tuple[np.ndarray, np.ndarray]:
    """The pairs ``(rows[k], cols[k])`` that a sorted CSR does not hold yet, repeats dropped, sorted by
    (row, col): what :func:`_csr_insert` takes (int64 arrays)."""
    n_cols = max(n_cols, 1)
    keys = _sorted_unique(np.asarray(rows, dtype=np.int64) * n_cols + np.asarray(cols, dtype=np.int64))
    rows, cols = keys // n_cols, keys % n_cols
    new = ~csr_contains(indptr, indices, rows, cols)
    return rows[new], cols[new]


def _csr_insert(indptr: np.ndarray, indices: np.ndarray, rows: np.ndarray, cols: np.ndarray,
                n_rows: int) -> tuple[np.ndarray, np.ndarray]:
    """Merge new entries (not yet present, sorted by (row, col), unique) into a sorted CSR.

    Each row is merged on its own (:func:`sim.network.kernels.merge_rows`): one pass over the entries.
    """
    if rows.size == 0:
        return indptr.copy(), indices.copy()
    new_ptr = np.zeros(n_rows + 1, dtype=np.int64)
    np.cumsum(np.bincount(rows, minlength=n_rows), out=new_ptr[1:])
    out_ptr = indptr + new_ptr
    out = np.empty(indices.size + rows.size, dtype=indices.dtype)
    kernels.merge_rows(indptr, indices, new_ptr, np.ascontiguousarray(cols, dtype=indices.dtype), out_ptr, out)
    return out_ptr, out


def _transpose(indptr: np.ndarray, indices: np.ndarray, n_cols: int) -> tuple[np.ndarray, np.ndarray]:
    """CSR of the transpose, rows sorted (sorting one int64 key per entry)."""
    n_rows = indptr.shape[0] - 1
    rows = np.repeat(np.arange(n_rows, dtype=np.int64), np.diff(indptr))
    keys = indices.astype(np.int64) * max(n_rows, 1) + rows
    del rows
    keys.sort()
    t_indptr = np.zeros(n_cols + 1, dtype=np.int64)
    np.cumsum(np.bincount(indices, minlength=n_cols), out=t_indptr[1:])
    t_indices = (keys % max(n_rows, 1)).astype(np.int32)
    return t_indptr, t_indices


def _csr_from_keys(keys: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """CSR from sorted unique keys ``row * n + col``."""
    indptr = _key_row_offsets(keys, n, n)
    indices = (keys % n).astype(np.int32) if n else np.zeros(0, dtype=np.int32)
    return indptr, indices


def _key_row_offsets(keys: np.ndarray, n_cols: int, n_rows: int) -> np.ndarray:
    """Row offsets (int64, ``n_rows + 1``) of the CSR of sorted keys ``row * n_cols + col``: a count per row
    (:func:`sim.network.kernels.key_row_offsets`) instead of ``n_rows`` binary searches through the keys."""
    if keys.size == 0:
        return np.zeros(n_rows + 1, dtype=np.int64)
    return kernels.key_row_offsets(np.ascontiguousarray(keys, dtype=np.int64), max(n_cols, 1), n_rows)


def _graph_from_pairs(src: np.ndarray, dst: np.ndarray, n: int,
                      community: np.ndarray | None = None) -> FollowGraph:
    """A graph from arbitrary follow pairs (self-loops and repeats dropped)."""
    src = np.asarray(src, dtype=np.int64)
    dst = np.asarray(dst, dtype=np.int64)
    keep = src != dst
    keys = _sorted_unique(src[keep] * n + dst[keep])
    indptr, indices = _csr_from_keys(keys, n)
    return FollowGraph(indptr, indices, community)
