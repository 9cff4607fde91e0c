"""sim.libm gives the C library's results (as Python's math module does), not numpy's CPU-dependent ones."""

from __future__ import annotations

import math

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from sim import libm

finite = st.floats(-700, 700, allow_nan=False)
positive = st.floats(0, 1e300, allow_nan=False, allow_infinity=False, exclude_min=True)


@settings(max_examples=60, deadline=None)
@given(x=st.lists(finite, min_size=1, max_size=50))
def test_exp_is_the_c_librarys(x):
    assert libm.exp(np.array(x)).tolist() == [math.exp(v) for v in x]


@settings(max_examples=60, deadline=None)
@given(x=st.lists(positive, min_size=1, max_size=50))
def test_log_and_log1p_are_the_c_librarys(x):
    assert libm.log(np.array(x)).tolist() == [math.log(v) for v in x]
    assert libm.log1p(np.array(x)).tolist() == [math.log1p(v) for v in x]


@settings(max_examples=60, deadline=None)
@given(base=st.lists(st.floats(0, 1, allow_nan=False), min_size=1, max_size=50),
       exponent=st.floats(0, 60, allow_nan=False))
def test_power_is_the_c_librarys_for_arrays_and_scalars(base, exponent):
    b = np.array(base)
    assert libm.power(b, exponent).tolist() == [math.pow(v, exponent) for v in base]
    counts = np.arange(len(base))
    assert libm.power(exponent / 60, counts).tolist() == [math.pow(exponent / 60, float(k)) for k in counts]


def test_shapes_edges_and_a_million_values():
    """Shapes are kept, the edges are numpy's (-inf at the pole, NaN outside the domain), and a million
    values (split between threads) are math's."""
    x = np.arange(12.0).reshape(3, 4) - 1.0
    assert libm.log(x).shape == libm.power(x, 2.0).shape == (3, 4)
    assert np.isnan(libm.log(np.array([-1.0]))[0]) and libm.log(np.array([0.0]))[0] == -math.inf
    assert np.isnan(libm.log1p(np.array([-2.0]))[0]) and libm.log1p(np.array([-1.0]))[0] == -math.inf
    assert libm.exp(np.float64(0.5)).shape == ()
    big = np.random.default_rng(1).uniform(-30, 30, 1_000_000)
    sample = np.random.default_rng(2).integers(0, big.size, 2_000)
    assert libm.exp(big)[sample].tolist() == [math.exp(v) for v in big[sample]]
