"""Calibration: the targets file, the loss and acceptance rule, and a tiny calibration end to end (sim.calibrate)."""

from __future__ import annotations

import math
import re
import subprocess
import sys
from pathlib import Path

import pyarrow.parquet as pq
import pytest
import yaml

from sim.calibrate import (CALIBRATED, CALIBRATION_TABLE, DEFAULT_TARGETS, ENSEMBLE_TABLE, PAGE, accepted,
                           load_targets, loss, round_significant)
from sim.config import ConfigError
from sim.design import leaf_keys
from sim.model import ExposureModel
from tests.conftest import tiny_config

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def project_targets():
    return load_targets(DEFAULT_TARGETS)


def test_every_target_names_an_output_a_run_writes_and_a_source_the_docs_list(project_targets):
    model = ExposureModel(tiny_config(days=3, measure_days=2))
    model.run()
    outputs = set(model.summary())
    sources = (ROOT / "docs" / "SOURCES.md").read_text()
    for t in project_targets.targets:
        assert t.output in outputs, t.name
        assert f"[{t.source}]" in sources, t.name
    uses = {t.use for t in project_targets.targets}
    assert {"fit", "validation"} <= uses
    fit = {t.output for t in project_targets.used("fit")}
    assert {"minor_13_15_sexual_advance_7d_share", "minor_13_15_sexual_image_7d_share",
            "adult_adult_sexual_prevalence_per_10k", "unwanted_contact_share_via_suggestion"} <= fit
    # The two survey shares are held to within 2 points.
    for t in project_targets.targets:
        if t.output.startswith("minor_13_15_sexual"):
            assert (t.low, t.high) == pytest.approx((t.value - 0.02, t.value + 0.02))


def test_the_free_parameters_are_config_keys_inside_their_allowed_ranges(project_targets):
    keys = leaf_keys()
    assert len(project_targets.parameters) >= 8
    for p in project_targets.parameters:
        meta = keys[p.key].metadata
        assert meta["lo"] <= p.low < p.high <= meta["hi"], p.key


def _targets_file(tmp_path, **changes) -> Path:
    doc = yaml.safe_load(DEFAULT_TARGETS.read_text())
    for dotted, value in changes.items():
        *parents, leaf = dotted.split("/")
        node = doc
        for part in parents:
            node = node[part]
        if value is None:
            del node[leaf]
        else:
            node[leaf] = value
    path = tmp_path / "targets.yaml"
    path.write_text(yaml.safe_dump(doc))
    return path


@pytest.mark.parametrize("changes, message", [
    ({"targets/sexual_image_13_15/use": "tune"}, r"targets.sexual_image_13_15.use='tune': choose from fit, validation"),
    ({"targets/sexual_image_13_15/low": 0.2}, r"targets.sexual_image_13_15: needs low <= value <= high"),
    ({"targets/sexual_image_13_15/output": None}, r"targets.sexual_image_13_15: missing 'output'"),
    ({"parameters/contact.atempts": {"low": 1, "high": 2}}, r"'contact.atempts' is not a config key"),
    ({"parameters/contact.explicit_image_share": {"low": 0.5, "high": 1.5}},
     r"parameters.contact.explicit_image_share: range 0.5 .. 1.5 must be increasing and inside the key's allowed 0 .. 1"),
    ({"parameters/contact.explicit_image_share": {"low": 0.0, "high": 0.5, "log": True}}, r"log: true needs low > 0"),
    ({"targets/sexual_image_13_15/regime": {"name": "x", "overrides": ["safeguards=all_on"]}},
     r"fit targets with different regimes"),
])
def test_a_bad_targets_file_is_refused_naming_the_entry(tmp_path, changes, message):
    with pytest.raises(ConfigError, match=message):
        load_targets(_targets_file(tmp_path, **changes))


def test_loss_is_the_sum_of_squared_distances_in_half_ranges(project_targets):
    fit = project_targets.used("fit")
    at_value = {t.output: t.value for t in fit}
    assert loss(at_value, project_targets) == 0 and accepted(at_value, project_targets)
    # One target at the edge of its range: distance 1 (upper half-range, symmetric ranges).
    t = next(t for t in fit if t.output == "minor_13_15_sexual_advance_7d_share")
    edge = dict(at_value, **{t.output: t.high})
    assert loss(edge, project_targets) == pytest.approx(1.0) and accepted(edge, project_targets)
    outside = dict(at_value, **{t.output: t.high + 0.02})         # 0.17 for 0.13 +- 0.02: two half-ranges
    assert loss(outside, project_targets) == pytest.approx(4.0) and not accepted(outside, project_targets)
    missing = {k: v for k, v in at_value.items() if k != t.output}
    assert math.isinf(loss(missing, project_targets)) and not accepted(missing, project_targets)


def test_an_upper_bound_costs_nothing_below_it(project_targets):
    bound = next(t for t in project_targets.targets if t.name == "thorn_period_share_2021")
    assert bound.distance(0.05) == 0 and bound.reached(0.05) and not bound.reached(0.3)


def test_round_significant():
    assert round_significant(0.123456) == 0.1235 and round_significant(2345.678) == 2346.0
    assert round_significant(0.0) == 0.0


TINY = ["population.n=300", "days=6", "measure_days=3", "decoys.n=2", "decoys.join_day=1",
        "network.community_size=60"]


def _calibrate(out: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "sim.calibrate", "--trials", "2", "--batch", "2", "--candidates",
                           "1", "--replicates", "2", "--out", str(out), *TINY],
                          capture_output=True, text=True, cwd=ROOT, timeout=600)


def test_a_tiny_calibration_runs_end_to_end_and_resumes_without_recomputing(tmp_path):
    out = tmp_path / "cal"
    first = _calibrate(out)
    assert first.returncode == 0, first.stderr[-2000:]
    written = pq.read_table(out / CALIBRATION_TABLE)
    table = written.to_pylist()
    search = [r for r in table if r["stage"] == "search"]
    confirm = [r for r in table if r["stage"] == "confirm"]
    assert len(search) == 2 and len(confirm) == 2
    # The outputs in the table are the runs' own summaries.
    summaries = {}
    for path in (out / "runs" / "search_000").glob("*/summary.parquet"):
        row = pq.read_table(path).to_pylist()[0]
        summaries[row["design.row"]] = row
    trial = search[0]
    run = next(s for s in summaries.values()
               if s["contact.offender_attempts_per_day"] == trial["contact.offender_attempts_per_day"])
    assert trial["minor_13_15_sexual_advance_7d_share"] == run["minor_13_15_sexual_advance_7d_share"]
    # The calibrated point is the confirmed candidate's rounded values, and loads as a config overlay.
    calibrated = yaml.safe_load((out / CALIBRATED).read_text())
    assert calibrated["contact"]["offender_attempts_per_day"] == confirm[0]["contact.offender_attempts_per_day"]
    assert (out / PAGE).read_text().count("<tr>") >= 8
    assert pq.read_table(out / ENSEMBLE_TABLE).num_rows == sum(r["accepted"] for r in search)
    # The same command again: every evaluation is kept, no run is recomputed.
    again = _calibrate(out)
    assert again.returncode == 0, again.stderr[-2000:]
    again_table = pq.read_table(out / CALIBRATION_TABLE)
    assert again_table.column_names == written.column_names
    for name in written.column_names:                   # NaN (a figure with no value) equals NaN here
        assert [x if x == x else "nan" for x in again_table.column(name).to_pylist()] == \
            [x if x == x else "nan" for x in written.column(name).to_pylist()], name
    log = (out / "runs" / "confirm" / "sweep.log").read_text()
    assert re.findall(r"(\d+) kept, (\d+) run", log)[-1] == ("2", "0")


def test_check_measures_a_calibrated_points_fit_again_from_its_fit_file(tmp_path):
    """Same code, same replicates: the check's fit is the confirm stage's; the search's record is kept."""
    import json

    out = tmp_path / "cal"
    assert _calibrate(out).returncode == 0
    done = subprocess.run([sys.executable, "-m", "sim.calibrate", "--check", str(out / "fit.json"), "--replicates",
                           "2", "--out", str(tmp_path / "check"), *TINY],
                          capture_output=True, text=True, cwd=ROOT, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    before, after = (json.loads(p.read_text()) for p in (out / "fit.json", tmp_path / "check" / "fit.json"))
    assert after["point"] == before["point"] and after["chosen"] == before["chosen"]
    assert after["evaluations"] == before["evaluations"] and after["accepted"] == before["accepted"]
    assert after["checked"]["replicates"] == [0, 1]
    for b, a in zip(before["targets"], after["targets"]):
        assert (a["name"], a["mean"], a["ci_low"], a["ensemble_min"]) == (b["name"], b["mean"], b["ci_low"],
                                                                         b["ensemble_min"])
    runs = pq.read_table(tmp_path / "check" / "check.parquet").to_pylist()
    assert [r["replicate"] for r in runs] == [0, 1] and {r["stage"] for r in runs} == {"check"}
    advance = [r["minor_13_15_sexual_advance_7d_share"] for r in runs]
    mean = next(t["mean"] for t in after["targets"] if t["output"] == "minor_13_15_sexual_advance_7d_share")
    assert mean == pytest.approx(sum(advance) / 2, rel=1e-12)


def test_check_refuses_a_fit_file_whose_point_is_not_the_targets_parameters(tmp_path):
    bad = tmp_path / "fit.json"
    bad.write_text('{"point": {"contact.offender_attempts_per_day": 1.0}}')
    done = subprocess.run([sys.executable, "-m", "sim.calibrate", "--check", str(bad), "--out", str(tmp_path / "o")],
                          capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert done.returncode == 2 and "--check" in done.stderr and "free parameters" in done.stderr
    assert not (tmp_path / "o" / "fit.json").exists()


def test_the_default_world_is_the_installed_calibrated_point():
    """configs/calibration/calibrated.yaml (python3 -m sim.calibrate --install) and sim/config.py agree."""
    from sim.calibrate import FIT, INSTALLED

    point = yaml.safe_load((INSTALLED / CALIBRATED).read_text())
    keys = leaf_keys()

    def flat(tree, prefix=""):
        for k, v in tree.items():
            if isinstance(v, dict):
                yield from flat(v, prefix + k + ".")
            else:
                yield prefix + k, v

    values = dict(flat(point))
    assert set(values) == {p.key for p in load_targets(DEFAULT_TARGETS).parameters}
    for key, value in values.items():
        assert keys[key].default == value, key
    import json

    fit = json.loads((INSTALLED / FIT).read_text())
    assert fit["point"] == values
    assert {t["name"] for t in fit["targets"]} == {t.name for t in load_targets(DEFAULT_TARGETS).targets}
