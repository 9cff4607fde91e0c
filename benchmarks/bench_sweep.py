"""Wall time of a sweep on one machine: the same study with 1, 2, ... joblib workers.

Usage:
    python benchmarks/bench_sweep.py                                   # safeguard_comparison, 1 and 2 workers
    python benchmarks/bench_sweep.py --study pymk_ablation --workers 2
    python benchmarks/bench_sweep.py --workers 1 2 -- population.n=2000 days=20   # a smaller world

Each sweep runs in a fresh temporary folder through the real command line
(`python -m sim -m experiment=<study> hydra.launcher.n_jobs=<n>`), with the
end-of-sweep comparison switched off, and prints wall seconds, runs per
minute, the speed-up over the first worker count and the peak resident memory
of the sweep's largest process (a worker runs one job after another: its peak
should be one run's, however many runs it has done). It then checks that
every run's tables are byte-identical across worker counts (a sweep's
results must not depend on how it was scheduled). Asserts nothing about time.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import host_gauge

REPO = Path(__file__).resolve().parents[1]


def digests(sweep_dir: Path) -> dict[str, str]:
    """Run folder / table -> SHA-256, for every table of every run."""
    return {str(p.relative_to(sweep_dir)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(sweep_dir.glob("*/*.parquet"))}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--study", default="safeguard_comparison")
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("overrides", nargs="*", help="extra overrides after --, e.g. population.n=2000")
    host_gauge.add_option(parser)
    args = parser.parse_args()
    host_gauge.report("before", args)
    results = []
    with tempfile.TemporaryDirectory(prefix="exposim-bench-") as tmp:
        for n in args.workers:
            sweep_dir = Path(tmp) / f"workers{n}"
            cmd = [sys.executable, "-m", "sim", "-m", f"experiment={args.study}", *args.overrides,
                   f"hydra.sweep.dir={sweep_dir}", f"hydra.launcher.n_jobs={n}",
                   "hydra.callbacks.exposim_sweep.compare=false"]
            log = Path(tmp) / f"workers{n}.log"
            start = time.perf_counter()
            with open(log, "w") as out:
                proc = subprocess.Popen(cmd, cwd=REPO, stdout=out, stderr=subprocess.STDOUT)
                # wait4's usage covers the command and the workers it reaped: ru_maxrss is the largest one's peak.
                _, status, usage = os.wait4(proc.pid, 0)
                proc.returncode = os.waitstatus_to_exitcode(status)
            wall = time.perf_counter() - start
            if proc.returncode != 0:
                print(log.read_text()[-3000:], file=sys.stderr)
                return proc.returncode
            runs = len(list(sweep_dir.glob("*/manifest.json")))
            results.append((n, wall, runs, digests(sweep_dir)))
            base = results[0][1]
            print(f"{args.study}: {runs} runs, {n} worker(s): {wall:7.1f} s wall, "
                  f"{runs / wall * 60:5.1f} runs/min, speed-up x{base / wall:.2f}, "
                  f"largest process's peak RSS {usage.ru_maxrss / 1024:,.0f} MB", flush=True)
    same = all(r[3] == results[0][3] for r in results[1:])
    print(f"tables byte-identical across worker counts: {'yes' if same else 'NO'}")
    host_gauge.report("after", args)
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
