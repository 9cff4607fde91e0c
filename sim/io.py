"""Writing a run: Parquet tables with explicit schemas, and the run manifest.

Core objects: :func:`begin_run`, :func:`write_run`, :func:`fail_run`,
:func:`verify_run`, :func:`verify_files`, :func:`write_parquet`, :func:`config_hash`,
:func:`code_identity`, :func:`expected_files`, :func:`flatten_config`, :data:`MANIFEST`,
:func:`read_manifest`.

A run folder's life: :func:`begin_run` clears what an earlier attempt left and
writes a manifest with ``status: running``; the run then ends in
:func:`write_run` (tables, then the manifest with ``status: complete``) or in
:func:`fail_run` (``status: failed`` with the error). A job killed outright
leaves ``running`` behind, which no reader takes for a result. Every file is
written to a temporary name in the run folder and renamed into place, so a
reader never sees half a file; the complete manifest records each table's size
and SHA-256, which :func:`verify_run` checks before a sweep skips the run.

A run is reused only when it is what the current code computes from the
current inputs: its identity is the config hash (which covers the content of
every input file, :mod:`sim.inputs`) and the fingerprint of the package's
source (:func:`code_identity`; the git commit and a dirty flag are recorded
beside it where there is a checkout). Files are created with the user's umask,
like any other file, so collaborators can read and verify them.
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
import uuid
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from sim.config import Config, run_seed
from sim.inputs import input_files

MANIFEST = "manifest.json"
PACKAGES = ("exposim", "mesa", "numpy", "networkx", "pyarrow", "hydra-core", "omegaconf")


def config_dict(cfg: Config) -> dict[str, Any]:
    return dataclasses.asdict(cfg)


def config_hash(cfg: Config) -> str:
    """SHA-256 of the canonical JSON of the resolved config (identifies a setting + seed + replicate).

    The content hash of every input file is part of it (a rewritten graph file
    makes a different run). ``output.resume`` is left out: it says whether to
    skip a finished run, not what a run is.
    """
    identity = config_dict(cfg)
    identity["output"].pop("resume", None)
    inputs = input_files(cfg)
    if inputs:      # a graph file's content is part of what a run is, not only its path
        identity["inputs"] = {key: f.sha256 for key, f in sorted(inputs.items())}
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


def _temporary_name(path: Path) -> Path:
    """A fresh hidden name beside ``path`` (``.name.<random>.tmp``), which :func:`begin_run` clears."""
    return path.parent / f".{path.name}.{uuid.uuid4().hex[:12]}.tmp"


def _create(path: Path) -> int:
    # os.open with 0o666 lets the umask decide the mode, as for any file the user
    # creates (tempfile.mkstemp would make it 0600 whatever the umask).
    return os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)


def write_parquet(path: Path, table: pa.Table) -> None:
    """Write ``table`` to ``path`` atomically (temporary file in the same folder, then rename)."""
    path = Path(path)
    tmp = _temporary_name(path)
    try:
        # Written through a file this function owns and closes, even when the write fails:
        # on a full disk pyarrow's own stream would stay open (its writer lives on in the
        # traceback), and an unlinked but open file frees no room for the failed manifest.
        with open(_create(tmp), "wb", buffering=0) as fh:
            pq.write_table(table, fh, compression="zstd", write_statistics=True)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def write_json(path: Path, obj: Any) -> None:
    """Write JSON atomically."""
    path = Path(path)
    tmp = _temporary_name(path)
    try:
        with os.fdopen(_create(tmp), "w") as fh:
            json.dump(obj, fh, indent=2, sort_keys=False, default=_json_default)
            fh.write("\n")
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
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


PACKAGE_DIR = Path(__file__).resolve().parent


def _git(*args: str) -> str | None:
    try:
        out = subprocess.run(["git", "-C", str(PACKAGE_DIR), *args], capture_output=True, text=True,
                             timeout=5, check=False)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout if out.returncode == 0 else None


def git_commit() -> str | None:
    """The commit of the source tree the package runs from, if it is a git checkout."""
    out = _git("rev-parse", "HEAD")
    return out.strip() or None if out is not None else None


def source_fingerprint(package_dir: Path = PACKAGE_DIR) -> str:
    """SHA-256 over the package's Python source: every ``*.py`` under it, by relative path and content.

    This is what decides whether a finished run was made by the code that is
    running now. Documentation, tests and benchmarks are outside the package and
    do not count; the config tree does not either, since what it sets is already
    in the config hash.
    """
    h = hashlib.sha256()
    for path in sorted(package_dir.rglob("*.py")):
        if "__pycache__" in path.parts:
            continue
        h.update(path.relative_to(package_dir).as_posix().encode() + b"\0")
        h.update(path.read_bytes() + b"\0")
    return h.hexdigest()


_CODE: dict[str, Any] | None = None


def code_identity() -> dict[str, Any]:
    """The code a run is made by: the source fingerprint, and the git commit and dirty flag where known.

    Computed once per process: the code a process runs does not change under it.
    """
    global _CODE
    if _CODE is None:
        status = _git("status", "--porcelain", "--untracked-files=no")
        _CODE = {"fingerprint": source_fingerprint(), "git_commit": git_commit(),
                 "git_dirty": None if status is None else bool(status.strip())}
    return dict(_CODE)


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
        **extra,
        "config": config_dict(cfg),
    }
    write_json(manifest_path, manifest)
    return manifest_path


def read_manifest(out_dir: Path) -> dict[str, Any] | None:
    """The manifest of a run folder, or None if there is none (or it is unreadable)."""
    try:
        manifest = json.loads((Path(out_dir) / MANIFEST).read_text())
    except (OSError, ValueError):
        return None
    return manifest if isinstance(manifest, dict) else None


#: Files a run writes; :func:`begin_run` removes those an earlier attempt left.
RUN_FILES = ("summary.parquet", "days.parquet", "contacts.parquet", "decoys.parquet")


def _identity(cfg: Config) -> dict[str, Any]:
    return {"seed": cfg.seed, "replicate": cfg.replicate, "run_seed": run_seed(cfg),
            "config_hash": config_hash(cfg), "exposim_version": package_version("exposim"),
            "code": code_identity(),
            "inputs": {key: dataclasses.asdict(f) for key, f in input_files(cfg).items()}}


def expected_files(cfg: Config) -> tuple[str, ...]:
    """The tables a complete run of ``cfg`` holds (``summary.parquet`` always; the others as configured)."""
    out = cfg.output
    wanted = {"summary.parquet": True, "days.parquet": out.days_table, "contacts.parquet": out.contacts_table,
              "decoys.parquet": out.decoys_table}
    return tuple(name for name in RUN_FILES if wanted[name])


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
    """Record that the run in ``out_dir`` failed, with its error, and remove its tables.

    The tables go first: they are not a result, and on a full disk removing them
    is what frees the room to write the ``failed`` manifest. If even that cannot
    be written, the manifest left says ``running`` (or there is none), which no
    reader takes for a result either.
    """
    finished = datetime.now(timezone.utc)
    out_dir = Path(out_dir)
    if out_dir.is_dir():
        for stale in [*(out_dir / n for n in RUN_FILES), *out_dir.glob(".*.tmp")]:
            stale.unlink(missing_ok=True)
    out_dir.mkdir(parents=True, exist_ok=True)
    try:
        _write_failed(out_dir, cfg, started, finished, error, trace, extra)
    except OSError:
        pass        # the manifest left says "running" (or there is none): still never a result


def _write_failed(out_dir: Path, cfg: Config, started: datetime, finished: datetime, error: BaseException,
                  trace: str, extra: dict[str, Any] | None) -> None:
    write_json(Path(out_dir) / MANIFEST, {
        "status": "failed", **_identity(cfg), "started": started.isoformat(), "finished": finished.isoformat(),
        "error": f"{type(error).__name__}: {error}", "traceback": trace, "host": platform.node(),
        **(extra or {}), "config": config_dict(cfg)})


def verify_run(out_dir: Path, cfg: Config) -> str | None:
    """Why ``out_dir`` does not hold a complete, intact run of ``cfg`` (None when it does).

    Complete means: the manifest says ``complete``; it was written for the same
    config (hash, which covers the input files' content) by the same code
    (source fingerprint); and it lists every table the config writes, each there
    with the recorded size and SHA-256.
    """
    manifest = read_manifest(out_dir)
    if manifest is None:
        if (Path(out_dir) / MANIFEST).exists():
            return "its manifest.json cannot be read (not a JSON object)"
        return "no manifest"
    status = manifest.get("status")
    if status != "complete":
        return f"status is {status!r}" + (" (the job was interrupted)" if status == "running" else "")
    if manifest.get("config_hash") != config_hash(cfg):
        changed = [key for key, f in input_files(cfg).items()
                   if (manifest.get("inputs") or {}).get(key, {}).get("sha256") != f.sha256]
        if changed:
            return f"its input file changed since ({', '.join(changed)})"
        return "it was run with a different config"
    made_by = (manifest.get("code") or {}).get("fingerprint")
    if made_by != code_identity()["fingerprint"]:
        return ("it was made by different code (source fingerprint "
                f"{(made_by or 'unknown')[:12]}, now {code_identity()['fingerprint'][:12]})")
    return verify_files(out_dir, manifest, expected_files(cfg))


def verify_files(out_dir: Path, manifest: dict[str, Any], expected: tuple[str, ...] = ("summary.parquet",)) -> str | None:
    """Why the tables of a complete manifest are not all there and intact (None when they are).

    Args:
        out_dir: the run folder.
        manifest: its manifest.
        expected: tables the manifest must list (a manifest edited to list
            fewer, or none, does not describe a complete run).
    """
    files = manifest.get("files")
    if not isinstance(files, dict) or not files:
        return "its manifest lists no tables"
    missing = [name for name in expected if name not in files]
    if missing:
        return f"its manifest does not list {', '.join(missing)}"
    for name, meta in files.items():
        path = Path(out_dir) / name
        if not path.is_file():
            return f"{name} is missing"
        if path.stat().st_size != meta.get("bytes") or _sha256(path) != meta.get("sha256"):
            return f"{name} does not match its checksum"
    return None
