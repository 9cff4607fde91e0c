"""Do the feed kernels give, bit for bit, what the numpy code they replaced gives on this machine?

Usage:
    python benchmarks/check_feed_kernels.py

``sim.recommenders.kernels`` repeats numpy's arithmetic operation for
operation, so results stayed byte-identical when serving moved from numpy to
compiled loops. Two of the things it repeats are not fixed by numpy itself:
the order in which ``matmul`` sums a float32 dot product (OpenBLAS picks a
kernel per CPU; the kernels follow its Haswell/Zen ``sgemv_t``) and the order
in which ``argpartition`` lists the top k (x86-simd-sort's sorting network on
AVX2/AVX-512: best first). This script compares each kernel with the numpy
expression it replaced, on random inputs of many shapes, and prints one line
per check. A difference in the first two checks means that numpy, on this
machine, orders sums or picks differently: the kernels' results (which no
longer depend on the machine) then differ from what the numpy code gave here,
not from what it gave on the machine the kernels were checked on. Exit status
1 on any difference.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sim.recommenders import kernels  # noqa: E402


def check_similarity(rng: np.random.Generator) -> int:
    """Kernel dot products against a gather and a batched float32 matmul (the numpy code), d 2..64, C 2..43."""
    differ = total = 0
    for d in range(2, 65):
        for c in (2, 3, 4, 5, 6, 7, 8, 9, 12, 13, 20, 39, 40, 41, 42, 43):
            topic = rng.standard_normal((500, d)).astype(np.float32)
            interest = rng.standard_normal((50, d)).astype(np.float32)
            viewers = rng.integers(0, 50, 40).astype(np.int32)
            cand = rng.integers(-1, 500, (40, c))
            ref = np.matmul(np.take(topic, np.maximum(cand, 0).ravel(), axis=0).reshape(40, c, d),
                            interest[viewers][:, :, None])[..., 0]
            out = np.empty(cand.shape, dtype=np.float32)
            kernels.similarity_rows(topic, interest, viewers, cand, out)
            differ += int(np.count_nonzero(out.view(np.int32) != ref.view(np.int32)))
            total += ref.size
    print(f"similarity (sum order of numpy's float32 matmul): {differ:,} of {total:,} dot products differ")
    return differ


def check_top_k(rng: np.random.Generator) -> int:
    """Kernel top k (best first, finite only) against np.argpartition's first k, rows of 2..256."""
    differ = rows = 0
    for c in (2, 3, 10, 11, 20, 40, 64, 65, 100, 256):
        for k in (1, 2, 5, 10, 50):
            if k >= c:
                continue
            scores = rng.random((2000, c))
            scores[rng.random(scores.shape) < 0.3] = -np.inf
            cand = np.arange(2000 * c).reshape(2000, c)
            viewers = np.arange(2000, dtype=np.int32)
            top = np.argpartition(-scores, k - 1, axis=1)[:, :k]
            chosen = np.take_along_axis(cand, top, axis=1)
            shown = np.isfinite(np.take_along_axis(scores, top, axis=1))
            ref_v = np.broadcast_to(viewers[:, None], chosen.shape)[shown]
            v, item, flag = (np.empty(cand.size, dtype=np.int32), np.empty(cand.size, dtype=np.int64),
                             np.empty(cand.size, dtype=bool))
            n = kernels.emit_top_k(scores, cand, np.ones(cand.shape, bool), viewers, k, v, item, flag)
            if not (np.array_equal(v[:n], ref_v) and np.array_equal(item[:n], chosen[shown])):
                differ += 1
            rows += 1
    print(f"top-k (order of numpy's argpartition): {differ} of {rows} shapes differ")
    return differ


def check_dedupe(rng: np.random.Generator) -> int:
    """Kernel row sort and de-duplication against numpy's stable argsort, widths 1..200, int32 and int64."""
    differ = 0
    for c in (1, 2, 5, 40, 64, 65, 200):
        for dtype in (np.int32, np.int64):
            cand = rng.integers(-1, 30, (3000, c)).astype(dtype)
            flag = rng.random((3000, c)) < 0.5
            order = np.argsort(cand, axis=1, kind="stable")
            ref = np.take_along_axis(cand, order, axis=1)
            ref_flag = np.take_along_axis(flag, order, axis=1)
            ref[:, 1:][ref[:, 1:] == ref[:, :-1]] = -1
            out, out_flag = kernels.dedupe_sorted(cand, flag)
            differ += int(not (np.array_equal(out, ref) and np.array_equal(out_flag, ref_flag)
                               and out.dtype == ref.dtype))
    print(f"de-duplication (stable sort, repeats blanked): {differ} of 14 shapes differ")
    return differ


def check_search(rng: np.random.Generator) -> int:
    """A popularity draw's position, through the owner table and through the buckets, against
    min(np.searchsorted(side="right"), n - 1)."""
    differ = 0
    owner_tables = 0
    for n in (1, 2, 3, 10, 1000, 100_000):
        for heavy in (5000, 10):
            weights = rng.integers(0, heavy, n) * (rng.random(n) < 0.05) + 1.0
            cdf = np.cumsum(weights)
            owners, _ = kernels.pool_search_tables(cdf)
            owner_tables += int(owners.size > 0)
            buckets = kernels.cdf_buckets(cdf)
            targets = np.concatenate([rng.random(20_000) * cdf[-1], cdf, cdf - 0.5, [0.0, cdf[-1]],
                                      np.nextafter(cdf, 0), np.nextafter(cdf, np.inf)])
            targets = targets[(targets >= 0) & (targets <= cdf[-1])]
            ref = np.minimum(np.searchsorted(cdf, targets, side="right"), n - 1)
            # Every pool through its buckets (an empty owner table), and through its owner table if it has one.
            for table in (np.zeros(0, dtype=np.int32), owners)[:1 + int(owners.size > 0)]:
                out = np.array([kernels.weighted_position(cdf, table, buckets, t) for t in targets])
                differ += int(np.count_nonzero(out != ref))
    print(f"weighted pool draws (searchsorted, side='right'; {owner_tables} of 12 pools with an owner table): "
          f"{differ} targets differ")
    return differ


def main() -> int:
    rng = np.random.default_rng(0)
    differ = check_similarity(rng) + check_top_k(rng) + check_dedupe(rng) + check_search(rng)
    print("all identical" if differ == 0 else "DIFFERENCES (see above)")
    return 1 if differ else 0


if __name__ == "__main__":
    sys.exit(main())
