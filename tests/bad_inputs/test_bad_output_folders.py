"""Group 4 — Output folders: a run folder that cannot be created or written is refused before anything is written.

In-process :func:`sim.preflight.check`; the read-only case mounts a tmpfs
``ro`` inside the test's folder (skipped, saying why, where mounting is not
permitted).
"""

from __future__ import annotations

import os

from tests.bad_inputs.helpers import refused, tmpfs, tree


def test_a_run_folder_that_is_a_file_is_refused(tmp_path):
    (tmp_path / "out").write_text("keep me\n")
    refused(tmp_path, [f"hydra.run.dir={tmp_path / 'out'}"],
            [f"hydra.run.dir={tmp_path / 'out'}", "is a file, not a folder", "choose another folder"])
    assert tree(tmp_path) == ["out"]
    assert (tmp_path / "out").read_text() == "keep me\n"


def test_a_run_folder_under_a_file_is_refused(tmp_path):
    (tmp_path / "afile").write_text("keep me\n")
    refused(tmp_path, [f"hydra.run.dir={tmp_path / 'afile' / 'a' / 'run'}"],
            [f"hydra.run.dir={tmp_path / 'afile' / 'a' / 'run'}", f"{tmp_path / 'afile'} is a file, not a folder"])
    assert tree(tmp_path) == ["afile"]


def test_a_broken_symbolic_link_on_the_path_is_refused(tmp_path):
    os.symlink(tmp_path / "gone", tmp_path / "link")
    refused(tmp_path, [f"hydra.run.dir={tmp_path / 'link' / 'run'}"],
            [f"hydra.run.dir={tmp_path / 'link' / 'run'}", f"{tmp_path / 'link'} is a broken symbolic link"])
    assert tree(tmp_path) == ["link"]                       # the link's target was not created either


def test_a_read_only_file_system_is_refused(tmp_path):
    with tmpfs(tmp_path / "ro", "ro,size=1m") as ro:
        refused(tmp_path, [f"hydra.run.dir={ro / 'runs' / 'one'}"],
                [f"hydra.run.dir={ro / 'runs' / 'one'}", f"{ro} is not writable", "choose a folder you can write to"])
        refused(tmp_path, ["-m", "safeguards=none,all_on", f"hydra.sweep.dir={ro / 'sweep'}"],
                [f"hydra.sweep.dir={ro / 'sweep'}", f"{ro} is not writable"])
        assert tree(tmp_path) == ["ro"]
