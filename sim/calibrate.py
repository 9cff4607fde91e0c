"""Calibration: fit the free behavioural parameters to the targets the surveys and audits give.

Run it as ``python3 -m sim.calibrate`` (``--help`` for the options); docs/TRUST.md
explains the method and the result.

Core objects: :func:`load_targets`, :class:`Target`, :class:`Parameter`, :func:`loss`,
:func:`calibrate`.

**Targets as data.** ``configs/calibration/targets.yaml`` names each target
(value, range, source, the exposim output it corresponds to, the regime it was
measured under, and whether it is fitted, held out for validation or context)
and the free parameters with their ranges.

**The search.** Optuna's TPE sampler (multivariate, with the "constant liar"
for batches) proposes parameter sets in batches; its study lives in a journal
file, so an interrupted calibration resumes where it stopped (each batch's
sampler is seeded from the calibration's seed and the batch number, so the
sets asked for do not depend on where an earlier invocation stopped). Optuna is used
directly (ask and tell), not through ``hydra-optuna-sweeper``: that plugin pins
optuna below 3, and the ask-and-tell loop lets every batch run as an ordinary
exposim sweep. Each batch is written as a design table (:mod:`sim.design`)
and run by ``python -m sim -m design.row=range(k)`` through Hydra's launcher,
with the sweep's checks, resume and fault handling — joblib here, Ray or SLURM
with ``hydra/launcher=...`` among the overrides. A parameter set's loss is the
sum over fit targets of ``((output - value) / half_range)^2``.

**The ensemble.** A parameter set is *accepted* when every fit target lies in
its range (rejection with the stated tolerances, as in approximate Bayesian
computation); the accepted sets are the ensemble (``ensemble.parquet``). The
few sets of lowest loss (accepted or not: each was run on one world, and
worlds differ) are then run again on fresh replicates, with their values
rounded to four significant digits. The calibrated point is, among those whose
mean over the replicates reaches every fit target, the one of lowest mean
loss (if none does, the lowest mean loss) (``calibrated.yaml``). ``calibration.parquet`` holds every
evaluation; ``calibration.html`` compares targets, fit and held-out validation.

**After a change to the model** (:func:`check`, ``--check``), the installed
point is run again on the same replicates and its fit is written afresh,
without a new search: the parameters stay, the figures become the model's own.

Every run of one calibration uses the same overrides besides the parameters
(the regime's and the command's), so the fit is of the world those describe.
"""

from __future__ import annotations

import argparse
import hashlib
import html
import json
import shutil
import math
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import yaml

from sim.config import CONFIG_ERROR_EXIT, ConfigError
from sim.design import collect_summaries, leaf_keys, sweep_design, write_design

#: The targets file of the project (``configs`` is a link to ``sim/configs``).
DEFAULT_TARGETS = Path(__file__).parent / "configs" / "calibration" / "targets.yaml"
USES = ("fit", "validation", "context")
CALIBRATION_TABLE = "calibration.parquet"
ENSEMBLE_TABLE = "ensemble.parquet"
CALIBRATED = "calibrated.yaml"
PAGE = "calibration.html"
#: The fit in numbers (read by the comparison report's "How far to trust this").
FIT = "fit.json"
#: The runs of ``--check`` (the installed point measured again).
CHECK_TABLE = "check.parquet"
#: Where ``--install`` puts the calibrated point and its fit, for the project and its reports.
INSTALLED = Path(__file__).parent / "configs" / "calibration"
SIGNIFICANT = 4


@dataclass(frozen=True)
class Target:
    """One calibration target: an exposim output, the value it should take and the range it must reach."""

    name: str
    output: str
    value: float
    low: float
    high: float
    use: str
    regime: str
    overrides: tuple[str, ...]
    source: str
    what: str = ""
    note: str = ""

    @property
    def half_range(self) -> float:
        return (self.high - self.low) / 2

    def reached(self, x: float) -> bool:
        return bool(math.isfinite(x) and self.low <= x <= self.high)

    def distance(self, x: float) -> float:
        """``(x - value) / half_range``, but 0 inside a one-sided range (a bound) that reaches the value."""
        if not math.isfinite(x):
            return math.inf
        if self.low == 0 and self.value == self.high and x <= self.high:      # an upper bound
            return 0.0
        return (x - self.value) / self.half_range


@dataclass(frozen=True)
class Parameter:
    """A free parameter: a config key and the range the fit may move it in."""

    key: str
    low: float
    high: float
    log: bool = False
    why: str = ""
    integer: bool = False


@dataclass(frozen=True)
class Targets:
    targets: tuple[Target, ...]
    parameters: tuple[Parameter, ...]
    path: str
    regime: tuple[str, ...] = field(default=())

    def used(self, use: str) -> list[Target]:
        return [t for t in self.targets if t.use == use]


def _need(entry: dict, key: str, where: str) -> Any:
    if key not in entry:
        raise ConfigError(f"{where}: missing {key!r}")
    return entry[key]


def load_targets(path: str | os.PathLike = DEFAULT_TARGETS) -> Targets:
    """Read and check a targets file.

    Raises:
        ConfigError: naming the entry, the key, the value and what is allowed.
    """
    path = str(path)
    try:
        with open(path) as fh:
            doc = yaml.safe_load(fh)
    except OSError as err:
        raise ConfigError(f"targets file {path!r}: cannot be read ({err.strerror})") from None
    except yaml.YAMLError as err:
        raise ConfigError(f"targets file {path!r} is not YAML: {err}") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("targets"), dict) or not isinstance(
            doc.get("parameters"), dict):
        raise ConfigError(f"targets file {path!r}: needs a 'targets' mapping and a 'parameters' mapping")
    targets = []
    for name, entry in doc["targets"].items():
        where = f"{path}: targets.{name}"
        if not isinstance(entry, dict):
            raise ConfigError(f"{where}: must be a mapping")
        use = _need(entry, "use", where)
        if use not in USES:
            raise ConfigError(f"{where}.use={use!r}: choose from {', '.join(USES)}")
        value, low, high = (float(_need(entry, k, where)) for k in ("value", "low", "high"))
        if not low <= value <= high or low == high:
            raise ConfigError(f"{where}: needs low <= value <= high with low < high (got {low}, {value}, {high})")
        regime = _need(entry, "regime", where)
        if not isinstance(regime, dict) or not isinstance(regime.get("overrides", []), list):
            raise ConfigError(f"{where}.regime: needs a name and a list of overrides")
        targets.append(Target(name, str(_need(entry, "output", where)), value, low, high, use,
                              str(regime.get("name", "")), tuple(regime.get("overrides", [])),
                              str(_need(entry, "source", where)), str(entry.get("what", "")),
                              str(entry.get("note", ""))))
    keys = leaf_keys()
    parameters = []
    for key, entry in doc["parameters"].items():
        where = f"{path}: parameters.{key}"
        if key not in keys:
            raise ConfigError(f"{where}: {key!r} is not a config key (docs/CONFIG.md lists them)")
        meta = keys[key].metadata
        low, high = float(_need(entry, "low", where)), float(_need(entry, "high", where))
        lo, hi = meta.get("lo"), meta.get("hi")
        if not low < high or (lo is not None and low < lo) or (hi is not None and high > hi):
            raise ConfigError(f"{where}: range {low} .. {high} must be increasing and inside the key's "
                              f"allowed {lo} .. {hi}")
        log = bool(entry.get("log", False))
        if log and low <= 0:
            raise ConfigError(f"{where}: log: true needs low > 0 (got {low})")
        default = keys[key].default
        parameters.append(Parameter(key, low, high, log, str(entry.get("why", "")),
                                    isinstance(default, int) and not isinstance(default, bool)))
    if not any(t.use == "fit" for t in targets):
        raise ConfigError(f"targets file {path!r}: no target has use: fit")
    fit_regimes = {t.overrides for t in targets if t.use == "fit"}
    if len(fit_regimes) > 1:
        raise ConfigError(f"targets file {path!r}: fit targets with different regimes "
                          f"({' | '.join(' '.join(r) for r in sorted(fit_regimes))}) would need a run per regime "
                          f"for every parameter set; give them the same regime")
    return Targets(tuple(targets), tuple(parameters), path, fit_regimes.pop())


def loss(outputs: dict[str, float], targets: Targets) -> float:
    """Sum over fit targets of the squared distance in half-ranges (inf if an output is missing)."""
    total = 0.0
    for t in targets.used("fit"):
        total += t.distance(float(outputs.get(t.output, math.nan))) ** 2
    return total


def accepted(outputs: dict[str, float], targets: Targets) -> bool:
    """Every fit target inside its range."""
    return all(t.reached(float(outputs.get(t.output, math.nan))) for t in targets.used("fit"))


def round_significant(x: float, digits: int = SIGNIFICANT) -> float:
    if x == 0 or not math.isfinite(x):
        return x
    return float(f"{x:.{digits - 1}e}")


# ------------------------------------------------------------------ the search


def _outputs(targets: Targets) -> list[str]:
    seen: dict[str, None] = {}
    for t in targets.targets:
        seen[t.output] = None
    return list(seen)


def _study(out_dir: Path, seed: int, startup: int):
    import optuna
    from optuna.storages import JournalStorage
    from optuna.storages.journal import JournalFileBackend

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    storage = JournalStorage(JournalFileBackend(str(out_dir / "optuna.journal")))
    sampler = optuna.samplers.TPESampler(seed=seed, multivariate=True, constant_liar=True,
                                         n_startup_trials=startup)
    return optuna.create_study(study_name="exposim-calibration", storage=storage, sampler=sampler,
                               direction="minimize", load_if_exists=True)


def _distributions(targets: Targets) -> dict[str, Any]:
    from optuna.distributions import FloatDistribution, IntDistribution

    return {p.key: (IntDistribution(int(p.low), int(p.high), log=p.log) if p.integer
                    else FloatDistribution(p.low, p.high, log=p.log)) for p in targets.parameters}


def _evaluate(design: Path, params: list[dict[str, float]], sweep_dir: Path, replicates: tuple[int, ...],
              targets: Targets, overrides: tuple[str, ...]) -> dict[tuple[int, int], dict[str, Any]]:
    """Run a design of parameter sets; ``(row, replicate) -> summary`` for the runs that completed."""
    write_design(str(design), {p.key: [ps[p.key] for ps in params] for p in targets.parameters})
    done = sweep_design(str(design), len(params), str(sweep_dir), replicates=replicates,
                        settings=targets.regime, overrides=overrides)
    if done.returncode not in (0, 1):
        raise RuntimeError(f"the sweep in {sweep_dir} stopped with status {done.returncode}; see {done.log_path}")
    return {(int(s["design.row"]), int(s["replicate"])): s for s in collect_summaries(str(sweep_dir), str(design))}


def _search(targets: Targets, out_dir: Path, trials: int, batch: int, seed: int,
            overrides: tuple[str, ...]) -> None:
    import optuna

    study = _study(out_dir, seed, startup=max(2 * batch, 10))
    dists = _distributions(targets)
    outputs = _outputs(targets)
    while True:
        finished = [t for t in study.trials if t.state.is_finished()]
        running = [t for t in study.trials if t.state == optuna.trial.TrialState.RUNNING]
        if not running and len(finished) >= trials:
            return
        if running:                                   # a batch an interruption left open: run it again
            number = min(t.user_attrs["batch"] for t in running)
            handles = sorted(((t.user_attrs["row"], t.number, t.params) for t in running
                              if t.user_attrs["batch"] == number))
        else:
            number = max((t.user_attrs.get("batch", -1) for t in study.trials), default=-1) + 1
            # Each batch's sampler has its own seed, from (seed, batch): the sets asked for do not depend on
            # where an earlier invocation was interrupted.
            study = _study(out_dir, _batch_seed(seed, number), startup=max(2 * batch, 10))
            asked = [study.ask(dists) for _ in range(min(batch, trials - len(finished)))]
            for row, trial in enumerate(asked):
                trial.set_user_attr("batch", number)
                trial.set_user_attr("row", row)
            handles = [(row, t.number, t.params) for row, t in enumerate(asked)]
        runs = _evaluate(_batch_design(out_dir, number), [p for _, _, p in handles],
                         _batch_runs(out_dir, number), (number,), targets, overrides)
        for row, trial_number, _ in handles:
            summary = runs.get((row, number))
            if summary is None:
                study.tell(trial_number, state=optuna.trial.TrialState.FAIL)
            else:
                study.tell(trial_number, loss(_pick(summary, outputs), targets))
        best = [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]
        n_acc = sum(r["accepted"] for r in _search_rows(targets, out_dir, seed))
        top = min(best, key=lambda t: t.value) if best else None
        print(f"calibrate: batch {number}: {len(handles)} parameter set(s) run; {len(best)} evaluated, "
              f"{n_acc} accepted" + (f", best loss {top.value:.3g} (trial {top.number})" if top else ""),
              flush=True)


def _batch_seed(seed: int, number: int) -> int:
    digest = hashlib.blake2b(f"exposim-calibration:{seed}:{number}".encode(), digest_size=4).digest()
    return int.from_bytes(digest, "little")


def _batch_design(out_dir: Path, number: int) -> Path:
    return out_dir / "designs" / f"search_{number:03d}.parquet"


def _batch_runs(out_dir: Path, number: int) -> Path:
    return out_dir / "runs" / f"search_{number:03d}"


def _pick(summary: dict[str, Any], outputs: list[str]) -> dict[str, float]:
    return {k: float(summary[k]) if summary.get(k) is not None else math.nan for k in outputs}


def _search_rows(targets: Targets, out_dir: Path, seed: int) -> list[dict[str, Any]]:
    """One row per finished trial: its parameters, and its outputs read back from its run's summary."""
    study = _study(out_dir, seed, startup=10)
    outputs = _outputs(targets)
    summaries: dict[int, dict[int, dict[str, Any]]] = {}
    rows = []
    for t in study.trials:
        if not t.state.is_finished():
            continue
        number, row_index = t.user_attrs.get("batch", -1), t.user_attrs.get("row", -1)
        if number not in summaries:
            design = _batch_design(out_dir, number)
            found = collect_summaries(str(_batch_runs(out_dir, number)), str(design)) if design.exists() else []
            summaries[number] = {int(s["design.row"]): s for s in found if int(s["replicate"]) == number}
        summary = summaries[number].get(row_index)
        outs = _pick(summary, outputs) if summary else dict.fromkeys(outputs, math.nan)
        row = {"stage": "search", "candidate": f"trial {t.number}", "trial": t.number, "batch": number, "replicate": number, "state": t.state.name,
               "loss": float(t.value) if t.value is not None else math.nan,
               "accepted": summary is not None and accepted(outs, targets)}
        row.update({p.key: float(t.params.get(p.key, math.nan)) for p in targets.parameters})
        row.update(outs)
        rows.append(row)
    return rows


def _confirm(targets: Targets, out_dir: Path, search: list[dict[str, Any]], candidates: int,
             replicates: int, overrides: tuple[str, ...]) -> list[dict[str, Any]]:
    """Run the ``candidates`` sets of lowest loss again, rounded, on fresh replicates.

    Accepted or not: one run per set in the search, and worlds differ a lot, so a set accepted on one
    world may miss on others and a near miss may do better; the mean over fresh replicates decides.
    """
    done = [r for r in search if r["state"] == "COMPLETE" and math.isfinite(r["loss"])]
    best = sorted(done, key=lambda r: (r["loss"], r["trial"]))[:candidates]
    params = [{p.key: (int(round(r[p.key])) if p.integer else round_significant(r[p.key]))
               for p in targets.parameters} for r in best]
    reps = tuple(range(replicates))
    runs = _evaluate(out_dir / "designs" / "confirm.parquet", params, out_dir / "runs" / "confirm", reps,
                     targets, overrides)
    return [_replicate_row(targets, "confirm", f"trial {r['trial']}", r["trial"], rep, ps, runs.get((i, rep)))
            for i, (r, ps) in enumerate(zip(best, params)) for rep in reps]


def _replicate_row(targets: Targets, stage: str, candidate: str, trial: int, rep: int, params: dict[str, float],
                   summary: dict[str, Any] | None) -> dict[str, Any]:
    """One row of calibration.parquet for a re-run candidate: its parameters, and its run's outputs (NaN if the
    run failed)."""
    outs = _pick(summary, _outputs(targets)) if summary else dict.fromkeys(_outputs(targets), math.nan)
    row = {"stage": stage, "candidate": candidate, "trial": trial, "batch": -1, "replicate": rep,
           "state": "COMPLETE" if summary else "FAIL", "loss": loss(outs, targets) if summary else math.nan,
           "accepted": bool(summary) and accepted(outs, targets)}
    row.update(params)
    row.update(outs)
    return row


def _refine(targets: Targets, out_dir: Path, chosen: list[dict[str, Any]], refine: tuple[str, list[float]],
            overrides: tuple[str, ...]) -> list[dict[str, Any]]:
    """Run the chosen set with one parameter at each of ``values``, on the confirm stage's replicates.

    A local, one-parameter refinement: for a parameter that moves one target and barely the others, it
    closes a gap the search left, with every evaluation recorded like the others.
    """
    key, values = refine
    if key not in {p.key for p in targets.parameters}:
        raise ConfigError(f"--refine {key}: not a free parameter of {targets.path} "
                          f"({', '.join(p.key for p in targets.parameters)})")
    base = {p.key: chosen[0][p.key] for p in targets.parameters}
    params = [dict(base, **{key: float(v)}) for v in values]
    reps = tuple(sorted({int(r["replicate"]) for r in chosen}))
    runs = _evaluate(out_dir / "designs" / "refine.parquet", params, out_dir / "runs" / "refine", reps, targets,
                     overrides)
    return [_replicate_row(targets, "refine", f"{chosen[0]['candidate']}, {key}={ps[key]:g}", chosen[0]["trial"],
                           rep, ps, runs.get((i, rep)))
            for i, ps in enumerate(params) for rep in reps]


def _write_table(path: Path, rows: list[dict[str, Any]], like: list[dict[str, Any]] | None = None) -> None:
    """Write rows as Parquet, atomically; an empty table takes its columns from ``like``."""
    tmp = path.with_name(path.name + f".tmp-{os.getpid()}")
    table = pa.Table.from_pylist(rows) if rows else pa.Table.from_pylist(like or [{}]).slice(0, 0)
    pq.write_table(table, tmp)
    os.replace(tmp, path)


def _t_interval(values: np.ndarray) -> tuple[float, float, float]:
    from scipy import stats

    values = values[np.isfinite(values)]
    if values.size == 0:
        return math.nan, math.nan, math.nan
    mean = float(values.mean())
    if values.size < 3 or np.all(values == values[0]):
        return mean, math.nan, math.nan
    half = float(stats.t.ppf(0.975, values.size - 1) * values.std(ddof=1) / math.sqrt(values.size))
    return mean, mean - half, mean + half


def _fit(targets: Targets, rows: list[dict[str, Any]]) -> dict[str, tuple[float, float, float]]:
    """Each output's mean and 95% t-interval over a candidate's replicate rows."""
    return {o: _t_interval(np.array([r[o] for r in rows], dtype=float)) for o in _outputs(targets)}


@dataclass
class Result:
    """What a calibration found: the calibrated point, its replicate fit, and the ensemble."""

    point: dict[str, float]
    trial: str                                         # the candidate chosen: "trial N", or a refinement of one
    fit: dict[str, tuple[float, float, float]]       # output -> (mean, low, high) over the confirm replicates
    ensemble: list[dict[str, Any]]
    evaluations: int
    accepted_any: bool
    replicates: int


def _choose(targets: Targets, confirm: list[dict[str, Any]], search: list[dict[str, Any]]) -> Result:
    by_trial: dict[str, list[dict[str, Any]]] = {}
    for r in confirm:
        by_trial.setdefault(r["candidate"], []).append(r)

    def mean_loss(rows):
        losses = np.array([r["loss"] for r in rows], dtype=float)
        return float(np.mean(losses)) if np.isfinite(losses).all() else math.inf

    def means(rows):
        out = {}
        for o in _outputs(targets):
            values = np.array([r[o] for r in rows], dtype=float)
            values = values[np.isfinite(values)]
            out[o] = float(values.mean()) if values.size else math.nan       # a figure no run had
        return out

    # A candidate whose mean over the replicates reaches every fit target (the acceptance rule, on the mean)
    # comes before one that does not; then the lower mean loss.
    trial = min(by_trial, key=lambda k: (not accepted(means(by_trial[k]), targets), mean_loss(by_trial[k]),
                                         len(k), k))
    rows = by_trial[trial]
    point = {p.key: rows[0][p.key] for p in targets.parameters}
    fit = _fit(targets, rows)
    ensemble = [r for r in search if r["accepted"]]
    return Result(point, trial, fit, ensemble, len(search), bool(ensemble), len(rows))


def _shown(path: str) -> str:
    """A path as a reader can find it: the project's targets file by its place in the project."""
    if Path(path).resolve() == DEFAULT_TARGETS.resolve():
        return "configs/calibration/targets.yaml"
    return path


def _calibrated_yaml(targets: Targets, result: Result, overrides: tuple[str, ...], checked: bool = False) -> str:
    lines = ["# @package _global_",
             "# The calibrated point: python3 -m sim.calibrate (docs/TRUST.md).",
             f"# Targets: {_shown(targets.path)}",
             f"# Regime: {' '.join(targets.regime) or '(defaults)'}"
             + (f"; overrides: {' '.join(overrides)}" if overrides else ""),
             f"# {result.trial}, chosen from {result.evaluations} evaluations; the fit below "
             f"{'(re-measured by --check) ' if checked else ''}is over "
             f"{result.replicates} fresh replicates."]
    for t in targets.targets:
        mean, lo, hi = result.fit[t.output]
        ci = f" (95% t-interval {lo:.3g} .. {hi:.3g})" if math.isfinite(lo) else ""
        lines.append(f"#   {t.output}: {mean:.3g}{ci}; target {t.value:g} in {t.low:g} .. {t.high:g} [{t.use}]")
    tree: dict[str, Any] = {}
    for key, value in result.point.items():
        *parents, leaf = key.split(".")
        node = tree
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = value
    return "\n".join(lines) + "\n" + yaml.safe_dump(tree, sort_keys=False)


def fit_summary(targets: Targets, result: Result, overrides: tuple[str, ...]) -> dict[str, Any]:
    """The fit as data: every target with the calibrated point's mean and interval and the ensemble's range."""
    rows = []
    for t in targets.targets:
        mean, lo, hi = result.fit[t.output]
        vals = np.array([r[t.output] for r in result.ensemble], dtype=float) if result.ensemble else np.array([])
        vals = vals[np.isfinite(vals)]
        rows.append({"name": t.name, "output": t.output, "use": t.use, "value": t.value, "low": t.low,
                     "high": t.high, "regime": t.regime, "source": t.source, "what": t.what,
                     "mean": _num(mean), "ci_low": _num(lo), "ci_high": _num(hi), "reached": t.reached(mean),
                     "ensemble_min": _num(vals.min()) if vals.size else None,
                     "ensemble_max": _num(vals.max()) if vals.size else None})
    return {"targets": rows, "point": result.point, "chosen": result.trial, "evaluations": result.evaluations,
            "accepted": len(result.ensemble), "replicates": result.replicates,
            "regime": list(targets.regime), "overrides": list(overrides)}


def _num(x: float) -> float | None:
    return float(x) if math.isfinite(x) else None


def _page(targets: Targets, result: Result, defaults: dict[str, Any]) -> str:
    esc = html.escape

    def fmt(x: float) -> str:
        return "–" if not math.isfinite(x) else f"{x:.3g}"

    ens = result.ensemble
    rows = []
    for t in targets.targets:
        mean, lo, hi = result.fit[t.output]
        vals = np.array([r[t.output] for r in ens], dtype=float) if ens else np.array([])
        vals = vals[np.isfinite(vals)]
        spread = f"{fmt(vals.min())} – {fmt(vals.max())}" if vals.size else "–"
        verdict = ("within range" if t.reached(mean) else "outside range") if math.isfinite(mean) else "not measured"
        ci = f" ({fmt(lo)} – {fmt(hi)})" if math.isfinite(lo) else ""
        rows.append(f"<tr><td>{esc(t.what or t.name)}<br><span class=k>{esc(t.output)}</span></td>"
                    f"<td>{esc(t.use)}</td><td>{t.value:g}<br><span class=k>{t.low:g} – {t.high:g}</span></td>"
                    f"<td>{fmt(mean)}{ci}</td><td>{spread}</td><td class={verdict.split()[0]}>{verdict}</td>"
                    f"<td>{esc(t.regime)}</td><td>{esc(t.source)}</td></tr>")
    params = []
    for p in targets.parameters:
        vals = np.array([r[p.key] for r in ens], dtype=float) if ens else np.array([])
        spread = f"{fmt(vals.min())} – {fmt(vals.max())}" if vals.size else "–"
        params.append(f"<tr><td class=k>{esc(p.key)}</td><td>{fmt(float(defaults.get(p.key, math.nan)))}</td>"
                      f"<td>{fmt(result.point[p.key])}</td><td>{p.low:g} – {p.high:g}</td><td>{spread}</td>"
                      f"<td>{esc(p.why)}</td></tr>")
    note = ("" if result.accepted_any else
            "<p class=outside><b>No parameter set reached every fit target.</b> The point below is the one "
            "closest to them; the ensemble is empty. Widen the parameter ranges, run more trials, or question "
            "the targets.</p>")
    return f"""<!doctype html><html lang=en><meta charset=utf-8><title>exposim calibration</title>
<style>body{{font:15px/1.45 system-ui,sans-serif;max-width:70rem;margin:2rem auto;padding:0 1rem;color:#222}}
table{{border-collapse:collapse;width:100%;margin:1rem 0}}td,th{{border-bottom:1px solid #ddd;padding:.35rem .5rem;
text-align:left;vertical-align:top}}th{{background:#f4f4f4}}.k{{font-family:monospace;font-size:.85em;color:#555}}
.within{{color:#176b2c}}.outside{{color:#a4262c}}@media print{{body{{margin:0;max-width:none;font-size:11px}}}}</style>
<h1>Calibration: targets, fit and held-out validation</h1>
<p>{result.evaluations} parameter sets were evaluated; {len(ens)} reached every fit target (the ensemble).
The best sets were run again on {result.replicates} fresh replicates; the calibrated point
({esc(result.trial)}) is the one whose mean reaches every fit range with the lowest mean loss (or, if none
does, the lowest mean loss); the fit column gives that mean with its 95% t-interval. Held-out (validation) targets were never
seen by the fit. Regime of every run: <span class=k>{esc(' '.join(targets.regime))}</span>.</p>{note}
<h2>Targets</h2><table><tr><th>target<th>use<th>value<br>range<th>calibrated point<br>(95% interval)
<th>ensemble<br>min – max<th>verdict<th>measured under<th>source</tr>{''.join(rows)}</table>
<h2>Free parameters</h2><table><tr><th>key<th>before<th>calibrated<th>search range<th>ensemble<br>min – max
<th>what it is</tr>{''.join(params)}</table></html>
"""


def calibrate(targets: Targets, out_dir: str | os.PathLike, *, trials: int = 64, batch: int = 8, seed: int = 0,
              candidates: int = 4, replicates: int = 5, overrides: tuple[str, ...] = (),
              refine: tuple[str, list[float]] | None = None) -> Result:
    """Search, confirm, choose; write calibration.parquet, ensemble.parquet, calibrated.yaml and the page.

    The same arguments resume an interrupted calibration in ``out_dir``:
    finished evaluations are kept (Optuna's journal), and runs already complete
    in a batch's sweep folder are kept by the sweep's resume.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    _search(targets, out, trials, batch, seed, overrides)
    search = _search_rows(targets, out, seed)
    confirm = _confirm(targets, out, search, candidates, replicates, overrides)
    if refine:
        first = _choose(targets, confirm, search)
        confirm += _refine(targets, out, [r for r in confirm if r["candidate"] == first.trial], refine, overrides)
    _write_table(out / CALIBRATION_TABLE, search + confirm)
    result = _choose(targets, confirm, search)
    _write_table(out / ENSEMBLE_TABLE, result.ensemble, like=search)
    (out / CALIBRATED).write_text(_calibrated_yaml(targets, result, overrides))
    (out / FIT).write_text(json.dumps(fit_summary(targets, result, overrides), indent=1) + "\n")
    keys = leaf_keys()
    defaults = {p.key: keys[p.key].default for p in targets.parameters}
    (out / PAGE).write_text(_page(targets, result, defaults))
    return result


def check(targets: Targets, fit_path: str | os.PathLike, out_dir: str | os.PathLike, *, replicates: int = 5,
          overrides: tuple[str, ...] = ()) -> Result:
    """Measure an installed calibrated point's fit again, on the model as it is now; no new search.

    A change to the model changes what the calibrated point gives, so the fit a
    calibration recorded (``fit.json``) goes stale. This runs the point in
    ``fit_path`` on replicates ``0 .. replicates-1`` under the targets' regime,
    as the confirm stage did, and writes ``check.parquet`` (one row per run),
    a fresh ``fit.json`` and ``calibrated.yaml`` to ``out_dir``. What the search
    recorded (its evaluations, and the range of its accepted sets) is kept as it
    was: it describes the search. The same arguments resume an interrupted check.
    """
    try:
        installed = json.loads(Path(fit_path).read_text())
        point = {str(k): float(v) for k, v in installed["point"].items()}
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as err:
        raise ConfigError(f"--check {fit_path}: needs a fit.json written by python3 -m sim.calibrate "
                          f"({type(err).__name__}: {err})") from None
    free = {p.key for p in targets.parameters}
    if set(point) != free:
        raise ConfigError(f"--check {fit_path}: its point sets {', '.join(sorted(point)) or 'nothing'}, but the "
                          f"free parameters of {_shown(targets.path)} are {', '.join(sorted(free))}")
    point = {p.key: (int(round(point[p.key])) if p.integer else point[p.key]) for p in targets.parameters}
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    reps = tuple(range(replicates))
    chosen = str(installed.get("chosen", "installed point"))
    runs = _evaluate(out / "designs" / "check.parquet", [point], out / "runs" / "check", reps, targets, overrides)
    rows = [_replicate_row(targets, "check", chosen, -1, rep, point, runs.get((0, rep))) for rep in reps]
    _write_table(out / CHECK_TABLE, rows)
    fit = _fit(targets, rows)
    result = Result(point, chosen, fit, [], int(installed.get("evaluations", 0)),
                    bool(installed.get("accepted", 0)), sum(r["state"] == "COMPLETE" for r in rows))
    summary = fit_summary(targets, result, overrides)
    searched = {t.get("name"): t for t in installed.get("targets", [])}
    for t in summary["targets"]:
        for key in ("ensemble_min", "ensemble_max"):
            t[key] = searched.get(t["name"], {}).get(key)
    summary["accepted"] = int(installed.get("accepted", 0))
    summary["checked"] = {"replicates": list(reps), "from": "python3 -m sim.calibrate --check"}
    (out / FIT).write_text(json.dumps(summary, indent=1) + "\n")
    (out / CALIBRATED).write_text(_calibrated_yaml(targets, result, overrides, checked=True))
    return result


def _print_result(targets: Targets, result: Result, out: Path, checked: bool = False) -> None:
    if checked:
        print(f"\ncalibrate --check: the calibrated point ({result.trial}) measured again, fit over "
              f"{result.replicates} replicates:")
    else:
        print(f"\ncalibrate: {result.evaluations} evaluations, {len(result.ensemble)} accepted; calibrated point "
              f"({result.trial}), fit over {result.replicates} replicates:")
    for t in targets.targets:
        mean, lo, hi = result.fit[t.output]
        mark = "ok " if t.reached(mean) else "OUT"
        print(f"  {mark} {t.use:<10} {t.output:<45} {mean:8.3g}   target {t.value:g} in {t.low:g} .. {t.high:g}")
    for key, value in result.point.items():
        print(f"  {key} = {value:g}")
    if not checked:
        print(f"\nevery evaluation: {out / CALIBRATION_TABLE}\nensemble:         {out / ENSEMBLE_TABLE}\n"
              f"calibrated point: {out / CALIBRATED}\npage:             {out / PAGE}")
    else:
        print(f"\nthe check's runs: {out / CHECK_TABLE}\nfit:              {out / FIT}")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python3 -m sim.calibrate", description=__doc__.split("\n\n")[0],
        epilog="Trailing arguments are overrides for every run, as for python -m sim "
               "(e.g. population.n=20000 hydra/launcher=ray_local).")
    parser.add_argument("--targets", default=str(DEFAULT_TARGETS), help="targets file (default: %(default)s)")
    parser.add_argument("--out", default=None,
                        help="output folder (default: outputs/calibration, with --check outputs/calibration_check)")
    parser.add_argument("--trials", type=int, default=64, help="parameter sets to evaluate (default: %(default)s)")
    parser.add_argument("--batch", type=int, default=8, help="parameter sets per sweep (default: %(default)s)")
    parser.add_argument("--seed", type=int, default=0, help="the sampler's seed (default: %(default)s)")
    parser.add_argument("--candidates", type=int, default=4,
                        help="best sets run again on fresh replicates (default: %(default)s)")
    parser.add_argument("--replicates", type=int, default=5,
                        help="fresh replicates per candidate (default: %(default)s)")
    parser.add_argument("--refine", default=None, metavar="KEY=V1,V2,...",
                        help="after the confirm stage, run the best set with one free parameter at each value "
                             "(same replicates) and keep the best mean loss")
    parser.add_argument("--check", nargs="?", const=str(INSTALLED / FIT), default=None, metavar="FIT",
                        help="no search: run the calibrated point in FIT (default: the installed "
                             f"{INSTALLED / FIT}) on --replicates worlds and write its fit afresh, "
                             "for after a change to the model")
    parser.add_argument("--install", action="store_true",
                        help=f"copy {CALIBRATED} and {FIT} into {INSTALLED} (the project's calibration)")
    parser.add_argument("overrides", nargs="*", help="overrides of every run")
    args = parser.parse_args(argv)
    args.out = args.out or ("outputs/calibration_check" if args.check else "outputs/calibration")
    for name in ("trials", "batch", "candidates", "replicates"):
        if getattr(args, name) < 1:
            parser.error(f"--{name}={getattr(args, name)}: must be at least 1")
    refine = None
    if args.refine:
        key, _, values = args.refine.partition("=")
        try:
            refine = (key, [float(v) for v in values.split(",") if v])
        except ValueError:
            parser.error(f"--refine {args.refine}: give KEY=V1,V2,... with numbers")
        if not refine[1]:
            parser.error(f"--refine {args.refine}: give KEY=V1,V2,... with at least one value")
    try:
        targets = load_targets(args.targets)
        if args.check:
            result = check(targets, args.check, args.out, replicates=args.replicates,
                           overrides=tuple(args.overrides))
        else:
            result = calibrate(targets, args.out, trials=args.trials, batch=args.batch, seed=args.seed,
                               candidates=args.candidates, replicates=args.replicates,
                               overrides=tuple(args.overrides), refine=refine)
    except ConfigError as err:
        print(f"exposim: configuration error: {err}", file=sys.stderr)
        sys.exit(CONFIG_ERROR_EXIT)
    _print_result(targets, result, Path(args.out), checked=bool(args.check))
    if args.install:
        for name in (CALIBRATED, FIT):
            shutil.copyfile(Path(args.out) / name, INSTALLED / name)
        if args.check:
            print(f"installed {CALIBRATED} and {FIT} into {INSTALLED}: the same point, its fit measured again")
        else:
            print(f"installed {CALIBRATED} and {FIT} into {INSTALLED}; set the defaults in sim/config.py to the "
                  f"calibrated point (tests/test_calibration.py checks they agree)")


if __name__ == "__main__":
    main()
