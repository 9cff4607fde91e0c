"""The Hydra task: one job's config -> validate -> run -> write -> print.

Core objects: :func:`hydra_main`, :func:`format_summary`.

``python -m sim`` (:mod:`sim.__main__`) checks the whole command first
(:mod:`sim.preflight`), so a configuration error exits with status 2 before
Hydra creates any folder; this module is what Hydra then runs for each job.
The config tree and its schema are in :mod:`sim.compose`.
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import Any

import hydra
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from omegaconf import DictConfig
from tqdm import tqdm

from sim.compose import CONFIG_DIR, to_config
from sim.config import CONFIG_ERROR_EXIT, ConfigError, validate
from sim.runner import run

log = logging.getLogger(__name__)

KEY_FIGURES = (
    ("minor_harm_prevalence_per_10k", "harmful impressions per 10k, minors"),
    ("adult_harm_prevalence_per_10k", "harmful impressions per 10k, adults"),
    ("minor_exposed_7d_share", "minors with a harmful impression in 7 days"),
    ("minor_13_15_exposed_7d_share", "  of them aged 13-15"),
    ("minor_explicit_exposed_7d_share", "minors with an explicit impression in 7 days"),
    ("minor_engagements_per_session", "minors' engagements per session"),
    ("minor_unwanted_contact_7d_share", "minors contacted by an adult stranger in 7 days"),
    ("minor_13_15_sexual_contact_7d_share", "13-15-year-olds with a sexual contact in 7 days"),
    ("unwanted_contact_per_1k_minor_days", "unwanted contacts per 1,000 minor-days"),
    ("unwanted_contact_share_via_suggestion", "  share that came through account suggestions"),
    ("decoy_days_to_first_harm", "decoys: median day of first harmful impression"),
    ("decoy_days_to_first_unwanted_contact", "decoys: median day of first unwanted contact"),
    ("decoy_unwanted_contacts_per_week", "decoys: unwanted contacts per week"),
    ("decoy_harmful_impressions_per_week", "decoys: harmful impressions per week"),
    ("benign_removed_share", "benign uploads wrongly removed"),
    ("contacts_blocked_by_safeguards", "contacts stopped by safeguards per 1,000 minor-days"),
    ("legit_contact_blocked_share", "known adults' contacts to minors blocked"),
    ("offenders_banned_share", "offenders banned by the end"),
)


def format_summary(summary: dict[str, float], out_dir: Path) -> str:
    """The short table printed at the end of a run."""
    width = max(len(label) for _, label in KEY_FIGURES)
    lines = [f"{label:<{width}}  {summary.get(key, float('nan')):>10.4g}" for key, label in KEY_FIGURES]
    files = sorted(p.name for p in out_dir.iterdir() if p.suffix in (".parquet", ".json"))
    lines.append(f"results: {out_dir}  ({', '.join(files)})")
    return "\n".join(lines)


def _job_extra(hc: Any) -> dict[str, Any]:
    """What the manifest records about the Hydra job: its overrides (the setting's name) and number."""
    extra: dict[str, Any] = {"overrides": list(hc.overrides.task)}
    if hc.mode == RunMode.MULTIRUN:
        extra["sweep"] = {"dir": str(Path(hc.sweep.dir).resolve()), "job_num": hc.job.num}
    return extra


@hydra.main(version_base="1.3", config_path=str(CONFIG_DIR), config_name="config")
def hydra_main(cfg: DictConfig) -> dict[str, float]:
    """Run one job of Hydra's (single or multi-)run; returns the run's summary figures."""
    # Hydra configures the root logger at INFO; Mesa would then log every step.
    logging.getLogger("MESA").setLevel(logging.WARNING)
    hc = HydraConfig.get()
    single = hc.mode != RunMode.MULTIRUN
    out_dir = Path(hc.runtime.output_dir)
    try:
        config = validate(to_config(cfg))
        # A long single run shows a bar over days (on a terminal only; jobs of a sweep log instead).
        with tqdm(total=config.days, desc="exposim", unit="day", disable=None if single else True,
                  leave=False, dynamic_ncols=True) as bar:
            # An unreadable network.path surfaces while the world is built: a single run then
            # writes nothing; in a sweep it is that job's failure, recorded in its folder.
            result = run(config, out_dir, progress=lambda day: bar.update(1), resume=config.output.resume,
                         extra=_job_extra(hc), record_input_errors=not single)
    except ConfigError as exc:
        if not single:
            raise           # the launcher records the job as failed and goes on with the others
        print(f"exposim: configuration error: {exc}", file=sys.stderr)
        raise SystemExit(CONFIG_ERROR_EXIT) from None
    except OSError as exc:
        if not single:
            raise
        # A full disk or a folder that went away mid-run: the manifest says "failed" where it could be written.
        print(f"exposim: cannot write the results to {out_dir}: {exc.strerror or exc}", file=sys.stderr)
        raise SystemExit(1) from None
    if result.skipped:
        log.info("%s already holds a complete run of this config; kept (output.resume=false recomputes)",
                 out_dir)
    if single:
        print(format_summary(result.summary, out_dir))
    return result.summary
