"""Safeguards as objects attached at named hook points, and their registry.

Core objects: :data:`HOOKS`, :class:`Safeguard`, :class:`SafeguardSet`,
:data:`SAFEGUARDS`, :class:`Delivery`, and one class per safeguard of the
catalogue (S1-S13, S15; the user tools of S14 are always present as minors'
block and report responses).

A phase never asks "is safeguard X on?". It calls a hook on the
:class:`SafeguardSet`; every enabled safeguard registered for that hook acts on
the whole batch with vectorised masks or score multipliers. Adding a
safeguard is one class here, one config dataclass in ``sim.config`` and its
tests. Who is protected is decided by ``Population.protected`` (declared
minors, and minors found by age assurance), never by true age: a minor who
registered as an adult is not protected until age assurance catches them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from sim.config import HARM_CLASSES, SafeguardsConfig
from sim.contact import COMMENT, GROUP_ADD, MESSAGE, MESSAGE_REQUEST, NETWORK, Attempts
from sim.content import ItemStore
from sim.population import ADULT_AGE, ADULT_CONTENT_PRODUCER, Population

#: The hook points phases call (DESIGN 1.3, plus ``on_upload`` and ``limit_sessions``
#: for the safeguards that act on uploads and on how long minors use the app).
HOOKS = ("filter_feed", "filter_account_suggestions", "filter_group_suggestions",
         "allow_contact", "on_delivery", "on_upload", "limit_sessions", "daily")

SAFEGUARDS: dict[str, type[Safeguard]] = {}


def register_safeguard(cls: type[Safeguard]) -> type[Safeguard]:
    """Class decorator: make a safeguard available under its config name."""
    unknown = set(cls.hooks) - set(HOOKS)
    if unknown:
        raise ValueError(f"{cls.__name__} registers unknown hooks {sorted(unknown)}; hooks are {HOOKS}")
    SAFEGUARDS[cls.name] = cls
    return cls


@dataclass
class Delivery:
    """Per delivered attempt: what on_delivery safeguards change about the minor's response."""

    block_lift: np.ndarray     # multiplier of the block probability
    report_lift: np.ndarray    # multiplier of the report probability
    image: np.ndarray          # carries an explicit image
    blurred: np.ndarray        # the image was blurred


class Safeguard:
    """Base class. Subclasses set ``name`` (the config key) and ``hooks`` and implement those methods."""

    name: ClassVar[str] = ""
    hooks: ClassVar[tuple[str, ...]] = ()

    def __init__(self, config: Any, population: Population, items: ItemStore) -> None:
        self.config = config
        self.population = population
        self.items = items

    def covered(self, accounts: np.ndarray) -> np.ndarray:
        """Accounts this safeguard protects: protected, and within its age band if it has one."""
        pop = self.population
        covered = pop.protected[accounts]
        max_age = getattr(self.config, "max_age", None)
        if max_age is not None:
            covered = covered & (pop.declared_age[accounts] <= max_age)
        return covered

    def setup(self, model: Any) -> None:
        """Act once when the world is built (optional)."""

    def from_stranger(self, att: Attempts, known: np.ndarray) -> np.ndarray:
        """Attempts to an account this safeguard covers from a sender that account does not follow."""
        return self.covered(att.target) & ~known

    def recognised(self, classes: np.ndarray, candidates: np.ndarray) -> np.ndarray:
        """Candidates of the given classes that this safeguard's classifier recognises (fixed per item)."""
        slots = np.maximum(candidates, 0)
        return classes[self.items.harm[slots]] & (self.items.filter_draw[slots] < self.config.classifier_recall)


def _hide(suggested: np.ndarray, hide: np.ndarray) -> None:
    """Blank the suggestions marked ``hide`` (padding stays padding)."""
    suggested[hide & (suggested >= 0)] = -1


def _classes(names: list[str]) -> np.ndarray:
    mask = np.zeros(len(HARM_CLASSES), dtype=bool)
    mask[[HARM_CLASSES.index(c) for c in names]] = True
    return mask


@register_safeguard
class PrivateByDefault(Safeguard):
    """S1 (Teen Accounts 2024; DSA Art. 28 guidelines): protected minors' accounts are private.

    Applied at registration and whenever an account becomes protected (age
    assurance); a ``switch_public_share`` switch back to public.
    """

    name = "private_by_default"
    hooks = ("daily",)

    def setup(self, model: Any) -> None:
        self.defaulted = np.zeros(self.population.n, dtype=bool)
        self.daily(model)

    def daily(self, model: Any) -> None:
        pop = self.population
        fresh = np.flatnonzero(self.covered(np.arange(pop.n)) & ~self.defaulted & ~pop.decoy)
        rng = model.streams.get("private_by_default", model.day)
        # The default makes accounts private; a few switch back. Accounts already private stay so.
        pop.private[fresh] |= rng.random(fresh.size) >= self.config.switch_public_share
        self.defaulted[fresh] = True


@register_safeguard
class DmFromConnectionsOnly(Safeguard):
    """S2 (Instagram 2021/2024; Ofcom Illegal Content Codes 2025): messages only from connections.

    Accounts a protected minor does not follow cannot message them or add them
    to groups; each such sender may still send ``request_allowance`` message
    requests to each minor, text only (no images).
    """

    name = "dm_from_connections_only"
    hooks = ("allow_contact", "on_delivery")

    def __init__(self, config: Any, population: Population, items: ItemStore) -> None:
        super().__init__(config, population, items)
        self.used_key = np.zeros(0, dtype=np.int64)     # sender * n + target, sorted
        self.used_count = np.zeros(0, dtype=np.int64)

    def allow_contact(self, att: Attempts, known: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        restricted = self.from_stranger(att, known)
        hard = restricted & np.isin(att.kind, (MESSAGE, GROUP_ADD))
        request = restricted & (att.kind == MESSAGE_REQUEST)
        allowed = ~hard
        idx = np.flatnonzero(request)
        if idx.size:
            n = self.population.n
            key = att.sender[idx] * n + att.target[idx]
            pos = np.searchsorted(self.used_key, key)
            found = pos < self.used_key.size
            found[found] = self.used_key[pos[found]] == key[found]
            before = np.zeros(idx.size, dtype=np.int64)
            before[found] = self.used_count[pos[found]]
            # Requests of one pair today are numbered in order of arrival.
            order = np.argsort(key, kind="stable")
            sorted_key = key[order]
            rank = np.empty(idx.size, dtype=np.int64)
            rank[order] = np.arange(idx.size) - np.searchsorted(sorted_key, sorted_key, side="left")
            ok = before + rank < self.config.request_allowance
            allowed[idx] = ok
            # Remember every pair's use (allowed requests only count against the allowance).
            uniq, counts = np.unique(key[ok], return_counts=True)
            merged = np.concatenate([self.used_key, uniq])
            add = np.concatenate([self.used_count, counts])
            keys, inverse = np.unique(merged, return_inverse=True)
            self.used_count = np.bincount(inverse, weights=add, minlength=keys.size).astype(np.int64)
            self.used_key = keys
        return allowed


    def on_delivery(self, att: Attempts, known: np.ndarray, day: int, delivery: Delivery,
                    rng: np.random.Generator) -> None:
        text_only = (att.kind == MESSAGE_REQUEST) & self.from_stranger(att, known)
        delivery.image &= ~text_only


@register_safeguard
class SuspiciousAdultExclusion(Safeguard):
    """S3 (Instagram 2021-22): flagged adults are hidden from minors and lose the message button to them."""

    name = "suspicious_adult_exclusion"
    hooks = ("filter_account_suggestions", "allow_contact")

    def filter_account_suggestions(self, viewers: np.ndarray, suggested: np.ndarray) -> None:
        pop = self.population
        s = np.maximum(suggested, 0)
        _hide(suggested, (self.covered(viewers)[:, None] & pop.suspicious[s])
              | (pop.suspicious[viewers][:, None] & self.covered(s)))

    def allow_contact(self, att: Attempts, known: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        return ~(self.population.suspicious[att.sender] & self.from_stranger(att, known))


@register_safeguard
class SafetyNotices(Safeguard):
    """S4 (Instagram 2021, 2025): a notice on contact from flagged or new adults raises block and report."""

    name = "safety_notices"
    hooks = ("on_delivery",)

    def on_delivery(self, att: Attempts, known: np.ndarray, day: int, delivery: Delivery,
                    rng: np.random.Generator) -> None:
        pop = self.population
        new = day - pop.joined_day[att.sender] < self.config.new_account_days
        # The platform knows declared ages, not true ones: "adult" senders are those not protected.
        notice = self.from_stranger(att, known) & ~pop.protected[att.sender] & (pop.suspicious[att.sender] | new)
        delivery.block_lift[notice] *= self.config.block_lift
        delivery.report_lift[notice] *= self.config.report_lift


@register_safeguard
class NoMinorSuggestions(Safeguard):
    """S5 (Ofcom Illegal Content Codes 2025): protected minors and adults are kept out of each other's suggestions."""

    name = "no_minor_suggestions"
    hooks = ("filter_account_suggestions",)

    def filter_account_suggestions(self, viewers: np.ndarray, suggested: np.ndarray) -> None:
        s = np.maximum(suggested, 0)
        viewer_covered = self.covered(viewers)[:, None]
        shown_covered = self.covered(s)
        adult_viewer = ~self.population.protected[viewers][:, None]
        adult_shown = ~self.population.protected[s]
        _hide(suggested, (adult_viewer & shown_covered) | (viewer_covered & adult_shown))


@register_safeguard
class HiddenConnections(Safeguard):
    """S6 (Ofcom 2025): protected minors cannot be reached through others' connection lists."""

    name = "hidden_connections"
    hooks = ("allow_contact",)

    def allow_contact(self, att: Attempts, known: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        return ~((att.channel == NETWORK) & self.from_stranger(att, known))


@register_safeguard
class SensitiveContentControl(Safeguard):
    """S7 (Instagram 2024; "13+" default Oct 2025): sensitive classes out of protected minors' recommendations.

    ``more`` removes the explicit classes from out-of-network slots, ``13+``
    also ``suggestive``; ``limited`` removes every harmful class everywhere.
    Protected minors cannot follow adult-content producers.
    """

    name = "sensitive_content_control"
    hooks = ("filter_feed", "filter_account_suggestions")
    LEVELS = {"more": ["adult_sexual", "exploitative"],
              "13+": ["suggestive", "adult_sexual", "exploitative"],
              "limited": ["suggestive", "adult_sexual", "exploitative"]}

    def __init__(self, config: Any, population: Population, items: ItemStore) -> None:
        super().__init__(config, population, items)
        self.sensitive = _classes(self.LEVELS[config.level])
        self.everywhere = config.level == "limited"

    def filter_feed(self, viewers: np.ndarray, candidates: np.ndarray, scores: np.ndarray,
                    in_network: np.ndarray) -> None:
        caught = self.recognised(self.sensitive, candidates)
        where = np.ones_like(in_network) if self.everywhere else ~in_network
        scores[self.covered(viewers)[:, None] & caught & where & (candidates >= 0)] = -np.inf

    def filter_account_suggestions(self, viewers: np.ndarray, suggested: np.ndarray) -> None:
        if not self.config.block_producer_follows:
            return
        s = np.maximum(suggested, 0)
        _hide(suggested, self.covered(viewers)[:, None] & (self.population.role[s] == ADULT_CONTENT_PRODUCER))


@register_safeguard
class FeedFiltering(Safeguard):
    """S8, recommender filtering for children (Ofcom Protection of Children Codes, 2025).

    For protected viewers, items of the filtered classes that the filter
    recognises are removed from the ranking; items of the downranked classes
    have their scores multiplied by ``downrank_factor``. Recognition is fixed
    per item (its ``filter_draw`` below ``classifier_recall``), so one item is
    either caught for every viewer or for none, as a real classifier would be.
    """

    name = "feed_filtering"
    hooks = ("filter_feed",)

    def __init__(self, config: Any, population: Population, items: ItemStore) -> None:
        super().__init__(config, population, items)
        self.filtered = _classes(config.filter_classes)
        self.downranked = _classes(config.downrank_classes)

    def filter_feed(self, viewers: np.ndarray, candidates: np.ndarray, scores: np.ndarray,
                    in_network: np.ndarray) -> None:
        protected = self.covered(viewers)[:, None] & (candidates >= 0)
        caught = self.recognised(self.filtered, candidates)
        scores[protected & caught] = -np.inf
        demote = protected & self.downranked[self.items.harm[np.maximum(candidates, 0)]] & ~caught
        factor = self.config.downrank_factor
        # A factor of 0 means "never show": removal, not a score of zero that could still fill a slot.
        scores[demote] = scores[demote] * factor if factor > 0 else -np.inf


@register_safeguard
class AgeAssurance(Safeguard):
    """S9 (Ofcom 2025 "highly effective age assurance"; DSA Art. 28): checks against declared age.

    Each day an account is checked with probability ``1 / cadence_days``. A
    check finds a minor registered as an adult (who becomes protected) or an
    adult posing as a minor (who loses protection) with probability
    ``recall``, and wrongly treats an unprotected adult as a minor with
    probability ``false_positive_rate``.
    """

    name = "age_assurance"
    hooks = ("daily",)

    def daily(self, model: Any) -> None:
        pop, cfg = self.population, self.config
        rng = model.streams.get("age_assurance", model.day)
        # Decoys are checked too: an audit account registered as an adult is what the check is for.
        checked = (rng.random(pop.n) < 1.0 / cfg.cadence_days) & ~pop.banned
        hit = rng.random(pop.n)
        minor = pop.is_minor
        found_minor = checked & minor & ~pop.protected & (hit < cfg.recall)
        found_poser = checked & ~minor & pop.protected & (hit < cfg.recall)
        wrong = checked & ~minor & ~pop.protected & (hit < cfg.false_positive_rate)
        # The platform now believes the estimated age: true age for those it found, 17 for
        # adults it wrongly takes for minors. Age-banded safeguards follow that belief.
        pop.declared_age[found_minor | found_poser] = pop.true_age[found_minor | found_poser]
        pop.declared_age[wrong] = ADULT_AGE - 1
        pop.protected[:] = pop.declared_age < ADULT_AGE
        model.metrics.count("age_checks", np.flatnonzero(checked))
        model.metrics.count("minors_found_by_age_assurance", np.flatnonzero(found_minor))
        model.metrics.count("adults_wrongly_protected", np.flatnonzero(wrong))
        model.metrics.count("posers_found_by_age_assurance", np.flatnonzero(found_poser))


@register_safeguard
class HashMatching(Safeguard):
    """S10: known exploitative items are blocked at upload."""

    name = "hash_matching"
    hooks = ("on_upload",)

    def on_upload(self, new: np.ndarray, day: int, rng: np.random.Generator) -> np.ndarray:
        """Returns the uploads to block (known items the match catches)."""
        hit = self.items.known[new] & (rng.random(new.size) < self.config.recall_on_known)
        return new[hit]


@register_safeguard
class NudityProtection(Safeguard):
    """S11 (Instagram 2024-25): explicit images in messages to protected minors are blurred."""

    name = "nudity_protection"
    hooks = ("on_delivery",)

    def on_delivery(self, att: Attempts, known: np.ndarray, day: int, delivery: Delivery,
                    rng: np.random.Generator) -> None:
        blur = delivery.image & self.covered(att.target) & (rng.random(att.n) < self.config.recall)
        delivery.blurred |= blur
        delivery.block_lift[blur] *= self.config.block_lift


@register_safeguard
class CommentFilter(Safeguard):
    """S12 (hidden words, Teen Accounts 2024): comments from non-followers are filtered."""

    name = "comment_filter"
    hooks = ("allow_contact",)

    def allow_contact(self, att: Attempts, known: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        caught = rng.random(att.n) < self.config.recall
        return ~((att.kind == COMMENT) & self.from_stranger(att, known) & caught)


@register_safeguard
class GroupAddConsent(Safeguard):
    """S13: protected minors cannot be added to groups by accounts they do not follow."""

    name = "group_add_consent"
    hooks = ("allow_contact",)

    def allow_contact(self, att: Attempts, known: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        return ~((att.kind == GROUP_ADD) & self.from_stranger(att, known))


@register_safeguard
class UsageLimits(Safeguard):
    """S15 (Teen Accounts 2024): a daily-time reminder and quiet hours cut protected minors' sessions."""

    name = "usage_limits"
    hooks = ("limit_sessions",)

    def limit_sessions(self, sessions: np.ndarray, rng: np.random.Generator) -> None:
        covered = np.flatnonzero(self.covered(np.arange(sessions.size)))
        capped = np.minimum(sessions[covered], self.config.max_sessions_per_day)
        sessions[covered] = rng.binomial(capped, 1.0 - self.config.quiet_hours_share)


class SafeguardSet:
    """The enabled safeguards of a run, dispatched by hook."""

    def __init__(self, config: SafeguardsConfig, population: Population, items: ItemStore,
                 streams: Any = None) -> None:
        # Each safeguard draws from its own stream (keyed by name, hook and day), so switching
        # one on never shifts the random draws of the phase it acts in or of another safeguard.
        self.streams = streams
        self.day = 0
        self.enabled: list[Safeguard] = []
        for name, cls in SAFEGUARDS.items():
            section = getattr(config, name)
            if section.enabled:
                self.enabled.append(cls(section, population, items))
        self._by_hook = {hook: [s for s in self.enabled if hook in s.hooks] for hook in HOOKS}

    @property
    def names(self) -> list[str]:
        return [s.name for s in self.enabled]

    def begin_day(self, day: int) -> None:
        """Set the day the per-safeguard random streams are keyed by."""
        self.day = day

    def _rng(self, safeguard: Safeguard, hook: str, fallback: np.random.Generator | None) -> np.random.Generator:
        if self.streams is not None:
            return self.streams.get(f"safeguard.{safeguard.name}.{hook}", self.day)
        return np.random.default_rng(0) if fallback is None else fallback

    def setup(self, model: Any) -> None:
        """Let safeguards act once on the newly built world."""
        for safeguard in self.enabled:
            safeguard.setup(model)

    def filter_feed(self, viewers: np.ndarray, candidates: np.ndarray, scores: np.ndarray,
                    in_network: np.ndarray) -> None:
        """Let each feed safeguard lower scores in place (``-inf`` removes a candidate)."""
        for safeguard in self._by_hook["filter_feed"]:
            safeguard.filter_feed(viewers, candidates, scores, in_network)

    def filter_account_suggestions(self, viewers: np.ndarray, suggested: np.ndarray) -> None:
        """Let safeguards blank suggested accounts in place (``-1`` removes a suggestion)."""
        for safeguard in self._by_hook["filter_account_suggestions"]:
            safeguard.filter_account_suggestions(viewers, suggested)

    def filter_group_suggestions(self, viewers: np.ndarray, suggested: np.ndarray) -> None:
        """Let safeguards blank suggested groups in place (``-1`` removes a suggestion)."""
        for safeguard in self._by_hook["filter_group_suggestions"]:
            safeguard.filter_group_suggestions(viewers, suggested)

    def allow_contact(self, attempts: Attempts, known: np.ndarray | None = None,
                      rng: np.random.Generator | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Which attempts may be delivered, and which safeguard stopped each one that may not.

        Args:
            attempts: today's attempts.
            known: whether each target follows its sender (defaults to none known).
            rng: the contact stream, for safeguards that act with a probability.

        Returns:
            ``(allowed, blocked_by)``: a bool mask, and per attempt the index (into
            :attr:`names`) of the first safeguard that blocked it, ``-1`` if none.
        """
        known = np.zeros(attempts.n, dtype=bool) if known is None else known
        allowed = np.ones(attempts.n, dtype=bool)
        blocked_by = np.full(attempts.n, -1, dtype=np.int16)
        for safeguard in self._by_hook["allow_contact"]:
            ok = safeguard.allow_contact(attempts, known, self._rng(safeguard, "allow_contact", rng))
            blocked_by[allowed & ~ok] = self.enabled.index(safeguard)
            allowed &= ok
        return allowed, blocked_by

    def on_delivery(self, attempts: Attempts, known: np.ndarray, day: int, delivery: Delivery,
                    rng: np.random.Generator) -> None:
        """Let safeguards change how minors respond to delivered attempts."""
        for safeguard in self._by_hook["on_delivery"]:
            safeguard.on_delivery(attempts, known, day, delivery, self._rng(safeguard, "on_delivery", rng))

    def on_upload(self, new: np.ndarray, day: int, rng: np.random.Generator) -> np.ndarray:
        """Uploads that safeguards block outright."""
        blocked = [s.on_upload(new, day, self._rng(s, "on_upload", rng)) for s in self._by_hook["on_upload"]]
        return np.unique(np.concatenate(blocked)) if blocked else new[:0]

    def limit_sessions(self, sessions: np.ndarray, rng: np.random.Generator) -> None:
        """Let safeguards cut today's sessions in place."""
        for safeguard in self._by_hook["limit_sessions"]:
            safeguard.limit_sessions(sessions, self._rng(safeguard, "limit_sessions", rng))

    def daily(self, model: Any) -> None:
        """Once-a-day safeguards (age-assurance sweeps, defaults for newly protected accounts)."""
        for safeguard in self._by_hook["daily"]:
            safeguard.daily(model)
