"""One run from a validated config to a complete run folder, without Hydra.

Core objects: :func:`run`, :class:`RunResult`.

This is what the Hydra app calls for each job, and what notebooks, tests and
benchmarks call directly.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable

from sim.config import Config, validate
from sim.io import columns_table, summary_table, write_run
from sim.model import ExposureModel


@dataclass
class RunResult:
    """What a finished run produced."""

    summary: dict[str, float]
    out_dir: Path
    manifest: Path
    model: ExposureModel


def run(config: Config, out_dir: str | Path, progress: Callable[[int], None] | None = None) -> RunResult:
    """Validate, build, simulate ``config.days`` days and write the run folder.

    Files: ``summary.parquet`` (one row), ``days.parquet`` (day x cohort),
    ``contacts.parquet`` (day x cohort x sender x channel x kind),
    ``decoys.parquet`` (one row per decoy), and ``manifest.json`` last.
    """
    started = datetime.now(timezone.utc)
    validate(config)
    model = ExposureModel(config)
    model.run(progress=progress)
    summary = model.summary()
    tables = {"summary.parquet": summary_table(summary, config)}
    if config.output.days_table:
        tables["days.parquet"] = columns_table(model.day_table(), config)
    if config.output.contacts_table:
        tables["contacts.parquet"] = columns_table(model.contact_table(), config)
    if config.output.decoys_table:
        tables["decoys.parquet"] = columns_table(model.decoy_table(), config)
    extra = {
        "graph": model.graph_stats,
        "population": model.population.summary(),
        "groups": {"n": int(model.groups.n_groups), "harmful": int(model.groups.harmful.sum())},
        "safeguards_enabled": model.safeguards.names,
        "feed_policy": config.recommender.feed,
    }
    manifest = write_run(Path(out_dir), config, tables, extra, started)
    return RunResult(summary=summary, out_dir=Path(out_dir), manifest=manifest, model=model)
