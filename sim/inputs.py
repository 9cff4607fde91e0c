"""The files a run reads, and what they settle before the run starts.

Core objects: :func:`resolve_inputs`, :func:`input_files`, :class:`InputFile`,
:func:`graph_file_size`.

A run's identity is its config *and* the content of every file the config
names: rewrite a graph file under the same path and the run is a different
run (:func:`sim.io.config_hash` takes the content hashes from
:func:`input_files`). A graph file also settles the population size, so
:func:`resolve_inputs` reads it before anything is built or written: it
refuses a file that cannot be used, a graph too small to be a world, and
decoys that would be a large part of it, and returns the config with
``population.n`` set to the size that will actually run — the size the
manifest and the summary record.

Hashes and node counts are cached per process by (path, size, modification
time), so planning a sweep of many jobs over one file reads it once.
"""

from __future__ import annotations

import copy
import dataclasses
import hashlib
import os
from dataclasses import dataclass
from functools import lru_cache

from sim.config import MAX_DECOY_SHARE, Config, ConfigError, PopulationConfig

#: Fewest accounts a world may have (the lower bound of ``population.n``).
MIN_ACCOUNTS = int(dataclasses.fields(PopulationConfig)[0].metadata["lo"])


@dataclass(frozen=True)
class InputFile:
    """A file a run reads: which key names it, where it is, and what it holds (SHA-256)."""

    key: str
    path: str
    sha256: str
    bytes: int


def _stat_key(path: str) -> tuple[str, int, int]:
    st = os.stat(path)
    return os.path.abspath(path), st.st_size, st.st_mtime_ns


@lru_cache(maxsize=256)
def _sha256_cached(abspath: str, size: int, mtime_ns: int) -> str:
    h = hashlib.sha256()
    with open(abspath, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def file_sha256(path: str) -> str:
    """The SHA-256 of a file's content (cached while the file's size and modification time stay the same)."""
    return _sha256_cached(*_stat_key(path))


@lru_cache(maxsize=64)
def _graph_size_cached(abspath: str, size: int, mtime_ns: int, shown: str) -> int:
    from sim.network.files import load_follow_graph

    graph, _ = load_follow_graph(shown)      # the path as the user gave it, so messages name it
    return int(graph.n)


def graph_file_size(path: str) -> int:
    """The number of accounts in a graph file, read and checked as a run would read it.

    Raises:
        sim.network.files.NetworkFileError: the file is missing or cannot be used; the message names it.
    """
    from sim.network.files import NetworkFileError, load_follow_graph

    try:
        key = _stat_key(path)
    except OSError:
        load_follow_graph(path)          # raises the reader's own message (missing file, directory, ...)
        raise NetworkFileError(f"network.path={path!r}: cannot be read") from None
    return _graph_size_cached(*key, path)


def input_files(cfg: Config) -> dict[str, InputFile]:
    """Every file ``cfg`` names that a run reads, with its content hash (a graph file, a design table)."""
    named = {}
    if cfg.network.kind == "file" and cfg.network.path:
        named["network.path"] = cfg.network.path
    if cfg.design.path:
        named["design.path"] = cfg.design.path
    files = {}
    for key, path in named.items():
        try:
            digest, size = file_sha256(path), os.stat(path).st_size
        except OSError:
            digest, size = "unreadable", -1
        files[key] = InputFile(key, os.path.abspath(path), digest, size)
    return files


def resolve_inputs(cfg: Config) -> Config:
    """Check the files ``cfg`` names and settle what they decide; returns a resolved copy.

    For ``network.kind=file``: the file must exist and parse, hold at least
    :data:`MIN_ACCOUNTS` accounts, and the decoys may be at most
    :data:`MAX_DECOY_SHARE` of its accounts. The copy's ``population.n`` is the
    file's account count. A synthetic world is returned unchanged (decoys are
    checked by :func:`sim.config.validate`).

    A design (``design.path``) is applied first (:func:`sim.design.apply_design_row`): the copy holds
    the row's values.

    Raises:
        ConfigError: naming the key, the file and what is allowed.
    """
    from sim.design import apply_design_row

    cfg = apply_design_row(cfg)
    if cfg.network.kind != "file":
        return cfg
    if not cfg.network.path:
        raise ConfigError("network.path is empty: network=file needs network.path=<edge list or GraphML file>")
    n = graph_file_size(cfg.network.path)
    path = cfg.network.path
    if n < MIN_ACCOUNTS:
        raise ConfigError(f"network.path={path!r} holds {n} accounts; a world needs at least {MIN_ACCOUNTS} "
                          f"(the smallest population.n)")
    max_decoys = max(1, int(n * MAX_DECOY_SHARE))
    if cfg.decoys.n > max_decoys:
        raise ConfigError(f"decoys.n={cfg.decoys.n} is too many for the {n} accounts of network.path={path!r}: "
                          f"decoys are an audit sample added to the graph and may be at most "
                          f"{MAX_DECOY_SHARE:.0%} of its accounts; set decoys.n<={max_decoys}")
    if cfg.population.n == n:
        return cfg
    resolved = copy.deepcopy(cfg)
    resolved.population.n = n
    return resolved


__all__ = ["InputFile", "MAX_DECOY_SHARE", "MIN_ACCOUNTS", "file_sha256", "graph_file_size", "input_files",
           "resolve_inputs"]
