"""The command line: `python -m sim` composes, validates, runs and writes; bad input exits 2 and writes nothing."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pyarrow.parquet as pq
import pytest

REPO = Path(__file__).resolve().parents[1]
TINY = ["population.n=300", "days=4", "measure_days=3", "decoys.n=2", "decoys.join_day=1",
        "network.mean_following=10"]


def sim(tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    out = tmp_path / "run"
    return subprocess.run([sys.executable, "-m", "sim", f"hydra.run.dir={out}", *args],
                          cwd=REPO, capture_output=True, text=True, timeout=300)


def results_in(folder: Path) -> list[str]:
    if not folder.exists():
        return []
    return sorted(p.name for p in folder.iterdir() if p.suffix in (".parquet", ".json"))


def test_run_writes_tables_and_a_complete_manifest(tmp_path):
    proc = sim(tmp_path, *TINY, "recommender=chronological")
    assert proc.returncode == 0, proc.stderr
    assert "violating impressions per 10k, minors" in proc.stdout
    assert "borderline (suggestive) impressions per 10k, minors" in proc.stdout
    out = tmp_path / "run"
    assert results_in(out) == ["contacts.parquet", "days.parquet", "decoys.parquet", "manifest.json", "summary.parquet"]
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["status"] == "complete"
    assert manifest["config"]["recommender"]["feed"] == "chronological"
    assert manifest["config"]["population"]["n"] == 300
    assert manifest["graph"]["n"] >= 300 and "age_assortativity" in manifest["graph"]
    assert set(manifest["files"]) == {"summary.parquet", "days.parquet", "decoys.parquet", "contacts.parquet"}
    summary = pq.read_table(out / "summary.parquet")
    assert summary.num_rows == 1
    assert summary.column("recommender.feed").to_pylist() == ["chronological"]
    meta = summary.schema.metadata
    assert meta[b"exposim.config_hash"].decode() == manifest["config_hash"]
    days = pq.read_table(out / "days.parquet")
    assert days.num_rows == 4 * 4
    assert days.schema.field("impressions").type == "int64"


@pytest.mark.parametrize("args,fragment", [
    (["population.minor_share=1.5"], "population.minor_share=1.5 is out of range: allowed 0 <= minor_share <= 0.95"),
    (["recommender.feed=tiktok"], "recommender.feed='tiktok' is not a feed policy"),
    (["population.nn=5"], "population.nn"),
    (["population.n=many"], "many"),
    (["recommender=tiktok"], "recommender=tiktok: there is no such option"),
    (["safeguards=everything"], "safeguards=everything: there is no such option"),
    (["network=file"], "network.path is empty"),
    (["network=file", "network.path=/nonexistent/graph.graphml"], "/nonexistent/graph.graphml"),
])
def test_bad_input_exits_2_names_the_problem_and_writes_no_results(tmp_path, args, fragment):
    proc = sim(tmp_path, *TINY, *args)
    assert proc.returncode == 2, (proc.returncode, proc.stderr)
    assert fragment in proc.stderr
    assert results_in(tmp_path / "run") == []


def test_unknown_group_option_lists_the_available_ones(tmp_path):
    proc = sim(tmp_path, "recommender=tiktok")
    assert proc.returncode == 2
    for name in ("chronological", "engagement", "interest", "popularity", "random"):
        assert name in proc.stderr


def test_network_file_sets_the_population_and_uses_its_ages(tmp_path):
    import networkx as nx

    g = nx.gnp_random_graph(120, 0.05, seed=4, directed=True)
    for node in g.nodes:
        g.nodes[node]["age"] = 14 if node < 40 else 35
    path = tmp_path / "platform.graphml"
    nx.write_graphml(g, path)
    # No newcomers: every account but the decoys is one of the file's.
    proc = sim(tmp_path, "days=3", "measure_days=2", "decoys.n=2", "decoys.join_day=1", "network=file",
               "population.arrivals_per_day=0", f"network.path={path}")
    assert proc.returncode == 0, proc.stderr
    manifest = json.loads((tmp_path / "run" / "manifest.json").read_text())
    assert manifest["graph"]["n"] == 122                     # the file's 120 nodes plus 2 decoys
    assert manifest["population"]["cohort_minor_13_15"] == 40
    assert manifest["population"]["cohort_adult"] == 80


def test_a_single_run_on_a_terminal_shows_a_progress_bar_over_days(tmp_path):
    """tqdm draws only on a terminal: give the run a pseudo-terminal and read what it drew."""
    import fcntl
    import os
    import pty
    import struct
    import termios

    leader, follower = pty.openpty()
    fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 120, 0, 0))   # a 120-column terminal
    proc = subprocess.Popen([sys.executable, "-m", "sim", f"hydra.run.dir={tmp_path / 'run'}", *TINY, "days=5"],
                            cwd=REPO, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=follower)
    os.close(follower)
    chunks = []
    while True:
        try:
            data = os.read(leader, 4096)
        except OSError:          # the child closed the terminal
            break
        if not data:
            break
        chunks.append(data)
    os.close(leader)
    assert proc.wait(timeout=120) == 0
    drawn = b"".join(chunks).decode(errors="replace")
    assert "exposim:" in drawn and "/5 [" in drawn, drawn[-2000:]


def test_output_that_is_not_a_terminal_gets_no_progress_bar(tmp_path):
    proc = sim(tmp_path, *TINY)
    assert proc.returncode == 0, proc.stderr
    assert "/4 [" not in proc.stderr
