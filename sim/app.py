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

log = logging.getLogger(__name__)

KEY_FIGURES = (
    ("minor_violating_prevalence_per_10k", "violating impressions per 10k, minors (prevalence)"),
    ("minor_borderline_prevalence_per_10k", "borderline (suggestive) impressions per 10k, minors"),
    ("adult_violating_prevalence_per_10k", "violating impressions per 10k, adults"),
    ("minor_exposed_7d_share", "minors with a harmful impression (any class) in 7 days"),
    ("minor_13_15_sexual_image_7d_share", "13-15s who saw an explicit image in 7 days (feed or message)"),
    ("minor_13_15_sexual_advance_7d_share", "13-15s with an unwanted sexual advance in 7 days"),
    ("minor_unwanted_contact_7d_share", "minors contacted by an adult stranger in 7 days"),
    ("unwanted_contact_from_offenders_per_1k_minor_days", "unwanted contacts from offenders per 1,000 minor-days"),
    ("unwanted_contact_from_other_adults_per_1k_minor_days", "  from other adults"),
    ("unwanted_contact_share_via_suggestion_offenders", "offenders' unwanted contact via account suggestions"),
    ("unwanted_contact_share_via_suggestion_other_adults", "  other adults' unwanted contact via suggestions"),
    ("decoy_days_to_first_harm", "decoys: median day of first harmful impression"),
    ("decoy_days_to_first_unwanted_contact", "decoys: median day of first unwanted contact"),
    ("decoy_unwanted_contacts_from_offenders_per_week", "decoys: unwanted contacts from offenders per week"),
    ("decoy_sexual_advances_per_week", "decoys: unwanted sexual advances per week"),
    ("decoy_harmful_impressions_per_week", "decoys: harmful impressions per week"),
    ("legit_contact_prevented_share", "cost: ordinary adults' contact blocked or prevented"),
    ("minor_benign_withheld_per_1k_impressions", "cost: benign items withheld per 1,000 minor impressions"),
    ("benign_messages_blurred_share", "cost: benign messages to minors blurred"),
    ("adults_wrongly_protected_per_1k_adults", "cost: adults wrongly treated as minors per 1,000"),
    ("minor_engagements_per_minor_day", "cost: minors' engagements per minor-day"),
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
    from sim.runner import run          # the model and its kernels: only where a job runs

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
