"""numpy's PCG64 uniforms made inside compiled kernels: the numbers ``Generator.random`` gives, in place.

Core objects: :func:`position`, :func:`jump`, :func:`next_uniform`, :func:`fill`.

Serving a day at a million accounts draws about 200 million float64 uniforms
(each session's candidate sources and picks, its pool draws and its
tie-breaking nudges), and engagement 32 million more. Filled into arrays by
numpy and read back by the kernels, they cost a tenth of the day: the
generator's own work, and 1.9 GB written and read again. A kernel can instead
step the same generator itself:

* PCG64 is a 128-bit linear congruential generator whose 64-bit output is the
  XSL-RR permutation of the new state (O'Neill 2014, as numpy implements it:
  docs/SOURCES.md#oneill-2014), and ``Generator.random`` turns one output into
  ``(output >> 11) * 2**-53``. :func:`next_uniform` does exactly that, with
  LLVM's 128-bit integers.
* An LCG jumps ``n`` steps ahead in O(log n) multiplications (Brown 1994:
  docs/SOURCES.md#brown-1994), so a block of rows that knows its first draw's
  position in the stream starts a copy of the generator there (:func:`jump`)
  and blocks run in parallel.

The numbers are numpy's, bit for bit (tests/test_pcg64.py compares them); the
caller then moves the numpy generator past the draws the kernel used
(:func:`sim.draws.skip`), so whatever draws next from it is unchanged too.

A stream position is a ``uint64[4]`` array, ``(state high, state low, increment
high, increment low)`` (:func:`position`).
"""

from __future__ import annotations

import numpy as np
from llvmlite import ir
from numba import njit, types
from numba.extending import intrinsic

_JIT = dict(cache=True, nogil=True)
_INLINE = dict(cache=True, nogil=True, inline="always")

#: PCG's default 128-bit multiplier (``PCG_DEFAULT_MULTIPLIER_128``), as high and low halves.
_MULT_HI = np.uint64(0x2360ED051FC65DA4)
_MULT_LO = np.uint64(0x4385DF649FCCF645)
_ZERO = np.uint64(0)
_ONE = np.uint64(1)
_MASK64 = (1 << 64) - 1
_I64 = ir.IntType(64)
_I128 = ir.IntType(128)


@intrinsic
def _muladd128(typingctx, a_hi, a_lo, b_hi, b_lo, c_hi, c_lo):
    """``(a * b + c) mod 2**128`` on 128-bit numbers given as (high, low) uint64 halves."""
    u64 = types.uint64
    sig = types.UniTuple(u64, 2)(u64, u64, u64, u64, u64, u64)

    def codegen(context, builder, signature, args):
        def wide(hi, lo):
            return builder.or_(builder.shl(builder.zext(hi, _I128), ir.Constant(_I128, 64)),
                               builder.zext(lo, _I128))

        r = builder.add(builder.mul(wide(args[0], args[1]), wide(args[2], args[3])), wide(args[4], args[5]))
        hi = builder.trunc(builder.lshr(r, ir.Constant(_I128, 64)), _I64)
        return context.make_tuple(builder, signature.return_type, (hi, builder.trunc(r, _I64)))

    return sig, codegen


@njit(**_INLINE)
def next_uniform(s_hi, s_lo, i_hi, i_lo):
    """One step of the generator at state ``(s_hi, s_lo)`` with increment ``(i_hi, i_lo)``: returns the new
    state's halves and the float64 in [0, 1) that ``Generator.random`` makes of its output."""
    s_hi, s_lo = _muladd128(s_hi, s_lo, _MULT_HI, _MULT_LO, i_hi, i_lo)
    x = s_hi ^ s_lo
    rot = s_hi >> np.uint64(58)
    out = (x >> rot) | (x << ((np.uint64(64) - rot) & np.uint64(63)))
    return s_hi, s_lo, np.float64(out >> np.uint64(11)) * (1.0 / 9007199254740992.0)


@njit(**_INLINE)
def jump(stream, delta):
    """The state (high, low) ``delta >= 0`` steps after the position ``stream`` (uint64[4]): Brown's
    algorithm, the square-and-multiply of the LCG's affine map."""
    i_hi, i_lo = stream[2], stream[3]
    acc_m_hi, acc_m_lo = _ZERO, _ONE          # the accumulated map x -> acc_m * x + acc_p
    acc_p_hi, acc_p_lo = _ZERO, _ZERO
    cur_m_hi, cur_m_lo = _MULT_HI, _MULT_LO    # the map of 2**bit steps
    cur_p_hi, cur_p_lo = i_hi, i_lo
    d = np.uint64(delta)
    while d > _ZERO:
        if d & _ONE:
            acc_m_hi, acc_m_lo = _muladd128(acc_m_hi, acc_m_lo, cur_m_hi, cur_m_lo, _ZERO, _ZERO)
            acc_p_hi, acc_p_lo = _muladd128(acc_p_hi, acc_p_lo, cur_m_hi, cur_m_lo, cur_p_hi, cur_p_lo)
        cur_p_hi, cur_p_lo = _muladd128(cur_m_hi, cur_m_lo, cur_p_hi, cur_p_lo, cur_p_hi, cur_p_lo)
        cur_m_hi, cur_m_lo = _muladd128(cur_m_hi, cur_m_lo, cur_m_hi, cur_m_lo, _ZERO, _ZERO)
        d = d >> _ONE
    return _muladd128(acc_m_hi, acc_m_lo, stream[0], stream[1], acc_p_hi, acc_p_lo)


@njit(**_JIT)
def fill(stream, offset, out):
    """Fill the flat float64 array ``out`` with the uniforms ``offset``, ``offset + 1``, ... of ``stream``
    (what ``Generator.random`` would give after skipping ``offset`` numbers): :func:`jump` and
    :func:`next_uniform` as the kernels use them, whole, for checking against numpy."""
    i_hi, i_lo = stream[2], stream[3]
    s_hi, s_lo = jump(stream, offset)
    for k in range(out.shape[0]):
        s_hi, s_lo, out[k] = next_uniform(s_hi, s_lo, i_hi, i_lo)


def position(rng: np.random.Generator) -> np.ndarray:
    """Where ``rng`` (a PCG64 generator) stands: its state and increment as uint64[4] (high, low halves)."""
    bit_generator = rng.bit_generator
    if type(bit_generator) is not np.random.PCG64:
        raise TypeError(f"compiled draws need a PCG64 generator (the model's streams are PCG64), "
                        f"not {type(bit_generator).__name__}")
    state = bit_generator.state["state"]
    s, inc = state["state"], state["inc"]
    return np.array([s >> 64, s & _MASK64, inc >> 64, inc & _MASK64], dtype=np.uint64)
