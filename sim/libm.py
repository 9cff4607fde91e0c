"""Elementwise float64 exp, log, log1p and power from the C library, whatever CPU numpy runs on.

Core objects: :func:`exp`, :func:`log`, :func:`log1p`, :func:`power`.

numpy chooses its float64 ``exp``, ``log``, ``log1p`` and ``power`` loops by
the CPU it finds. On an AVX-512 machine (x86-64-v4) it runs its own vector
versions; on others (AVX2 and older) it calls the C library's functions. The
two disagree in the last bit for a few per cent of inputs. On an AVX-512 Xeon,
on 2026-12-02, they disagreed for 4.6% of inputs to ``exp``, 8.8% to
``log1p``, 5.3% to ``power`` and 0.2% to ``log``. numpy's float32 ``exp`` and
``log`` give the same bits on both kinds of machine.

So a model that called numpy's float64 functions could build a different
world, and draw different engagements, on a laptop and on a cluster node. The
compiled kernels (numba) always call the C library. The model's numpy code
calls these functions instead: compiled loops that call the C library too.
These functions then give the same bits on any x86-64 machine with the same C
library (glibc on Linux). The other numpy code that differs between the two
kinds of CPU, ``np.argpartition``'s choice among equal values, is kept out of
the model (``sim.moderation.highest``, ``kernels.emit_top_k``). ``tests/test_libm.py`` checks each function against
Python's ``math`` module, which calls the same C library.

numba would route these calls to Intel's SVML if the ``icc_rt`` package were
installed. exposim does not depend on it, and the tests would fail if it were.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit, prange

_PAR = dict(cache=True, nogil=True, parallel=True)


@njit(**_PAR)
def _exp(x, out):
    for i in prange(x.shape[0]):
        out[i] = math.exp(x[i])


@njit(**_PAR)
def _log(x, out):
    for i in prange(x.shape[0]):
        out[i] = math.log(x[i]) if x[i] > 0 else (-math.inf if x[i] == 0 else math.nan)


@njit(**_PAR)
def _log1p(x, out):
    for i in prange(x.shape[0]):
        out[i] = math.log1p(x[i]) if x[i] > -1 else (-math.inf if x[i] == -1 else math.nan)


@njit(**_PAR)
def _power(base, exponent, out):
    for i in prange(base.shape[0]):
        out[i] = base[i] ** exponent[i]


def _apply(kernel, *args: np.ndarray | float) -> np.ndarray:
    arrays = [np.asarray(a, dtype=np.float64) for a in args]
    shape = np.broadcast_shapes(*(a.shape for a in arrays))
    flat = [np.ascontiguousarray(a if a.shape == shape else np.broadcast_to(a, shape)).reshape(-1) for a in arrays]
    out = np.empty(shape, dtype=np.float64)
    kernel(*flat, out.reshape(-1))
    return out


def exp(x: np.ndarray | float) -> np.ndarray:
    """``e ** x`` elementwise, as the C library's ``exp`` gives it (float64)."""
    return _apply(_exp, x)


def log(x: np.ndarray | float) -> np.ndarray:
    """The natural logarithm elementwise, as the C library's ``log`` gives it (float64; ``-inf`` at 0,
    NaN below, as numpy)."""
    return _apply(_log, x)


def log1p(x: np.ndarray | float) -> np.ndarray:
    """``log(1 + x)`` elementwise, as the C library's ``log1p`` gives it (float64; ``-inf`` at -1,
    NaN below, as numpy)."""
    return _apply(_log1p, x)


def power(base: np.ndarray | float, exponent: np.ndarray | float) -> np.ndarray:
    """``base ** exponent`` elementwise (broadcast), as the C library's ``pow`` gives it (float64)."""
    return _apply(_power, base, exponent)
