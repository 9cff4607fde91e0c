"""Where a simulated day goes: seconds per phase (timers around each phase function) and, optionally, cProfile.

Usage:
    python benchmarks/profile_day.py --accounts 100000 --days 10
    python benchmarks/profile_day.py --accounts 100000 --days 10 --cprofile 25
    NUMBA_NUM_THREADS=1 python benchmarks/profile_day.py --job safeguards=ofcom_2025 --days 60

Each phase function that ``ExposureModel.step`` calls (``post``, ``moderate``,
``serve``, ``engage_feeds``, ``suggest``, ``contact``, ``enforce``) is wrapped in
a timer for the run, as are ``_open_day``, ``_connect``, the recorder's
``close_day`` and Mesa's data collection; the rest of ``step`` is "other". Beside
each phase's seconds, "cores" is the CPU time of all the process's threads over
the wall time (2.00: both cores busy throughout; 1.00: one core, or two half
the time). With
``--cprofile N`` the days also run under cProfile and the N functions with the
most internal time (and the serving and safeguard functions' cumulative time) are printed;
cProfile adds overhead, so its seconds run above the timers'. Nothing is
changed in what the model computes. Prints figures; asserts nothing.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import pstats
import resource
import sys
import time
import tracemalloc
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from hydra.errors import HydraException  # noqa: E402
from omegaconf.errors import OmegaConfBaseException  # noqa: E402

import sim.model as model_module  # noqa: E402
import host_gauge  # noqa: E402
from bench_model import bench_config, job_config  # noqa: E402
from sim.config import ConfigError  # noqa: E402
from sim.model import ExposureModel  # noqa: E402
from sim.resources import keep_freed_memory  # noqa: E402

PHASES = ("post", "moderate", "serve", "engage_feeds", "suggest", "contact", "enforce")


def _timed(name: str, fn, seconds: dict[str, float], cpu: dict[str, float], peaks: dict[str, float] | None = None):
    def wrapper(*args, **kwargs):
        if peaks is not None:
            base = tracemalloc.get_traced_memory()[0]
            tracemalloc.reset_peak()
        t = time.perf_counter()
        c = time.process_time()
        try:
            return fn(*args, **kwargs)
        finally:
            seconds[name] += time.perf_counter() - t
            cpu[name] += time.process_time() - c
            if peaks is not None:
                peaks[name] = max(peaks[name], tracemalloc.get_traced_memory()[1] - base)
                tracemalloc.reset_peak()
    return wrapper


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--accounts", type=int, default=100_000)
    parser.add_argument("--days", type=int, default=10)
    parser.add_argument("--feed", default="engagement")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--decoys", type=int, default=20)
    parser.add_argument("--memory", action="store_true",
                        help="also trace allocations (tracemalloc: numpy arrays and Python objects) and print "
                             "the state after building and each phase's transient peak above the state it began "
                             "with (tracing slows the run)")
    parser.add_argument("--cprofile", type=int, default=0, metavar="N",
                        help="also run under cProfile and print the N functions with the most internal time")
    parser.add_argument("--job", nargs="+", metavar="OVERRIDE",
                        help="profile the run that `python -m sim OVERRIDE...` makes (the root config with these "
                             "overrides, e.g. safeguards=ofcom_2025: a job of the README's main job); --accounts, "
                             "--feed, --seed and --decoys are then ignored, --days is how many of its days are run")
    parser.add_argument("--system-malloc", action="store_true",
                        help="leave glibc's malloc settings alone (runs set them: sim.resources.keep_freed_memory)")
    host_gauge.add_option(parser)
    args = parser.parse_args(argv)
    host_gauge.report("before", args)

    try:
        cfg = job_config(args.job) if args.job else bench_config(args.accounts, args.days, args.feed, args.seed,
                                                                 args.decoys)
    except (ConfigError, HydraException, OmegaConfBaseException) as exc:
        parser.error(f"{'--job ' + ' '.join(args.job) if args.job else 'the world'}: {exc}")
    if not args.system_malloc:
        print(f"freed memory reused: {keep_freed_memory(cfg)}")

    seconds: dict[str, float] = defaultdict(float)
    cpu: dict[str, float] = defaultdict(float)        # CPU seconds of all the process's threads
    peaks: dict[str, float] | None = defaultdict(float) if args.memory else None
    for name in PHASES:
        setattr(model_module, name, _timed(name, getattr(model_module, name), seconds, cpu, peaks))
    if args.memory:
        tracemalloc.start()
    t_build = time.perf_counter()
    model = ExposureModel(cfg)
    print(f"built in {time.perf_counter() - t_build:.3f} s (the first world of a process also loads the compiled "
          f"kernels it uses)")
    if args.memory:
        state, build_peak = tracemalloc.get_traced_memory()
        print(f"traced after building: {state / 1e6:,.0f} MB (building peaked at {build_peak / 1e6:,.0f} MB); "
              f"{model.graph.n_edges:,} follows")
    for name in ("_open_day", "_connect"):
        setattr(model, name, _timed(name, getattr(model, name), seconds, cpu, peaks))
    model.recorder.close_day = _timed("close_day", model.recorder.close_day, seconds, cpu)
    model.datacollector.collect = _timed("datacollector", model.datacollector.collect, seconds, cpu)

    profiler = cProfile.Profile() if args.cprofile else None
    t0 = time.perf_counter()
    c0 = time.process_time()
    for _ in range(args.days):
        if profiler:
            profiler.enable()
        model.step()
        if profiler:
            profiler.disable()
    total = time.perf_counter() - t0
    cpu_total = time.process_time() - c0
    seconds["other"] = total - sum(seconds.values())
    cpu["other"] = cpu_total - sum(cpu.values())

    d = args.days
    print(f"{model.population.n:,} accounts, {d} days, feed={args.feed}"
          f"{' (under cProfile)' if profiler else ''}: {total / d:.3f} s/day; peak RSS "
          f"{resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:,.0f} MB")
    print(f"{'phase':<16}{'s/day':>8}{'share':>8}{'cores':>7}")
    for name, s in sorted(seconds.items(), key=lambda kv: -kv[1]):
        print(f"{name:<16}{s / d:>8.3f}{s / total:>8.1%}{cpu[name] / s if s > 0 else 0.0:>7.2f}")
    print(f"{'a day':<16}{total / d:>8.3f}{1:>8.1%}{cpu_total / total:>7.2f}")
    if peaks is not None:
        print(f"traced at the end: {tracemalloc.get_traced_memory()[0] / 1e6:,.0f} MB")
        print(f"{'phase':<16}{'transient peak':>16}")
        for name, b in sorted(peaks.items(), key=lambda kv: -kv[1]):
            print(f"{name:<16}{b / 1e6:>13,.0f} MB")
    if profiler:
        out = io.StringIO()
        stats = pstats.Stats(profiler, stream=out)
        stats.sort_stats("tottime").print_stats(args.cprofile)
        stats.sort_stats("cumulative").print_stats(r"recommenders|kernels|phases/serve|safeguards")
        print(out.getvalue())
    host_gauge.report("after", args)


if __name__ == "__main__":
    main()
