"""Helpers of the bad-input catalogue: what is on disk, checking a command in-process, graph files, tmpfs."""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Iterator

import pytest

from sim.config import ConfigError
from sim.preflight import Checked, check

#: A run that takes well under a second (sim.runner.run on tiny_config(**TINY_RUN)).
TINY_RUN = {"population.n": 300, "days": 2, "measure_days": 1, "decoys.n": 2}
#: The same on the command line.
TINY_ARGS = ["population.n=300", "days=2", "measure_days=1", "decoys.n=2", "decoys.join_day=1"]
#: The tables a complete run with the default output switches writes.
TABLES = ("contacts.parquet", "days.parquet", "decoys.parquet", "summary.parquet")


def tree(root: Path) -> list[str]:
    """Every file, folder and link under ``root`` (hidden ones too), as sorted relative POSIX paths."""
    root = Path(root)
    out = []
    for dirpath, dirnames, filenames in os.walk(root):
        rel = Path(dirpath).relative_to(root)
        out += [(rel / name).as_posix() for name in dirnames + filenames]
    return sorted(out)


def with_out_dir(tmp_path: Path, args: tuple[str, ...] | list[str]) -> list[str]:
    """The command line with the output folder pinned under ``tmp_path`` (unless the case sets it)."""
    args = list(args)
    key, name = ("hydra.sweep.dir", "sweep") if "-m" in args else ("hydra.run.dir", "run")
    if not any(a.startswith(f"{key}=") for a in args):
        args.append(f"{key}={tmp_path / name}")
    return args


def refused(tmp_path: Path, args, fragments=()) -> str:
    """Check ``args`` in-process; it must raise ConfigError whose message holds every fragment."""
    with pytest.raises(ConfigError) as info:
        check(with_out_dir(tmp_path, args))
    message = str(info.value)
    for fragment in fragments:
        assert fragment in message, f"{fragment!r} not in:\n{message}"
    assert "Traceback" not in message
    return message


def accepted(tmp_path: Path, args) -> Checked:
    """Check ``args`` in-process; it must pass."""
    checked = check(with_out_dir(tmp_path, args))
    assert checked is not None
    return checked


def write_edge_list(path: Path, n: int, step: int = 1) -> Path:
    """A connected edge list of ``n`` nodes: a ring (i -> i+step) plus chords (i -> i+7)."""
    lines = [f"{i} {(i + step) % n}" for i in range(n)] + [f"{i} {(i + 7) % n}" for i in range(0, n, 3)]
    path.write_text("# follower followee\n" + "\n".join(lines) + "\n")
    return path


def sim_cli(cwd: Path, *args: str, env: dict[str, str] | None = None,
            timeout: float = 300) -> subprocess.CompletedProcess:
    """``python3 -m sim ARGS`` in ``cwd`` (no memory override inherited from the test's environment)."""
    base = {k: v for k, v in os.environ.items() if k != "EXPOSIM_MEMORY_LIMIT"}
    return subprocess.run([sys.executable, "-m", "sim", *args], cwd=cwd, env={**base, **(env or {})},
                          capture_output=True, text=True, timeout=timeout)


@contextlib.contextmanager
def tmpfs(path: Path, options: str) -> Iterator[Path]:
    """Mount a tmpfs with ``options`` (e.g. ``ro,size=1m``) at ``path`` for the block; skip where not permitted."""
    if shutil.which("mount") is None:
        pytest.skip("no mount command here, so no tmpfs can be made for this case")
    path.mkdir(parents=True, exist_ok=True)
    proc = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(path)],
                          capture_output=True, text=True)
    if proc.returncode != 0:
        path.rmdir()
        pytest.skip(f"mounting a tmpfs is not permitted here (needs root with CAP_SYS_ADMIN): "
                    f"{(proc.stderr or proc.stdout).strip()}")
    try:
        yield path
    finally:
        if subprocess.run(["umount", str(path)], capture_output=True).returncode != 0:
            subprocess.run(["umount", "-l", str(path)], capture_output=True)   # a file still open in-process
