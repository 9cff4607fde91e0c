"""Writing a run: Parquet tables with explicit schemas, and the run manifest.

Core objects: :func:`begin_run`, :func:`write_run`, :func:`fail_run`,
:func:`verify_run`, :func:`verify_files`, :func:`write_parquet`, :func:`config_hash`,
:func:`flatten_config`, :data:`MANIFEST`, :func:`read_manifest`.

A run folder's life: :func:`begin_run` clears what an earlier attempt left and
writes a manifest with ``status: running``; the run then ends in
:func:`write_run` (tables, then the manifest with ``status: complete``) or in
:func:`fail_run` (``status: failed`` with the error). A job killed outright
leaves ``running`` behind, which no reader takes for a result. Every file is
written to a temporary name in the run folder and renamed into place, so a
reader never sees half a file; the complete manifest records each table's size
and SHA-256, which :func:`verify_run` checks before a sweep skips the run.
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

from sim.config import Config, run_seed

MANIFEST = "manifest.json"
PACKAGES = ("exposim", "mesa", "numpy", "networkx", "pyarrow", "hydra-core", "omegaconf")


def config_dict(cfg: Config) -> dict[str, Any]:
    return dataclasses.asdict(cfg)


def config_hash(cfg: Config) -> str:
    """SHA-256 of the canonical JSON of the resolved config (identifies a setting + seed + replicate).

    ``output.resume`` is left out: it says whether to skip a finished run, not what a run is.
    """
    identity = config_dict(cfg)
    identity["output"].pop("resume", None)
    text = json.dumps(identity, sort_keys=True, separators=(",", ":"))
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
        "exposim.replicate": str(cfg.replicate),
        "exposim.run_seed": str(run_seed(cfg)),
        "exposim.version": package_version("exposim") or "unknown",
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


def package_version(package: str) -> str | None:
    """The installed version of ``package``, or None."""
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
    if (read_manifest(out_dir) or {}).get("status") == "complete":
        manifest_path.unlink()   # a stale "complete" must never describe new files
    files = {}
    for name, table in tables.items():
        path = out_dir / name
        write_parquet(path, table)
        files[name] = {"rows": table.num_rows, "bytes": path.stat().st_size, "sha256": _sha256(path)}
    finished = datetime.now(timezone.utc)
    manifest = {
        "status": "complete",
        **_identity(cfg),
        "started": started.isoformat(),
        "finished": finished.isoformat(),
        "wall_seconds": round((finished - started).total_seconds(), 3),
        "host": platform.node(),
        "pid": os.getpid(),
        "files": files,
        "versions": {"python": platform.python_version(), **{p: package_version(p) for p in PACKAGES}},
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


#: Files a run writes; :func:`begin_run` removes those an earlier attempt left.
RUN_FILES = ("summary.parquet", "days.parquet", "contacts.parquet", "decoys.parquet")


def _identity(cfg: Config) -> dict[str, Any]:
    return {"seed": cfg.seed, "replicate": cfg.replicate, "run_seed": run_seed(cfg),
            "config_hash": config_hash(cfg), "exposim_version": package_version("exposim")}


def begin_run(out_dir: Path, cfg: Config, started: datetime, extra: dict[str, Any] | None = None) -> None:
    """Mark ``out_dir`` as a run in progress, clearing the tables and temporary files of any earlier attempt."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    for stale in [*(out_dir / n for n in RUN_FILES), *out_dir.glob(".*.tmp")]:
        stale.unlink(missing_ok=True)
    write_json(out_dir / MANIFEST, {"status": "running", **_identity(cfg), "started": started.isoformat(),
                                    "host": platform.node(), "pid": os.getpid(), **(extra or {}),
                                    "config": config_dict(cfg)})


def fail_run(out_dir: Path, cfg: Config, started: datetime, error: BaseException, trace: str,
             extra: dict[str, Any] | None = None) -> None:
    """Record that the run in ``out_dir`` failed, with its error; the folder's tables are not a result."""
    finished = datetime.now(timezone.utc)
    Path(out_dir).mkdir(parents=True, exist_ok=True)
    write_json(Path(out_dir) / MANIFEST, {
        "status": "failed", **_identity(cfg), "started": started.isoformat(), "finished": finished.isoformat(),
        "error": f"{type(error).__name__}: {error}", "traceback": trace, "host": platform.node(),
        **(extra or {}), "config": config_dict(cfg)})


def verify_run(out_dir: Path, cfg: Config) -> str | None:
    """Why ``out_dir`` does not hold a complete, intact run of ``cfg`` (None when it does).

    Complete means: the manifest says ``complete``, was written for the same
    config (hash) by the same exposim version, and every table it lists is
    there with the recorded size and SHA-256.
    """
    manifest = read_manifest(out_dir)
    if manifest is None:
        return "no manifest"
    status = manifest.get("status")
    if status != "complete":
        return f"status is {status!r}" + (" (the job was interrupted)" if status == "running" else "")
    if manifest.get("config_hash") != config_hash(cfg):
        return "it was run with a different config"
    if manifest.get("exposim_version") != package_version("exposim"):
        return f"it was written by exposim {manifest.get('exposim_version')}, this is {package_version('exposim')}"
    return verify_files(out_dir, manifest)


def verify_files(out_dir: Path, manifest: dict[str, Any]) -> str | None:
    """Why the tables a complete manifest lists are not all there and intact (None when they are)."""
    for name, meta in manifest.get("files", {}).items():
        path = Path(out_dir) / name
        if not path.is_file():
            return f"{name} is missing"
        if path.stat().st_size != meta.get("bytes") or _sha256(path) != meta.get("sha256"):
            return f"{name} does not match its checksum"
    return None
