"""Scale and speed of one run: world building, days, agent-days per second, peak memory.

Usage:
    python benchmarks/bench_model.py --accounts 100000 --days 30
    python benchmarks/bench_model.py --accounts 1000000 --days 5 --feed engagement

Prints figures; asserts nothing about time (timings depend on the machine).
Peak memory is the process's maximum resident set size (getrusage), which
includes the Python interpreter and imported libraries (~250 MB with numba and LLVM).
"""

from __future__ import annotations

import argparse
import resource
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import host_gauge  # noqa: E402
from sim.config import Config, validate  # noqa: E402
from sim.metrics import COLUMN  # noqa: E402
from sim.model import ExposureModel  # noqa: E402
from sim.resources import keep_freed_memory  # noqa: E402


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def bench_config(accounts: int, days: int, feed: str = "engagement", seed: int = 0, decoys: int = 20) -> Config:
    """The default world at ``accounts`` accounts for ``days`` days (the benchmarks' common config)."""
    cfg = Config(seed=seed, days=days)
    cfg.population.n = accounts
    cfg.recommender.feed = feed
    cfg.decoys.n = decoys
    cfg.measure_days = min(cfg.measure_days, days)       # a short run is measured whole
    cfg.decoys.join_day = min(cfg.decoys.join_day, days)
    return validate(cfg)


def job_config(overrides: list[str]) -> Config:
    """The config ``python -m sim OVERRIDE...`` runs: the root config composed with these overrides
    (e.g. ``["safeguards=ofcom_2025", "replicate=2"]`` for a job of the README's main job)."""
    from hydra import compose, initialize_config_dir

    from sim.compose import to_config

    with initialize_config_dir(config_dir=str(ROOT / "configs"), version_base="1.3"):
        return validate(to_config(compose("config", overrides=list(overrides))))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--accounts", type=int, default=100_000)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--feed", default="engagement")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--decoys", type=int, default=20)
    parser.add_argument("--progress", action="store_true", help="print each day's seconds and the peak RSS so far")
    parser.add_argument("--system-malloc", action="store_true",
                        help="leave glibc's malloc settings alone (runs set them: sim.resources.keep_freed_memory)")
    host_gauge.add_option(parser)
    args = parser.parse_args(argv)
    host_gauge.report("before", args)

    cfg = bench_config(args.accounts, args.days, args.feed, args.seed, args.decoys)
    if not args.system_malloc:
        print(f"freed memory reused: {keep_freed_memory(cfg)}")

    t0 = time.perf_counter()
    model = ExposureModel(cfg)
    build = time.perf_counter() - t0
    n = model.population.n
    print(f"world: {n:,} accounts, {model.graph.n_edges:,} follows, {model.groups.n_groups:,} groups; "
          f"built in {build:.2f} s; peak RSS {peak_rss_mb():,.0f} MB", flush=True)

    day_times = []
    for _ in range(args.days):
        t = time.perf_counter()
        model.step()
        day_times.append(time.perf_counter() - t)
        if args.progress:
            print(f"day {len(day_times)}: {day_times[-1]:.2f} s; peak RSS {peak_rss_mb():,.0f} MB", flush=True)
    run_s = sum(day_times)
    s = model.summary()
    h = model.metrics.as_array()
    impressions = int(h[:, :, COLUMN["impressions"]].sum())
    print(f"days: {args.days}, feed={args.feed}; {run_s:.2f} s total, {run_s / args.days:.3f} s/day "
          f"(first {day_times[0]:.3f}, last {day_times[-1]:.3f})")
    print(f"agent-days/s: {n * args.days / run_s:,.0f}; impressions/s: {impressions / run_s:,.0f}")
    print(f"total wall (build + days): {build + run_s:.2f} s; peak RSS {peak_rss_mb():,.0f} MB")
    print(f"minor_harm_prevalence_per_10k={s['minor_harm_prevalence_per_10k']:.2f} "
          f"minor_exposed_7d_share={s['minor_exposed_7d_share']:.3f}")
    host_gauge.report("after", args)


if __name__ == "__main__":
    main()
