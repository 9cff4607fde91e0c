"""Same seed -> byte-identical files (also across hash seeds); another seed -> different files."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pyarrow.parquet as pq

from sim.runner import run
from tests.conftest import tiny_config

TABLES = ("summary.parquet", "days.parquet", "decoys.parquet", "contacts.parquet")
REPO = Path(__file__).resolve().parents[1]


def _bytes(folder: Path) -> dict[str, bytes]:
    return {name: (folder / name).read_bytes() for name in TABLES}


def test_same_seed_gives_identical_files(tmp_path):
    a = run(tiny_config(seed=11), tmp_path / "a")
    b = run(tiny_config(seed=11), tmp_path / "b")
    assert _bytes(a.out_dir) == _bytes(b.out_dir)
    assert a.model.population.interest.tobytes() == b.model.population.interest.tobytes()
    assert a.model.graph.indices.tobytes() == b.model.graph.indices.tobytes()


def test_different_seed_gives_different_files(tmp_path):
    a = run(tiny_config(seed=11), tmp_path / "a")
    b = run(tiny_config(seed=12), tmp_path / "b")
    for name in ("days.parquet", "decoys.parquet"):
        assert (a.out_dir / name).read_bytes() != (b.out_dir / name).read_bytes(), name
    days_a = pq.read_table(a.out_dir / "days.parquet").column("impressions").to_pylist()
    days_b = pq.read_table(b.out_dir / "days.parquet").column("impressions").to_pylist()
    assert days_a != days_b


def test_identical_files_under_different_python_hash_seeds(tmp_path):
    script = (
        "import sys; from sim.runner import run; from tests.conftest import tiny_config; "
        "run(tiny_config(seed=3, days=5), sys.argv[1])"
    )
    for hash_seed, folder in (("1", "h1"), ("987654", "h2")):
        env = {**os.environ, "PYTHONHASHSEED": hash_seed}
        subprocess.run([sys.executable, "-c", script, str(tmp_path / folder)], cwd=REPO, env=env, check=True)
    assert _bytes(tmp_path / "h1") == _bytes(tmp_path / "h2")
