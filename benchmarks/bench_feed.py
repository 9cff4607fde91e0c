"""Same-work feed benchmark: one feed step over a Barabási–Albert follow graph, with exposim's kernels.

Usage:
    python benchmarks/bench_feed.py --accounts 100000 --repeats 5 --seed 0
    python benchmarks/bench_feed.py --accounts 1000000 --repeats 3

The work, fixed so that anyone can reimplement it and compare:

- Follow graph: Barabási–Albert preferential attachment with m = 5, generated
  by the Batagelj–Brandes method (each new account ``v`` makes 5 attachments;
  attachment ``k`` picks a uniform position ``r`` in ``[0, 2k]`` of the list of
  attachment endpoints so far and takes the account there), with self-loops
  and repeated pairs dropped. Every remaining pair is a mutual follow.
  Built with numpy only (no networkx), from ``--seed``.
- Posts: every account has 4 recent posts; post ``4a + j`` is account ``a``'s
  ``j``-th most recent. Topics and interests are random 16-dimensional unit
  vectors (float32).
- Candidates of an account: the 4 most recent posts of each of its followees,
  followees in ascending account id, capped at 20 candidates (so the first 5
  followees; fewer if it follows fewer).
- Score: the float32 dot product interest · topic; the 10 best candidates are
  served, best first (ties to the earlier candidate).

One step serves every account once, in blocks of 65,536 accounts. The step
uses exposim's own kernels (``sim.recommenders.kernels``): ``similarity_rows``
for the scores (no gather of topic rows) and ``emit_top_k`` for the top 10;
the candidate matrix is built with numpy. A plain-numpy reference (gather the
topic rows, batched ``matmul``, stable ``argsort``) serves a small world first
and the kernel's impressions must equal it; then the step is timed
``--repeats`` times, and the reference once. Prints accounts, candidates per
account, seconds per step, agent-steps (accounts served) per second and peak
resident memory (getrusage: the process's high-water mark, interpreter, numba
and the world included; printed after the kernel steps and again after the
reference). Asserts nothing about time.
"""

from __future__ import annotations

import argparse
import resource
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import host_gauge  # noqa: E402
from sim.recommenders import kernels  # noqa: E402

M = 5                 # attachments per new account
POSTS = 4             # recent posts per account (the 4 most recent of each followee are candidates)
CAP = 20              # candidates per account
FEED = 10             # served per account
DIM = 16              # interest and topic dimensions
BLOCK = 65_536        # accounts per block


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def ba_follows(n: int, m: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Mutual follows of a Barabási–Albert graph (Batagelj–Brandes), as CSR (indptr, sorted indices).

    Attachment ``k`` (of account ``k // m``) fills endpoint slots ``2k`` (the account itself) and
    ``2k + 1`` (a copy of slot ``r_k``, uniform in ``[0, 2k]``). Copies of copies are resolved by
    pointer jumping: every pass replaces each odd (copied) slot by the slot it copies, and slots
    only point backwards, so a few dozen vectorised passes resolve millions of attachments.
    """
    k = np.arange(n * m, dtype=np.int64)
    r = (rng.random(n * m) * (2 * k + 1)).astype(np.int64)
    slot = r.copy()
    odd = np.flatnonzero(slot & 1)
    while odd.size:
        slot[odd] = r[slot[odd] >> 1]
        odd = odd[(slot[odd] & 1) == 1]
    src = k // m
    dst = (slot >> 1) // m
    keep = src != dst
    src, dst = src[keep], dst[keep]
    pairs = np.sort(np.concatenate([src * n + dst, dst * n + src]))
    pairs = pairs[np.concatenate([[True], pairs[1:] != pairs[:-1]])]      # distinct (np.unique hashes: slower)
    rows, cols = pairs // n, pairs % n
    indptr = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(np.bincount(rows, minlength=n), out=indptr[1:])
    return indptr, cols.astype(np.int32)


def unit_rows(rng: np.random.Generator, rows: int) -> np.ndarray:
    x = rng.standard_normal((rows, DIM)).astype(np.float32)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    return x


def candidates(indptr: np.ndarray, indices: np.ndarray, accounts: np.ndarray) -> np.ndarray:
    """(B, 20) post ids: the 4 most recent posts of each of the first 5 followees (-1: none)."""
    start = indptr[accounts][:, None]
    degree = (indptr[accounts + 1] - indptr[accounts])[:, None]
    nth = np.arange(CAP // POSTS)
    followee = indices[np.minimum(start + nth, indices.size - 1)].astype(np.int64)
    cand = (POSTS * followee[:, :, None] + np.arange(POSTS)).reshape(accounts.size, CAP)
    cand[np.repeat(nth[None, :] >= degree, POSTS, axis=1)] = -1
    return cand


def kernel_step(indptr, indices, topic, interest, n: int, timers: dict[str, float] | None = None):
    """One feed step with exposim's kernels; returns (viewer, post) of every impression, best first per viewer."""
    viewers_out, posts_out = [], []
    rows = min(n, BLOCK)
    scores_buf = np.empty((rows, CAP), dtype=np.float32)
    in_network = np.ones((rows, CAP), dtype=bool)
    shown = (np.empty(rows * FEED, dtype=np.int32), np.empty(rows * FEED, dtype=np.int64),
             np.empty(rows * FEED, dtype=bool))
    for start in range(0, n, BLOCK):
        viewers = np.arange(start, min(n, start + BLOCK), dtype=np.int32)
        b = viewers.size
        t0 = time.perf_counter()
        cand = candidates(indptr, indices, viewers)
        t1 = time.perf_counter()
        scores = scores_buf[:b]
        kernels.similarity_rows(topic, interest, viewers, cand, scores)
        scores[cand < 0] = -np.inf
        t2 = time.perf_counter()
        k = kernels.emit_top_k(scores, cand, in_network[:b], viewers, FEED, *shown)
        t3 = time.perf_counter()
        viewers_out.append(shown[0][:k].copy())
        posts_out.append(shown[1][:k].copy())
        if timers is not None:
            timers["candidates"] += t1 - t0
            timers["scores"] += t2 - t1
            timers["top-k"] += t3 - t2
    return np.concatenate(viewers_out), np.concatenate(posts_out)


def reference_step(indptr, indices, topic, interest, n: int):
    """The same step in plain numpy: gather topic rows, batched matmul, stable argsort."""
    viewers_out, posts_out = [], []
    for start in range(0, n, BLOCK):
        viewers = np.arange(start, min(n, start + BLOCK), dtype=np.int32)
        cand = candidates(indptr, indices, viewers)
        topics = topic[np.maximum(cand, 0)]                                   # (B, 20, 16)
        scores = np.matmul(topics, interest[viewers][:, :, None])[..., 0]
        scores[cand < 0] = -np.inf
        top = np.argsort(-scores, axis=1, kind="stable")[:, :FEED]
        chosen = np.take_along_axis(cand, top, axis=1)
        shown = np.isfinite(np.take_along_axis(scores, top, axis=1))
        viewers_out.append(np.broadcast_to(viewers[:, None], chosen.shape)[shown])
        posts_out.append(chosen[shown])
    return np.concatenate(viewers_out), np.concatenate(posts_out)


def world(n: int, seed: int):
    rng = np.random.default_rng(seed)
    indptr, indices = ba_follows(n, M, rng)
    return indptr, indices, unit_rows(rng, POSTS * n), unit_rows(rng, n)


def check(n: int, seed: int) -> str:
    """Serve a small world both ways; the impressions must be equal (or differ only at float32 near-ties)."""
    indptr, indices, topic, interest = world(n, seed)
    kv, kp = kernel_step(indptr, indices, topic, interest, n)
    rv, rp = reference_step(indptr, indices, topic, interest, n)
    if np.array_equal(kv, rv) and np.array_equal(kp, rp):
        return f"kernel output equals the numpy reference ({n:,} accounts, {kp.size:,} impressions)"
    # The kernel sums each dot product in a fixed order; numpy's matmul sums in its BLAS's order, so on
    # another machine two candidates within a rounding error of each other may swap.
    score = lambda v, p: np.einsum("ij,ij->i", topic[p].astype(np.float64), interest[v].astype(np.float64))
    differ = np.flatnonzero((kv != rv) | (kp != rp)) if kv.size == rv.size else None
    if differ is not None and np.all(np.abs(score(kv[differ], kp[differ]) - score(rv[differ], rp[differ])) < 1e-6):
        return (f"kernel output equals the numpy reference up to {differ.size} swaps of float32 near-ties "
                f"({n:,} accounts)")
    raise SystemExit(f"kernel output differs from the numpy reference ({n:,} accounts)")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--accounts", type=int, default=100_000)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--check-accounts", type=int, default=20_000,
                        help="size of the world on which the kernel is checked against the numpy reference")
    host_gauge.add_option(parser)
    args = parser.parse_args(argv)
    n = args.accounts
    host_gauge.report("before", args)

    print(f"check: {check(min(n, args.check_accounts), args.seed + 1)}", flush=True)

    t = time.perf_counter()
    indptr, indices, topic, interest = world(n, args.seed)
    built = time.perf_counter() - t
    valid = np.minimum(np.diff(indptr) * POSTS, CAP)
    print(f"world: {n:,} accounts, Barabási–Albert m={M}, {indices.size:,} follows (mutual), "
          f"{POSTS * n:,} posts, {DIM}-dim float32 topics; built in {built:.2f} s", flush=True)
    print(f"candidates per account: {valid.mean():.2f} (cap {CAP}), {FEED} served", flush=True)

    times, timers = [], {"candidates": 0.0, "scores": 0.0, "top-k": 0.0}
    for _ in range(args.repeats):
        t = time.perf_counter()
        kernel_step(indptr, indices, topic, interest, n, timers)
        times.append(time.perf_counter() - t)
    step = float(np.median(times))
    parts = ", ".join(f"{name} {s / args.repeats:.3f} s" for name, s in timers.items())
    print(f"exposim kernels: {step:.3f} s per step (median of {args.repeats}; min {min(times):.3f}); "
          f"{n / step:,.0f} agent-steps/s; {parts}; peak RSS {peak_rss_mb():,.0f} MB", flush=True)

    t = time.perf_counter()
    reference_step(indptr, indices, topic, interest, n)
    ref = time.perf_counter() - t
    print(f"numpy reference: {ref:.3f} s per step (1 run); {n / ref:,.0f} agent-steps/s; "
          f"peak RSS {peak_rss_mb():,.0f} MB", flush=True)
    host_gauge.report("after", args)


if __name__ == "__main__":
    main()
