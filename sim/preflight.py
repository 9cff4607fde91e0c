"""Checking a command line before Hydra runs it: a refused command writes nothing.

Core objects: :func:`check`, :func:`jobs_composed_once`, :class:`Checked`, :class:`PlannedRun`,
:func:`check_writable`.

Hydra creates the run folder (with ``.hydra/`` and a log file) before it calls
the task, and launches a sweep's jobs one by one; an error found there leaves
folders behind, or is found only when the one bad job runs. So ``python -m sim``
first composes every run the command asks for, exactly as Hydra will, and
checks it all:

* every override names a key of the schema (with or without ``+``; a typo gets
  a "did you mean"), booleans are ``true`` or ``false``, and no part of the
  config is deleted with ``~`` (which would silently restore defaults);
* each run's config passes :func:`sim.config.validate` and its input files pass
  :func:`sim.inputs.resolve_inputs` (exists, parses, large enough);
* a sweep's jobs have distinct folders, and the launcher's plugin is installed;
* the world fits in memory (:mod:`sim.resources`), and the output folder can
  be created and written.

Only then does Hydra run, with the output folder it was checked against pinned
on its command line (``hydra.run.dir`` / ``hydra.sweep.dir``: a ``${now:...}``
folder name is resolved once, here). Anything refused raises
:class:`sim.config.ConfigError`, which ``sim.__main__`` turns into exit status 2.
"""

from __future__ import annotations

import dataclasses
import difflib
import importlib.util
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hydra._internal.hydra import Hydra
from hydra._internal.utils import create_automatic_config_search_path, get_args_parser
from hydra.core.global_hydra import GlobalHydra
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.core.override_parser.types import Override
from hydra.core.singleton import Singleton
from hydra.errors import HydraException
from hydra.plugins.sweeper import Sweeper
from hydra.types import RunMode
from joblib import delayed
from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException

from sim.compose import CONFIG_DIR, sweep_jobs, to_config
from sim.config import Config, ConfigError, schema, validate
from sim.inputs import resolve_inputs

#: Launcher configs that need an optional extra: name prefix -> (plugin module, extra).
LAUNCHER_EXTRAS = {"ray": ("hydra_plugins.hydra_ray_launcher", "ray"),
                   "slurm": ("hydra_plugins.hydra_submitit_launcher", "slurm"),
                   "submitit": ("hydra_plugins.hydra_submitit_launcher", "slurm")}
#: Launchers whose jobs run on this machine, in parallel up to ``n_jobs`` (memory is checked for them).
LOCAL_LAUNCHERS = ("BasicLauncher", "JoblibLauncher")


@dataclass
class PlannedRun:
    """One run the command will make: its overrides, its resolved config and its folder."""

    overrides: list[str]
    config: Config
    out_dir: Path


@dataclass
class Checked:
    """A command that passed every check.

    Attributes:
        multirun: whether it is a sweep.
        out_dir: the run folder (single run) or the sweep folder.
        runs: every run it will make (None for a sweeper other than Hydra's
            basic one, whose jobs are known only as it launches them).
        pinned: overrides to append so that Hydra uses the folder checked here.
    """

    multirun: bool
    out_dir: Path
    runs: list[PlannedRun] | None
    pinned: list[str]


# ------------------------------------------------------------------ the schema's keys

def _schema_keys(cls: type, prefix: str = "") -> dict[str, Any]:
    """Dotted key -> dataclass field type (sections map to their dataclass)."""
    out: dict[str, Any] = {}
    for f in dataclasses.fields(cls):
        key = f"{prefix}{f.name}"
        sub = f.default_factory if f.default_factory is not dataclasses.MISSING else None
        if sub is not None and dataclasses.is_dataclass(sub):
            out[key] = sub
            out.update(_schema_keys(sub, key + "."))
        else:
            out[key] = f.type
    return out


_KEYS = _schema_keys(schema())          # plug-ins' safeguard sections included


def _is_bool_key(key: str) -> bool:
    typ = _KEYS.get(key)
    return typ is bool or typ == "bool"


def _suggest(key: str, groups: list[str]) -> str:
    close = difflib.get_close_matches(key, list(_KEYS) + groups, n=1, cutoff=0.6)
    return f" (did you mean '{close[0]}'?)" if close else ""


def _check_override(ov: Override, groups: list[str]) -> None:
    """Refuse an override that names no key of the schema, deletes one, or gives a bool a non-bool."""
    key = ov.key_or_group
    line = ov.input_line or key
    if key == "hydra" or key.startswith(("hydra.", "hydra/")):
        return                                  # Hydra checks its own settings
    if ov.is_delete():
        raise ConfigError(f"{line}: removing a part of the config is not allowed (it would silently put the "
                          f"defaults back); set the keys you want instead, e.g. population.n=600")
    base = key.split("@", 1)[0]
    if base in groups:
        return                                  # a config group choice: checked in _check_group_options
    if base in _KEYS and (ov.is_add() or ov.is_force_add()):
        value = line.split("=", 1)[1] if "=" in line else ""
        raise ConfigError(f"{line}: '{base}' is already a key of the config; set it without '+': {base}={value}")
    if base not in _KEYS:
        plus = "; '+' cannot add keys to exposim's config" if ov.is_add() or ov.is_force_add() else ""
        raise ConfigError(f"{line}: there is no key '{base}'{_suggest(base, groups)}{plus}. "
                          f"Every key is listed in docs/CONFIG.md.")


def _check_group_options(ov: Override, loader: Any, groups: list[str]) -> None:
    """A config group's option must exist (Hydra would skip an unknown option of an optional group silently)."""
    key = ov.key_or_group.split("@", 1)[0]
    if key not in groups or ov.is_delete():
        return
    values = list(ov.sweep_string_iterator()) if ov.is_sweep_override() else [ov.get_value_element_as_str()]
    for value in values:
        # An option may sit in a subfolder of the group (safeguards=single/feed_filtering).
        folder, _, option = f"{key}/{value}".rpartition("/")
        options = loader.get_group_options(folder)
        if option not in options:
            named = [f"{folder[len(key) + 1:]}/{o}" if folder != key else o for o in options]
            raise ConfigError(f"{key}={value}: there is no such option{_suggest_among(value, named)}; "
                              f"choose from {', '.join(named) or '(none: no such folder)'}")


def _suggest_among(value: str, options: list[str]) -> str:
    close = difflib.get_close_matches(value, options, n=1, cutoff=0.6)
    return f" (did you mean '{close[0]}'?)" if close else ""


def _check_bool(ov: Override) -> None:
    """A boolean key takes ``true`` or ``false``, nothing that merely converts to one (``2``, ``yes``)."""
    if not _is_bool_key(ov.key_or_group) or ov.is_delete():
        return
    if ov.is_sweep_override():
        values = list(ov.sweep_iterator()) if ov.is_discrete_sweep() else [ov.value()]
    else:
        values = [ov.value()]
    for value in values:
        if not isinstance(value, bool):
            shown = "null" if value is None else value
            raise ConfigError(f"{ov.key_or_group}={shown}: must be true or false")


def _check_tree(node: Any, prefix: str = "") -> None:
    """Refuse keys in the composed config that the schema does not have (e.g. added by a config file)."""
    if not isinstance(node, DictConfig):
        return
    for key in node.keys():
        dotted = f"{prefix}{key}"
        if dotted == "hydra":
            continue
        if dotted not in _KEYS:
            raise ConfigError(f"there is no key '{dotted}'{_suggest(dotted, [])} (set by a config file or an "
                              f"override); every key is listed in docs/CONFIG.md")
        _check_tree(node._get_node(key), dotted + ".")


# ------------------------------------------------------------------ composing like Hydra

def _composition_error(exc: BaseException, argv: list[str]) -> ConfigError:
    """A Hydra or OmegaConf composition error as a one-paragraph message (plus a launcher hint)."""
    # Hydra appends its config search path to a missing-option message; users need the options only.
    parts = [str(exc).split("\nConfig search path:")[0].strip()]
    cause = exc.__cause__
    while cause is not None:
        text = str(cause).strip().split("\n    full_key")[0].strip()
        if text and text not in parts[-1]:
            parts.append(text)
        cause = cause.__cause__
    message = ": ".join(p.rstrip(".") for p in parts if p)
    hint = launcher_hint(argv)
    return ConfigError(message + (f"\n{hint}" if hint else ""))


def launcher_hint(argv: list[str]) -> str | None:
    """If the command asks for a launcher whose plugin is not installed, how to install it."""
    for arg in argv:
        if arg.startswith("hydra/launcher="):
            choice = arg.split("=", 1)[1]
            for prefix, (module, extra) in LAUNCHER_EXTRAS.items():
                if choice.startswith(prefix) and importlib.util.find_spec(module) is None:
                    where = " in its own environment" if extra == "ray" else ""
                    return (f"hydra/launcher={choice} needs the '{extra}' extra: "
                            f"python3 -m pip install -e '.[{extra}]'{where} (see docs/CLUSTERS.md)")
    return None


def _hydra(args: Any) -> Hydra:
    from sim import app

    # The search path Hydra builds for sim.app's @hydra.main, so composition here is the same.
    search_path = create_automatic_config_search_path(app.__file__, None, str(CONFIG_DIR))
    if args.config_dir is not None:
        from hydra.core.config_search_path import SearchPathQuery

        config_dir = os.path.abspath(args.config_dir)
        if not os.path.isdir(config_dir):
            raise ConfigError(f"--config-dir {args.config_dir}: no such folder")
        search_path.prepend(provider="command-line", path=f"file://{config_dir}",
                            anchor=SearchPathQuery(provider="schema"))
    return Hydra.create_main_hydra2(task_name="app", config_search_path=search_path)


def _check_launcher(master: DictConfig, argv: list[str]) -> None:
    """The sweep's launcher plugin must be importable (Ray and SLURM are optional extras)."""
    target = OmegaConf.select(master, "hydra.launcher._target_") or ""
    module = target.rpartition(".")[0]
    try:
        found = bool(module) and importlib.util.find_spec(module) is not None
    except ImportError:         # a parent package is missing
        found = False
    if not found:
        hint = launcher_hint(argv)
        raise ConfigError(f"hydra.launcher: the launcher {target!r} is not installed"
                          + (f"\n{hint}" if hint else ""))


def _run_config(job_cfg: DictConfig, overrides: list[str], parser: OverridesParser, groups: list[str]) -> Config:
    """One run's overrides and composed config, checked and resolved against its input files."""
    for ov in parser.parse_overrides(overrides):
        _check_override(ov, groups)
        _check_bool(ov)
    _check_tree(job_cfg)
    return resolve_inputs(validate(to_config(job_cfg)))


# ------------------------------------------------------------------ resources

def check_writable(folder: Path, key: str) -> None:
    """Refuse an output folder that cannot be created or written (checked without writing anything)."""
    folder = Path(folder)
    probe = folder.absolute()
    try:
        while not probe.exists() and probe.parent != probe:
            if probe.is_symlink():
                raise ConfigError(f"{key}={folder}: {probe} is a broken symbolic link")
            probe = probe.parent
        if not probe.is_dir():
            raise ConfigError(f"{key}={folder}: {probe} is a file, not a folder; choose another folder")
        if not os.access(probe, os.W_OK | os.X_OK):
            raise ConfigError(f"{key}={folder}: {probe} is not writable; choose a folder you can write to")
    except OSError as exc:
        raise ConfigError(f"{key}={folder}: cannot be used ({exc.strerror or exc})") from None


def _launcher_name(master: DictConfig) -> str:
    """The class name of the sweep's Hydra launcher (Hydra's own config names it by import path)."""
    return str(OmegaConf.select(master, "hydra.launcher._target_") or "").rsplit(".", 1)[-1]


def _concurrency(master: DictConfig, n_runs: int) -> int | None:
    """How many runs share this machine's memory at once (None: they run elsewhere)."""
    name = _launcher_name(master)
    if name not in LOCAL_LAUNCHERS:
        return None
    if name == "JoblibLauncher":
        n_jobs = OmegaConf.select(master, "hydra.launcher.n_jobs")
        n_jobs = os.cpu_count() or 1 if n_jobs in (None, -1) else int(n_jobs)
        if n_jobs < 0:
            n_jobs = max(1, (os.cpu_count() or 1) + 1 + n_jobs)
        return max(1, min(n_jobs, n_runs))
    return 1


def _check_memory(configs: list[Config], concurrent: int) -> None:
    """The largest run, times the runs in parallel, must fit in the memory available (:mod:`sim.resources`)."""
    from sim.resources import check_memory, estimate_peak_bytes

    if configs:
        check_memory(max(configs, key=estimate_peak_bytes), concurrent=concurrent)


# ------------------------------------------------------------------ the check

def _given(argv_overrides: list[str], key: str) -> bool:
    return any(o.lstrip("+").split("=", 1)[0] == key for o in argv_overrides)


def quoted(path: str) -> str:
    """A value as a quoted Hydra override value (for paths with spaces, commas or quotes)."""
    return "'" + path.replace("\\", "\\\\").replace("'", "\\'") + "'"


def check(argv: list[str]) -> Checked | None:
    """Compose and check every run ``argv`` asks for, as ``python -m sim`` would run it.

    Args:
        argv: the command line after the program name.

    Returns:
        What was checked, or None for commands that run nothing (``--help``,
        ``--cfg``, ``--info``, shell completion), which Hydra handles alone.

    Raises:
        ConfigError: naming the key or file, the value and what is allowed;
            nothing has been written.
    """
    args = get_args_parser().parse_args(argv)
    if args.help or args.hydra_help or args.cfg or args.info or args.shell_completion:
        return None
    GlobalHydra.instance().clear()
    try:
        return _check(args, argv)
    except (HydraException, OmegaConfBaseException) as exc:
        raise _composition_error(exc, argv) from None
    finally:
        GlobalHydra.instance().clear()


def _check(args: Any, argv: list[str]) -> Checked:
    hydra = _hydra(args)
    loader = hydra.config_loader
    config_name = args.config_name or "config"
    overrides = list(args.overrides)
    parser = OverridesParser.create(config_loader=loader)
    groups = [g for g in loader.list_groups("") if g != "hydra"]
    # Key checks come first, so a typo gets our message rather than Hydra's (whose
    # hint for an unknown key is to add a '+', which exposim's schema does not allow).
    for ov in parser.parse_overrides(overrides):
        _check_override(ov, groups)
        _check_group_options(ov, loader, groups)
        _check_bool(ov)
    multirun = args.multirun or hydra.get_mode(config_name=config_name, overrides=overrides) == RunMode.MULTIRUN
    if not multirun:
        cfg = hydra.compose_config(config_name, overrides, run_mode=RunMode.RUN)
        config = _run_config(cfg, overrides, parser, groups)
        out_dir = Path(str(cfg.hydra.run.dir))
        check_writable(out_dir, "hydra.run.dir")
        _check_memory([config], 1)
        pinned = [] if _given(overrides, "hydra.run.dir") else [f"hydra.run.dir={quoted(str(out_dir))}"]
        return Checked(False, out_dir, [PlannedRun(overrides, config, out_dir)], pinned)

    master = hydra.compose_config(config_name, overrides, run_mode=RunMode.MULTIRUN)
    _check_launcher(master, argv)
    sweep_dir = Path(str(master.hydra.sweep.dir))
    check_writable(sweep_dir, "hydra.sweep.dir")
    pinned = [] if _given(overrides, "hydra.sweep.dir") else [f"hydra.sweep.dir={quoted(str(sweep_dir))}"]
    jobs = sweep_jobs(master, loader)
    if jobs is None:
        return Checked(True, sweep_dir, None, pinned)
    runs, errors = [], []
    for job, outcome in zip(jobs, _compose_jobs(loader, master, jobs, groups)):
        if isinstance(outcome, PlannedRun):
            runs.append(outcome)
        else:
            errors.append(f"  job {' '.join(job) or '(no overrides)'}: {outcome}")
    if errors:
        raise ConfigError(f"{len(errors)} of {len(jobs)} jobs of the sweep have an invalid config; "
                          "nothing was run:\n" + "\n".join(errors))
    _check_folders(runs)
    concurrent = _concurrency(master, len(runs))
    if concurrent is not None:
        _check_memory([r.config for r in runs], concurrent)
    return Checked(True, sweep_dir, runs, pinned)


@contextmanager
def jobs_composed_once(checked: Checked) -> Iterator[None]:
    """While Hydra runs a sweep :func:`check` passed, its sweeper does not compose the jobs again.

    Before it launches a batch, Hydra's basic sweeper composes every job of it
    (``Sweeper.validate_batch_is_legal``) to fail early, which is what
    :func:`check` has just done with the same config loader and the same
    overrides: four seconds of a 30-job sweep spent on a second, identical
    composition. Inside this block a batch made only of checked jobs is taken
    as composed; any other job is composed as Hydra would. The launcher still
    composes each job where it runs it.

    The method is replaced on Hydra's ``Sweeper`` base class: Hydra loads its
    plugins by executing their modules again, so the ``BasicSweeper`` class it
    instantiates is not the one an import gives.
    """
    known = {tuple(run.overrides) for run in checked.runs or []}
    hydra_validation = Sweeper.validate_batch_is_legal

    def validate_unchecked(sweeper: Sweeper, batch: Any) -> None:
        unchecked = [job for job in batch if tuple(job) not in known]
        if unchecked:
            hydra_validation(sweeper, unchecked)

    Sweeper.validate_batch_is_legal = validate_unchecked  # type: ignore[method-assign]
    try:
        yield
    finally:
        Sweeper.validate_batch_is_legal = hydra_validation  # type: ignore[method-assign]


def _compose_job(loader: Any, master: DictConfig, job: list[str], groups: list[str]) -> PlannedRun | str:
    """Compose and check one job of a sweep: its planned run, or what is wrong with it."""
    parser = OverridesParser.create(config_loader=loader)
    try:
        job_cfg = loader.load_sweep_config(master, job)
        config = _run_config(job_cfg, job, parser, groups)
    except (ConfigError, HydraException, OmegaConfBaseException) as exc:
        return str(exc if isinstance(exc, ConfigError) else _composition_error(exc, []))
    return PlannedRun(job, config, Path(str(job_cfg.hydra.sweep.dir)) / str(job_cfg.hydra.sweep.subdir))


def _compose_share(loader: Any, master: DictConfig, jobs: list[list[str]], groups: list[str],
                   singletons: dict[Any, Any]) -> list[PlannedRun | str]:
    """:func:`_compose_job` for a worker's share of the jobs, after taking on Hydra's global state
    (its config store and plugins), as Hydra's joblib launcher gives it to each job."""
    Singleton.set_state(singletons)
    return [_compose_job(loader, master, job, groups) for job in jobs]


def _compose_jobs(loader: Any, master: DictConfig, jobs: list[list[str]],
                  groups: list[str]) -> list[PlannedRun | str]:
    """:func:`_compose_job` for every job: in the joblib launcher's own worker processes when the sweep
    runs on it, otherwise here, one after another.

    The workers are started with the launcher's settings, so the launcher finds
    them running and reuses them (joblib keeps one pool per process): the
    compositions are shared between the cores, each worker taking every n-th
    job, and the workers have imported exposim before the first job arrives.
    """
    pool, workers = _launcher_pool(master, len(jobs))
    if pool is None or workers < 2:
        return [_compose_job(loader, master, job, groups) for job in jobs]
    singletons = Singleton.get_state()
    shares = pool(delayed(_compose_share)(loader, master, jobs[w::workers], groups, singletons)
                  for w in range(workers))
    outcomes: list[PlannedRun | str] = [""] * len(jobs)
    for w, share in enumerate(shares):
        outcomes[w::workers] = share
    return outcomes


def _launcher_pool(master: DictConfig, n_jobs: int) -> tuple[Any, int]:
    """A ``joblib.Parallel`` set up as Hydra's joblib launcher will set up its own, and how many
    workers it runs; ``(None, 1)`` for another launcher."""
    if _launcher_name(master) != "JoblibLauncher":
        return None, 1
    settings = OmegaConf.select(master, "hydra.launcher")
    from hydra_plugins.hydra_joblib_launcher._core import process_joblib_cfg
    from joblib import Parallel

    kwargs = {k: v for k, v in OmegaConf.to_container(settings, resolve=True).items() if k != "_target_"}
    kwargs["backend"] = "loky"          # as the launcher does
    process_joblib_cfg(kwargs)
    return Parallel(**kwargs), _concurrency(master, n_jobs) or 1


def _check_folders(runs: list[PlannedRun]) -> None:
    """Refuse two jobs that would write one folder, and job folders that cannot be written."""
    by_dir: dict[Path, list[PlannedRun]] = {}
    for run in runs:
        by_dir.setdefault(run.out_dir.absolute(), []).append(run)
    clashes = [group for group in by_dir.values() if len(group) > 1]
    if clashes:
        lines = [f"  {group[0].out_dir}: " + "; ".join(" ".join(r.overrides) for r in group) for group in clashes]
        raise ConfigError(f"{sum(len(g) for g in clashes)} jobs of the sweep would write the same folder (one run "
                          "would overwrite another); make their overrides differ in more than '/' or '%':\n"
                          + "\n".join(lines))
    for run in runs:
        check_writable(run.out_dir, "hydra.sweep.subdir")
