"""The compiled PCG64 makes numpy's own uniforms, from any position, and jumps as numpy's ``advance`` does."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sim import pcg64
from sim.draws import skip


def _generator(seed, spawn, halves):
    """A model-style stream (a spawned SeedSequence), after ``halves`` float32 draws (an odd count leaves a
    32-bit half-output buffered) and one float64 draw."""
    rng = np.random.Generator(np.random.PCG64(np.random.SeedSequence(seed, spawn_key=spawn)))
    rng.random(halves, dtype=np.float32)
    rng.random()
    return rng


@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 2**63 - 1), spawn=st.tuples(st.integers(0, 50), st.integers(0, 400)),
       halves=st.integers(0, 3), offset=st.integers(0, 300), n=st.integers(0, 300))
def test_fill_from_any_offset_is_numpys_random_after_skipping_it(seed, spawn, halves, offset, n):
    rng = _generator(seed, spawn, halves)
    twin = _generator(seed, spawn, halves)
    expected = twin.random(offset + n)[offset:]
    got = np.full(n, -1.0)
    pcg64.fill(pcg64.position(rng), offset, got)
    np.testing.assert_array_equal(got, expected)
    # Skipping what was used leaves the generator where numpy's draws left its twin, buffered half
    # included: the 32-bit draws that come next are the same.
    skip(rng, offset + n)
    assert rng.bit_generator.state == twin.bit_generator.state
    np.testing.assert_array_equal(rng.random(3, dtype=np.float32), twin.random(3, dtype=np.float32))
    np.testing.assert_array_equal(rng.random(5), twin.random(5))


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), delta=st.integers(0, 2**63 - 1))
def test_jumps_of_any_length_land_where_numpys_advance_does(seed, delta):
    """Up to 2**63 - 1 steps, the most an int64 offset can ask for (every bit of the jump's
    square-and-multiply taken or skipped)."""
    rng = np.random.Generator(np.random.PCG64(seed))
    start = pcg64.position(rng)
    rng.bit_generator.advance(delta)
    after = np.random.Generator(np.random.PCG64(0))
    after.bit_generator.state = rng.bit_generator.state
    got = np.empty(4)
    pcg64.fill(start, delta, got)
    np.testing.assert_array_equal(got, after.random(4))


def test_a_long_fill_keeps_matching_and_its_numbers_look_uniform():
    """A million numbers: every one numpy's, and their decile counts within the binomial's spread."""
    rng = np.random.Generator(np.random.PCG64(2026))
    got = np.empty(1_000_000)
    pcg64.fill(pcg64.position(rng), 0, got)
    np.testing.assert_array_equal(got, rng.random(got.size))
    counts = np.bincount((got * 10).astype(np.int64), minlength=10)
    assert counts.size == 10 and np.all(np.abs(counts - 100_000) < 5 * np.sqrt(1e6 * 0.1 * 0.9))


@pytest.mark.parametrize("bit_generator", [np.random.PCG64DXSM, np.random.Philox, np.random.MT19937])
def test_other_bit_generators_are_refused_by_name(bit_generator):
    with pytest.raises(TypeError, match=bit_generator.__name__):
        pcg64.position(np.random.Generator(bit_generator(1)))


def test_skip_refuses_generators_that_cannot_jump():
    with pytest.raises(TypeError, match="MT19937 cannot jump ahead"):
        skip(np.random.Generator(np.random.MT19937(1)), 3)
