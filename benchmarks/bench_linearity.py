"""How a day's cost grows with the world: a small and a large world run day by day, alternately, in one process.

Usage:
    python benchmarks/bench_linearity.py                                # 10^5 and 10^6 accounts, 10 days each
    python benchmarks/bench_linearity.py --accounts 10000 100000 --days 20
    python benchmarks/bench_linearity.py --profile 20                   # and where the larger day's extra time is

Timing the two worlds in separate commands compares two moments of the
machine as well as two sizes: on a shared machine whose speed drifts by a
third from hour to hour, a ratio of two runs taken twenty minutes apart says
as much about the hour as about the code. Here both worlds are built first,
then day d of the small world and day d of the large one run back to back,
for every d, so each pair of days meets the same conditions. Printed: each
world's seconds per day (mean and median), the ratio of the means, and the
median of the day-by-day ratios, with the size ratio beside them (linear
growth gives a time ratio equal to it). One bias, stated: each small day
starts with the caches holding the large world's data, which makes small
days slightly slower and the ratio slightly smaller; at 10^5 accounts, whose
day reads about 30 MB again, that is a few milliseconds of a 0.8 s day.
A day of a 1,000-account world runs first, untimed, so that loading the
compiled kernels falls on neither world's first day.

With ``--profile N`` each world's days also run under a cProfile of their own,
and the N functions whose time grows most beyond the size ratio are printed:
each one's seconds a day in both worlds, their ratio, and its excess (seconds a
day in the larger world beyond the size ratio times those in the smaller). A
compiled kernel's time is the whole call's, as cProfile sees it from Python.
cProfile slows the Python between the kernels, so the ratio printed with it
is not the one to quote.

Both worlds use the same settings (the defaults, one feed policy), the same
threads, and the malloc settings the larger world gets
(:func:`sim.resources.keep_freed_memory`). Prints figures; asserts nothing.
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import resource
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import host_gauge  # noqa: E402
from bench_model import bench_config  # noqa: E402
from sim.model import ExposureModel  # noqa: E402
from sim.resources import keep_freed_memory  # noqa: E402


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--accounts", type=int, nargs=2, default=[100_000, 1_000_000], metavar=("SMALL", "LARGE"))
    parser.add_argument("--days", type=int, default=10)
    parser.add_argument("--feed", default="engagement")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--profile", type=int, default=0, metavar="N",
                        help="also profile each world's days and print the N functions whose time grows most "
                             "beyond the size ratio")
    host_gauge.add_option(parser)
    args = parser.parse_args(argv)
    host_gauge.report("before", args)
    small_n, large_n = sorted(args.accounts)

    configs = [bench_config(n, args.days, args.feed, args.seed) for n in (small_n, large_n)]
    print(f"freed memory reused: {keep_freed_memory(configs[1])}")
    # The first day a process runs loads the compiled kernels: a day of a small world pays it here,
    # not the first timed day (which would lower the ratio).
    ExposureModel(bench_config(1_000, 1, args.feed, args.seed)).step()
    models = []
    for cfg in configs:
        t = time.perf_counter()
        models.append(ExposureModel(cfg))
        print(f"world of {models[-1].population.n:,} accounts built in {time.perf_counter() - t:.2f} s", flush=True)

    seconds: list[list[float]] = [[], []]
    profilers = [cProfile.Profile(), cProfile.Profile()] if args.profile else [None, None]
    for day in range(1, args.days + 1):
        for model, times, profiler in zip(models, seconds, profilers):
            t = time.perf_counter()
            if profiler:
                profiler.enable()
            model.step()
            if profiler:
                profiler.disable()
            times.append(time.perf_counter() - t)
        print(f"day {day}: {seconds[0][-1]:.3f} s and {seconds[1][-1]:.3f} s "
              f"(x{seconds[1][-1] / seconds[0][-1]:.2f})", flush=True)

    sizes = [m.population.n for m in models]
    for n, times in zip(sizes, seconds):
        print(f"{n:,} accounts: {statistics.fmean(times):.3f} s/day (median {statistics.median(times):.3f}), "
              f"{n / statistics.fmean(times):,.0f} agent-days/s")
    ratio = statistics.fmean(seconds[1]) / statistics.fmean(seconds[0])
    daily = statistics.median(b / a for a, b in zip(*seconds))
    print(f"time ratio: {ratio:.2f} x (median of the days' ratios {daily:.2f} x) for {sizes[1] / sizes[0]:.2f} x "
          f"the accounts; peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:,.0f} MB")
    if args.profile:
        print_excess(profilers, sizes[1] / sizes[0], args.days, args.profile)
    host_gauge.report("after", args)


def _own_seconds(profiler: cProfile.Profile) -> dict[str, float]:
    """Each function's own time (cProfile's tottime) by ``file:function``."""
    own: dict[str, float] = {}
    for (path, _line, name), (_cc, _nc, tottime, _ct, _callers) in pstats.Stats(profiler).stats.items():
        key = f"{Path(path).name}:{name}"
        own[key] = own.get(key, 0.0) + tottime
    return own


def print_excess(profilers: list[cProfile.Profile], size_ratio: float, days: int, top: int) -> None:
    """The ``top`` functions whose own time in the larger world most exceeds ``size_ratio`` times the smaller's."""
    small, large = (_own_seconds(p) for p in profilers)
    rows = sorted(((t - size_ratio * small.get(key, 0.0)) / days, key) for key, t in large.items())[::-1]
    print(f"where the larger day's time grows beyond {size_ratio:.2f} x (own time, s a day):")
    print(f"{'function':<48}{'small':>9}{'large':>9}{'ratio':>8}{'excess':>9}")
    for excess, key in rows[:top]:
        a, b = small.get(key, 0.0) / days, large[key] / days
        print(f"{key[:48]:<48}{a:>9.4f}{b:>9.4f}{(f'{b / a:.1f}' if a > 0 else '-'):>8}{excess:>9.3f}")
    print(f"{'all functions':<48}{'':>9}{'':>9}{'':>8}{sum(r[0] for r in rows):>9.3f}")


if __name__ == "__main__":
    main()
