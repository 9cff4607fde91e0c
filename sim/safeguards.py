"""Safeguards as objects attached at named hook points, and the set that dispatches them.

Core objects: :data:`HOOKS`, :class:`Safeguard`, :class:`SafeguardSet`,
:class:`Delivery`, :class:`SafeguardContext`, and one class per safeguard of the
catalogue (S1-S8, S10-S13, S15; S9 age assurance is :mod:`sim.age_assurance`;
the user tools of S14 are always present as minors' block and report
responses), each registered as kind ``safeguard`` of :mod:`sim.registry` with
the dataclass of its config section.

A phase never asks "is safeguard X on?". It calls a hook on the
:class:`SafeguardSet`; every enabled safeguard registered for that hook acts on
the whole batch with vectorised masks or score multipliers. Adding a
safeguard is one class here (or in a plug-in), registered with its config
dataclass (in ``sim.config`` for the built-in ones), and its tests. Who is
protected is decided by ``Population.protected`` (declared minors, and minors
found by age assurance), never by true age: a minor who registered as an
adult is not protected until age assurance catches them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np

from sim import compiled, registry
from sim.config import (CommentFilterConfig, DmFromConnectionsOnlyConfig, FeedFilteringConfig,
                        GroupAddConsentConfig, HashMatchingConfig, HiddenConnectionsConfig, NoMinorSuggestionsConfig,
                        NudityProtectionConfig, PrivateByDefaultConfig, SafeguardsConfig, SafetyNoticesConfig,
                        SensitiveContentControlConfig, SuspiciousAdultExclusionConfig, UsageLimitsConfig,
                        safeguard_names)
from sim.contact import Attempts
from sim.content import ItemStore
from sim.detection import Detector, account_latent, detector_key
from sim.population import Population
from sim.vocabulary import (ADULT_CONTENT_PRODUCER, COMMENT, GROUP_ADD, HARM_CLASSES, HARMFUL_CLASSES,
                            MESSAGE, MESSAGE_REQUEST, NETWORK, NONE, OFFENDER, S_OFFENDER,
                            VIOLATING_CLASSES)

#: The hook points phases call (docs/ODD.md §7.30; ``on_upload`` and ``limit_sessions`` are
#: for the safeguards that act on uploads and on how long minors use the app; ``on_join`` for
#: accounts registering today, before their first session; ``before_contact`` on today's
#: attempts before any is allowed or stopped).
HOOKS = ("filter_feed", "filter_account_suggestions", "filter_group_suggestions", "before_contact",
         "allow_contact", "on_delivery", "on_upload", "limit_sessions", "on_join", "daily")


@dataclass
class SafeguardContext:
    """What a safeguard may use beyond the population and items it was built with.

    Today's day, its own random streams (by name, keyed by the day), and the
    counters it may add to — collected here and recorded with the phase's
    outcome (:mod:`sim.measurement`), not written into the model's metrics.
    """

    day: int
    streams: Any                 # anything with ``get(name, day) -> numpy Generator`` (sim.model.RandomStreams)
    counts: dict[str, np.ndarray] = field(default_factory=dict)   # counter -> accounts, in the order counted

    def rng(self, name: str) -> np.random.Generator:
        """The stream ``name`` for today."""
        return self.streams.get(name, self.day)

    def count(self, counter: str, accounts: np.ndarray) -> None:
        """Add one to ``counter`` for each account (in its cohort), as a phase's counters do."""
        seen = self.counts.get(counter)
        self.counts[counter] = accounts if seen is None else np.concatenate([seen, accounts])


@dataclass
class Delivery:
    """Per delivered attempt: what on_delivery safeguards change about the minor's response."""

    block_lift: np.ndarray     # multiplier of the block probability
    report_lift: np.ndarray    # multiplier of the report probability
    image: np.ndarray          # carries an explicit image
    blurred: np.ndarray        # the image was blurred
    benign_blurred: np.ndarray | None = None   # a message without an explicit image wrongly blurred (a cost)

    def __post_init__(self) -> None:
        if self.benign_blurred is None:
            self.benign_blurred = np.zeros(self.image.shape[0], dtype=bool)


class Safeguard:
    """Base class. Subclasses set ``hooks`` and ``config_class`` and implement those hooks.

    A safeguard is registered with ``@registry.register("safeguard", "<name>")``,
    which sets ``name``: the config key of its section ``safeguards.<name>``,
    whose dataclass is ``config_class`` (with an ``enabled`` field).
    """

    name: ClassVar[str] = ""
    hooks: ClassVar[tuple[str, ...]] = ()
    config_class: ClassVar[type]
    #: True for safeguards that decide who is protected (age assurance): at registration they act
    #: before the others, so a newcomer found to be a minor gets every default on her first day.
    decides_protection: ClassVar[bool] = False
    #: Set by :class:`SafeguardSet`: the run's root seed and how often detectors err with moderation.
    seed: int = 0
    correlation: float = 0.5

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        unknown = set(cls.hooks) - set(HOOKS)
        if unknown:
            raise ValueError(f"{cls.__name__} registers unknown hooks {sorted(unknown)}; hooks are {HOOKS}")

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

    def setup(self, context: SafeguardContext) -> None:
        """Act once when the world is built (optional)."""

    def from_stranger(self, att: Attempts, target_follows_sender: np.ndarray) -> np.ndarray:
        """Attempts to an account this safeguard covers from a sender that account does not follow."""
        return self.covered(att.target) & ~target_follows_sender

    def detector(self, recall: float, false_positive_rate: float, part: str = "") -> Detector:
        """This safeguard's detector at an operating point, tied to moderation's latent score (:mod:`sim.detection`)."""
        return Detector(recall, false_positive_rate, self.correlation,
                        detector_key(self.seed, f"{self.name}{part}"))

    def filter_covered_feeds(self, viewers: np.ndarray, candidates: np.ndarray, scores: np.ndarray,
                             in_network: np.ndarray, classes: np.ndarray, demoted: np.ndarray | None = None,
                             factor: float = 0.0, out_of_network_only: bool = False) -> None:
        """A feed filter's action on the rows of a feed block whose viewer this safeguard covers, in place.

        Its classifier flags each real candidate of those rows: items of ``classes`` with its recall,
        any other item with its false-positive rate (fixed per item, :mod:`sim.detection`). A flagged
        candidate is removed (score ``-inf``), or, if its class is ``demoted``, has its score
        multiplied by ``factor`` (0 removes it too); ``out_of_network_only`` spares the in-network
        ones. The rows of uncovered viewers are not looked at (a detector's answer is fixed per item,
        so they need none). Compiled: :meth:`sim.detection.Detector.filter_feed`.
        """
        rows = np.flatnonzero(self.covered(viewers))
        det = self.detector(self.config.classifier_recall, self.config.false_positive_rate)
        items = self.items
        det.filter_feed(rows, candidates, in_network, scores, items.item_id, items.detect_u, items.harm, classes,
                        demoted, factor, out_of_network_only)


def _hide(suggested: np.ndarray, hide: np.ndarray) -> None:
    """Blank the suggestions marked ``hide`` (padding stays padding)."""
    suggested[hide & (suggested >= 0)] = -1


def _classes(names: list[str]) -> np.ndarray:
    mask = np.zeros(len(HARM_CLASSES), dtype=bool)
    mask[[HARM_CLASSES.index(c) for c in names]] = True
    return mask


@registry.register("safeguard", "private_by_default")
class PrivateByDefault(Safeguard):
    """S1 (Teen Accounts 2024; DSA Art. 28 guidelines): protected minors' accounts are private.

    Applied at registration and whenever an account becomes protected (age
    assurance); a ``switch_public_share`` switch back to public.
    """

    config_class = PrivateByDefaultConfig
    hooks = ("on_join", "daily")

    def setup(self, context: SafeguardContext) -> None:
        self.defaulted = np.zeros(self.population.n, dtype=bool)
        self.daily(context)

    def on_join(self, accounts: np.ndarray, context: SafeguardContext) -> None:
        """Newcomers the platform takes for minors (after any check at registration) start private."""
        self.daily(context)

    def daily(self, context: SafeguardContext) -> None:
        pop = self.population
        fresh = np.flatnonzero(self.covered(np.arange(pop.n)) & ~self.defaulted)
        rng = context.rng("private_by_default")
        # The default makes accounts private; a few switch back. Accounts already private stay so.
        made = ~pop.private[fresh] & (rng.random(fresh.size) >= self.config.switch_public_share)
        pop.private[fresh[made]] = True
        pop.private_by_safeguard[fresh[made]] = True
        self.defaulted[fresh] = True


@registry.register("safeguard", "dm_from_connections_only")
class DmFromConnectionsOnly(Safeguard):
    """S2 (Instagram 2021/2024; Ofcom Illegal Content Codes 2025): messages only from connections.

    Accounts a protected minor does not follow cannot message them or add them
    to groups; each such sender may still send ``request_allowance`` message
    requests to each minor, text only (no images).
    """

    config_class = DmFromConnectionsOnlyConfig
    hooks = ("allow_contact", "on_delivery")

    def __init__(self, config: Any, population: Population, items: ItemStore) -> None:
        super().__init__(config, population, items)
        self.used_key = np.zeros(0, dtype=np.int64)     # sender * n + target, sorted
        self.used_count = np.zeros(0, dtype=np.int64)

    def allow_contact(self, att: Attempts, target_follows_sender: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        restricted = self.from_stranger(att, target_follows_sender)
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


    def on_delivery(self, att: Attempts, target_follows_sender: np.ndarray, day: int, delivery: Delivery,
                    rng: np.random.Generator) -> None:
        text_only = (att.kind == MESSAGE_REQUEST) & self.from_stranger(att, target_follows_sender)
        delivery.image &= ~text_only


@registry.register("safeguard", "suspicious_adult_exclusion")
class SuspiciousAdultExclusion(Safeguard):
    """S3 (Instagram 2021-22): suspected adults are hidden from minors and lose the message button to them.

    Moderation flags adults from signals (blocked or reported by a minor, many
    requests to minors, :meth:`sim.moderation.Moderation.flag`). The safeguard
    acts on a ``recall`` share of the flagged and wrongly on a
    ``false_positive_rate`` share of other adults, both fixed per account
    (:mod:`sim.detection`, the account row as its id). With ``basis: offenders``
    it acts on the true offenders instead, signals or not: a bound no platform
    reaches (the ``ideal`` preset). Ordinary adults it
    suspects are counted as ``adults_wrongly_flagged`` on the day they are first
    suspected.
    """

    config_class = SuspiciousAdultExclusionConfig
    hooks = ("on_join", "daily", "filter_account_suggestions", "allow_contact")

    def __init__(self, config: Any, population: Population, items: ItemStore) -> None:
        super().__init__(config, population, items)
        # Nobody is suspected until the first day's decision (so its wrong suspicions are counted on day 1).
        self.suspected = np.zeros(population.n, dtype=bool)

    def on_join(self, accounts: np.ndarray, context: SafeguardContext) -> None:
        """Newcomers are judged on registration, like everyone each day."""
        self.daily(context)

    def daily(self, context: SafeguardContext) -> None:
        """Decide today whom the safeguard suspects (it acts on that from the next phase on)."""
        pop = self.population
        rows = np.arange(pop.n)
        det = self.detector(self.config.recall, self.config.false_positive_rate)
        # The account's own latent: a hash of its row under a run-wide key shared by account detectors.
        latent = account_latent(rows, self.seed)
        target = pop.suspicious if self.config.basis == "signals" else pop.role == OFFENDER
        hit = det.flags(rows, latent, target)
        now = hit & ~pop.protected & ~pop.decoy & pop.present
        new = now & ~self.suspected
        context.count("adults_wrongly_flagged", np.flatnonzero(new & (pop.role != OFFENDER)))
        self.suspected = now

    def filter_account_suggestions(self, viewers: np.ndarray, suggested: np.ndarray) -> None:
        s = np.maximum(suggested, 0)
        _hide(suggested, (self.covered(viewers)[:, None] & self.suspected[s])
              | (self.suspected[viewers][:, None] & self.covered(s)))

    def allow_contact(self, att: Attempts, target_follows_sender: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        return ~(self.suspected[att.sender] & self.from_stranger(att, target_follows_sender))


@registry.register("safeguard", "safety_notices")
class SafetyNotices(Safeguard):
    """S4 (Instagram 2021, 2025): a notice on contact from flagged or new adults raises block and report."""

    config_class = SafetyNoticesConfig
    hooks = ("on_delivery",)

    def on_delivery(self, att: Attempts, target_follows_sender: np.ndarray, day: int, delivery: Delivery,
                    rng: np.random.Generator) -> None:
        pop = self.population
        new = day - pop.joined_day[att.sender] < self.config.new_account_days
        # The platform knows declared ages, not true ones: "adult" senders are those not protected.
        notice = (self.from_stranger(att, target_follows_sender) & ~pop.protected[att.sender]
                  & (pop.suspicious[att.sender] | new))
        delivery.block_lift[notice] *= self.config.block_lift
        delivery.report_lift[notice] *= self.config.report_lift


@registry.register("safeguard", "no_minor_suggestions")
class NoMinorSuggestions(Safeguard):
    """S5 (Ofcom Illegal Content Codes 2025): protected minors and adults are kept out of each other's suggestions."""

    config_class = NoMinorSuggestionsConfig
    hooks = ("filter_account_suggestions",)

    def filter_account_suggestions(self, viewers: np.ndarray, suggested: np.ndarray) -> None:
        s = np.maximum(suggested, 0)
        viewer_covered = self.covered(viewers)[:, None]
        shown_covered = self.covered(s)
        adult_viewer = ~self.population.protected[viewers][:, None]
        adult_shown = ~self.population.protected[s]
        _hide(suggested, (adult_viewer & shown_covered) | (viewer_covered & adult_shown))


@registry.register("safeguard", "hidden_connections")
class HiddenConnections(Safeguard):
    """S6 (Ofcom 2025): protected minors cannot be reached through others' connection lists."""

    config_class = HiddenConnectionsConfig
    hooks = ("allow_contact",)

    def allow_contact(self, att: Attempts, target_follows_sender: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        return ~((att.channel == NETWORK) & self.from_stranger(att, target_follows_sender))


@registry.register("safeguard", "sensitive_content_control")
class SensitiveContentControl(Safeguard):
    """S7 (Instagram 2024; "13+" default Oct 2025): sensitive classes out of protected minors' recommendations.

    ``more`` removes the explicit classes from out-of-network slots, ``13+``
    also ``suggestive``; ``limited`` removes every harmful class everywhere.
    Protected minors cannot follow adult-content producers.
    """

    config_class = SensitiveContentControlConfig
    hooks = ("filter_feed", "filter_account_suggestions")
    LEVELS = {"more": list(VIOLATING_CLASSES),
              "13+": list(HARMFUL_CLASSES),
              "limited": list(HARMFUL_CLASSES)}

    def __init__(self, config: Any, population: Population, items: ItemStore) -> None:
        super().__init__(config, population, items)
        self.sensitive = _classes(self.LEVELS[config.level])
        self.everywhere = config.level == "limited"

    def filter_feed(self, viewers: np.ndarray, candidates: np.ndarray, scores: np.ndarray,
                    in_network: np.ndarray) -> None:
        self.filter_covered_feeds(viewers, candidates, scores, in_network, self.sensitive,
                                  out_of_network_only=not self.everywhere)

    def filter_account_suggestions(self, viewers: np.ndarray, suggested: np.ndarray) -> None:
        if not self.config.block_producer_follows:
            return
        s = np.maximum(suggested, 0)
        _hide(suggested, self.covered(viewers)[:, None] & (self.population.role[s] == ADULT_CONTENT_PRODUCER))


@registry.register("safeguard", "feed_filtering")
class FeedFiltering(Safeguard):
    """S8, recommender filtering for children (Ofcom Protection of Children Codes, 2025).

    For protected viewers, the filter's classifier flags items of the filtered
    and downranked classes with ``classifier_recall`` and any other item with
    ``false_positive_rate`` (:mod:`sim.detection`: fixed per item, so one item
    is caught for every viewer or for none, and its errors are tied to the
    moderation classifier's). Flagged items of a downranked class have their
    scores multiplied by ``downrank_factor``; every other flagged item is
    removed, benign ones included (the filter's cost).
    """

    config_class = FeedFilteringConfig
    hooks = ("filter_feed",)

    def __init__(self, config: Any, population: Population, items: ItemStore) -> None:
        super().__init__(config, population, items)
        self.filtered = _classes(config.filter_classes)
        self.downranked = _classes(config.downrank_classes) & ~self.filtered

    def filter_feed(self, viewers: np.ndarray, candidates: np.ndarray, scores: np.ndarray,
                    in_network: np.ndarray) -> None:
        # A factor of 0 means "never show": removal, not a score of zero that could still fill a slot.
        self.filter_covered_feeds(viewers, candidates, scores, in_network, self.filtered | self.downranked,
                                  self.downranked, self.config.downrank_factor)


@registry.register("safeguard", "hash_matching")
class HashMatching(Safeguard):
    """S10: known exploitative items are blocked at upload.

    A hash-listed item is matched with ``recall_on_known``, any other upload
    wrongly with ``false_positive_rate`` (fixed per item, :mod:`sim.detection`).
    """

    config_class = HashMatchingConfig
    hooks = ("on_upload",)

    def on_upload(self, new: np.ndarray, day: int, rng: np.random.Generator) -> np.ndarray:
        """Returns the uploads to block (hash-listed items the match catches, and false matches)."""
        det = self.detector(self.config.recall_on_known, self.config.false_positive_rate)
        hit = det.flags(self.items.item_id[new], self.items.detect_u[new], self.items.hash_listed[new])
        return new[hit]


@registry.register("safeguard", "nudity_protection")
class NudityProtection(Safeguard):
    """S11 (Instagram 2024-25): explicit images in messages to protected minors are blurred.

    The detector sees each message to a covered account: it blurs an explicit
    image with ``recall`` and wrongly blurs a message without one with
    ``false_positive_rate`` (``Delivery.benign_blurred``, a cost). Messages are
    not items, so its errors are drawn per message, independent of moderation.
    """

    config_class = NudityProtectionConfig
    hooks = ("on_delivery",)

    def on_delivery(self, att: Attempts, target_follows_sender: np.ndarray, day: int, delivery: Delivery,
                    rng: np.random.Generator) -> None:
        message = np.isin(att.kind, (MESSAGE, MESSAGE_REQUEST)) & self.covered(att.target)
        u = rng.random(att.n)
        blur = delivery.image & message & (u < self.config.recall)
        delivery.blurred |= blur
        delivery.benign_blurred |= ~delivery.image & message & (u < self.config.false_positive_rate)
        delivery.block_lift[blur] *= self.config.block_lift


@registry.register("safeguard", "comment_filter")
class CommentFilter(Safeguard):
    """S12 (hidden words, Teen Accounts 2024): abusive comments from non-followers are hidden.

    It hides an offender's comment with ``recall`` and another adult's with
    ``false_positive_rate`` (legitimate contact blocked); comments are not items,
    so its errors are drawn per comment.
    """

    config_class = CommentFilterConfig
    hooks = ("allow_contact",)

    def allow_contact(self, att: Attempts, target_follows_sender: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        rate = np.where(att.sender_type == S_OFFENDER, self.config.recall, self.config.false_positive_rate)
        caught = rng.random(att.n) < rate
        return ~((att.kind == COMMENT) & self.from_stranger(att, target_follows_sender) & caught)


@registry.register("safeguard", "group_add_consent")
class GroupAddConsent(Safeguard):
    """S13: protected minors cannot be added to groups by accounts they do not follow."""

    config_class = GroupAddConsentConfig
    hooks = ("allow_contact",)

    def allow_contact(self, att: Attempts, target_follows_sender: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        return ~((att.kind == GROUP_ADD) & self.from_stranger(att, target_follows_sender))


@registry.register("safeguard", "usage_limits")
class UsageLimits(Safeguard):
    """S15 (Teen Accounts 2024): a daily-time reminder and quiet hours cut protected minors' sessions."""

    config_class = UsageLimitsConfig
    hooks = ("limit_sessions",)

    def limit_sessions(self, sessions: np.ndarray, rng: np.random.Generator) -> None:
        covered = np.flatnonzero(self.covered(np.arange(sessions.size)))
        capped = np.minimum(sessions[covered], self.config.max_sessions_per_day)
        sessions[covered] = rng.binomial(capped, 1.0 - self.config.quiet_hours_share)


class SafeguardSet:
    """The enabled safeguards of a run, dispatched by hook."""

    def __init__(self, config: SafeguardsConfig, population: Population, items: ItemStore,
                 streams: Any = None, correlation: float = 0.5) -> None:
        # Each safeguard draws from its own stream (keyed by name, hook and day), so switching
        # one on never shifts the random draws of the phase it acts in or of another safeguard.
        self.streams = streams
        self.items = items
        self.day = 0
        self.withheld: dict[str, list[np.ndarray]] = {"benign": [], "harmful": []}
        self.enabled: list[Safeguard] = []
        for name in safeguard_names():      # the schema's order: built-in safeguards, then plug-ins'
            section = getattr(config, name, None)   # None: a Config without the plug-ins' sections
            if section is not None and section.enabled:
                safeguard = registry.get("safeguard", name)(section, population, items)
                safeguard.seed = 0 if streams is None else int(streams.seed)
                safeguard.correlation = correlation
                self.enabled.append(safeguard)
        self._by_hook = {hook: [s for s in self.enabled if hook in s.hooks] for hook in HOOKS}
        # At registration and in the daily pass, the safeguards that decide who is protected act
        # first, so the defaults that follow from protection apply the same day.
        for hook in ("on_join", "daily"):
            self._by_hook[hook].sort(key=lambda s: not s.decides_protection)

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

    def setup(self, context: SafeguardContext) -> None:
        """Let safeguards act once on the newly built world."""
        for safeguard in self.enabled:
            safeguard.setup(context)

    def filter_feed(self, viewers: np.ndarray, candidates: np.ndarray, scores: np.ndarray,
                    in_network: np.ndarray) -> None:
        """Let each feed safeguard lower scores in place (``-inf`` removes a candidate).

        Every candidate removed is noted by its viewer, benign and harmful apart
        (:meth:`take_withheld`): benign items withheld are the filters' cost.
        """
        hooks = self._by_hook["filter_feed"]
        if not hooks:
            return
        before = np.isfinite(scores)
        for safeguard in hooks:
            safeguard.filter_feed(viewers, candidates, scores, in_network)
        benign, harmful = compiled.removed_viewers(before, scores, candidates, np.asarray(viewers), self.items.harm,
                                                   NONE)
        self.withheld["benign"].append(benign)
        self.withheld["harmful"].append(harmful)

    def take_withheld(self) -> dict[str, np.ndarray]:
        """Viewer rows, one per candidate the feed safeguards removed since the last call, benign and harmful apart."""
        out = {k: np.concatenate(v).astype(np.int64) if v else np.zeros(0, dtype=np.int64)
               for k, v in self.withheld.items()}
        self.withheld = {"benign": [], "harmful": []}
        return out

    def filter_account_suggestions(self, viewers: np.ndarray, suggested: np.ndarray) -> None:
        """Let safeguards blank suggested accounts in place (``-1`` removes a suggestion)."""
        for safeguard in self._by_hook["filter_account_suggestions"]:
            safeguard.filter_account_suggestions(viewers, suggested)

    def filter_group_suggestions(self, viewers: np.ndarray, suggested: np.ndarray) -> None:
        """Let safeguards blank suggested groups in place (``-1`` removes a suggestion)."""
        for safeguard in self._by_hook["filter_group_suggestions"]:
            safeguard.filter_group_suggestions(viewers, suggested)

    def allow_contact(self, attempts: Attempts, target_follows_sender: np.ndarray | None = None,
                      rng: np.random.Generator | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Which attempts may be delivered, and which safeguard stopped each one that may not.

        Args:
            attempts: today's attempts.
            target_follows_sender: whether each target follows its sender (defaults to no target following).
            rng: the contact stream, for safeguards that act with a probability.

        Returns:
            ``(allowed, blocked_by)``: a bool mask, and per attempt the index (into
            :attr:`names`) of the first safeguard that blocked it, ``-1`` if none.
        """
        if target_follows_sender is None:
            target_follows_sender = np.zeros(attempts.n, dtype=bool)
        allowed = np.ones(attempts.n, dtype=bool)
        blocked_by = np.full(attempts.n, -1, dtype=np.int16)
        for safeguard in self._by_hook["allow_contact"]:
            ok = safeguard.allow_contact(attempts, target_follows_sender, self._rng(safeguard, "allow_contact", rng))
            blocked_by[allowed & ~ok] = self.enabled.index(safeguard)
            allowed &= ok
        return allowed, blocked_by

    def on_delivery(self, attempts: Attempts, target_follows_sender: np.ndarray, day: int, delivery: Delivery,
                    rng: np.random.Generator) -> None:
        """Let safeguards change how minors respond to delivered attempts."""
        for safeguard in self._by_hook["on_delivery"]:
            safeguard.on_delivery(attempts, target_follows_sender, day, delivery,
                                  self._rng(safeguard, "on_delivery", rng))

    def on_upload(self, new: np.ndarray, day: int, rng: np.random.Generator) -> np.ndarray:
        """Uploads that safeguards block outright."""
        blocked = [s.on_upload(new, day, self._rng(s, "on_upload", rng)) for s in self._by_hook["on_upload"]]
        return np.unique(np.concatenate(blocked)) if blocked else new[:0]

    def limit_sessions(self, sessions: np.ndarray, rng: np.random.Generator) -> None:
        """Let safeguards cut today's sessions in place."""
        for safeguard in self._by_hook["limit_sessions"]:
            safeguard.limit_sessions(sessions, self._rng(safeguard, "limit_sessions", rng))

    def daily(self, context: SafeguardContext) -> None:
        """Once-a-day safeguards (age-assurance sweeps, defaults for newly protected accounts)."""
        for safeguard in self._by_hook["daily"]:
            safeguard.daily(context)

    def on_join(self, accounts: np.ndarray, context: SafeguardContext) -> None:
        """Let safeguards act on the accounts registering today, before their first session.

        Those that decide who is protected act first, then the defaults that follow from it.
        """
        for safeguard in self._by_hook["on_join"]:
            safeguard.on_join(accounts, context)

    def before_contact(self, attempts: Attempts, target_follows_sender: np.ndarray,
                       context: SafeguardContext) -> None:
        """Let safeguards act on today's attempts before any is allowed (e.g. check an account's age first)."""
        for safeguard in self._by_hook["before_contact"]:
            safeguard.before_contact(attempts, target_follows_sender, context)
