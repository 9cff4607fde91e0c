"""Group 5 — Resume and identity: a finished run is kept only when it is intact and is what this code computes now.

One tiny run (:func:`sim.runner.run`) is made per module and copied for each
case; the case damages the copy, then :func:`sim.io.verify_run` must name the
problem and ``run(..., resume=True)`` must recompute (not ``skipped``), leaving
a complete, verified folder with exactly the run's files.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from sim.inputs import resolve_inputs
from sim.io import MANIFEST, read_manifest, verify_run
from sim.runner import run
from tests.bad_inputs.helpers import TABLES, TINY_RUN, tree, write_edge_list
from tests.conftest import tiny_config

RUN_FILES = sorted([*TABLES, MANIFEST])


@pytest.fixture(scope="module")
def template(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("resume") / "run"
    result = run(tiny_config(**TINY_RUN), folder)
    assert not result.skipped and read_manifest(folder)["status"] == "complete"
    return folder


def edit_manifest(change):
    def apply(folder: Path) -> None:
        manifest = json.loads((folder / MANIFEST).read_text())
        change(manifest)
        (folder / MANIFEST).write_text(json.dumps(manifest, indent=2))
    return apply


def flip_a_byte(name: str):
    def apply(folder: Path) -> None:
        data = bytearray((folder / name).read_bytes())
        data[len(data) // 2] ^= 0xFF                        # same size, different bytes
        (folder / name).write_bytes(bytes(data))
    return apply


def _unlist_days(m):
    del m["files"]["days.parquet"]


def _set_code(m):
    m["code"]["fingerprint"] = "0" * 64


# (id, damage, fragments of verify_run's reason)
DAMAGE = [
    ("complete-with-empty-files-list", edit_manifest(lambda m: m.update(files={})), ["its manifest lists no tables"]),
    ("files-list-lacks-a-table", edit_manifest(_unlist_days), ["its manifest does not list days.parquet"]),
    ("table-bytes-changed", flip_a_byte("contacts.parquet"), ["contacts.parquet does not match its checksum"]),
    ("table-deleted", lambda f: (f / "decoys.parquet").unlink(), ["decoys.parquet is missing"]),
    ("manifest-says-running", edit_manifest(lambda m: m.update(status="running")),
     ["status is 'running'", "interrupted"]),
    ("manifest-says-failed", edit_manifest(lambda m: m.update(status="failed")), ["status is 'failed'"]),
    ("manifest-not-valid-json", lambda f: (f / MANIFEST).write_text('{"status": "complete", "files": {'),
     ["manifest"]),
    ("code-differs", edit_manifest(_set_code), ["made by different code", "000000000000"]),
]


def test_an_intact_complete_run_is_kept(template, tmp_path):
    folder = shutil.copytree(template, tmp_path / "run")
    cfg = tiny_config(**TINY_RUN)
    assert verify_run(folder, cfg) is None
    before = read_manifest(folder)["finished"]
    result = run(cfg, folder, resume=True)
    assert result.skipped and result.model is None
    assert read_manifest(folder)["finished"] == before
    assert tree(tmp_path) == ["run", *(f"run/{n}" for n in RUN_FILES)]


@pytest.mark.parametrize("damage, fragments", [pytest.param(d, f, id=i) for i, d, f in DAMAGE])
def test_a_damaged_or_stale_run_is_named_and_recomputed(template, tmp_path, damage, fragments):
    folder = shutil.copytree(template, tmp_path / "run")
    damage(folder)
    cfg = tiny_config(**TINY_RUN)
    reason = verify_run(folder, cfg)
    assert reason is not None
    for fragment in fragments:
        assert fragment in reason, reason
    result = run(cfg, folder, resume=True)
    assert not result.skipped and result.model is not None
    assert verify_run(folder, cfg) is None
    # The same config and code give the same bytes: the recomputed run is the run that was damaged.
    original = read_manifest(template)["files"]
    assert {k: v["sha256"] for k, v in read_manifest(folder)["files"].items()} == \
        {k: v["sha256"] for k, v in original.items()}
    assert tree(tmp_path) == ["run", *(f"run/{n}" for n in RUN_FILES)]


def test_a_different_config_is_named_and_recomputed(template, tmp_path):
    folder = shutil.copytree(template, tmp_path / "run")
    other = tiny_config(**{**TINY_RUN, "seed": 8})
    assert verify_run(folder, other) == "it was run with a different config"
    result = run(other, folder, resume=True)
    assert not result.skipped
    assert read_manifest(folder)["seed"] == 8 and verify_run(folder, other) is None
    assert verify_run(folder, tiny_config(**TINY_RUN)) == "it was run with a different config"
    assert tree(tmp_path) == ["run", *(f"run/{n}" for n in RUN_FILES)]


def test_a_manifest_that_is_not_json_is_named_as_unreadable(template, tmp_path):
    folder = shutil.copytree(template, tmp_path / "run")
    (folder / MANIFEST).write_text('{"status": "complete", "files": {')
    reason = verify_run(folder, tiny_config(**TINY_RUN))
    assert reason != "no manifest" and "manifest" in reason


def test_a_graph_file_rewritten_at_the_same_path_is_named_and_recomputed(tmp_path):
    graph = write_edge_list(tmp_path / "graph.csv", 120)
    # verify_run takes the resolved config (the file sets population.n), as sim.runner and sim.sweep pass it.
    cfg = resolve_inputs(tiny_config(**{**TINY_RUN, "network.kind": "file", "network.path": str(graph)}))
    folder = tmp_path / "run"
    run(cfg, folder)
    first = read_manifest(folder)
    assert verify_run(folder, cfg) is None and first["config"]["population"]["n"] == 120
    write_edge_list(graph, 120, step=2)                    # the same 120 accounts, other follows
    assert verify_run(folder, cfg) == "its input file changed since (network.path)"
    result = run(cfg, folder, resume=True)
    assert not result.skipped
    second = read_manifest(folder)
    assert second["inputs"]["network.path"]["sha256"] != first["inputs"]["network.path"]["sha256"]
    assert second["config_hash"] != first["config_hash"] and verify_run(folder, cfg) is None
    assert tree(tmp_path) == ["graph.csv", "run", *(f"run/{n}" for n in RUN_FILES)]
