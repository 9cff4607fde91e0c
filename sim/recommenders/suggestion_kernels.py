"""Compiled loops of the account and group suggesters (numba): each policy's picks, selection and cleaning.

Core objects: :func:`first_hop`, :func:`friends_of_friends`, :func:`own_engagements`, :func:`co_engagement`,
:func:`clean_accounts`, :func:`interest_groups`.

A suggester fills ``viewers x k`` slots, slot ``i`` belonging to viewer
``i // k``. Its numpy version made a temporary for every step (the repeated
viewers, masks, gathers of the masked cells, ``where``); these loops read each
slot's inputs where they are and write its answer once. A policy draws its
uniforms between the loops, in the order and sizes the numpy version drew them
(how many a step needs is known only after the step before it), and a slot
that takes the ``j``-th number of a draw made for some of the slots takes it
because it is the ``j``-th such slot in slot order, as a boolean gather gives.
So the suggestions, and the generator's state after them, are those of the
numpy version (``tests/test_suggestions.py`` checks them against it).

Every slot is computed on its own (the position of each slot's number in a
partial draw is counted first, in one pass), so the loops run on numba's
threads and give the same answer on any number of them.

A slot's answer is a chain of random reads (a followee's row offsets, then an
entry of its row; an engagement, its item's engagers, one of them). Where the
arrays outgrow the cache each link is a miss, so the policies take one link at
a time for a block of slots, fetching the next link ahead
(:func:`sim.compiled.prefetch`): the block's misses overlap instead of
following one another.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from sim.compiled import prefetch
from sim.network.kernels import _has_entry
from sim.recommenders.kernels import dedupe_row

_PAR = dict(cache=True, nogil=True, parallel=True)
_JIT = dict(cache=True, nogil=True)
_INLINE = dict(cache=True, nogil=True, inline="always")
#: Rows cleaned per task (their sort's scratch is allocated once per block).
_ROWS = 256
#: Slots per task where a slot's inputs are random reads: each step's reads for the whole block are
#: issued (prefetched) before the step that needs them, so their cache misses overlap instead of
#: following one another.
_SLOTS = 2048


@njit(**_INLINE)
def _pick_position(ptr, key, u):
    """Where a random entry (``u``) of CSR row ``key`` lies: ``start + int(u * count)``, or -1 for no key
    (``key < 0``) or an empty row."""
    if key < 0:
        return np.int64(-1)
    start = np.int64(ptr[key])
    count = np.int64(ptr[key + 1]) - start
    return start + np.int64(u * count) if count > 0 else np.int64(-1)


@njit(**_INLINE)
def _pick(ptr, values, key, u):
    """Value ``int(u * count)`` of row ``key``'s ``count`` values, or -1 where the row is empty
    (:func:`sim.network.kernels.pick` for one key)."""
    p = _pick_position(ptr, key, u)
    return np.int64(values[p]) if p >= 0 else np.int64(-1)


@njit(**_INLINE)
def _positions_ahead(ptr, values, keys, u, rank, i0, i1, pos):
    """``pos[i - i0]``: :func:`_pick_position` of slot ``i``'s row ``keys[i]`` with ``u[rank[i]]``, for the
    slots ``i0:i1``; all the rows' offsets are fetched ahead first, then each entry once its position is
    known (:func:`sim.compiled.prefetch`), so the block's misses overlap."""
    for i in range(i0, i1):
        prefetch(ptr, max(keys[i], 0))
    for i in range(i0, i1):
        p = _pick_position(ptr, keys[i], u[rank[i]] if keys[i] >= 0 else 0.0)
        pos[i - i0] = p
        prefetch(values, max(p, 0))


@njit(**_JIT)
def _ranks(found, rank):
    """``rank[i]``: how many of ``found[:i]`` are set (the slot's position in a draw made for the found
    slots); returns how many are set."""
    n = 0
    for i in range(found.shape[0]):
        rank[i] = n
        n += 1 if found[i] else 0
    return n


@njit(**_PAR)
def first_hop(ptr, values, viewers, k, u, out):
    """``out[i]``: a random entry of viewer ``viewers[i // k]``'s CSR row (``u[i]``), -1 for an empty row.
    Returns how many slots found one."""
    n = out.shape[0]
    for i in prange(n):
        out[i] = _pick(ptr, values, viewers[i // k], u[i])
    found = 0
    for i in range(n):
        found += 1 if out[i] >= 0 else 0
    return found


@njit(**_PAR)
def friends_of_friends(g_ptr, g_idx, rev_ptr, rev_idx, viewers, k, followee, u_two_hop, u_follower, u_choice,
                       out):
    """``out[i]``: with ``u_choice[i] < 0.75`` a random followee of ``followee[i]`` (the viewer's followee,
    -1 for none: then -1), otherwise a random follower of the viewer (-1 for none). ``u_two_hop`` holds one
    number per slot with a followee, in slot order.

    In blocks of ``_SLOTS`` slots: the followees' offsets are fetched ahead, then each pick's
    position is found and its entry fetched ahead, then the picks are read."""
    n = out.shape[0]
    rank = np.empty(n, dtype=np.int64)
    _ranks(followee >= 0, rank)
    for block in prange((n + _SLOTS - 1) // _SLOTS):
        i0 = block * _SLOTS
        i1 = min(n, i0 + _SLOTS)
        pos = np.empty(i1 - i0, dtype=np.int64)
        _positions_ahead(g_ptr, g_idx, followee, u_two_hop, rank, i0, i1, pos)
        for i in range(i0, i1):
            p = pos[i - i0]
            two_hop = np.int64(g_idx[p]) if p >= 0 else np.int64(-1)
            follower = _pick(rev_ptr, rev_idx, viewers[i // k], u_follower[i])
            out[i] = two_hop if u_choice[i] < 0.75 else follower


@njit(**_PAR)
def own_engagements(by_viewer_ptr, by_viewer, viewers, k, u, mode, mine):
    """``mine[i]``: a random engagement of viewer ``viewers[i // k]`` today (an index into the day's
    engagements, ``u[i]``), -1 for none. Returns how many slots draw a co-engager (an engagement and
    mode 1) and how many draw a fan (mode 2)."""
    n = mine.shape[0]
    for i in prange(n):
        mine[i] = _pick(by_viewer_ptr, by_viewer, viewers[i // k], u[i])
    co = 0
    fans = 0
    for i in range(n):
        co += 1 if mine[i] >= 0 and mode[i] == 1 else 0
        fans += 1 if mode[i] == 2 else 0
    return co, fans


@njit(**_PAR)
def co_engagement(engaged_viewer, engaged_item, engaged_author, by_item_ptr, item_order, by_author_ptr, by_author,
                  viewers, k, mode, mine, u_co, u_fans, out):
    """``out[i]`` by the slot's mode: 0, the author of the engagement ``mine[i]``; 1, another account that
    engaged with its item (``u_co``, one number per such slot in slot order); 2, an account that engaged
    with the viewer's own items (``u_fans``, one per mode-2 slot); -1 where there is none."""
    n = out.shape[0]
    co_rank = np.empty(n, dtype=np.int64)
    fan_rank = np.empty(n, dtype=np.int64)
    _ranks((mine >= 0) & (mode == 1), co_rank)
    _ranks(mode == 2, fan_rank)
    for block in prange((n + _SLOTS - 1) // _SLOTS):
        # Each slot's chain of reads (an engagement, its item's engagers, one of them; or the viewer's
        # fans, one of them) taken one link at a time for the whole block, each link fetched ahead.
        i0 = block * _SLOTS
        i1 = min(n, i0 + _SLOTS)
        at = np.empty(i1 - i0, dtype=np.int64)
        for i in range(i0, i1):
            if mode[i] == 1:
                prefetch(engaged_item, max(mine[i], 0))
            elif mode[i] == 0:
                prefetch(engaged_author, max(mine[i], 0))
            else:
                prefetch(by_author_ptr, viewers[i // k])
        for i in range(i0, i1):                        # 1: the engagement's item; the fan's position
            m = mode[i]
            a = np.int64(-1)
            if m == 1 and mine[i] >= 0:
                a = np.int64(engaged_item[mine[i]])
                prefetch(by_item_ptr, a)
            elif m == 2:
                a = _pick_position(by_author_ptr, viewers[i // k], u_fans[fan_rank[i]])
                prefetch(by_author, max(a, 0))
            at[i - i0] = a
        for i in range(i0, i1):                        # 2: the co-engager's position; the fan's engagement
            m = mode[i]
            a = at[i - i0]
            if m == 1 and a >= 0:
                lo = by_item_ptr[a]
                a = lo + np.int64(u_co[co_rank[i]] * (by_item_ptr[a + 1] - lo))
                prefetch(item_order, a)
            elif m == 2 and a >= 0:
                a = np.int64(by_author[a])
                prefetch(engaged_viewer, a)
            at[i - i0] = a
        for i in range(i0, i1):                        # 3: the co-engager's engagement
            a = at[i - i0]
            if mode[i] == 1 and a >= 0:
                a = np.int64(item_order[a])
                prefetch(engaged_viewer, a)
                at[i - i0] = a
        for i in range(i0, i1):
            m = mode[i]
            a = at[i - i0]
            got = np.int64(-1)
            if m == 0:
                if mine[i] >= 0:
                    got = np.int64(engaged_author[mine[i]])
            elif a >= 0:
                got = np.int64(engaged_viewer[a])
            out[i] = got


@njit(**_INLINE)
def _row_scratch(c):
    """Scratch for :func:`sim.recommenders.kernels.dedupe_row` on rows of ``c`` (a block's rows share it):
    the rows carry no flags."""
    return np.empty((2, c), dtype=np.int64), np.zeros(c, dtype=np.bool_), np.empty(c, dtype=np.bool_)


@njit(**_PAR)
def clean_accounts(suggested, viewers, g_ptr, g_idx, removed):
    """Each row of ``suggested`` (viewers x k, in place) de-duplicated (sorted, repeats after the first copy
    set to -1: :func:`sim.recommenders.kernels.dedupe_row`), then blanked (-1) where it is the viewer, an
    account the viewer follows, or a removed account."""
    b, c = suggested.shape
    if c == 0:
        return
    for block in prange((b + _ROWS - 1) // _ROWS):
        scratch, flags, tmp_flags = _row_scratch(c)
        for r in range(block * _ROWS, min(b, (block + 1) * _ROWS)):
            row = suggested[r]
            dedupe_row(row, flags, scratch, tmp_flags)
            v = viewers[r]
            for j in range(c):
                s = row[j]
                if s >= 0 and (s == v or _has_entry(g_ptr, g_idx, v, s) or removed[s]):
                    row[j] = -1


@njit(**_PAR)
def interest_groups(account_indptr, account_groups, viewers, followee, u_group, by_interest, u_choice, out):
    """Each row of ``out`` (viewers x k): slot ``i`` takes a random group of ``followee[i]`` (``u_group``, one
    number per slot with a followee, in slot order) if ``u_choice[i] < 0.5`` and the followee is in one,
    otherwise ``by_interest[i]``; then the row is de-duplicated
    (:func:`sim.recommenders.kernels.dedupe_row`) and the groups the viewer is already in are blanked
    (-1)."""
    b, k = out.shape
    if k == 0:
        return
    rank = np.empty(b * k, dtype=np.int64)
    _ranks(followee >= 0, rank)
    for block in prange((b + _ROWS - 1) // _ROWS):
        scratch, flags, tmp_flags = _row_scratch(k)
        r0 = block * _ROWS
        r1 = min(b, r0 + _ROWS)
        # Each slot's pick position, its entry fetched ahead; then the rows filled.
        pos = np.empty((r1 - r0) * k, dtype=np.int64)
        _positions_ahead(account_indptr, account_groups, followee, u_group, rank, r0 * k, r1 * k, pos)
        for r in range(r0, r1):
            row = out[r]
            for j in range(k):
                i = r * k + j
                p = pos[i - r0 * k]
                via = np.int64(account_groups[p]) if p >= 0 else np.int64(-1)
                row[j] = via if u_choice[i] < 0.5 and via >= 0 else by_interest[i]
            dedupe_row(row, flags, scratch, tmp_flags)
            v = viewers[r]
            for j in range(k):
                if row[j] >= 0 and _has_entry(account_indptr, account_groups, v, row[j]):
                    row[j] = -1
