"""The up-front memory estimate, the available-memory figure and the check that refuses a world too large."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from sim import resources
from sim.config import Config, ConfigError
from sim.resources import (MEMORY_LIMIT_ENV, available_bytes, check_memory, estimate_footprint, estimate_peak_bytes,
                           measure_peak,
                           format_bytes)
from tests.conftest import set_key

GIB = 1 << 30
MIB = 1 << 20


def config(**overrides) -> Config:
    """The default config (what ``python -m sim`` composes) with dotted-key overrides."""
    cfg = Config()
    for key, value in overrides.items():
        set_key(cfg, key, value)
    return cfg


@pytest.fixture
def no_limit(monkeypatch):
    monkeypatch.delenv(MEMORY_LIMIT_ENV, raising=False)


# ------------------------------------------------------------------ the estimate

@pytest.mark.parametrize("key, small, large", [
    ("population.n", 10_000, 100_000),
    ("population.n", 100_000, 1_000_000),
    ("network.mean_following", 30.0, 100.0),
    ("content.retention_days", 7, 30),
])
def test_estimate_grows_with_the_world(key, small, large):
    base = {"population.n": 100_000}
    lo = estimate_peak_bytes(config(**{**base, key: small}))
    hi = estimate_peak_bytes(config(**{**base, key: large}))
    assert hi > lo


def test_estimate_is_roughly_linear_in_accounts_at_scale():
    # Per-account arrays, follows and items dominate large worlds: 10x the accounts is
    # several times the memory, not 10x the base nor a constant.
    small = estimate_peak_bytes(config(**{"population.n": 1_000_000}))
    large = estimate_peak_bytes(config(**{"population.n": 10_000_000}))
    assert 5 < large / small <= 10


def test_n_accounts_replaces_population_n():
    from_file = estimate_peak_bytes(config(**{"population.n": 1000}), n_accounts=200_000)
    assert from_file == estimate_peak_bytes(config(**{"population.n": 200_000}))
    assert from_file > estimate_peak_bytes(config(**{"population.n": 1000}))


def test_footprint_adds_up_to_the_peak():
    fp = estimate_footprint(config(**{"population.n": 300_000}))
    phases = fp.phases()
    assert set(phases) == {"build", "stats", "feed", "engage", "suggest", "rebuild"}
    assert fp.base < max(phases.values()) <= fp.peak
    assert fp.peak == estimate_peak_bytes(config(**{"population.n": 300_000}))


def test_estimate_of_a_world_too_large_to_build_reads_sizes_only():
    # The estimate never builds the world: a 50-million-account world would take
    # minutes and about 150 GB; its estimate is a few arithmetic steps.
    cfg = config(**{"population.n": 50_000_000})
    assert estimate_peak_bytes(cfg) > 50 * GIB


# ------------------------------------------------------------------ the check

def test_check_memory_refuses_a_world_that_cannot_fit(monkeypatch):
    monkeypatch.setenv(MEMORY_LIMIT_ENV, "1G")
    with pytest.raises(ConfigError) as err:
        check_memory(config(**{"population.n": 50_000_000}))
    message = str(err.value)
    assert "population.n=50000000" in message
    assert re.search(r"needs about \d+(\.\d)? GB", message)
    assert "1.0 GB is available" in message
    assert "lower population.n or network.mean_following" in message
    assert "more memory" in message


def test_check_memory_names_the_graph_file_when_it_sets_the_size(monkeypatch):
    monkeypatch.setenv(MEMORY_LIMIT_ENV, "1G")
    cfg = config(**{"network.kind": "file", "network.path": "big.csv"})
    with pytest.raises(ConfigError, match=r"network\.path=big\.csv \(20000000 accounts\)"):
        check_memory(cfg, n_accounts=20_000_000)


def test_check_memory_passes_a_tiny_world(monkeypatch):
    monkeypatch.setenv(MEMORY_LIMIT_ENV, "1G")
    check_memory(config(**{"population.n": 2000}))


def test_check_memory_does_nothing_when_available_memory_is_unknown(monkeypatch):
    monkeypatch.setattr(resources, "available_bytes", lambda: None)
    check_memory(config(**{"population.n": 50_000_000}))


# ------------------------------------------------------------------ available memory

@pytest.mark.parametrize("value, expected", [
    ("1073741824", GIB),
    ("8G", 8 * GIB),
    ("8g", 8 * GIB),
    ("8GB", 8 * GIB),
    ("8GiB", 8 * GIB),
    ("512M", 512 * MIB),
    (" 512 M ", 512 * MIB),
    ("1.5G", 3 * GIB // 2),
    ("64K", 64 * 1024),
    ("2T", 2 << 40),
])
def test_available_bytes_honours_the_environment_variable(monkeypatch, value, expected):
    monkeypatch.setenv(MEMORY_LIMIT_ENV, value)
    assert available_bytes() == expected


@pytest.mark.parametrize("value", ["lots", "8X", "-1G", "G", "1,5G", "8 G B"])
def test_available_bytes_rejects_a_malformed_limit(monkeypatch, value):
    monkeypatch.setenv(MEMORY_LIMIT_ENV, value)
    with pytest.raises(ConfigError, match=rf"{MEMORY_LIMIT_ENV}=.*is not a size.*8G, 512M"):
        available_bytes()


def _meminfo(tmp_path: Path, available_kib: int) -> Path:
    path = tmp_path / "meminfo"
    path.write_text(f"MemTotal:       99999999 kB\nMemFree:        1 kB\nMemAvailable:   {available_kib} kB\n")
    return path


def _proc_cgroup(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "cgroup"
    path.write_text(text)
    return path


def test_available_bytes_reads_memavailable_without_a_cgroup_limit(tmp_path, no_limit):
    root = tmp_path / "fs"
    (root / "job").mkdir(parents=True)
    (root / "job" / "memory.max").write_text("max\n")
    got = available_bytes(_meminfo(tmp_path, 4 * 1024 * 1024), root, _proc_cgroup(tmp_path, "0::/job\n"))
    assert got == 4 * GIB


def test_available_bytes_is_lowered_by_a_cgroup_v2_limit(tmp_path, no_limit):
    root = tmp_path / "fs"
    (root / "parent" / "job").mkdir(parents=True)
    (root / "parent" / "job" / "memory.max").write_text("max\n")
    # A limit on a parent cgroup binds the job too.
    (root / "parent" / "memory.max").write_text(str(3 * GIB))
    (root / "parent" / "memory.current").write_text(str(GIB))
    got = available_bytes(_meminfo(tmp_path, 16 * 1024 * 1024), root, _proc_cgroup(tmp_path, "0::/parent/job\n"))
    assert got == 2 * GIB


def test_available_bytes_reads_a_cgroup_v1_limit_at_the_mount(tmp_path, no_limit):
    # In a container the memory controller is mounted at the container's own cgroup.
    memory = tmp_path / "fs" / "memory"
    memory.mkdir(parents=True)
    (memory / "memory.limit_in_bytes").write_text(str(6 * GIB))
    (memory / "memory.usage_in_bytes").write_text(str(GIB))
    got = available_bytes(_meminfo(tmp_path, 16 * 1024 * 1024), tmp_path / "fs",
                          _proc_cgroup(tmp_path, "4:memory:/docker/abc\n0::/\n"))
    assert got == 5 * GIB


def test_available_bytes_ignores_the_v1_no_limit_value(tmp_path, no_limit):
    memory = tmp_path / "fs" / "memory"
    memory.mkdir(parents=True)
    (memory / "memory.limit_in_bytes").write_text("9223372036854771712")
    (memory / "memory.usage_in_bytes").write_text(str(GIB))
    got = available_bytes(_meminfo(tmp_path, 1024 * 1024), tmp_path / "fs", _proc_cgroup(tmp_path, "4:memory:/\n"))
    assert got == GIB


def test_available_bytes_is_none_when_nothing_can_be_read(tmp_path, no_limit):
    assert available_bytes(tmp_path / "missing", tmp_path / "none", tmp_path / "nocgroup") is None


# ------------------------------------------------------------------ formatting

@pytest.mark.parametrize("n, text", [
    (int(2.3 * GIB), "2.3 GB"),
    (512 * MIB, "512 MB"),
    (GIB, "1.0 GB"),
    (150 * GIB, "150 GB"),
    (900 * 1024, "900 kB"),
    (12, "12 B"),
])
def test_format_bytes(n, text):
    assert format_bytes(n) == text


# ------------------------------------------------------------------ against a real run

def test_a_tiny_run_peaks_below_its_estimate(tmp_path, no_limit):
    """The whole command, in a child process: its own peak RSS (VmHWM, reported by the child) is within the estimate."""
    overrides = {"population.n": 2000, "days": 3, "measure_days": 3, "decoys.join_day": 1}
    # The estimate is for a run whose kernels are compiled: the first run after an install compiles them
    # (LLVM adds about 170 MB once), so a first run makes sure they are, then the second is measured.
    for name in ("warm", "run"):
        code, measured, errors = measure_peak([*(f"{k}={v}" for k, v in overrides.items()),
                                               f"hydra.run.dir={tmp_path / name}"])
    assert code == 0, errors[-2000:]
    assert measured is not None and measured > 50 * (1 << 20)      # a Python process with numpy and Hydra
    estimate = estimate_peak_bytes(config(**overrides))
    assert measured <= estimate, f"measured {format_bytes(measured)} > estimate {format_bytes(estimate)}"


# ------------------------------------------------------------------ malloc

def _glibc() -> bool:
    import ctypes
    import sys
    if not sys.platform.startswith("linux"):
        return False
    try:
        return hasattr(ctypes.CDLL("libc.so.6"), "mallopt")
    except OSError:
        return False


@pytest.mark.skipif(not _glibc(), reason="glibc's mallopt is not available here")
def test_malloc_keeps_freed_memory_on_glibc(monkeypatch):
    """glibc accepts both settings (it refuses an mmap threshold out of its range with 0)."""
    monkeypatch.delenv(resources.MALLOC_ENV, raising=False)
    assert resources._set_malloc(*resources._REUSE) is True
    monkeypatch.setenv(MEMORY_LIMIT_ENV, "64G")
    assert resources.keep_freed_memory(config(**{"population.n": 10_000})) is True


def test_malloc_is_left_alone_where_memory_is_tight(monkeypatch):
    """A run whose estimated peak, with the headroom the kept memory needs, does not fit leaves malloc alone."""
    monkeypatch.delenv(resources.MALLOC_ENV, raising=False)
    cfg = config(**{"population.n": 10_000})
    peak = estimate_peak_bytes(cfg)
    monkeypatch.setenv(MEMORY_LIMIT_ENV, str(int(peak * resources.FREED_MEMORY_HEADROOM) - 1))
    assert resources.keep_freed_memory(cfg) is False


@pytest.mark.parametrize("value", ["system", " System "])
def test_malloc_is_left_alone_when_asked(monkeypatch, value):
    monkeypatch.setenv(resources.MALLOC_ENV, value)
    assert resources.keep_freed_memory() is False
