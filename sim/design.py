"""Parameter designs: many points of a parameter space, each run as an ordinary job.

Core objects: :func:`write_design`, :func:`read_design`, :func:`apply_design_row`,
:func:`sweep_design`, :func:`collect_summaries`, :func:`leaf_keys`.

Calibration (:mod:`sim.calibrate`) and global sensitivity analysis
(:mod:`sim.sensitivity`) both evaluate the model at points that are not a
grid. A *design* is a Parquet table with one column per dotted config key
(``contact.offender_attempts_per_day``) and one row per point. A run names a
point with ``design.path=<table> design.row=<i>``; a sweep over
``design.row=range(N)`` then runs every point through Hydra's launchers (joblib
here, Ray or SLURM on a cluster) with the sweep's resume, fault handling and
run identity. :func:`sim.inputs.resolve_inputs` applies the row before the run
starts, so the config a run records (manifest, ``summary.parquet``) holds the
values it actually ran with, and the table's content hash is part of the run's
identity like any input file's.

A design may only set model parameters: not ``seed`` or ``replicate`` (a
sweep sets those), not ``days``, not ``design.*`` or ``output.*``. Every
value is checked against the key's range by :func:`sim.config.validate`.
"""

from __future__ import annotations

import copy
import dataclasses
import os
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from sim.config import Config, ConfigError, schema, validate

#: Top-level keys a design may not set: the sweep's own (seed, replicate), the run's length and what it writes.
FORBIDDEN = ("seed", "replicate", "days", "measure_days", "design", "output", "network.kind", "network.path",
             "safeguards.preset")


def leaf_keys(cls: type = None, prefix: str = "") -> dict[str, dataclasses.Field]:
    """Every leaf key of the config schema, dotted, with its dataclass field."""
    cls = cls or schema()
    out: dict[str, dataclasses.Field] = {}
    for f in dataclasses.fields(cls):
        key = f"{prefix}{f.name}"
        factory = f.default_factory
        if factory is not dataclasses.MISSING and dataclasses.is_dataclass(factory):
            out.update(leaf_keys(factory, key + "."))
        else:
            out[key] = f
    return out


def _refused(key: str) -> bool:
    return any(key == k or key.startswith(k + ".") for k in FORBIDDEN)


def write_design(path: str, points: dict[str, list[Any]]) -> None:
    """Write a design table: ``points`` maps each dotted key to its value per row (all the same length).

    Written to a temporary file and renamed, so a reader never sees half a table.

    Raises:
        ConfigError: an unknown key, a key a design may not set, or columns of unequal length.
    """
    keys = leaf_keys()
    lengths = {len(v) for v in points.values()}
    if len(lengths) > 1:
        raise ConfigError(f"design {path!r}: columns of unequal length {sorted(lengths)}")
    for key in points:
        if key not in keys:
            raise ConfigError(f"design {path!r}: {key!r} is not a config key")
        if _refused(key):
            raise ConfigError(f"design {path!r}: {key!r} cannot be set by a design; allowed are model parameters, "
                              f"not {', '.join(FORBIDDEN)}")
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    tmp = f"{path}.tmp-{os.getpid()}"
    pq.write_table(pa.table({k: list(v) for k, v in points.items()}), tmp)
    os.replace(tmp, path)


@lru_cache(maxsize=32)
def _read_cached(abspath: str, size: int, mtime_ns: int) -> tuple[tuple[str, ...], tuple[tuple[Any, ...], ...]]:
    table = pq.read_table(abspath)
    return tuple(table.column_names), tuple(tuple(table.column(i).to_pylist()) for i in range(table.num_columns))


def read_design(path: str) -> tuple[tuple[str, ...], tuple[tuple[Any, ...], ...]]:
    """``(keys, columns)`` of a design table (cached while its size and modification time stay the same).

    Raises:
        ConfigError: the file is missing or is not a Parquet table; the message names ``design.path``.
    """
    try:
        st = os.stat(path)
    except OSError as err:
        raise ConfigError(f"design.path={path!r}: cannot be read ({err.strerror})") from None
    try:
        return _read_cached(os.path.abspath(path), st.st_size, st.st_mtime_ns)
    except (pa.ArrowInvalid, OSError) as err:
        raise ConfigError(f"design.path={path!r} is not a Parquet table: {err}") from None


def _coerce(key: str, field: dataclasses.Field, value: Any) -> Any:
    default = field.default if field.default is not dataclasses.MISSING else field.default_factory()
    if value is None:
        raise ConfigError(f"design value {key}=None: every point needs a value")
    if isinstance(default, bool):
        if not isinstance(value, bool):
            raise ConfigError(f"design value {key}={value!r}: must be true or false")
        return value
    if isinstance(default, int):
        if float(value) != int(value):
            raise ConfigError(f"design value {key}={value!r}: must be a whole number")
        return int(value)
    if isinstance(default, float):
        return float(value)
    return value


def apply_design_row(cfg: Config) -> Config:
    """The config with row ``design.row`` of ``design.path`` applied (``cfg`` itself when no design is named).

    Raises:
        ConfigError: naming ``design.path``/``design.row`` and what is allowed, or the key whose value
            is out of range.
    """
    path = cfg.design.path
    if not path:
        return cfg
    names, columns = read_design(path)
    n_rows = len(columns[0]) if columns else 0
    if not 0 <= cfg.design.row < n_rows:
        raise ConfigError(f"design.row={cfg.design.row} is out of range: design.path={path!r} holds {n_rows} "
                          f"row(s); allowed 0 <= design.row <= {n_rows - 1}")
    keys = leaf_keys(type(cfg))
    resolved = copy.deepcopy(cfg)
    for name, column in zip(names, columns):
        if name not in keys or _refused(name):
            raise ConfigError(f"design.path={path!r}: column {name!r} is not a model parameter a design may set")
        *parents, leaf = name.split(".")
        node = resolved
        for part in parents:
            node = getattr(node, part)
        setattr(node, leaf, _coerce(name, keys[name], column[cfg.design.row]))
    try:
        return validate(resolved)
    except ConfigError as err:
        raise ConfigError(f"design.path={path!r} row {cfg.design.row}: {err}") from None




# ------------------------------------------------------------------ running a design

@dataclass
class DesignSweep:
    """A design run as one Hydra sweep: its folder, the command that ran it, and its log."""

    sweep_dir: str
    command: list[str]
    returncode: int
    log_path: str


def sweep_design(design_path: str, rows: int, sweep_dir: str, *, replicates: tuple[int, ...] = (0,),
                 settings: tuple[str, ...] = (), overrides: tuple[str, ...] = (), log_path: str | None = None,
                 extra_sweeps: dict[str, str] | None = None) -> DesignSweep:
    """Run rows ``0 .. rows-1`` of a design (x ``replicates``) as one sweep of ``python -m sim -m``.

    The jobs go through everything a sweep has: the pre-flight check, Hydra's
    launcher (joblib, one job per core, unless ``overrides`` choose another, e.g.
    ``hydra/launcher=ray_local``),
    resume (a job already complete in ``sweep_dir`` with the same config, files
    and code is kept) and fault handling. ``settings`` are fixed overrides of
    every job (e.g. a regime's ``safeguards=none``); ``extra_sweeps`` adds swept
    keys (e.g. ``{"safeguards": "none,all_on"}``). The sweep's output goes to
    ``log_path``; the comparison report of ordinary sweeps is not made.

    Returns:
        The sweep, with its exit status (1: some job failed; its folder says why).

    Raises:
        ConfigError: the sweep was refused before it ran (exit status 2); the message is the refusal.
    """
    import shlex
    import subprocess
    import sys

    reps = ",".join(str(r) for r in replicates)
    if not any(o.startswith(("hydra/launcher=", "override hydra/launcher=")) for o in overrides):
        overrides = ("hydra/launcher=joblib", *overrides)      # the local default: one job per core
    command = [sys.executable, "-m", "sim", "-m", f"design.path={os.path.abspath(design_path)}",
               f"design.row=range({rows})", f"replicate={reps}",
               *(f"{k}={v}" for k, v in (extra_sweeps or {}).items()), *settings, *overrides,
               f"hydra.sweep.dir={os.path.abspath(sweep_dir)}", "hydra.callbacks.exposim_sweep.compare=false"]
    log_path = log_path or os.path.join(sweep_dir, "sweep.log")
    os.makedirs(os.path.dirname(os.path.abspath(log_path)), exist_ok=True)
    with open(log_path, "a") as log:
        log.write("$ " + shlex.join(command) + "\n")
        log.flush()
        done = subprocess.run(command, stdout=log, stderr=subprocess.STDOUT, check=False)
    if done.returncode == 2:
        with open(log_path) as log:
            tail = log.read().strip().splitlines()[-3:]
        raise ConfigError("the design's sweep was refused: " + " / ".join(tail))
    return DesignSweep(os.path.abspath(sweep_dir), command, done.returncode, log_path)


def collect_summaries(sweep_dir: str, design_path: str) -> list[dict[str, Any]]:
    """Every complete run of ``design_path`` under ``sweep_dir``: its summary row (config values included).

    A job that failed or never ran has no summary and is simply absent; rows
    are matched by the run's own recorded ``design.row`` and ``replicate``.
    """
    import glob

    rows = []
    want = os.path.abspath(design_path)
    for summary in sorted(glob.glob(os.path.join(sweep_dir, "*", "summary.parquet"))):
        row = pq.read_table(summary).to_pylist()[0]
        if row.get("design.path") and os.path.abspath(row["design.path"]) == want:
            rows.append(row)
    return rows


__all__ = ["FORBIDDEN", "DesignSweep", "apply_design_row", "collect_summaries", "leaf_keys", "read_design",
           "sweep_design", "write_design"]
