"""One run from a validated config to a complete run folder, without Hydra.

Core objects: :func:`run`, :class:`RunResult`, :func:`read_summary`.

This is what the Hydra app calls for each job, and what notebooks, tests and
benchmarks call directly. A run folder is either complete and verifiable or
visibly not (see :mod:`sim.io`): the manifest says ``running`` while the model
runs, ``failed`` (with the error) if it raised, ``complete`` once every table
is written.
"""

from __future__ import annotations

import logging
import traceback
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable

import pyarrow.parquet as pq

from sim.config import Config, ConfigError, validate
from sim.inputs import resolve_inputs
from sim.io import (MANIFEST, begin_run, columns_table, fail_run, flatten_config, summary_table, verify_run,
                    write_run)
from sim.model import ExposureModel
from sim.resources import keep_freed_memory

log = logging.getLogger(__name__)


@dataclass
class RunResult:
    """What a finished run produced (``skipped``: it was already complete, nothing was recomputed)."""

    summary: dict[str, float]
    out_dir: Path
    manifest: Path
    model: ExposureModel | None
    skipped: bool = False


def read_summary(out_dir: str | Path, config: Config) -> dict[str, float]:
    """The summary figures of a written run (the config columns of summary.parquet left out)."""
    row = pq.read_table(Path(out_dir) / "summary.parquet").to_pylist()[0]
    config_keys = set(flatten_config(config))
    return {k: v for k, v in row.items() if k not in config_keys}


def run(config: Config, out_dir: str | Path, progress: Callable[[int], None] | None = None, *,
        resume: bool = False, extra: dict[str, Any] | None = None,
        record_input_errors: bool = False) -> RunResult:
    """Validate, build, simulate ``config.days`` days and write the run folder.

    The config is resolved against its input files first (:func:`sim.inputs.resolve_inputs`:
    a graph file sets ``population.n``), and that resolved config is what the
    tables and the manifest record.

    Files: ``summary.parquet`` (one row), ``days.parquet`` (day x cohort),
    ``contacts.parquet`` (day x cohort x sender x channel x kind),
    ``decoys.parquet`` (one row per decoy), and ``manifest.json`` last.

    Args:
        config: the run's settings.
        out_dir: the run folder.
        progress: called with the day number after each simulated day.
        resume: when ``out_dir`` already holds a complete, verified run of this
            config (:func:`sim.io.verify_run`), return its summary without
            recomputing (``RunResult.skipped``).
        extra: more manifest entries (the Hydra app records the job's overrides).
        record_input_errors: what an input error found while the world is built
            (:class:`sim.config.ConfigError`, e.g. an unreadable network file)
            leaves behind: nothing (the default: a single run stops on bad input
            and writes nothing), or a ``failed`` manifest like any other failure
            (a job of a sweep, so the sweep's status names it).
    """
    # A graph file settles the population size: the config the run records is the one it runs.
    config = resolve_inputs(validate(config))
    out_dir = Path(out_dir)
    if resume:
        why = verify_run(out_dir, config)
        if why is None:
            return RunResult(summary=read_summary(out_dir, config), out_dir=out_dir, manifest=out_dir / MANIFEST,
                             model=None, skipped=True)
        if why != "no manifest":
            log.info("%s: recomputing the run: %s", out_dir, why)
    started = datetime.now(timezone.utc)
    extra = dict(extra or {})
    keep_freed_memory(config)        # large worlds: reuse freed arrays' pages from day to day, given room
    try:
        model = ExposureModel(config)
    except BaseException as exc:
        if record_input_errors or not isinstance(exc, ConfigError):
            fail_run(out_dir, config, started, exc, traceback.format_exc(), extra)
        raise
    begin_run(out_dir, config, started, extra)
    try:
        model.run(progress=progress)
        summary = model.summary()
        tables = {"summary.parquet": summary_table(summary, config)}
        if config.output.days_table:
            tables["days.parquet"] = columns_table(model.day_table(), config)
        if config.output.contacts_table:
            tables["contacts.parquet"] = columns_table(model.contact_table(), config)
        if config.output.decoys_table:
            tables["decoys.parquet"] = columns_table(model.decoy_table(), config)
        extra.update({
            "graph": model.graph_stats,
            "population": model.population.summary(),
            "groups": {"n": int(model.groups.n_groups), "harmful": int(model.groups.harmful.sum())},
            "safeguards_enabled": model.safeguards.names,
            "feed_policy": config.recommender.feed,
        })
        manifest = write_run(out_dir, config, tables, extra, started)
    except BaseException as exc:
        # KeyboardInterrupt too: the folder must never look like a result.
        fail_run(out_dir, config, started, exc, traceback.format_exc(), extra)
        raise
    return RunResult(summary=summary, out_dir=out_dir, manifest=manifest, model=model)
