"""The reference model: exposim's simulated day, one account and one event at a time.

This is an independent implementation of the day described in docs/ODD.md
§3 (process overview) and §7 (submodels), written for a reader to check line
by line against the ODD. It is deliberately plain: Mesa agents
(:mod:`tests.reference.agents`), Python lists, sets and dicts, and Mesa's
``model.random`` for every draw. It imports nothing from ``sim`` that runs the
day; the fast engine (:class:`sim.model.ExposureModel`, numpy arrays, keyed
random streams) is what it is docked against in ``tests/test_docking.py``.

**What is shared.** World construction only (§5): the accounts, the follow
graph and the groups are copied out of a freshly built fast model for the
same config and seed, before its first day (:class:`tests.reference.world.World`).
From day 1 on, nothing is shared: the reference draws every random number
itself, from its own generator, in its own order.

**What the reference implements** (ODD section in brackets):

- phase 1, posting: Poisson counts by role, harm class by inverse CDF, topic,
  appeal, posting into a group, time of posting (§7.1);
- phase 3, sessions and the ``chronological`` feed: in-network candidate
  slots from followees and groups, de-duplication, the viewer's own items
  dropped, newest first, top ``k`` (§7.3–7.5, §7.7);
- the feed safeguard S8 ``feed_filtering`` at the ``filter_feed`` hook: a
  per-item detector with a recall and a false-positive rate, removal of the
  filtered classes, downranking of ``suggestive`` (§7.6, §7.30 S8);
- phase 4, engagement and the reinforcement and decay of harmful affinity,
  and the exposure days (§7.8, §7.11, §7.13);
- phase 5, account suggestions (``friends_of_friends``, ``co_engagement``,
  ``mixed``), cleaning, and what a shown pair becomes: offenders note the
  minors they are shown, others follow or send a follow request (§7.14);
- phase 6, contact: offenders' discovery through suggestions, search, groups,
  the network and the comment channel (§7.16); their attempt budget, targets
  and kinds (§7.17) and the re-aiming of stopped attempts (§7.17.1); ordinary
  adults' messages to minors who follow them, stranger adults' requests and
  comments, peers' messages, follow requests from suggestions (§7.18); the
  contact safeguard S2 ``dm_from_connections_only`` at ``allow_contact`` and
  ``on_delivery`` (§7.19, §7.30 S2); explicit images (§7.19); minors'
  responses (§7.20); conversations (§7.21); unwanted contact, sexual
  advances and forgetting after a block (§7.22); the day's follows and group
  joins (§7.23);
- phase 8, measurement: the counters the docked figures need (§8.1) and the
  figures themselves (§8.2), computed from the reference's own event records
  with the definitions of ``sim/metrics.py``.

**What it leaves out**, and :func:`check_supported` refuses a config that
would need it: arrivals, departures and decoys (§7.0); moderation, strikes,
bans and reports (§7.2, §7.9, §7.24–7.29); interest drift (§7.10); the
learned harmful-engagement rate, read only by the ``engagement`` feed
(§7.12); every feed policy but ``chronological``; group suggestions (§7.15);
the cold-start boost, which needs new accounts (§7.14); and every safeguard
but S2 and S8. Suspicious-adult flags (§7.27) are not kept: only S3, S4 and
S9 read them. The offenders' discovery counts of §7.17.1 are not kept
either: only S1, S3 and S5 close discovery, so with S2 and S8 the closed
share is 0 and the attempt budget's mean is ``offender_attempts_per_day``
(the re-aiming of stopped attempts, the other half of §7.17.1, is built).
"""

from __future__ import annotations

import bisect
import math
from collections import Counter, defaultdict

import mesa

from tests.reference.agents import Account, MinorAccount, Offender, OrdinaryAdult

HARM_CLASSES = ("none", "suggestive", "adult_sexual", "exploitative")
EXPLICIT = ("adult_sexual", "exploitative")
STAGES = ("contact", "rapport", "solicitation", "escalated", "ended")
OPEN_STAGES = ("contact", "rapport", "solicitation")
DISCOVERY_CHANNELS = ("suggestion", "group", "search", "comment", "network")

#: The summary figures the reference computes (same names and definitions as ``sim.metrics.summarize``).
SUPPORTED_FIGURES = (
    "minor_harm_prevalence_per_10k",
    "minor_impressions_per_session",
    "minor_exposed_7d_share",
    "unwanted_contact_per_1k_minor_days",
    "unwanted_contact_from_offenders_per_1k_minor_days",
    "unwanted_contact_from_other_adults_per_1k_minor_days",
    "unwanted_contact_share_via_suggestion",
    "sexual_advances_per_1k_minor_days",
    "minor_explicit_images_per_1k_minor_days",
    "contacts_blocked_by_safeguards",
    "legit_contact_blocked_share",
    "peer_contact_blocked_share",
)

#: The safeguards the reference implements.
SUPPORTED_SAFEGUARDS = ("feed_filtering", "dm_from_connections_only")


def check_supported(config) -> None:
    """Refuse a config that switches on anything the reference does not implement.

    Raises:
        NotImplementedError: naming every setting that would need a part of the
            model the reference leaves out.
    """
    problems = []
    pop, rec = config.population, config.recommender
    if pop.arrivals_per_day != 0 or pop.departures_per_day != 0:
        problems.append("population.arrivals_per_day and departures_per_day must be 0 (no living population)")
    if config.decoys.n != 0:
        problems.append("decoys.n must be 0")
    if config.moderation.enabled:
        problems.append("moderation.enabled must be false")
    if pop.behaviour.interest_drift != 0:
        problems.append("population.behaviour.interest_drift must be 0")
    if rec.feed != "chronological":
        problems.append("recommender.feed must be chronological")
    if rec.accounts not in ("mixed", "friends_of_friends", "co_engagement", "off"):
        problems.append(f"recommender.accounts={rec.accounts!r} is not implemented")
    if rec.groups != "off":
        problems.append("recommender.groups must be off")
    if config.network.kind != "synthetic":
        problems.append("network.kind must be synthetic")
    for name in _safeguard_sections(config):
        if getattr(config.safeguards, name).enabled and name not in SUPPORTED_SAFEGUARDS:
            problems.append(f"safeguards.{name} is not implemented")
    if problems:
        raise NotImplementedError("the reference model does not implement: " + "; ".join(problems))


def _safeguard_sections(config) -> list[str]:
    return [name for name in vars(config.safeguards) if name != "preset"]


# ------------------------------------------------------------------ entities


class Item:
    """A post (docs/ODD.md §2.2): a harm class, never content."""

    __slots__ = ("author", "harm", "topic", "appeal", "day", "time", "group", "detector_u", "engagers_today")

    def __init__(self, author, harm, topic, appeal, day, time, group, detector_u) -> None:
        self.author = author
        self.harm = harm
        self.topic = topic
        self.appeal = appeal
        self.day = day
        self.time = time                # day + U: the time of posting
        self.group = group
        self.detector_u = detector_u    # S8's detector draw, fixed for the item's life (§7.30, Detectors)
        self.engagers_today: list[Account] = []


class Group:
    """A group (docs/ODD.md §2.3) with its members."""

    def __init__(self, index: int, harmful: bool) -> None:
        self.index = index
        self.harmful = harmful
        self.members: list[Account] = []
        self.member_set: set[Account] = set()
        self.servable: list[Item] = []  # today's servable items posted into the group

    def add(self, account: Account) -> None:
        if account not in self.member_set:
            self.member_set.add(account)
            self.members.append(account)
            account.groups.append(self)


class Attempt:
    """One contact attempt (docs/ODD.md §2.7) and everything that happened to it today."""

    __slots__ = ("day", "sender", "target", "kind", "channel", "group", "reaimed", "known", "allowed",
                 "stopped_by", "image", "block_lift", "report_lift", "blocked", "reported", "replied",
                 "follow_made", "stage", "unwanted", "advance")

    def __init__(self, day, sender, target, kind, channel, group, reaimed) -> None:
        self.day = day
        self.sender = sender
        self.target = target
        self.kind = kind
        self.channel = channel
        self.group = group
        self.reaimed = reaimed
        self.known = False          # the target follows the sender
        self.allowed = True
        self.stopped_by = None
        self.image = False
        self.block_lift = 1.0
        self.report_lift = 1.0
        self.blocked = self.reported = self.replied = self.follow_made = False
        self.stage = None
        self.unwanted = False
        self.advance = False

    @property
    def sender_type(self) -> str:
        return self.sender.sender_type


class Conversation:
    """An adult-to-minor conversation (docs/ODD.md §2.6)."""

    def __init__(self, channel: str, day: int, offender: bool) -> None:
        self.stage = "contact"
        self.channel = channel
        self.opened = day
        self.last = day
        self.offender = offender


# ---------------------------------------------------------------- safeguards


class FeedFiltering:
    """S8 ``feed_filtering`` at ``filter_feed`` (docs/ODD.md §7.30 S8), for protected viewers.

    The detector reads one uniform per item, drawn at posting and fixed for
    the item's life, so an item is flagged for every protected viewer or for
    none: items of a targeted class (filtered or downranked) with the
    classifier's recall, any other item with its false-positive rate.
    """

    def __init__(self, cfg) -> None:
        self.cfg = cfg
        self.filtered = set(cfg.filter_classes)
        self.downranked = set(cfg.downrank_classes) - self.filtered

    def flags(self, item: Item) -> bool:
        targeted = item.harm in self.filtered or item.harm in self.downranked
        rate = self.cfg.classifier_recall if targeted else self.cfg.false_positive_rate
        return item.detector_u >= 1.0 - rate

    def adjust(self, item: Item, score: float) -> float | None:
        """The score after the filter; None removes the candidate."""
        if not self.flags(item):
            return score
        if item.harm in self.downranked and self.cfg.downrank_factor > 0:
            return score * self.cfg.downrank_factor
        return None                     # a filtered class, a false positive, or a factor of 0


class DmFromConnectionsOnly:
    """S2 ``dm_from_connections_only`` at ``allow_contact`` and ``on_delivery`` (docs/ODD.md §7.30 S2)."""

    def __init__(self, cfg) -> None:
        self.cfg = cfg
        self.used: Counter = Counter()  # (sender, target) -> message requests let through so far

    def covers(self, account: Account) -> bool:
        return account.protected and account.declared_age <= self.cfg.max_age

    def restricted(self, attempt: Attempt) -> bool:
        return self.covers(attempt.target) and not attempt.known

    def allows(self, attempt: Attempt) -> bool:
        """Messages and group adds from non-connections are stopped; requests get an allowance per pair.

        Attempts are decided one at a time in batch order, so a pair's request
        is let through while the pair's count (earlier days, and earlier
        requests today) is below the allowance.
        """
        if not self.restricted(attempt):
            return True
        if attempt.kind in ("message", "group_add"):
            return False
        if attempt.kind == "message_request":
            pair = (attempt.sender, attempt.target)
            if self.used[pair] < self.cfg.request_allowance:
                self.used[pair] += 1
                return True
            return False
        return True                     # follow requests and comments

    def on_delivery(self, attempt: Attempt) -> None:
        """A request it lets through is text only: its explicit image is removed."""
        if attempt.kind == "message_request" and self.restricted(attempt):
            attempt.image = False


# --------------------------------------------------------------------- model


class ReferenceModel(mesa.Model):
    """The day of docs/ODD.md §3, per agent, for docking against :class:`sim.model.ExposureModel`.

    Args:
        config: a :class:`sim.config.Config` that :func:`check_supported` accepts.
        world: the world to start from (:meth:`tests.reference.world.World.from_fast_model`).
        rng: seed of Mesa's generators (``model.random`` draws everything).
    """

    def __init__(self, config, world, rng: int) -> None:
        check_supported(config)
        super().__init__(rng=rng)
        self.config = config
        content = config.content
        self.posting_rate = {
            "regular": content.posts_per_day_regular, "creator": content.posts_per_day_creator,
            "adult_content_producer": content.posts_per_day_producer,
            "exploitative_seller": content.posts_per_day_seller, "offender": content.posts_per_day_offender,
        }
        self.class_cdf = {role: _cumulative(probs) for role, probs in _class_probabilities(content).items()}

        # Accounts: one agent per row of the world, of the class its role and true age give.
        self.accounts: list[Account] = []
        for state in world.accounts:
            if state.role == "offender":
                cls = Offender
            elif state.true_age < 18:
                cls = MinorAccount
            else:
                cls = OrdinaryAdult
            self.accounts.append(cls(self, state))
        for row, followed in enumerate(world.follows):
            for other in followed:
                self._follow(self.accounts[row], self.accounts[other])
        self.groups = [Group(g, harmful) for g, harmful in enumerate(world.group_harmful)]
        for group, members in zip(self.groups, world.group_members):
            for row in members:
                group.add(self.accounts[row])
        if config.recommender.new_account_share > 0 and any(
                1 - a.joined_day < config.recommender.new_account_days for a in self.accounts):
            raise NotImplementedError("the cold-start boost (new accounts on day 1) is not implemented")

        self.minors = self.agents.select(agent_type=MinorAccount)
        self.ordinary_adults = self.agents.select(agent_type=OrdinaryAdult)
        self.offenders = self.agents.select(agent_type=Offender)

        sg = config.safeguards
        self.feed_filter = FeedFiltering(sg.feed_filtering) if sg.feed_filtering.enabled else None
        self.dm_rule = DmFromConnectionsOnly(sg.dm_from_connections_only) if sg.dm_from_connections_only.enabled \
            else None

        self.items_by_day: dict[int, list[Item]] = defaultdict(list)
        self.conversations: dict[tuple[Account, Account], Conversation] = {}

        # Today's work lists (reset every day).
        self.follow_requests: list[tuple[Account, Account]] = []
        self.new_follows: list[tuple[Account, Account]] = []
        self.batch: list[Attempt] = []
        self.public_minors: list[Account] = []
        self._search_cdf: list[float] = []

        # Event records, from which the figures are computed (phase 8).
        self.attempt_log: list[Attempt] = []
        self.tally: dict[int, Counter] = defaultdict(Counter)     # day -> (cohort, counter) -> count

    # ------------------------------------------------------------ helpers

    @property
    def day(self) -> int:
        """Today, 1-based: Mesa increments ``steps`` before calling ``step``."""
        return self.steps

    def poisson(self, lam: float) -> int:
        """A Poisson draw from ``model.random`` (multiplication of uniforms; numpy's for large means)."""
        if lam <= 0:
            return 0
        if lam > 30:
            return int(self.rng.poisson(lam))
        limit = math.exp(-lam)
        k, p = 0, self.random.random()
        while p > limit:
            k += 1
            p *= self.random.random()
        return k

    def uniform(self, seq: list):
        """``uniform(S)`` of docs/ODD.md: an element drawn uniformly at random, None if ``S`` is empty."""
        return seq[int(self.random.random() * len(seq))] if seq else None

    def draw_harm_class(self, role: str) -> str:
        """Inverse CDF: the class is the number of cumulative probabilities ``F_c`` with ``U > F_c`` (§7.1)."""
        u = self.random.random()
        index = sum(u > f for f in self.class_cdf[role])
        return HARM_CLASSES[min(index, len(HARM_CLASSES) - 1)]

    def add_item(self, author: Account, harm: str, topic: list[float], appeal: float, group: Group | None) -> None:
        t = self.day
        item = Item(author, harm, topic, appeal, t, t + self.random.random(), group, self.random.random())
        self.items_by_day[t].append(item)

    @staticmethod
    def _follow(follower: Account, followed: Account) -> None:
        if follower is followed or followed in follower.followee_set:
            return
        follower.followees.append(followed)
        follower.followee_set.add(followed)
        followed.followers.append(follower)
        followed.follower_set.add(follower)

    # ---------------------------------------------------------------- day

    def step(self) -> None:
        """One day: the phases of docs/ODD.md §3 in their fixed order."""
        self._start_day()
        self.agents.shuffle_do("post")                           # 1. posting (§7.1)
        # 2. moderation: switched off in the docked configuration.
        self._build_feed_index()                                 # 3. feeds (§7.3–7.7)
        self.agents.shuffle_do("browse")
        self.agents.shuffle_do("engage")                         # 4. engagement (§7.8–7.13)
        self._record_feeds()
        self.agents.shuffle_do("consider_suggestions")           # 5. account suggestions (§7.14)
        self._contact()                                          # 6. contact (§7.16–7.23)
        # 7. enforcement: nothing to do without moderation, returns or daily safeguards.
        self._close_day()                                        # 8. measurement (§8.1)

    def _start_day(self) -> None:
        for account in self.accounts:
            account.sessions = 0
            account.impressions = []
            account.engaged = []
            account.fans_today = []
        self.follow_requests, self.new_follows, self.batch = [], [], []
        # Items leave the store after content.retention_days; none older can be served (recency_days ≤ retention).
        for old in [d for d in self.items_by_day if d <= self.day - self.config.content.retention_days]:
            del self.items_by_day[old]

    # ------------------------------------------------------ phase 3: feed

    def _build_feed_index(self) -> None:
        """Servable items by author and by group: posted within ``recency_days``, today included (§7.2, §7.4)."""
        for account in self.accounts:
            account.servable = []
        for group in self.groups:
            group.servable = []
        for day, items in self.items_by_day.items():
            if day > self.day - self.config.recommender.recency_days:
                for item in items:
                    item.engagers_today = []
                    item.author.servable.append(item)
                    if item.group is not None:
                        item.group.servable.append(item)

    def serve_session(self, viewer: Account) -> list[Item]:
        """One session of the ``chronological`` feed (§7.4–7.7): the items shown, at most ``k``."""
        rec = self.config.recommender
        k = min(rec.feed_size, rec.candidates)
        followees, groups = viewer.followees, viewer.groups
        n_sources = len(followees) + len(groups)
        if n_sources == 0:
            return []
        # Candidate slots: the chronological feed has in-network slots only (n_out = 0). Each slot picks a
        # followee or group uniformly, then one of its servable items uniformly; an empty source leaves
        # the slot empty. A dict de-duplicates while keeping the order of first appearance.
        picked: dict[Item, None] = {}
        n_followees, u = len(followees), self.random.random     # (the hot loop: uniform() written out)
        for _ in range(rec.candidates):
            s = int(u() * n_sources)
            source = followees[s].servable if s < n_followees else groups[s - n_followees].servable
            if source:
                picked[source[int(u() * len(source))]] = None
        ranked = []
        t = self.day
        for item in picked:
            if item.author is viewer:                            # the viewer's own items are not candidates
                continue
            score = 1.0 / (t + 1 - item.time + 0.001)            # newest first (§7.5)
            if self.feed_filter is not None and viewer.protected:
                score = self.feed_filter.adjust(item, score)     # filter_feed hook (§7.6)
                if score is None:
                    continue
            ranked.append((score, self.random.random(), item))   # the random key breaks exact ties
        ranked.sort(key=lambda entry: (entry[0], entry[1]), reverse=True)
        return [item for _, _, item in ranked[:k]]

    def _record_feeds(self) -> None:
        """Impressions and exposure, in the viewer's cohort (§7.13, §8.1)."""
        today = self.tally[self.day]
        for account in self.accounts:
            cohort = account.cohort
            today[cohort, "sessions"] += account.sessions
            today[cohort, "impressions"] += len(account.impressions)
            today[cohort, "harmful_impressions"] += sum(item.harm != "none" for item in account.impressions)

    # ------------------------------------------------ phase 5: suggestions

    def suggest_accounts(self, viewer: Account) -> list[Account]:
        """The viewer's shown account suggestions after cleaning (§7.14); no safeguard of S2/S8 acts here."""
        rec = self.config.recommender
        k = rec.account_suggestions
        if rec.accounts == "off" or k == 0:
            return []
        if rec.accounts == "friends_of_friends":
            row = [self._friend_of_friend(viewer) for _ in range(k)]
        elif rec.accounts == "co_engagement":
            row = [self._co_engager(viewer) for _ in range(k)]
        else:                                                    # mixed: both rows, then a coin per slot
            fof = [self._friend_of_friend(viewer) for _ in range(k)]
            co = [self._co_engager(viewer) for _ in range(k)]
            row = [c if self.random.random() < 0.5 and c is not None else f for f, c in zip(fof, co)]
        shown: dict[Account, None] = {}
        for s in row:                                            # cleaning
            if s is None or s is viewer or viewer.follows(s) or not s.present:
                continue
            shown[s] = None
        return list(shown)

    def _friend_of_friend(self, viewer: Account) -> Account | None:
        """A followee's followee (U < 0.75) or a follower (otherwise); no fallback (§7.14)."""
        f = self.uniform(viewer.followees)
        x = self.uniform(f.followees) if f is not None else None
        y = self.uniform(viewer.followers)
        return x if self.random.random() < 0.75 else y

    def _co_engager(self, viewer: Account) -> Account | None:
        """From today's engagements: an author, a co-engager or a fan, by a uniform mode (§7.14)."""
        mode = self.random.randrange(3)
        e = self.uniform(viewer.engaged)                         # drawn for every slot
        if mode == 0:
            return e.author if e is not None else None
        if mode == 1:
            return self.uniform(e.engagers_today) if e is not None else None
        return self.uniform(viewer.fans_today)

    # ---------------------------------------------------- phase 6: contact

    def search_pick(self) -> Account:
        """A public present minor with probability proportional to 1 + her servable posts today (§7.16)."""
        u = self.random.random() * self._search_cdf[-1]
        return self.public_minors[min(bisect.bisect_right(self._search_cdf, u), len(self.public_minors) - 1)]

    def attempt(self, sender: Account, target: Account, kind: str, channel: str, group: Group | None = None,
                reaimed: bool = False) -> None:
        """Append an attempt to today's batch."""
        self.batch.append(Attempt(self.day, sender, target, kind, channel, group, reaimed))

    def _allow(self, attempt: Attempt) -> None:
        """The ``allow_contact`` hook (§7.19): whether the target follows the sender, then S2's rule."""
        attempt.known = attempt.target.follows(attempt.sender)
        if self.dm_rule is not None and not self.dm_rule.allows(attempt):
            attempt.allowed = False
            attempt.stopped_by = "dm_from_connections_only"

    def _contact(self) -> None:
        """Phase 6 in the order of docs/ODD.md §3 (steps 1–12)."""
        cfg = self.config.contact
        self.public_minors = [a for a in self.minors if a.present and not a.private]
        self._search_cdf = []
        total = 0.0
        for minor in self.public_minors:
            total += 1.0 + len(minor.servable)
            self._search_cdf.append(total)

        # 1. Discovery (suggestions were noted in phase 5).
        self.offenders.shuffle_do("discover")
        # 2. Attempts: offenders, known adults, stranger adults, peers, then follow requests from suggestions.
        self.offenders.shuffle_do("make_attempts")
        self.ordinary_adults.shuffle_do("message_known")
        self.ordinary_adults.shuffle_do("contact_strangers")
        self.minors.shuffle_do("message_peers")
        for adult, minor in self.follow_requests:
            self.attempt(adult, minor, "follow_request", "suggestion")
        # 3. allow_contact (no before_contact safeguard is enabled).
        first_round = list(self.batch)
        for attempt in first_round:
            self._allow(attempt)
        # 4. Offenders' stopped attempts are re-aimed once; the new attempts pass the hook in turn.
        for attempt in first_round:
            if not attempt.allowed and isinstance(attempt.sender, Offender):
                attempt.sender.reaim(attempt)
        for attempt in self.batch[len(first_round):]:
            self._allow(attempt)
        delivered = [a for a in self.batch if a.allowed]
        # 5. Explicit images, then on_delivery.
        for attempt in delivered:
            attempt.image = (attempt.sender_type == "offender" and attempt.kind in ("message", "message_request")
                             and self.random.random() < cfg.explicit_image_share)
            if self.dm_rule is not None:
                self.dm_rule.on_delivery(attempt)
        # 6. Responses.
        for attempt in delivered:
            attempt.target.respond(attempt)
        # 7. Conversations.
        self._update_conversations([a for a in delivered if a.sender_type != "minor" and a.target.is_minor])
        # Unwanted contact and sexual advances (§7.22).
        for attempt in delivered:
            attempt.unwanted = attempt.sender_type != "minor" and attempt.target.is_minor and not attempt.known
            attempt.advance = (attempt.unwanted and attempt.kind in ("message", "message_request", "comment")
                               and (attempt.image or attempt.stage in ("solicitation", "escalated")))
        # 8–9. Reviews of minors' reports and suspicious flags: no effect without moderation, S3, S4 or S9.
        # 10. Forgetting after a block.
        for attempt in delivered:
            if (attempt.sender_type == "offender" and attempt.blocked
                    and self.random.random() >= cfg.recontact_after_block):
                attempt.sender.forget(attempt.target)
        # 11. Recording.
        self.attempt_log.extend(self.batch)
        # 12. The day's follows and group joins (§7.23), effective from tomorrow.
        for follower, followed in self.new_follows:
            self._follow(follower, followed)
        for attempt in delivered:
            if attempt.follow_made:
                self._follow(attempt.sender, attempt.target)
            if attempt.kind == "group_add" and not attempt.blocked:
                attempt.group.add(attempt.target)

    def _update_conversations(self, attempts: list[Attempt]) -> None:
        """Open, end, advance and fade adult-to-minor conversations (§7.21)."""
        cfg = self.config.contact
        t = self.day
        todays: dict[Conversation, list[Attempt]] = {}
        for attempt in attempts:                                 # 1. opening, channel of the first attempt
            pair = (attempt.sender, attempt.target)
            conversation = self.conversations.get(pair)
            if conversation is None:
                conversation = Conversation(attempt.channel, t, attempt.sender_type == "offender")
                self.conversations[pair] = conversation
            todays.setdefault(conversation, []).append(attempt)
        for conversation, its in todays.items():
            # 2. an open conversation with a block or report today ends (after any advance: step 4).
            ends = conversation.stage in OPEN_STAGES and any(a.blocked or a.reported for a in its)
            # 3. one draw if any attempt was replied to and neither blocked nor reported.
            if any(a.replied and not (a.blocked or a.reported) for a in its):
                if conversation.stage == "contact":
                    p = cfg.advance_rapport
                elif conversation.stage == "rapport" and conversation.offender:
                    p = cfg.advance_solicitation
                elif conversation.stage == "solicitation" and conversation.offender:
                    p = cfg.advance_escalated
                else:
                    p = 0.0
                if self.random.random() < p:
                    conversation.stage = STAGES[STAGES.index(conversation.stage) + 1]
            if ends:                                             # 4. an end overrides an advance
                conversation.stage = "ended"
            conversation.last = t                                # 5.
        for conversation in self.conversations.values():        # 6. fading
            if conversation.stage in OPEN_STAGES and conversation.last < t \
                    and self.random.random() < cfg.end_per_day:
                conversation.stage = "ended"
        for attempt in attempts:
            attempt.stage = self.conversations[attempt.sender, attempt.target].stage

    # ------------------------------------------------ phase 8: measurement

    def _close_day(self) -> None:
        today = self.tally[self.day]
        window = self.day - 7
        for account in self.accounts:
            if account.present:
                today[account.cohort, "accounts"] += 1
                today[account.cohort, "exposed_7d"] += account.last_harm_day > window

    def summary(self) -> dict[str, float]:
        """The docked figures over the measurement window, from the reference's own records (§8.2)."""
        days = sorted(self.tally)
        window = days[-self.config.measure_days:]
        first = window[0]
        minors = ("minor_13_15", "minor_16_17")

        def total(counter: str) -> int:
            return sum(self.tally[d][c, counter] for d in window for c in minors)

        minor_days = total("accounts")
        shares = [sum(self.tally[d][c, "exposed_7d"] for c in minors) / n
                  for d in window if (n := sum(self.tally[d][c, "accounts"] for c in minors)) > 0]
        to_minors = [a for a in self.attempt_log if a.day >= first and a.target.is_minor]
        delivered = [a for a in to_minors if a.allowed]
        unwanted = [a for a in delivered if a.unwanted]
        legit = [a for a in to_minors if a.sender_type == "adult"]
        peer = [a for a in to_minors if a.sender_type == "minor"]
        out = {
            "minor_harm_prevalence_per_10k": _ratio(total("harmful_impressions"), total("impressions"), 1e4),
            "minor_impressions_per_session": _ratio(total("impressions"), total("sessions")),
            "minor_exposed_7d_share": sum(shares) / len(shares) if shares else math.nan,
            "unwanted_contact_per_1k_minor_days": _ratio(len(unwanted), minor_days, 1e3),
            "unwanted_contact_from_offenders_per_1k_minor_days": _ratio(
                sum(a.sender_type == "offender" for a in unwanted), minor_days, 1e3),
            "unwanted_contact_from_other_adults_per_1k_minor_days": _ratio(
                sum(a.sender_type == "adult" for a in unwanted), minor_days, 1e3),
            "unwanted_contact_share_via_suggestion": _ratio(sum(a.channel == "suggestion" for a in unwanted),
                                                            len(unwanted)),
            "sexual_advances_per_1k_minor_days": _ratio(sum(a.advance for a in delivered), minor_days, 1e3),
            "minor_explicit_images_per_1k_minor_days": _ratio(sum(a.image for a in delivered), minor_days, 1e3),
            "contacts_blocked_by_safeguards": _ratio(sum(not a.allowed for a in to_minors), minor_days, 1e3),
            "legit_contact_blocked_share": _ratio(sum(not a.allowed for a in legit), len(legit)),
            "peer_contact_blocked_share": _ratio(sum(not a.allowed for a in peer), len(peer)),
        }
        assert tuple(out) == SUPPORTED_FIGURES
        return out


# --------------------------------------------------------------- utilities


def _class_probabilities(content) -> dict[str, dict[str, float]]:
    """Harm-class probabilities of a post by role (docs/ODD.md §7.1); ``none`` takes the remainder."""
    s = content.suggestive_share
    table = {
        "regular": {"suggestive": s},
        "creator": {"suggestive": min(1.0, 2 * s)},
        "adult_content_producer": {"suggestive": content.producer_suggestive_share,
                                   "adult_sexual": content.producer_adult_sexual_share},
        "exploitative_seller": {"adult_sexual": content.seller_adult_sexual_share,
                                "exploitative": content.seller_exploitative_share},
        "offender": {"suggestive": s, "adult_sexual": content.offender_adult_sexual_share},
    }
    out = {}
    for role, harmful in table.items():
        probs = {c: harmful.get(c, 0.0) for c in HARM_CLASSES[1:]}
        probs["none"] = 1.0 - sum(probs.values())
        out[role] = {c: probs[c] for c in HARM_CLASSES}
    return out


def _cumulative(probs: dict[str, float]) -> list[float]:
    """Cumulative probabilities in the order none, suggestive, adult_sexual, exploitative."""
    out, acc = [], 0.0
    for c in HARM_CLASSES:
        acc += probs[c]
        out.append(acc)
    return out


def _ratio(num: float, den: float, scale: float = 1.0) -> float:
    return scale * num / den if den else math.nan
