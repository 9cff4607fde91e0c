"""Finding the runs of a sweep and reading their summaries as one table.

Core objects: :class:`Run`, :func:`scan_runs`, :func:`assign_settings`,
:func:`summary_dataset`, :func:`decoy_days`, :func:`code_fingerprint`,
:data:`REPLICATE_KEYS`.

A run folder is any folder under the sweep folder that holds a
``manifest.json`` or Hydra's ``.hydra/`` (a job killed before its first write
leaves only the latter). Its state comes from the manifest: ``complete`` (it
lists ``summary.parquet`` and every table its config writes, each matches its
recorded checksum, and the summary can be read), ``failed`` (with the error),
``incomplete`` (running when it stopped, or never started) or ``invalid`` (says
complete, but lists no tables, or a table is missing, altered or unreadable).
Only the tables a complete manifest lists, and so checksummed, are ever read.

The *code* of a run is the source fingerprint its manifest records
(``code.fingerprint``); manifests written before runs recorded one count as
code ``unknown``.

A *setting* is what the sweep varied apart from the replicate: the run's
Hydra overrides minus ``seed`` and ``replicate``, keeping only the keys whose
value differs between runs (``safeguards=all_on``). Runs made without Hydra
carry no overrides; their setting is then named by the config values that
differ between runs. The *replicate* of a run is its (seed, replicate) pair:
runs of different settings with the same replicate share their world and
random draws, so their differences are paired.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from sim.io import MANIFEST, read_manifest, verify_files
from sim.vocabulary import COHORTS, DECOY

#: Config keys that index replicates rather than settings.
REPLICATE_KEYS = ("seed", "replicate")
#: Config keys that never name a setting (they change what is written, not what is simulated).
_NOT_SETTINGS = ("output.",)
STATES = ("complete", "failed", "incomplete", "invalid")
SUMMARY = "summary.parquet"
DAYS = "days.parquet"
#: The code of a run whose manifest records no source fingerprint (written before runs recorded one).
UNKNOWN_CODE = "unknown"
#: Optional tables a run writes when its config's ``output.<flag>`` is true.
_OPTIONAL_TABLES = {"days_table": DAYS, "contacts_table": "contacts.parquet", "decoys_table": "decoys.parquet"}


@dataclass
class Run:
    """One run folder of a sweep."""

    path: Path
    rel: str                    # relative to the sweep folder
    status: str                 # one of STATES
    error: str | None
    manifest: dict[str, Any] | None
    setting: str = ""
    order: int = 0
    replicate: str = ""
    overrides: dict[str, str] = field(default_factory=dict)
    code: str = UNKNOWN_CODE   # source fingerprint of the code that made it (see code_fingerprint)
    #: A complete run's ``summary.parquet`` (read once, when the scan checked it; schema metadata dropped).
    summary: pa.Table | None = field(default=None, repr=False, compare=False)


def code_fingerprint(manifest: dict[str, Any] | None) -> str:
    """The source fingerprint a manifest records (``code.fingerprint``), or :data:`UNKNOWN_CODE`."""
    code = (manifest or {}).get("code")
    fingerprint = code.get("fingerprint") if isinstance(code, dict) else None
    return fingerprint if isinstance(fingerprint, str) and fingerprint else UNKNOWN_CODE


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0][:200]}" if text else type(exc).__name__


def _expected_tables(manifest: dict[str, Any]) -> list[str]:
    """The tables a complete run of the manifest's config holds: the summary, and those its output switches on."""
    config = manifest.get("config")
    output = config.get("output") if isinstance(config, dict) else None
    output = output if isinstance(output, dict) else {}
    return [SUMMARY] + [name for flag, name in _OPTIONAL_TABLES.items() if output.get(flag) is True]


def _complete_problem(path: Path, manifest: dict[str, Any]) -> tuple[str | None, pa.Table | None]:
    """Why a run whose manifest says ``complete`` cannot be used (None when it can), and its summary table
    when it can (read here once: reading it proves every page is readable).

    Never raises on a malformed manifest or an unreadable table: that is the answer.
    """
    files = manifest.get("files")
    if not isinstance(files, dict) or not files:
        return "its manifest lists no tables", None
    missing = [name for name in _expected_tables(manifest) if name not in files]
    if missing:
        return f"its manifest does not list {', '.join(missing)}", None
    try:
        problem = verify_files(path, manifest)
    except (AttributeError, TypeError, ValueError, OSError) as exc:
        return f"its manifest's list of tables cannot be checked ({_first_line(exc)})", None
    if problem is not None:
        return problem, None
    try:
        summary = _read_summary(path)
    except (OSError, pa.ArrowException) as exc:
        return f"{SUMMARY} cannot be read ({_first_line(exc)})", None
    if summary.num_rows == 0:
        return f"{SUMMARY} holds no rows", None
    return None, summary


def _read_summary(path: Path) -> pa.Table:
    """A run folder's ``summary.parquet``, without its schema metadata (each run's differs)."""
    return pq.read_table(path / SUMMARY).replace_schema_metadata(None)


def _is_run_folder(path: Path) -> bool:
    return (path / MANIFEST).is_file() or (path / ".hydra").is_dir()


def scan_runs(sweep_dir: Path) -> list[Run]:
    """Every run folder under ``sweep_dir`` (the folder itself included), with its state."""
    sweep_dir = Path(sweep_dir)
    candidates = {p.parent for p in sweep_dir.rglob(MANIFEST)} | {p.parent for p in sweep_dir.rglob(".hydra")}
    runs = []
    for path in sorted(p for p in candidates if _is_run_folder(p) and ".hydra" not in p.parts):
        manifest = read_manifest(path)
        if not isinstance(manifest, dict):     # valid JSON but not an object: no manifest to speak of
            manifest = None
        rel = path.relative_to(sweep_dir).as_posix() or "."
        status = (manifest or {}).get("status")
        summary = None
        if status == "complete":
            problem, summary = _complete_problem(path, manifest)
            state, error = ("complete", None) if problem is None else ("invalid", problem)
        elif status == "failed":
            error = manifest.get("error")
            state, error = "failed", None if error is None else str(error)
        else:
            state = "incomplete"
            error = "the job was interrupted" if status == "running" else "the job never started"
        runs.append(Run(path, rel, state, error, manifest, code=code_fingerprint(manifest), summary=summary))
    return runs


def _parse_overrides(overrides: list[str]) -> dict[str, str]:
    out = {}
    for item in overrides:
        key, _, value = item.partition("=")
        out[key.lstrip("+~")] = value
    return out


def _flat(config: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in config.items():
        if isinstance(value, dict):
            out.update(_flat(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out


def assign_settings(runs: list[Run]) -> None:
    """Name each run's setting and replicate, and order the settings as the sweep launched them."""
    # Only manifests that say what was run (an interrupted one may not) take part in naming.
    with_manifest = [r for r in runs if r.manifest and ("overrides" in r.manifest or "config" in r.manifest)]
    use_overrides = bool(with_manifest) and all("overrides" in r.manifest for r in with_manifest)
    for r in with_manifest:
        if use_overrides:
            r.overrides = _parse_overrides(r.manifest["overrides"])
        else:
            flat = _flat(r.manifest.get("config", {}))
            r.overrides = {k: str(v) for k, v in flat.items() if not k.startswith(_NOT_SETTINGS)}
    keys = sorted({k for r in runs for k in r.overrides} - set(REPLICATE_KEYS))
    varying = [k for k in keys if len({r.overrides.get(k) for r in with_manifest}) > 1]
    first_job: dict[str, float] = {}
    for r in runs:
        m = r.manifest or {}
        if m:
            r.setting = ", ".join(f"{k}={r.overrides[k]}" for k in varying if k in r.overrides) or "all runs"
            r.replicate = f"seed={m.get('seed')},replicate={m.get('replicate', 0)}"
        else:
            r.setting, r.replicate = "(unknown: the job never started)", ""
        job_num = (m.get("sweep") or {}).get("job_num")
        rank = float(job_num) if job_num is not None else float("inf")
        first_job[r.setting] = min(first_job.get(r.setting, float("inf")), rank)
    ordered = sorted(first_job, key=lambda s: (first_job[s], s))
    for r in runs:
        r.order = ordered.index(r.setting)


def summary_dataset(runs: list[Run]) -> pa.Table:
    """The complete runs' ``summary.parquet`` tables (config and summary columns) as one table, with the
    run's ``setting``, ``order``, ``replicate`` and ``run_dir`` added.

    The tables are those :func:`scan_runs` read while checking each run. Their schemas are unified as one
    pyarrow dataset of the files would be (a column some runs lack is null there; types are promoted).
    """
    complete = [r for r in runs if r.status == "complete"]
    if not complete:
        return pa.table({})
    tables = [r.summary if r.summary is not None else _read_summary(r.path) for r in complete]
    rows = [t.num_rows for t in tables]

    def each_run(values: list[Any], kind: pa.DataType) -> pa.Array:   # a run's value on each of its rows
        return pa.array([v for v, n in zip(values, rows) for _ in range(n)], kind)

    return (pa.concat_tables(tables, promote_options="permissive")
            .append_column("setting", each_run([r.setting for r in complete], pa.string()))
            .append_column("order", each_run([r.order for r in complete], pa.int32()))
            .append_column("replicate_key", each_run([r.replicate for r in complete], pa.string()))
            .append_column("run_dir", each_run([r.rel for r in complete], pa.string())))


def decoy_days(runs: list[Run], columns: list[str]) -> dict[str, np.ndarray]:
    """Per complete run whose manifest lists a ``days.parquet``: the decoy cohort's ``columns`` by day.

    Returns run folder -> array (days x (1 + len(columns))), the first column
    being the number of decoys that day.
    """
    out = {}
    for r in runs:
        path = r.path / DAYS
        # Only a listed table has been checked against its checksum (scan_runs); an unlisted one is not read.
        if r.status != "complete" or DAYS not in ((r.manifest or {}).get("files") or {}) or not path.is_file():
            continue
        table = pq.read_table(path, columns=["day", "cohort", "accounts", *columns])
        table = table.filter(pc.equal(table["cohort"], COHORTS[DECOY])).sort_by("day")
        out[r.rel] = np.column_stack([table[c].to_numpy().astype(float) for c in ["accounts", *columns]])
    return out


def runs_table(runs: list[Run]) -> pa.Table:
    """One row per run folder: where, which setting and replicate, its state and error."""
    return pa.table({
        "run_dir": pa.array([r.rel for r in runs], pa.string()),
        "setting": pa.array([r.setting for r in runs], pa.string()),
        "replicate": pa.array([r.replicate for r in runs], pa.string()),
        "status": pa.array([r.status for r in runs], pa.string()),
        "error": pa.array([r.error for r in runs], pa.string()),
    })
