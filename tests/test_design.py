"""Parameter designs: a run takes one row of a table of values (sim.design), as calibration and sensitivity do."""

from __future__ import annotations

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from sim.config import Config, ConfigError
from sim.design import apply_design_row, leaf_keys, write_design
from sim.inputs import input_files, resolve_inputs
from sim.io import config_hash


def _cfg(path, row: int) -> Config:
    cfg = Config()
    cfg.design.path = str(path)
    cfg.design.row = row
    return cfg


def test_a_row_sets_exactly_its_keys_and_the_rest_keeps_the_defaults(tmp_path):
    path = tmp_path / "d.parquet"
    write_design(str(path), {"contact.offender_attempts_per_day": [1.5, 3.25], "population.n": [400, 500]})
    resolved = resolve_inputs(_cfg(path, 1))
    assert resolved.contact.offender_attempts_per_day == 3.25
    assert resolved.population.n == 500 and isinstance(resolved.population.n, int)
    default = Config()
    changed = {k for k in leaf_keys() if _get(resolved, k) != _get(default, k)}
    assert changed == {"contact.offender_attempts_per_day", "population.n", "design.path", "design.row"}


def _get(cfg, key):
    node = cfg
    for part in key.split("."):
        node = getattr(node, part)
    return node


def test_no_design_leaves_the_config_untouched():
    cfg = Config()
    assert apply_design_row(cfg) is cfg


def test_the_design_file_is_part_of_the_runs_identity(tmp_path):
    path = tmp_path / "d.parquet"
    write_design(str(path), {"contact.displacement": [0.25]})
    first = config_hash(resolve_inputs(_cfg(path, 0)))
    assert input_files(_cfg(path, 0))["design.path"].sha256
    write_design(str(path), {"contact.displacement": [0.75]})
    assert config_hash(resolve_inputs(_cfg(path, 0))) != first


def test_a_row_out_of_range_names_the_file_and_the_allowed_rows(tmp_path):
    path = tmp_path / "d.parquet"
    write_design(str(path), {"contact.displacement": [0.1, 0.2]})
    with pytest.raises(ConfigError, match=r"design.row=2 is out of range.*holds 2 row\(s\); allowed 0 <= design.row <= 1"):
        apply_design_row(_cfg(path, 2))


def test_a_value_out_of_its_keys_range_names_the_row_and_the_key(tmp_path):
    path = tmp_path / "d.parquet"
    write_design(str(path), {"contact.displacement": [0.5, 1.5]})
    with pytest.raises(ConfigError, match=r"row 1: contact.displacement=1.5 is out of range"):
        apply_design_row(_cfg(path, 1))


@pytest.mark.parametrize("key", ["seed", "replicate", "days", "output.resume", "design.row", "safeguards.preset"])
def test_a_design_may_not_set_what_the_sweep_or_the_run_decides(tmp_path, key):
    with pytest.raises(ConfigError, match="cannot be set by a design"):
        write_design(str(tmp_path / "d.parquet"), {key: [1]})
    # A table written by other means is refused when applied.
    path = tmp_path / "other.parquet"
    pq.write_table(pa.table({key: [1]}), path)
    with pytest.raises(ConfigError, match=f"column {key!r} is not a model parameter"):
        apply_design_row(_cfg(path, 0))


def test_unknown_keys_fractional_integers_and_bad_files_are_refused(tmp_path):
    with pytest.raises(ConfigError, match="'contact.atempts' is not a config key"):
        write_design(str(tmp_path / "d.parquet"), {"contact.atempts": [1.0]})
    path = tmp_path / "frac.parquet"
    pq.write_table(pa.table({"population.n": [400.5]}), path)
    with pytest.raises(ConfigError, match=r"population.n=400.5: must be a whole number"):
        apply_design_row(_cfg(path, 0))
    junk = tmp_path / "junk.parquet"
    junk.write_text("not a table")
    with pytest.raises(ConfigError, match="is not a Parquet table"):
        apply_design_row(_cfg(junk, 0))
    with pytest.raises(ConfigError, match="cannot be read"):
        apply_design_row(_cfg(tmp_path / "missing.parquet", 0))
