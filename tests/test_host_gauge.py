"""The host gauge's memory probe (benchmarks/host_gauge.py): its chase must visit every cache line.

If the ring split into short cycles, the chase would go round a few lines held in the cache and
time the cache instead of the memory; the timings themselves are not tested (tests never assert
wall-clock time).
"""

import importlib.util
from pathlib import Path

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

_PATH = Path(__file__).resolve().parents[1] / "benchmarks" / "host_gauge.py"
_SPEC = importlib.util.spec_from_file_location("host_gauge", _PATH)
host_gauge = importlib.util.module_from_spec(_SPEC)
_SPEC.loader.exec_module(host_gauge)


@settings(max_examples=40, deadline=None)
@given(lines=st.integers(1, 300), seed=st.integers(0, 2 ** 32 - 1))
def test_the_chase_visits_every_line_once_before_it_returns(lines, seed):
    ring = host_gauge.chase_ring(np.random.default_rng(seed), lines * 64)
    assert ring.shape == (lines * 8,)
    visited = []
    i = 0
    for _ in range(lines):
        visited.append(i)
        i = int(ring[i])
    assert i == 0                                          # back at the start after exactly `lines` steps
    assert sorted(visited) == list(range(0, lines * 8, 8))  # every line's first entry, once each
    off_line = np.ones(lines * 8, dtype=bool)
    off_line[::8] = False
    assert not ring[off_line].any()                        # the rest of each line is never read


def test_the_figures_print_on_one_line_with_their_units():
    figures = {name: float(k + 1) for k, (name, _) in enumerate(host_gauge.FIELDS)}
    assert host_gauge.line(figures) == ("python 1 ns/iteration, draws 2 ns/number, reads 3 ns/read, "
                                        "chase 4 ns/read, copy 5 GB/s, cores 6 x")
