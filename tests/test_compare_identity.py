"""sim.analysis compare: runs made by different code, option bounds, and complete manifests that lie.

Sweeps here are written by hand and fast: each run is a ``summary.parquet``
(the real writer, :func:`sim.io.summary_table`) and its ``complete`` manifest
(:func:`sim.io.write_run`), with no simulation behind it; the manifest's
``code`` key is then set (or removed, as in manifests written before runs
recorded their code) to make the mix each test needs.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
import scipy.stats

import sim.analysis.stats as stats
from sim.analysis import AnalysisError, compare_sweep
from sim.analysis.__main__ import main
from sim.analysis.compare import COMPARISON, REPORT, check_options, format_table
from sim.analysis.labels import HEADLINE
from sim.analysis.runs import scan_runs
from sim.io import MANIFEST, summary_table, write_run
from tests.conftest import tiny_config

REPO = Path(__file__).resolve().parent.parent
FEEDS = ("random", "chronological")
SETTING = {feed: f"recommender.feed={feed}" for feed in FEEDS}
OLD, NEW, NEWER = (hashlib.sha256(v).hexdigest() for v in (b"old code", b"new code", b"newer code"))


def make_run(sweep: Path, num: int, feed: str, replicate: int, fingerprint: str | None) -> Path:
    """A complete run of one feed and replicate, as the Hydra app records a sweep job; ``fingerprint``
    None leaves the manifest without a ``code`` key (written before runs recorded one)."""
    overrides = [f"recommender.feed={feed}", f"replicate={replicate}"]
    folder = sweep / ",".join(overrides)
    cfg = tiny_config(**{"recommender.feed": feed, "replicate": replicate, "output.days_table": False,
                         "output.contacts_table": False, "output.decoys_table": False})
    shift = 2.0 if feed == "chronological" else 0.0
    summary = {m: 10.0 + i + replicate + shift for i, m in enumerate(HEADLINE)}
    write_run(folder, cfg, {"summary.parquet": summary_table(summary, cfg)},
              {"overrides": overrides, "sweep": {"dir": str(sweep), "job_num": num}},
              datetime(2024, 1, 1, tzinfo=timezone.utc))
    set_code(folder, fingerprint)
    return folder


def set_code(folder: Path, fingerprint: str | None) -> None:
    manifest = json.loads((folder / MANIFEST).read_text())
    manifest.pop("code", None)
    if fingerprint is not None:
        manifest["code"] = {"fingerprint": fingerprint, "git_commit": None, "git_dirty": None}
    (folder / MANIFEST).write_text(json.dumps(manifest, indent=2))


def make_sweep(root: Path, codes: dict[str, list[str | None]]) -> Path:
    """feed -> the fingerprint of each replicate's run (jobs numbered in launch order, random first)."""
    root.mkdir(parents=True, exist_ok=True)
    num = 0
    for feed in FEEDS:
        for replicate, fingerprint in enumerate(codes.get(feed, [])):
            make_run(root, num, feed, replicate, fingerprint)
            num += 1
    return root


def snapshot(folder: Path) -> dict[str, tuple[int, str]]:
    """Every file and folder under ``folder``: modification time and content hash."""
    return {p.relative_to(folder).as_posix(): (p.stat().st_mtime_ns,
                                               hashlib.sha256(p.read_bytes()).hexdigest() if p.is_file() else "")
            for p in sorted(folder.rglob("*"))}


def cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "sim.analysis", "compare", *args], cwd=REPO,
                          capture_output=True, text=True, timeout=120)


@pytest.fixture
def mixed(tmp_path) -> Path:
    """random: two runs by OLD code, one with no code recorded; chronological: three runs by OLD code."""
    return make_sweep(tmp_path / "mixed", {"random": [OLD, OLD, None], "chronological": [OLD, OLD, OLD]})


# --------------------------------------------------------------------------- runs made by different code

def test_runs_from_different_code_are_refused_naming_versions_counts_and_settings(mixed):
    before = snapshot(mixed)
    with pytest.raises(AnalysisError) as info:
        compare_sweep(mixed, out=None)
    message = str(info.value)
    assert "the 6 complete runs were made by 2 different versions of the code" in message
    lines = message.splitlines()
    assert f"  {OLD[:12]}: 5 runs" in lines
    assert any(line.startswith("  unknown: 1 run ") for line in lines), message
    assert "settings with runs from more than one version (1 of 2):" in message
    assert f"  {SETTING['random']} ({OLD[:12]}: 2 runs, unknown: 1 run)" in lines
    assert SETTING["chronological"] not in message          # its runs all come from one version
    assert "re-run the sweep's command" in message and "--mixed-code" in message
    assert snapshot(mixed) == before                        # nothing written: no comparison, no report
    assert not (mixed / COMPARISON).exists() and not (mixed / REPORT).exists()


def test_settings_each_made_by_one_different_code_are_refused_and_listed(tmp_path):
    sweep = make_sweep(tmp_path / "s", {"random": [OLD, OLD], "chronological": [NEW, NEW]})
    with pytest.raises(AnalysisError) as info:
        compare_sweep(sweep, report=False, out=None)
    message = str(info.value)
    assert "made by 2 different versions" in message
    assert "no setting has runs from more than one version" in message
    lines = message.splitlines()
    assert f"  {SETTING['random']} ({OLD[:12]}: 2 runs)" in lines
    assert f"  {SETTING['chronological']} ({NEW[:12]}: 2 runs)" in lines


def test_cli_refuses_mixed_code_with_exit_2_and_writes_nothing(mixed):
    before = snapshot(mixed)
    done = cli(str(mixed))
    assert done.returncode == 2, (done.stdout, done.stderr)
    assert done.stderr.startswith("exposim: cannot compare: the 6 complete runs were made by 2 different versions")
    assert SETTING["random"] in done.stderr and "--mixed-code" in done.stderr
    assert "Traceback" not in done.stderr and done.stdout == ""
    assert snapshot(mixed) == before


def test_mixed_code_compares_anyway_and_says_so(mixed):
    result = compare_sweep(mixed, mixed_code=True, out=None)
    assert result.code_versions == {OLD: 5, "unknown": 1}
    text = format_table(result)
    assert "the 6 complete runs come from 2 code versions" in text.splitlines()[1]
    assert f"{OLD[:12]}: 5 runs, unknown: 1 run" in text
    page = (mixed / REPORT).read_text()
    assert "come from 2 code versions" in page and SETTING["random"] in page
    metadata = pq.read_schema(mixed / COMPARISON).metadata
    assert json.loads(metadata[b"exposim.code_fingerprints"]) == sorted([OLD, "unknown"])
    # The figures are the pooled ones: three random replicates, three chronological.
    assert {r["n"] for r in result.table.to_pylist()} == {3}


def test_cli_mixed_code_flag_prints_the_warning(mixed):
    done = cli(str(mixed), "--mixed-code", "--no-report")
    assert done.returncode == 0, done.stderr
    assert "come from 2 code versions" in done.stdout and "--mixed-code" in done.stdout
    assert (mixed / COMPARISON).is_file() and not (mixed / REPORT).exists()


def test_three_versions_are_counted(tmp_path):
    sweep = make_sweep(tmp_path / "s", {"random": [OLD, NEW], "chronological": [NEWER, NEW]})
    with pytest.raises(AnalysisError, match="made by 3 different versions") as info:
        compare_sweep(sweep, report=False, out=None)
    assert f"  {NEW[:12]}: 2 runs" in str(info.value).splitlines()
    assert "(2 of 2)" in str(info.value)
    result = compare_sweep(sweep, report=False, mixed_code=True, out=None)
    assert json.loads(pq.read_schema(sweep / COMPARISON).metadata[b"exposim.code_fingerprints"]) == sorted(
        [OLD, NEW, NEWER])
    assert "come from 3 code versions" in format_table(result)


@pytest.mark.parametrize("codes, recorded", [
    ({"random": [NEW, NEW], "chronological": [NEW, NEW]}, [NEW]),
    ({"random": [None, None], "chronological": [None, None]}, ["unknown"]),   # all written before the change
])
def test_runs_from_one_code_are_compared_and_the_fingerprint_recorded(tmp_path, codes, recorded):
    sweep = make_sweep(tmp_path / "s", codes)
    result = compare_sweep(sweep, out=None)
    assert result.code_versions == {recorded[0]: 4}
    assert json.loads(pq.read_schema(sweep / COMPARISON).metadata[b"exposim.code_fingerprints"]) == recorded
    assert "code versions" not in format_table(result)
    page = (sweep / REPORT).read_text()
    assert "Mixed code" not in page and f"code <span class=\"code\">{recorded[0][:12]}</span>" in page
    first = (sweep / COMPARISON).read_bytes()
    compare_sweep(sweep, out=None)
    assert (sweep / COMPARISON).read_bytes() == first


def test_mixed_code_comparison_is_byte_reproducible(mixed, tmp_path):
    compare_sweep(mixed, mixed_code=True, out=None)
    first = (mixed / COMPARISON).read_bytes(), (mixed / REPORT).read_bytes()
    compare_sweep(mixed, mixed_code=True, out=None)
    assert ((mixed / COMPARISON).read_bytes(), (mixed / REPORT).read_bytes()) == first


def test_only_complete_runs_count_as_code_versions(tmp_path):
    sweep = make_sweep(tmp_path / "s", {"random": [NEW, NEW], "chronological": [NEW, NEW]})
    stale = make_run(sweep, 9, "random", 5, OLD)
    manifest = json.loads((stale / MANIFEST).read_text())
    manifest["status"] = "failed"
    manifest["error"] = "RuntimeError: worker lost"
    (stale / MANIFEST).write_text(json.dumps(manifest))
    assert compare_sweep(sweep, report=False, out=None).code_versions == {NEW: 4}


# --------------------------------------------------------------------------- option bounds

@pytest.mark.parametrize("args, needles", [
    (["--resamples", "1000000000"], ["--resamples=1000000000", "between 100 and 100,000"]),
    (["--resamples", "5"], ["--resamples=5", "between 100 and 100,000"]),
    (["--resamples", "99"], ["--resamples=99", "between 100 and 100,000"]),
    (["--resamples", "100001"], ["--resamples=100001", "between 100 and 100,000"]),
    (["--level", "1.5"], ["--level=1.5", "strictly between 0 and 1"]),
    (["--level", "1"], ["--level=1.0", "strictly between 0 and 1"]),
    (["--level", "0"], ["--level=0.0", "strictly between 0 and 1"]),
    (["--level", "nan"], ["--level=nan", "strictly between 0 and 1"]),
])
def test_out_of_range_options_exit_2_naming_the_option_and_leave_the_folder_alone(mixed, capsys, args, needles):
    before = snapshot(mixed)
    assert main(["compare", str(mixed), *args]) == 2
    out, err = capsys.readouterr()
    assert err.startswith("exposim: cannot compare: --"), err
    for needle in needles:
        assert needle in err, (needle, err)
    assert "different versions" not in err            # the options are checked before any run is read
    assert out == ""
    assert snapshot(mixed) == before


def test_cli_rejects_a_billion_resamples_at_once_without_traceback(tmp_path):
    """It used to allocate until the kernel killed it; now it stops before reading a run."""
    sweep = make_sweep(tmp_path / "s", {"random": [NEW, NEW], "chronological": [NEW, NEW]})
    before = snapshot(sweep)
    done = cli(str(sweep), "--resamples", "1000000000")
    assert done.returncode == 2, (done.stdout, done.stderr)
    assert "--resamples=1000000000: must be a whole number between 100 and 100,000" in done.stderr
    assert "Traceback" not in done.stderr
    assert snapshot(sweep) == before


@pytest.mark.parametrize("resamples, level, needle", [
    (10**9, 0.95, "--resamples=1000000000"), (5, 0.95, "--resamples=5"), (150.5, 0.95, "--resamples=150.5"),
    (True, 0.95, "--resamples=True"), (2000, 1.5, "--level=1.5"), (2000, 0.0, "--level=0.0"),
    (2000, float("nan"), "--level=nan"), (2000, "0.9", "--level=0.9"),
])
def test_compare_sweep_enforces_the_same_bounds(tmp_path, resamples, level, needle):
    with pytest.raises(AnalysisError, match=needle.replace(".", r"\.")):
        compare_sweep(tmp_path / "does_not_matter", resamples=resamples, level=level, out=None)
    assert not (tmp_path / "does_not_matter").exists()


def test_the_bounds_are_inclusive(tmp_path):
    check_options(100, 0.5)
    check_options(100_000, 0.999)
    sweep = make_sweep(tmp_path / "s", {"random": [NEW, NEW, NEW], "chronological": [NEW, NEW, NEW]})
    for resamples in (100, 100_000):
        result = compare_sweep(sweep, resamples=resamples, report=False, out=None)
        assert pq.read_schema(sweep / COMPARISON).metadata[b"exposim.resamples"] == str(resamples).encode()
        assert result.table.num_rows == 2 * len(HEADLINE)


def test_timeline_intervals_are_t_intervals_over_replicates_by_day():
    """Each run gives one number a day (cumulative count per decoy): n is replicates, so a t interval, as for
    a setting's mean; with fewer than three replicates there is no band."""
    rng = np.random.default_rng(3)
    series = {f"r{i}": np.column_stack([np.full(40, 4.0), rng.poisson(1.0, 40), rng.poisson(2.0, 40)])
              for i in range(7)}
    setting_of = {run: FEEDS[0] if i < 5 else FEEDS[1] for i, run in enumerate(series)}     # 5 and 2 runs
    args = (series, setting_of, {FEEDS[0]: 0, FEEDS[1]: 1}, {"a": 1, "b": 2})
    table = stats.decoy_timelines(*args)
    assert repr(table.to_pylist()) == repr(stats.decoy_timelines(*args).to_pylist())    # NaN matching NaN
    rows = [r for r in table.to_pylist() if r["setting"] == FEEDS[0] and r["series"] == "b"]
    per_decoy = np.stack([np.cumsum(series[f"r{i}"][:, 2]) / 4.0 for i in range(5)])     # 5 replicates x days
    half = scipy.stats.t.ppf(0.975, 4) * per_decoy.std(axis=0, ddof=1) / np.sqrt(5)
    for day, r in enumerate(rows):
        assert r["n"] == 5
        assert r["mean"] == pytest.approx(per_decoy[:, day].mean(), rel=1e-12)
        assert (r["ci_low"], r["ci_high"]) == pytest.approx((r["mean"] - half[day], r["mean"] + half[day]),
                                                            rel=1e-12, abs=1e-12)
    two = [r for r in table.to_pylist() if r["setting"] == FEEDS[1]]
    assert two and all(r["n"] == 2 and np.isnan(r["ci_low"]) and np.isnan(r["ci_high"]) for r in two)


def test_a_comparison_with_bca_intervals_is_byte_identical_when_compared_again(tmp_path):
    sweep = make_sweep(tmp_path / "s", {"random": [NEW] * 10, "chronological": [NEW] * 10})
    result = compare_sweep(sweep, report=False, out=None)
    other = [r for r in result.table.to_pylist() if not r["is_baseline"]]
    assert {r["rel_interval"] for r in other} == {"BCa"} and {r["n_pairs"] for r in other} == {10}
    assert {r["interval"] for r in result.table.to_pylist()} == {"t"}
    first = (sweep / COMPARISON).read_bytes()
    compare_sweep(sweep, report=False, out=None)
    assert (sweep / COMPARISON).read_bytes() == first
    copy = make_sweep(tmp_path / "elsewhere", {"random": [NEW] * 10, "chronological": [NEW] * 10})
    compare_sweep(copy, report=False, out=None)
    assert (copy / COMPARISON).read_bytes() == first


# --------------------------------------------------------------------------- complete manifests that lie

def empty_files(folder: Path, truncate: bool = True) -> None:
    """The manifest still says complete but lists no tables; the summary is cut short."""
    manifest = json.loads((folder / MANIFEST).read_text())
    manifest["files"] = {}
    (folder / MANIFEST).write_text(json.dumps(manifest))
    if truncate:
        data = (folder / "summary.parquet").read_bytes()
        (folder / "summary.parquet").write_bytes(data[: len(data) // 2])


def test_a_complete_manifest_listing_no_tables_is_invalid_not_a_crash(tmp_path):
    sweep = make_sweep(tmp_path / "s", {"random": [NEW, NEW], "chronological": [NEW, NEW]})
    liar = make_run(sweep, 9, "random", 7, NEW)
    empty_files(liar)
    done = cli(str(sweep), "--no-report")
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr
    assert f"  {liar.name}: invalid (its manifest lists no tables)" in done.stdout.splitlines()
    assert "4 complete runs" in done.stdout


@pytest.mark.parametrize("damage, reason", [
    ("truncated, checksum updated", "summary.parquet cannot be read"),
    ("missing", "summary.parquet is missing"),
    ("not listed", "its manifest does not list summary.parquet"),
    ("files not a mapping", "its manifest lists no tables"),
    ("empty, not truncated", "its manifest lists no tables"),
])
def test_a_complete_manifest_with_an_unusable_summary_is_invalid_with_a_reason(tmp_path, damage, reason):
    sweep = make_sweep(tmp_path / "s", {"random": [NEW, NEW], "chronological": [NEW, NEW]})
    liar = make_run(sweep, 9, "chronological", 7, NEW)
    summary, manifest = liar / "summary.parquet", json.loads((liar / MANIFEST).read_text())
    if damage == "truncated, checksum updated":      # what an older verify_files cannot see
        summary.write_bytes(summary.read_bytes()[:100])
        manifest["files"]["summary.parquet"].update(bytes=summary.stat().st_size,
                                                    sha256=hashlib.sha256(summary.read_bytes()).hexdigest())
    elif damage == "missing":
        summary.unlink()
    elif damage == "not listed":
        manifest["files"] = {"other.parquet": manifest["files"]["summary.parquet"]}
    elif damage == "files not a mapping":
        manifest["files"] = ["summary.parquet"]
    else:
        manifest["files"] = {}
    (liar / MANIFEST).write_text(json.dumps(manifest))
    state = {r.rel: (r.status, r.error) for r in scan_runs(sweep)}
    status, error = state[liar.name]
    assert status == "invalid" and error.startswith(reason), error
    result = compare_sweep(sweep, report=False, out=None)
    assert sum(r.status == "complete" for r in result.runs) == 4


def test_a_sweep_whose_only_run_lists_no_tables_exits_2_and_writes_nothing(tmp_path):
    sweep = make_sweep(tmp_path / "s", {"random": [NEW]})
    empty_files(next(p for p in sweep.iterdir() if p.is_dir()))
    before = snapshot(sweep)
    done = cli(str(sweep))
    assert done.returncode == 2, (done.stdout, done.stderr)
    assert "no complete run" in done.stderr and "1 invalid" in done.stderr
    assert "Traceback" not in done.stderr
    assert snapshot(sweep) == before


def test_the_refusal_names_the_installed_code_when_some_runs_were_made_by_it(tmp_path):
    io = pytest.importorskip("sim.io")
    if not hasattr(io, "code_identity"):
        pytest.skip("sim.io does not record code identity yet")
    installed = io.code_identity()["fingerprint"]
    sweep = make_sweep(tmp_path / "s", {"random": [installed, OLD], "chronological": [installed, installed]})
    with pytest.raises(AnalysisError) as info:
        compare_sweep(sweep, report=False, out=None)
    message = str(info.value)
    assert f"  {installed[:12]}: 3 runs (the installed code)" in message.splitlines()
    assert "recompute the runs not made by the installed code" in message
