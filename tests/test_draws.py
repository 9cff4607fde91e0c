"""Uniform draws filled by several threads are the numbers, and leave the state, of one call."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sim import draws
from sim.draws import uniform


@pytest.fixture
def many_threads(monkeypatch):
    """Any fill of two or more numbers is split, across up to five threads."""
    monkeypatch.setattr(draws, "MIN_PER_THREAD", 1)
    monkeypatch.setattr(draws.numba, "get_num_threads", lambda: 5)


def _generators(kind, seed, halves):
    """Two identical generators, each after ``halves`` float32 draws (an odd count leaves PCG64 holding a
    32-bit half-output)."""
    made = []
    for _ in range(2):
        rng = np.random.Generator(kind(seed))
        rng.random(halves, dtype=np.float32)
        made.append(rng)
    return made


@settings(max_examples=60, deadline=None)
@given(n=st.integers(0, 200), seed=st.integers(0, 2**32 - 1), halves=st.integers(0, 3), threads=st.integers(1, 6),
       kind=st.sampled_from([np.random.PCG64, np.random.PCG64DXSM]))
def test_split_fill_equals_one_call_and_leaves_the_same_state(n, seed, halves, threads, kind):
    one, split = _generators(kind, seed, halves)
    expected = one.random(n)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(draws, "MIN_PER_THREAD", 1)
        patch.setattr(draws.numba, "get_num_threads", lambda: threads)
        got = uniform(split, n)
    np.testing.assert_array_equal(got, expected)
    assert split.bit_generator.state == one.bit_generator.state
    # What comes next is the same too: float64s, and the 32-bit draws that use the buffered half.
    np.testing.assert_array_equal(split.random(7), one.random(7))
    np.testing.assert_array_equal(split.random(3, dtype=np.float32), one.random(3, dtype=np.float32))
    np.testing.assert_array_equal(split.integers(0, 2**31, 5, dtype=np.int32),
                                  one.integers(0, 2**31, 5, dtype=np.int32))


def test_a_fill_in_place_writes_every_cell_of_a_two_dimensional_view(many_threads):
    one, split = _generators(np.random.PCG64, 11, 0)
    buffer = np.full((9, 4), -1.0)
    got = uniform(split, out=buffer[:6])
    assert np.shares_memory(got, buffer)
    np.testing.assert_array_equal(buffer[:6], one.random((6, 4)))
    assert (buffer[6:] == -1.0).all()


def test_the_parts_really_run_on_separate_generators(many_threads):
    """Without the jumps every part would repeat the first part's numbers: the split path is taken."""
    assert draws.threads_for(100, np.random.PCG64(0)) == 5
    rng = np.random.Generator(np.random.PCG64(3))
    values = uniform(rng, 100)
    assert np.unique(values).size == 100


def test_generators_that_cannot_jump_fill_in_one_call(many_threads):
    assert draws.threads_for(10**6, np.random.MT19937(0)) == 1
    a = np.random.Generator(np.random.Philox(5))
    b = np.random.Generator(np.random.Philox(5))
    np.testing.assert_array_equal(uniform(a, 1000), b.random(1000))
    np.testing.assert_array_equal(a.random(5), b.random(5))


def test_short_fills_and_one_thread_stay_on_the_calling_thread(monkeypatch):
    assert draws.threads_for(draws.MIN_PER_THREAD * 2 - 1, np.random.PCG64(0)) == 1
    monkeypatch.setattr(draws.numba, "get_num_threads", lambda: 1)
    assert draws.threads_for(10**8, np.random.PCG64(0)) == 1


def test_only_contiguous_float64_arrays_are_filled():
    rng = np.random.Generator(np.random.PCG64(0))
    with pytest.raises(ValueError, match="float32"):
        uniform(rng, out=np.empty(4, dtype=np.float32))
    with pytest.raises(ValueError, match="C-contiguous"):
        uniform(rng, out=np.empty((4, 4))[:, 1])
