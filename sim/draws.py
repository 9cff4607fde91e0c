"""Uniform draws filled by several threads: the same numbers, in the same places, as one call.

Core objects: :func:`uniform`, :func:`skip`.

A day at a million accounts draws a few hundred million uniforms (the
candidates' sources and picks, the tie-breaking nudges, each impression's
engagement and report draws). ``Generator.random`` fills them on one core.
PCG64 can jump ahead (``advance``), and each float64 uniform consumes exactly
one 64-bit output, so the ``j``-th part of a long fill can start from a copy of
the generator jumped ahead to its first position: every number is the one a
single call would have put there, and the generator ends where that call would
have left it. numpy releases the GIL while it fills, so the parts run at once.

The number of threads is numba's (``NUMBA_NUM_THREADS``; joblib's workers in a
sweep get the cores divided among them), so draws and compiled kernels share
one budget. Short fills, and generators that cannot jump (anything but PCG64
and PCG64DXSM), are filled by one call.
"""

from __future__ import annotations

import os
import threading
from concurrent.futures import ThreadPoolExecutor

import numba
import numpy as np

from sim.compiled import parts_for

#: Fills shorter than this many numbers per thread stay on one thread (a part then takes under a millisecond).
MIN_PER_THREAD = 1 << 18
#: Bit generators whose ``advance(k)`` skips exactly ``k`` float64 uniforms.
_JUMPABLE = (np.random.PCG64, np.random.PCG64DXSM)

_pool: ThreadPoolExecutor | None = None
_pool_owner: tuple[int, int] = (0, 0)      # (process id, workers) the pool was made for
_pool_lock = threading.Lock()


def _workers() -> ThreadPoolExecutor:
    """This process's pool: one thread fewer than numba's, the calling thread filling the first part
    (re-made after a fork, whose child has no threads, or when numba's thread count changes)."""
    global _pool, _pool_owner
    owner = (os.getpid(), max(1, numba.get_num_threads() - 1))
    with _pool_lock:
        if _pool is None or _pool_owner != owner:
            if _pool is not None and _pool_owner[0] == owner[0]:
                _pool.shutdown(wait=False)
            _pool = ThreadPoolExecutor(max_workers=owner[1], thread_name_prefix="exposim-draws")
            _pool_owner = owner
        return _pool


def threads_for(n: int, bit_generator: np.random.BitGenerator) -> int:
    """How many threads :func:`uniform` uses for ``n`` numbers from ``bit_generator``."""
    if not isinstance(bit_generator, _JUMPABLE):
        return 1
    return parts_for(n, MIN_PER_THREAD)


def uniform(rng: np.random.Generator, size: int | tuple[int, ...] | None = None,
            out: np.ndarray | None = None) -> np.ndarray:
    """``rng.random(size)`` or ``rng.random(out=out)`` (float64 in [0, 1)), filled by several threads.

    The result, and the state ``rng`` is left in, are exactly those of the single call: including a
    32-bit half-output PCG64 may be holding for a later ``random(dtype=np.float32)`` or ``integers``.

    Args:
        rng: the generator to draw from.
        size: the shape of a new array (ignored when ``out`` is given).
        out: a C-contiguous float64 array to fill in place.

    Returns:
        The filled array (``out`` itself when given).
    """
    if out is None:
        out = np.empty(() if size is None else size, dtype=np.float64)
    if out.dtype != np.float64 or not out.flags.c_contiguous:
        raise ValueError(f"uniform: out must be a C-contiguous float64 array, not {out.dtype} "
                         f"(C-contiguous: {out.flags.c_contiguous})")
    flat = out.reshape(-1)
    n = flat.size
    bit_generator = rng.bit_generator
    parts = threads_for(n, bit_generator)
    if parts == 1:
        rng.random(out=flat)
        return out
    start = bit_generator.state
    bounds = [n * p // parts for p in range(parts + 1)]
    pool = _workers()
    futures = []
    for p in range(1, parts):
        jumped = type(bit_generator)()
        jumped.state = start
        jumped.advance(bounds[p])
        futures.append(pool.submit(np.random.Generator(jumped).random, out=flat[bounds[p]:bounds[p + 1]]))
    rng.random(out=flat[:bounds[1]])
    for future in futures:
        future.result()
    bit_generator.state = start
    skip(rng, n)                      # where one call would have left the generator
    return out


def skip(rng: np.random.Generator, n: int) -> None:
    """Move ``rng`` (PCG64 or PCG64DXSM) past ``n`` float64 uniforms: the state ``rng.random(n)`` would
    leave, including a 32-bit half-output it may be holding (``advance`` clears it; float64 draws never
    touch it). For draws made elsewhere from its position (:mod:`sim.pcg64`, the split fills above)."""
    bit_generator = rng.bit_generator
    if not isinstance(bit_generator, _JUMPABLE):
        raise TypeError(f"skip: {type(bit_generator).__name__} cannot jump ahead (PCG64 and PCG64DXSM can)")
    start = bit_generator.state
    bit_generator.advance(n)
    state = bit_generator.state
    state["has_uint32"], state["uinteger"] = start["has_uint32"], start["uinteger"]
    bit_generator.state = state
