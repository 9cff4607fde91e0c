"""Group 7 — Faults while a run writes: the folder never looks like a result, and files follow the umask.

In-process :func:`sim.runner.run` on a tiny world, with the writer patched to
fail (an interrupt between tables, a full disk while writing a table or the
manifest); then a real full disk, a tmpfs of 64 kB (skipped, saying why, where
mounting is not permitted), through the command line and in-process.
"""

from __future__ import annotations

import errno
import gc
import os
import stat

import pyarrow.parquet
import pytest

import sim.io
from sim.io import read_manifest
from sim.runner import run
from tests.bad_inputs.helpers import TABLES, TINY_ARGS, TINY_RUN, sim_cli, tmpfs, tree
from tests.conftest import tiny_config

NO_SPACE = os.strerror(errno.ENOSPC)                         # "No space left on device"
#: What Hydra writes into a run folder before the task runs.
HYDRA_FILES = ["run/.hydra", "run/.hydra/config.yaml", "run/.hydra/hydra.yaml", "run/.hydra/overrides.yaml",
               "run/app.log"]


def test_an_interrupt_while_writing_tables_leaves_a_failed_manifest_and_no_table(tmp_path, monkeypatch):
    real, written = sim.io.write_parquet, []

    def interrupted(path, table):
        written.append(path.name)
        if len(written) == 2:
            raise KeyboardInterrupt
        real(path, table)

    monkeypatch.setattr(sim.io, "write_parquet", interrupted)
    with pytest.raises(KeyboardInterrupt):
        run(tiny_config(**TINY_RUN), tmp_path / "run")
    assert written[0] == "summary.parquet"                  # one table was complete when the interrupt came
    manifest = read_manifest(tmp_path / "run")
    assert manifest["status"] == "failed" and manifest["error"].startswith("KeyboardInterrupt")
    assert "files" not in manifest
    assert tree(tmp_path) == ["run", "run/manifest.json"]


def test_a_full_disk_while_writing_a_table_leaves_a_failed_manifest_and_no_table_or_temporary(tmp_path,
                                                                                              monkeypatch):
    real, calls = pyarrow.parquet.write_table, []

    def disk_fills(table, where, **kwargs):
        calls.append(where)
        if len(calls) == 2:                                 # the second table: half written, then the disk is full
            where.write(b"PAR1" + bytes(4096))
            raise OSError(errno.ENOSPC, NO_SPACE)
        return real(table, where, **kwargs)

    monkeypatch.setattr(pyarrow.parquet, "write_table", disk_fills)
    with pytest.raises(OSError) as info:
        run(tiny_config(**TINY_RUN), tmp_path / "run")
    assert info.value.errno == errno.ENOSPC
    manifest = read_manifest(tmp_path / "run")
    assert manifest["status"] == "failed"
    assert manifest["error"] == f"OSError: [Errno {errno.ENOSPC}] {NO_SPACE}"
    assert tree(tmp_path) == ["run", "run/manifest.json"]  # no .parquet, no .tmp


def test_a_full_disk_while_writing_the_manifest_removes_the_tables(tmp_path, monkeypatch):
    real = sim.io.write_json

    def no_room_for_complete(path, obj):
        if obj.get("status") == "complete":
            raise OSError(errno.ENOSPC, NO_SPACE)
        return real(path, obj)

    monkeypatch.setattr(sim.io, "write_json", no_room_for_complete)
    with pytest.raises(OSError):
        run(tiny_config(**TINY_RUN), tmp_path / "run")
    manifest = read_manifest(tmp_path / "run")
    assert manifest["status"] == "failed" and NO_SPACE in manifest["error"]
    assert tree(tmp_path) == ["run", "run/manifest.json"]


def test_a_real_full_disk_through_the_command_line_exits_1_and_leaves_no_result(tmp_path):
    (tmp_path / "cwd").mkdir()
    with tmpfs(tmp_path / "disk", "size=64k") as disk:     # summary.parquet alone is about 100 kB
        proc = sim_cli(tmp_path / "cwd", *TINY_ARGS, f"hydra.run.dir={disk / 'run'}")
        left = tree(disk)
        status = (read_manifest(disk / "run") or {}).get("status")
    assert proc.returncode == 1, proc.stderr[-2000:]
    assert f"cannot write the results to {disk / 'run'}: {NO_SPACE}" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert status in ("failed", "running")                  # never complete
    assert left == sorted([*HYDRA_FILES, "run", "run/manifest.json"])   # no table, no temporary
    assert tree(tmp_path / "cwd") == []


def test_a_real_full_disk_records_the_error_in_a_failed_manifest(tmp_path):
    with tmpfs(tmp_path / "disk", "size=64k") as disk:
        with pytest.raises(OSError) as info:
            run(tiny_config(**TINY_RUN), disk / "run")
        assert info.value.errno == errno.ENOSPC
        left = tree(disk)
        manifest = read_manifest(disk / "run")
        del info
        gc.collect()                                        # let go of the open file before unmounting
    assert left == ["run", "run/manifest.json"]
    assert manifest["status"] == "failed" and NO_SPACE in manifest["error"]


@pytest.mark.parametrize("mask, file_mode, dir_mode", [
    pytest.param(0o022, 0o644, 0o755, id="umask-022"),
    pytest.param(0o027, 0o640, 0o750, id="umask-027"),
])
def test_output_files_follow_the_umask(tmp_path, mask, file_mode, dir_mode):
    old = os.umask(mask)
    try:
        run(tiny_config(**TINY_RUN), tmp_path / "run")
    finally:
        os.umask(old)
    assert tree(tmp_path) == ["run", *sorted(f"run/{n}" for n in [*TABLES, "manifest.json"])]
    modes = {p.name: oct(stat.S_IMODE(p.stat().st_mode)) for p in (tmp_path / "run").iterdir()}
    assert modes == {name: oct(file_mode) for name in [*TABLES, "manifest.json"]}
    assert stat.S_IMODE((tmp_path / "run").stat().st_mode) == dir_mode
