"""Groups: topics, harmful and moderated flags, and memberships.

Core objects:

- :class:`Groups` — groups with a topic, a harmful flag and a moderated flag;
  membership as CSR in both directions.
- :func:`build_groups` — generate groups and initial memberships.
- :data:`REGISTRATION_GROUPS`, :data:`HARMFUL_MODERATED_SHARE` and the other group
  constants.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from sim.config import NetworkConfig
from sim.network import kernels
from sim.network.graph import (_csr_insert, _key_row_offsets, _new_entries, _sorted_unique, _transpose,
                               csr_contains)
from sim.vocabulary import HARMFUL_ROLES

# --- generator constants (model choices, documented in the ODD) -------------------

#: Groups a newcomer (decoys included) joins at registration (benign only, by interest).
REGISTRATION_GROUPS = 2
#: Candidate groups an account looks at per join; it joins the best-matching one.
GROUP_CANDIDATES = 8
#: Spread of a group's topic around its founder's interest (before normalising).
GROUP_TOPIC_NOISE = 0.3
#: Spread of a group's popularity (added to the join score; makes sizes unequal).
GROUP_POPULARITY_SIGMA = 0.3
#: Share of harmful groups that nevertheless have active moderators.
HARMFUL_MODERATED_SHARE = 0.1
#: Join score of a harmful group: cosine + HARM_WEIGHT * (harmful_affinity - HARM_PIVOT).
#: With affinities near 0.03 (minors) the penalty is about -1.9, larger than any cosine
#: gap, so minors almost never choose one; offenders (about 0.8) get +1.2.
HARM_WEIGHT = 4.0
HARM_PIVOT = 0.5
#: Joins scored per block in build_groups (bounds the (joins, candidates, dim) buffer).
_JOIN_CHUNK = 1 << 17


@dataclass
class Groups:
    """Groups with a topic, harmful and moderated flags, and members (CSR both ways).

    Attributes:
        topic: float32 (g, d), unit rows.
        harmful: bool (g,), commercial-sex or exploitation groups.
        moderated: bool (g,), groups with active moderators.
        member_indptr: int64 (g + 1,), group -> members.
        members: int32, member accounts, sorted within each group.
        account_indptr: int64 (n + 1,), account -> groups.
        account_groups: int32, groups, sorted within each account.
    """

    topic: np.ndarray
    harmful: np.ndarray
    moderated: np.ndarray
    member_indptr: np.ndarray
    members: np.ndarray
    account_indptr: np.ndarray
    account_groups: np.ndarray

    @property
    def n_groups(self) -> int:
        """Number of groups."""
        return int(self.member_indptr.shape[0] - 1)

    @property
    def n_accounts(self) -> int:
        """Number of accounts (rows of ``account_indptr``)."""
        return int(self.account_indptr.shape[0] - 1)

    def sizes(self) -> np.ndarray:
        """Members per group (int64, shape (g,))."""
        return np.diff(self.member_indptr)

    def members_of(self, group: int) -> np.ndarray:
        """Member accounts of one group (a view, sorted)."""
        return self.members[self.member_indptr[group]:self.member_indptr[group + 1]]

    def groups_of(self, account: int) -> np.ndarray:
        """Groups one account belongs to (a view, sorted)."""
        return self.account_groups[self.account_indptr[account]:self.account_indptr[account + 1]]

    def is_member(self, account: np.ndarray, group: np.ndarray) -> np.ndarray:
        """Whether ``account[k]`` belongs to ``group[k]``, for every k (vectorised)."""
        return csr_contains(self.account_indptr, self.account_groups, account, group)

    def without_accounts(self, accounts: np.ndarray) -> Groups:
        """New groups in which ``accounts`` belong to no group (one pass over each membership CSR)."""
        gone = np.zeros(self.n_accounts, dtype=bool)
        gone[np.asarray(accounts, dtype=np.int64)] = True
        no_group = np.zeros(self.n_groups, dtype=bool)
        account_indptr, account_groups = kernels.drop_entries(self.account_indptr, self.account_groups, gone,
                                                              no_group)
        member_indptr, members = kernels.drop_entries(self.member_indptr, self.members, no_group, gone)
        return Groups(topic=self.topic, harmful=self.harmful, moderated=self.moderated, member_indptr=member_indptr,
                      members=members, account_indptr=account_indptr, account_groups=account_groups)

    def with_members(self, account: np.ndarray, group: np.ndarray) -> Groups:
        """New groups with the joins ``account[k]`` -> ``group[k]`` added (repeats ignored).

        The new memberships are merged into both CSRs row by row (no re-sort of the old ones).

        Args:
            account: joining accounts.
            group: joined groups, same shape.

        Returns:
            The new groups object (``self`` is unchanged; topics and flags are shared).
        """
        account = np.asarray(account, dtype=np.int64).ravel()
        group = np.asarray(group, dtype=np.int64).ravel()
        if account.shape != group.shape:
            raise ValueError(f"account and group must have the same length, got {account.size} and {group.size}")
        for name, a, hi in (("account", account, self.n_accounts), ("group", group, self.n_groups)):
            if a.size and (a.min() < 0 or a.max() >= hi):
                raise ValueError(f"{name} holds an id outside 0..{hi - 1}")
        account, group = _new_entries(self.account_indptr, self.account_groups, account, group, self.n_groups)
        n = max(self.n_accounts, 1)
        account_indptr, account_groups = _csr_insert(self.account_indptr, self.account_groups, account, group,
                                                     self.n_accounts)
        by_group = np.sort(group * n + account)
        member_indptr, members = _csr_insert(self.member_indptr, self.members, by_group // n, by_group % n,
                                             self.n_groups)
        return Groups(topic=self.topic, harmful=self.harmful, moderated=self.moderated, member_indptr=member_indptr,
                      members=members, account_indptr=account_indptr, account_groups=account_groups)


def _groups_from_pairs(account: np.ndarray, group: np.ndarray, n: int, topic: np.ndarray,
                       harmful: np.ndarray, moderated: np.ndarray) -> Groups:
    """Build both membership CSRs from (account, group) pairs, repeats dropped."""
    g = int(harmful.shape[0])
    keys = _sorted_unique(account * max(g, 1) + group)
    account_indptr = _key_row_offsets(keys, g, n)
    account_groups = (keys % max(g, 1)).astype(np.int32)
    member_indptr, members = _transpose(account_indptr, account_groups, g)
    return Groups(topic=topic, harmful=harmful, moderated=moderated, member_indptr=member_indptr,
                  members=members, account_indptr=account_indptr, account_groups=account_groups)


def _unit_rows(x: np.ndarray) -> np.ndarray:
    norm = np.linalg.norm(x, axis=1, keepdims=True)
    norm[norm == 0] = 1.0
    return (x / norm).astype(np.float32)


def build_groups(interest: np.ndarray, is_minor: np.ndarray, role: np.ndarray, harmful_affinity: np.ndarray,
                 newcomer: np.ndarray, cfg: NetworkConfig, rng: np.random.Generator) -> Groups:
    """Generate groups and initial memberships.

    ``round(groups_per_1k * n_start / 1000)`` groups (at least 1, unless
    ``groups_per_1k`` is 0), for the ``n_start`` accounts present at the start.
    Each topic is a noisy copy of a founder's interest:
    harmful groups (a ``harmful_group_share`` of them, stochastically rounded) are
    founded by offenders, producers or sellers when there are any. Benign groups
    are moderated with probability ``moderated_group_share``, harmful ones with
    ``HARMFUL_MODERATED_SHARE``. Each account makes Poisson(``memberships_mean``)
    joins; per join it looks at ``GROUP_CANDIDATES`` random groups and joins the
    best by cosine(interest, topic) + popularity, plus for harmful groups
    ``HARM_WEIGHT * (harmful_affinity - HARM_PIVOT)``: bad actors concentrate in
    harmful groups and minors rarely join one. Newcomers (the accounts that
    register during the run, decoys included) make ``REGISTRATION_GROUPS``
    joins, by interest among benign groups only: their registration joins
    (:class:`sim.network.sources.Registrations` holds them until each
    newcomer's join day).

    Args:
        interest: float32 (n, d), unit interest vectors.
        is_minor: bool (n,). Not used by the join rule: minors stay out of harmful
            groups through their low harmful affinity, so a minor whose affinity
            is high can join one, as audits report.
        role: int (n,), role codes.
        harmful_affinity: float (n,), in [0, 1].
        newcomer: bool (n,), rows that register during the run (decoys included).
        cfg: network settings.
        rng: the world-building stream.

    Returns:
        The groups.
    """
    interest = np.asarray(interest, dtype=np.float32)
    newcomer = np.asarray(newcomer, dtype=bool)
    role = np.asarray(role)
    n, d = interest.shape
    real = np.flatnonzero(~newcomer)
    m = real.size
    g = 0 if (cfg.groups_per_1k == 0 or m == 0) else max(1, round(cfg.groups_per_1k * m / 1000))

    n_harmful = min(g, int(math.floor(cfg.harmful_group_share * g + rng.random())))
    harmful = np.zeros(g, dtype=bool)
    harmful[rng.permutation(g)[:n_harmful]] = True
    founder = np.empty(g, dtype=np.int64)
    if g:
        founder[:] = real[rng.integers(0, m, g)]
        bad = real[np.isin(role[real], HARMFUL_ROLES)]
        if bad.size and n_harmful:
            founder[harmful] = bad[rng.integers(0, bad.size, n_harmful)]
    noise = GROUP_TOPIC_NOISE * rng.standard_normal((g, d)).astype(np.float32)
    topic = _unit_rows(interest[founder] + noise)
    moderated = rng.random(g) < np.where(harmful, HARMFUL_MODERATED_SHARE, cfg.moderated_group_share)
    popularity = (GROUP_POPULARITY_SIGMA * rng.standard_normal(g)).astype(np.float32)

    if g == 0:
        return _groups_from_pairs(np.zeros(0, np.int64), np.zeros(0, np.int64), n, topic, harmful, moderated)

    joins = rng.poisson(cfg.memberships_mean, n)
    joins[newcomer] = REGISTRATION_GROUPS if (~harmful).any() else 0
    account = np.repeat(np.arange(n, dtype=np.int64), joins)
    cand = rng.integers(0, g, (account.size, GROUP_CANDIDATES), dtype=np.int32)
    harm_term = (HARM_WEIGHT * (np.asarray(harmful_affinity, dtype=np.float32) - HARM_PIVOT)).astype(np.float32)
    chosen = np.empty(account.size, dtype=np.int64)
    keep = np.ones(account.size, dtype=bool)
    # Blocks of joins bound the (joins, candidates, dim) buffer; the loop is over
    # blocks, not accounts.
    for lo in range(0, account.size, _JOIN_CHUNK):
        acc = account[lo:lo + _JOIN_CHUNK]
        c = cand[lo:lo + _JOIN_CHUNK]
        score = np.einsum("jd,jcd->jc", interest[acc], topic[c]) + popularity[c]
        is_harm = harmful[c]
        score += is_harm * harm_term[acc][:, None]
        # A newcomer's registration joins are benign groups (a harmful one is found later, if at all).
        score[is_harm & newcomer[acc][:, None]] = -np.inf
        best = np.argmax(score, axis=1)
        chosen[lo:lo + acc.size] = c[np.arange(acc.size), best]
        keep[lo:lo + acc.size] = np.isfinite(score[np.arange(acc.size), best])
    return _groups_from_pairs(account[keep], chosen[keep], n, topic, harmful, moderated)
