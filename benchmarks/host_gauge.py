"""How fast this machine is at the moment: six fixed probes, to print beside a benchmark's figures.

Usage:
    python benchmarks/host_gauge.py                  # one line
    python benchmarks/host_gauge.py --json           # the same figures as JSON
    python benchmarks/host_gauge.py --repeats 9      # more repeats per probe (default 5)

The reference machine is shared, and its speed changes from hour to hour:
the same code's main job took 127 s in the night and 201 s the next morning. A
figure taken at one moment compares with a figure taken at another only
through a gauge taken with each. The probes time the kinds of work a
simulated day is made of, each the best of its repeats (what the machine
could do at that moment, not what a stray pause cost it):

- ``python``: a pure-Python loop, ns per iteration (the interpreter: start-up,
  composing configs, reports);
- ``draws``: numpy's PCG64 filling 2^20 float64 uniforms, ns per number (the
  draws of every phase);
- ``reads``: independent reads of single float64s at random places in 256 MiB,
  ns per read (gathering candidates in a large world: many misses in flight
  at once);
- ``chase``: dependent reads, each address read from the one before, ns per
  read (the memory's latency, a miss with nothing to overlap it);
- ``copy``: GB/s copying 256 MiB (the memory's bandwidth);
- ``cores``: how many times faster a compute-bound loop runs on all of numba's
  threads than on one (2.00 on two cores both free; the compiled kernels'
  share of the second core).

The 256 MiB is more than the last-level cache of any host the benchmarks have
run on (32 MB and 105 MB), so ``reads`` and ``chase`` time the memory, not a
cache. :func:`gauge` runs the probes in a child process, so that their
512 MiB is not counted in the caller's peak memory. Prints figures; asserts
nothing.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time

import numpy as np

#: Bytes of the arrays the memory probes read (more than any last-level cache measured).
MEMORY_BYTES = 256 << 20
_LINE = 64                                   # bytes per cache line
_PYTHON_LOOP = 10 ** 7
_DRAWS = 1 << 20
_READS = 1 << 22
_CHASE_STEPS = 1 << 20

FIELDS = (("python", "ns/iteration"), ("draws", "ns/number"), ("reads", "ns/read"), ("chase", "ns/read"),
          ("copy", "GB/s"), ("cores", "x"))


def _best(fn, repeats: int) -> float:
    """The shortest of ``repeats`` timings of ``fn()``, in seconds."""
    best = float("inf")
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t)
    return best


def chase_ring(rng: np.random.Generator, nbytes: int = MEMORY_BYTES) -> np.ndarray:
    """An int64 array of ``nbytes`` (a multiple of 64) whose cache lines form one random cycle: the
    first entry of each line holds the index of the first entry of the next line in the cycle, so a
    chase from any line visits every line once before it comes back."""
    per_line = _LINE // 8
    lines = nbytes // _LINE
    order = rng.permutation(lines) * per_line
    ring = np.zeros(nbytes // 8, dtype=np.int64)
    ring[order] = np.roll(order, -1)
    return ring


def measure(repeats: int = 5, seed: int = 0) -> dict[str, float]:
    """Run the six probes here, in this process; returns ``{probe: figure}`` in the units of
    :data:`FIELDS`."""
    import numba
    from numba import njit, prange

    @njit(cache=True)
    def chase(ring, start, steps):
        i = start
        for _ in range(steps):
            i = ring[i]
        return i

    @njit(cache=True, parallel=True)
    def arithmetic(n, steps):
        total = 0.0
        for i in prange(n):
            x = np.float64(i)
            for _ in range(steps):
                x = x * 1.0000001 + 1e-9
            total += x
        return total

    rng = np.random.default_rng(seed)
    figures = {"python": _best(lambda: sum(range(_PYTHON_LOOP)), repeats) / _PYTHON_LOOP * 1e9}

    buffer = np.empty(_DRAWS)
    draws = np.random.Generator(np.random.PCG64(seed))
    figures["draws"] = _best(lambda: draws.random(out=buffer), repeats) / _DRAWS * 1e9

    ring = chase_ring(rng)
    chase(ring, 0, 16)                                   # compiled (or loaded from the cache) before timing
    figures["chase"] = _best(lambda: chase(ring, 0, _CHASE_STEPS), repeats) / _CHASE_STEPS * 1e9

    values = ring.view(np.float64)
    where = rng.integers(0, values.shape[0], _READS)
    picked = np.empty(_READS)
    figures["reads"] = _best(lambda: np.take(values, where, out=picked), repeats) / _READS * 1e9

    copy = np.empty_like(values)
    figures["copy"] = MEMORY_BYTES / _best(lambda: np.copyto(copy, values), repeats) / 1e9

    threads = numba.get_num_threads()
    arithmetic(1024, 8)
    numba.set_num_threads(1)
    one = _best(lambda: arithmetic(1 << 16, 512), repeats)
    numba.set_num_threads(threads)
    figures["cores"] = one / _best(lambda: arithmetic(1 << 16, 512), repeats)
    return {name: figures[name] for name, _ in FIELDS}


def gauge(repeats: int = 5) -> dict[str, float]:
    """:func:`measure` in a child process (its memory is not the caller's); the caller's own work
    waits meanwhile."""
    done = subprocess.run([sys.executable, __file__, "--json", "--repeats", str(repeats)],
                          check=True, capture_output=True, text=True)
    return json.loads(done.stdout)


def line(figures: dict[str, float]) -> str:
    """The figures as one line, e.g. ``python 24.1 ns/iteration, draws 2.47 ns/number, ...``."""
    return ", ".join(f"{name} {figures[name]:.3g} {unit}" for name, unit in FIELDS)


def add_option(parser: argparse.ArgumentParser) -> None:
    """Give a benchmark's command line ``--no-gauge``."""
    parser.add_argument("--no-gauge", action="store_true",
                        help="do not print the host gauge before and after (benchmarks/host_gauge.py)")


def report(when: str, args: argparse.Namespace) -> None:
    """Print ``host gauge <when>: ...`` unless the command line said ``--no-gauge``."""
    if not args.no_gauge:
        print(f"host gauge {when}: {line(gauge())}", flush=True)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5, help="timings per probe; the best is kept")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args(argv)
    if args.repeats < 1:
        parser.error(f"--repeats must be at least 1, not {args.repeats}")
    figures = measure(args.repeats)
    print(json.dumps(figures) if args.json else f"host gauge: {line(figures)}")


if __name__ == "__main__":
    main()
