"""Group 6 — ``python -m sim.analysis compare``: refusals exit 2, with no traceback and nothing written.

Called in-process through :func:`sim.analysis.__main__.main`. The sweeps are
written by hand and fast: each run is a real ``summary.parquet``
(:func:`sim.io.summary_table`) with its ``complete`` manifest
(:func:`sim.io.write_run`, which records the running code's fingerprint), no
simulation behind it; a case then edits a manifest as it needs.
"""

from __future__ import annotations

import hashlib
import json
from datetime import datetime, timezone
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from sim.analysis.__main__ import main
from sim.analysis.labels import HEADLINE
from sim.io import MANIFEST, code_identity, summary_table, write_run
from tests.bad_inputs.helpers import tree
from tests.conftest import tiny_config

OTHER_CODE = hashlib.sha256(b"another version of the code").hexdigest()
FEEDS = ("random", "chronological")


def make_sweep(root: Path, replicates: int = 2) -> Path:
    """Two settings (feeds) x ``replicates`` complete runs, as the Hydra app records sweep jobs."""
    num = 0
    for feed in FEEDS:
        for replicate in range(replicates):
            overrides = [f"recommender.feed={feed}", f"replicate={replicate}"]
            cfg = tiny_config(**{"recommender.feed": feed, "replicate": replicate, "output.days_table": False,
                                 "output.contacts_table": False, "output.decoys_table": False})
            summary = {m: 10.0 + i + replicate + (2.0 if feed == "chronological" else 0.0)
                       for i, m in enumerate(HEADLINE)}
            write_run(root / ",".join(overrides), cfg, {"summary.parquet": summary_table(summary, cfg)},
                      {"overrides": overrides, "sweep": {"dir": str(root), "job_num": num}},
                      datetime(2024, 1, 1, tzinfo=timezone.utc))
            num += 1
    return root


def edit_manifest(folder: Path, **changes) -> None:
    manifest = json.loads((folder / MANIFEST).read_text())
    manifest.update(changes)
    (folder / MANIFEST).write_text(json.dumps(manifest, indent=2))


def snapshot(root: Path) -> dict[str, str]:
    """Every path under ``root`` with its content hash ('' for folders)."""
    return {rel: hashlib.sha256((root / rel).read_bytes()).hexdigest() if (root / rel).is_file() else ""
            for rel in tree(root)}


def compare(capfd, *args: str) -> tuple[int, str]:
    code = main(["compare", *args])
    captured = capfd.readouterr()
    assert "Traceback" not in captured.err + captured.out
    return code, captured.err


@pytest.fixture
def sweep(tmp_path) -> Path:
    return make_sweep(tmp_path / "sweep")


@pytest.mark.parametrize("option, fragments", [
    pytest.param(["--resamples", "1000000000"], ["--resamples=1000000000", "between 100 and 100,000"],
                 id="resamples-a-billion"),
    pytest.param(["--resamples", "5"], ["--resamples=5", "between 100 and 100,000"], id="resamples-5"),
    pytest.param(["--level", "1.5"], ["--level=1.5", "strictly between 0 and 1"], id="level-1.5"),
])
def test_an_option_out_of_bounds_is_refused_before_any_run_is_read(sweep, tmp_path, capfd, option, fragments):
    before = snapshot(tmp_path)
    code, err = compare(capfd, str(sweep), *option)
    assert code == 2
    assert err.startswith("exposim: cannot compare: ")
    for fragment in fragments:
        assert fragment in err, err
    assert snapshot(tmp_path) == before


def test_runs_made_by_different_code_are_refused(sweep, tmp_path, capfd):
    stale = sweep / "recommender.feed=chronological,replicate=1"
    edit_manifest(stale, code={"fingerprint": OTHER_CODE, "git_commit": None, "git_dirty": None})
    before = snapshot(tmp_path)
    code, err = compare(capfd, str(sweep))
    assert code == 2
    for fragment in ("the 4 complete runs were made by 2 different versions of the code",
                     f"{code_identity()['fingerprint'][:12]}: 3 runs (the installed code)", f"{OTHER_CODE[:12]}: 1 run",
                     "recommender.feed=chronological", "--mixed-code"):
        assert fragment in err, err
    assert snapshot(tmp_path) == before
    assert not (sweep / "comparison.parquet").exists() and not (sweep / "report.html").exists()


def test_runs_made_by_different_code_are_compared_with_mixed_code(sweep, tmp_path):
    edit_manifest(sweep / "recommender.feed=chronological,replicate=1",
                  code={"fingerprint": OTHER_CODE, "git_commit": None, "git_dirty": None})
    before = tree(tmp_path)
    assert main(["compare", str(sweep), "--mixed-code", "--resamples", "200"]) == 0
    # (The printed table is not read here: compare_sweep binds out=sys.stdout when it is imported.)
    meta = pq.read_schema(sweep / "comparison.parquet").metadata
    assert json.loads(meta[b"exposim.code_fingerprints"]) == sorted([code_identity()["fingerprint"], OTHER_CODE])
    assert tree(tmp_path) == sorted([*before, "sweep/comparison.parquet", "sweep/report.html"])


def test_a_folder_with_no_runs_is_refused(tmp_path, capfd):
    (tmp_path / "empty").mkdir()
    code, err = compare(capfd, str(tmp_path / "empty"))
    assert code == 2
    assert f"no complete run under {tmp_path / 'empty'} (0 run folders" in err
    assert tree(tmp_path) == ["empty"]


def test_a_folder_that_does_not_exist_is_refused(tmp_path, capfd):
    code, err = compare(capfd, str(tmp_path / "nowhere"))
    assert code == 2
    assert f"{tmp_path / 'nowhere'} is not a folder" in err
    assert tree(tmp_path) == []


def test_a_complete_manifest_with_an_empty_files_list_is_not_a_run(tmp_path, capfd):
    sweep = make_sweep(tmp_path / "sweep", replicates=1)
    for folder in sorted(sweep.iterdir()):
        edit_manifest(folder, files={})                     # says complete, lists nothing
    before = snapshot(tmp_path)
    code, err = compare(capfd, str(sweep))
    assert code == 2
    assert "no complete run under" in err and "2 invalid" in err, err
    assert snapshot(tmp_path) == before
