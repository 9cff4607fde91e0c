"""Peak memory of whole runs against the up-front estimate (sim.resources), one world size at a time.

Usage:
    python benchmarks/bench_memory.py --accounts 10000 100000 --days 2
    python benchmarks/bench_memory.py --accounts 100000 --days 3 -- network.mean_following=100

Each size runs the real command, ``python -m sim population.n=N days=D
measure_days=D decoys.join_day=1 [overrides]``, in a child process (one at a time: each run
should have the machine to itself) and reads that child's peak resident set
size (VmHWM, which the child reports itself: ``sim.resources.measure_peak``). It prints one line per size: accounts, the estimate of
``sim.resources.estimate_peak_bytes`` for the same config, the measured peak,
their ratio (the estimate is meant to be at or above the measured peak, by at
most about 1.3x) and the phase the estimate finds heaviest. Asserts nothing: a
ratio below 1 means the coefficients in sim/resources.py need re-measuring.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from hydra import compose, initialize_config_dir  # noqa: E402

from sim.compose import CONFIG_DIR, to_config  # noqa: E402
from sim.config import Config  # noqa: E402
from sim.resources import MEMORY_LIMIT_ENV, estimate_footprint, measure_peak  # noqa: E402


def composed_config(overrides: list[str]) -> Config:
    """The config ``python -m sim <overrides>`` runs with (Hydra's composition, without running)."""
    with initialize_config_dir(config_dir=str(CONFIG_DIR), version_base="1.3"):
        return to_config(compose(config_name="config", overrides=overrides))


def measure(overrides: list[str], run_dir: Path) -> tuple[int, int, float]:
    """Run ``python -m sim`` in a child; (exit status, its own peak RSS in bytes, wall seconds)."""
    # Measure even a world the pre-flight memory check would refuse on this machine.
    env = dict(os.environ, **{MEMORY_LIMIT_ENV: str(1 << 60)})
    t0 = time.perf_counter()
    code, peak, errors = measure_peak([*overrides, f"hydra.run.dir={run_dir}"], env=env)
    if code:
        sys.stderr.write(errors[-2000:])
    return code, peak or 0, time.perf_counter() - t0


def _mb(n: int) -> str:
    return f"{n / (1 << 20):,.0f} MB"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--accounts", type=int, nargs="+", default=[10_000, 100_000],
                        help="population.n of each run (one run per value)")
    parser.add_argument("--days", type=int, default=2, help="simulated days per run (measure_days too)")
    parser.add_argument("--out", type=Path, default=None,
                        help="folder for the run folders (default: a temporary folder, removed at the end)")
    parser.add_argument("overrides", nargs="*", help="more overrides for every run, after '--'")
    args = parser.parse_args(argv)

    failed = 0
    with tempfile.TemporaryDirectory(prefix="exposim-bench-memory-") as tmp:
        root = args.out or Path(tmp)
        extra = " ".join(args.overrides)
        print(f"days={args.days}{' ' + extra if extra else ''}")
        print(f"{'accounts':>12}  {'estimate':>9}  {'measured':>9}  {'ratio':>5}  {'wall':>7}  heaviest phase (estimate)")
        for n in args.accounts:
            overrides = [f"population.n={n}", f"days={args.days}", f"measure_days={args.days}", "decoys.join_day=1",
                         *args.overrides]
            footprint = estimate_footprint(composed_config(overrides))
            phases = footprint.phases()
            heaviest = max(phases, key=phases.get)
            status, peak, wall = measure(overrides, root / f"n{n}")
            if status:
                failed += 1
                print(f"{n:>12,}  {_mb(footprint.peak):>9}  run failed (exit status {status})", flush=True)
                continue
            print(f"{n:>12,}  {_mb(footprint.peak):>9}  {_mb(peak):>9}  "
                  f"{footprint.peak / peak:5.2f}  {wall:6.1f}s  {heaviest}", flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
