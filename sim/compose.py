"""The Hydra config tree and its schema: where the YAML lives and how a composed config becomes a :class:`Config`.

Core objects: :data:`CONFIG_DIR`, :func:`to_config`, :func:`job_dir_name`, :func:`sweep_jobs`.

The tree lives inside the package (``sim/configs``; ``configs/`` at the top of
the repository links to it), so an installed wheel runs from any folder. The
schema is :func:`sim.config.schema` (:class:`sim.config.Config`, with the
config sections of plug-ins' safeguards), registered in Hydra's ConfigStore as
``exposim_schema`` (first in the defaults list of ``config.yaml``), so a wrong
type fails while Hydra composes. Importing this module also registers the
``exposim_job_dir`` resolver that names a sweep job's folder.
"""

from __future__ import annotations

import copy
import hashlib
import os
from pathlib import Path
from typing import Any

from hydra.core.config_store import ConfigStore
from hydra.core.override_parser.overrides_parser import OverridesParser
from omegaconf import DictConfig, OmegaConf, open_dict, read_write
from omegaconf.errors import OmegaConfBaseException

from sim.config import Config, ConfigError, schema

CONFIG_DIR = Path(__file__).resolve().parent / "configs"
BASIC_SWEEPER = "hydra._internal.core_plugins.basic_sweeper.BasicSweeper"
_MAX_DIR_NAME = 180

ConfigStore.instance().store(name="exposim_schema", node=schema())


def to_config(cfg: DictConfig) -> Config:
    """Turn Hydra's composed config into the plain :class:`Config` object the core takes."""
    plain = cfg
    if "hydra" in cfg:          # a job's config as a sweeper composes it: drop the hydra node as run_job does
        plain = copy.deepcopy(cfg)
        with read_write(plain), open_dict(plain):
            del plain["hydra"]
    try:
        obj = OmegaConf.to_object(plain)
    except OmegaConfBaseException as exc:
        raise ConfigError(str(exc).strip()) from None
    if not isinstance(obj, Config):
        raise ConfigError("the composed config does not follow the exposim schema (is 'exposim_schema' "
                          "first in the defaults list of sim/configs/config.yaml?)")
    return obj


def job_dir_name(override_dirname: str) -> str:
    """A job's folder name from its overrides (``a=1,b=x``): stable, one path component, not too long.

    ``%`` and the path separator are escaped (``%25``, ``%2F``), so two different
    sets of overrides never share a folder (``a/b`` and ``a%b`` stay apart).
    """
    name = (override_dirname or "default").replace("%", "%25").replace(os.sep, "%2F")
    if name in (".", ".."):
        name = f"default{name}"
    if len(name.encode()) > _MAX_DIR_NAME:
        digest = hashlib.sha256(name.encode()).hexdigest()[:16]
        name = name.encode()[:_MAX_DIR_NAME - 17].decode(errors="ignore") + "~" + digest
    return name


OmegaConf.register_new_resolver("exposim_job_dir", job_dir_name, replace=True)


def sweep_jobs(master: DictConfig, loader: Any) -> list[list[str]] | None:
    """The overrides of every job Hydra's basic sweeper will launch, expanded the way it does.

    Args:
        master: the sweep's config as composed for ``--multirun``.
        loader: Hydra's config loader (for the override grammar).

    Returns:
        One list of ``key=value`` overrides per job, or None for another
        sweeper (whose jobs are known only as it launches them).
    """
    from hydra._internal.core_plugins.basic_sweeper import BasicSweeper

    if OmegaConf.select(master, "hydra.sweeper._target_") != BASIC_SWEEPER:
        return None
    params = OmegaConf.select(master, "hydra.sweeper.params") or {}
    arguments = [f"{k}={v}" for k, v in params.items()] + list(master.hydra.overrides.task)
    parsed = OverridesParser.create(config_loader=loader).parse_overrides(arguments)
    batches = BasicSweeper.split_arguments(parsed, None)
    return [list(job) for batch in batches for job in batch]
