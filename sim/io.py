"""Writing a run: Parquet tables with explicit schemas, and the run manifest.

Core objects: :func:`write_run`, :func:`write_parquet`, :func:`config_hash`,
:func:`flatten_config`, :data:`MANIFEST`, :func:`read_manifest`.

Every file is written to a temporary name in the run folder and renamed into
place, so a reader never sees half a file. The manifest is written last; its
``status`` is ``complete`` only when every table it lists has been written,
with each file's size and SHA-256 recorded so a later reader can verify them.
Tables carry the run's identity (config hash, seed, version) in their schema
metadata. Nothing time-dependent goes into the tables: the same seed and config
give byte-identical Parquet files; timestamps live in the manifest only.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import os
import platform
import subprocess
import tempfile
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from sim.config import Config

MANIFEST = "manifest.json"
PACKAGES = ("exposim", "mesa", "numpy", "networkx", "pyarrow", "hydra-core", "omegaconf")


def config_dict(cfg: Config) -> dict[str, Any]:
    return dataclasses.asdict(cfg)


def config_hash(cfg: Config) -> str:
    """SHA-256 of the canonical JSON of the resolved config (identifies a setting + seed)."""
    text = json.dumps(config_dict(cfg), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


def flatten_config(cfg: Config) -> dict[str, Any]:
    """Dotted key -> leaf value (lists as JSON text), in schema order."""
    out: dict[str, Any] = {}

    def walk(obj: Any, prefix: str) -> None:
        for f in dataclasses.fields(obj):
            value = getattr(obj, f.name)
            if dataclasses.is_dataclass(value):
                walk(value, f"{prefix}{f.name}.")
            else:
                out[f"{prefix}{f.name}"] = json.dumps(value) if isinstance(value, list) else value

    walk(cfg, "")
    return out


def _arrow_type(value: Any) -> pa.DataType:
    if isinstance(value, (bool, np.bool_)):
        return pa.bool_()
    if isinstance(value, (int, np.integer)):
        return pa.int64()
    if isinstance(value, (float, np.floating)):
        return pa.float64()
    return pa.string()


def run_metadata(cfg: Config) -> dict[str, str]:
    return {
        "exposim.config_hash": config_hash(cfg),
        "exposim.seed": str(cfg.seed),
        "exposim.version": _version("exposim") or "unknown",
        "exposim.config": json.dumps(config_dict(cfg), sort_keys=True),
    }


def write_parquet(path: Path, table: pa.Table) -> None:
    """Write ``table`` to ``path`` atomically (temporary file in the same folder, then rename)."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        pq.write_table(table, tmp, compression="zstd", write_statistics=True)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_json(path: Path, obj: Any) -> None:
    """Write JSON atomically."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w") as fh:
            json.dump(obj, fh, indent=2, sort_keys=False, default=_json_default)
            fh.write("\n")
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _json_default(value: Any) -> Any:
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.floating):
        return None if not math.isfinite(value) else float(value)
    if isinstance(value, np.ndarray):
        return value.tolist()
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def summary_table(summary: dict[str, float], cfg: Config) -> pa.Table:
    """One row: every summary figure (float64), then the resolved config's leaf values."""
    fields, values = [], []
    for key, value in summary.items():
        fields.append(pa.field(key, pa.float64()))
        values.append([float(value)])
    for key, value in flatten_config(cfg).items():
        typ = _arrow_type(value) if value is not None else pa.string()
        fields.append(pa.field(key, typ))
        values.append([value])
    schema = pa.schema(fields, metadata=run_metadata(cfg))
    return pa.Table.from_arrays([pa.array(v, type=f.type) for v, f in zip(values, fields)], schema=schema)


def columns_table(columns: dict[str, np.ndarray], cfg: Config) -> pa.Table:
    """A table from named numpy columns, each with an explicit Arrow type from its dtype."""
    fields, arrays = [], []
    for name, col in columns.items():
        if col.dtype == object:
            typ = pa.string()
        elif col.dtype == bool:
            typ = pa.bool_()
        elif np.issubdtype(col.dtype, np.integer):
            typ = pa.int32() if col.dtype.itemsize <= 4 else pa.int64()
        else:
            typ = pa.float64()
        fields.append(pa.field(name, typ))
        arrays.append(pa.array(col.tolist() if col.dtype == object else col, type=typ))
    return pa.Table.from_arrays(arrays, schema=pa.schema(fields, metadata=run_metadata(cfg)))


def _version(package: str) -> str | None:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return None


def git_commit() -> str | None:
    """The commit of the source tree the package runs from, if it is a git checkout."""
    here = Path(__file__).resolve().parent
    try:
        out = subprocess.run(["git", "-C", str(here), "rev-parse", "HEAD"], capture_output=True, text=True,
                             timeout=5, check=False)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def write_run(out_dir: Path, cfg: Config, tables: dict[str, pa.Table], extra: dict[str, Any],
              started: datetime) -> Path:
    """Write the run's tables and, last, its manifest; returns the manifest path.

    Args:
        out_dir: the run folder (created if missing).
        cfg: the resolved, validated config.
        tables: file name -> table.
        extra: more manifest entries (graph statistics, population counts, ...).
        started: when the run started (for the manifest only).
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    manifest_path = out_dir / MANIFEST
    manifest_path.unlink(missing_ok=True)   # a stale "complete" must never describe new files
    files = {}
    for name, table in tables.items():
        path = out_dir / name
        write_parquet(path, table)
        files[name] = {"rows": table.num_rows, "bytes": path.stat().st_size, "sha256": _sha256(path)}
    finished = datetime.now(timezone.utc)
    manifest = {
        "status": "complete",
        "seed": cfg.seed,
        "config_hash": config_hash(cfg),
        "started": started.isoformat(),
        "finished": finished.isoformat(),
        "wall_seconds": round((finished - started).total_seconds(), 3),
        "files": files,
        "versions": {"python": platform.python_version(), **{p: _version(p) for p in PACKAGES}},
        "git_commit": git_commit(),
        **extra,
        "config": config_dict(cfg),
    }
    write_json(manifest_path, manifest)
    return manifest_path


def read_manifest(out_dir: Path) -> dict[str, Any] | None:
    """The manifest of a run folder, or None if there is none (or it is unreadable)."""
    try:
        return json.loads((Path(out_dir) / MANIFEST).read_text())
    except (OSError, ValueError):
        return None
