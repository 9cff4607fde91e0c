"""The accounts of the reference model, as Mesa agents, and what each one does in each phase.

Three agent classes, one per kind of behaviour in phase 6 (docs/ODD.md §7.16–7.18):

- :class:`MinorAccount`: true age below 18. Posts, browses, engages, follows
  suggestions, messages peers, and responds to the contact it receives.
- :class:`OrdinaryAdult`: true age 18 or more, any role but ``offender``
  (regular users, creators, adult-content producers, exploitative sellers).
  Also messages minors who follow it and, rarely, public minors it does not know.
- :class:`Offender`: role ``offender``, whatever age he registered with. Keeps a
  discovered set of minors, discovers more each day and spends an attempt
  budget on them.

Every method here acts for one account, with plain Python loops and the
model's ``random.Random`` (``model.random``). What the platform decides (which
items a feed shows, which accounts are suggested, which attempts a safeguard
stops, conversations) lives in :mod:`tests.reference.model`.

Within a phase the ODD's update is synchronous (§3): no account acts on
another's same-phase changes. The reference keeps that by writing the day's
follows, group joins and contact attempts to lists on the model, which the
model applies at the fixed points of the schedule, so the order in which
Mesa's ``shuffle_do`` calls the agents does not matter.
"""

from __future__ import annotations

import math
import operator

import mesa

#: "Never" for the last-day fields (docs/ODD.md §2.1).
NEVER = -10**6


class Account(mesa.Agent):
    """State and behaviour common to every account (docs/ODD.md §2.1, §7.1, §7.3, §7.8–7.14)."""

    def __init__(self, model, state) -> None:
        super().__init__(model)
        self.row = state.row
        self.true_age = state.true_age
        self.declared_age = state.declared_age
        self.role = state.role
        self.interest = list(state.interest)
        self.harmful_affinity = state.harmful_affinity
        self.affinity_baseline = state.affinity_baseline
        self.activity = state.activity
        self.private = state.private
        self.joined_day = state.joined_day
        self.present = True                 # no arrivals, departures or bans in the docked configuration

        # Connections. Lists for uniform picks, sets for "follows(a, b)" tests.
        self.followees: list[Account] = []
        self.followee_set: set[Account] = set()
        self.followers: list[Account] = []
        self.follower_set: set[Account] = set()
        self.groups: list = []              # the groups this account belongs to (tests.reference.model.Group)

        # Today's state, reset by the model at the start of the day.
        self.sessions = 0
        self.impressions: list = []         # items shown today, one entry per impression
        self.engaged: list = []             # items engaged with today, one entry per engagement
        self.fans_today: list[Account] = [] # who engaged with this account's items today (one entry per engagement)
        self.servable: list = []            # this account's items that can be served today (§7.4 index)

        self.last_harm_day = NEVER          # last day with a harmful impression (§7.13)

    # ------------------------------------------------------------- who is who

    @property
    def is_minor(self) -> bool:
        return self.true_age < 18

    @property
    def young(self) -> bool:
        """True age below 16 (``vocabulary.YOUNG_BELOW``): the 13–15 band."""
        return self.true_age < 16

    @property
    def protected(self) -> bool:
        """The platform treats the account as a minor: it declared an age under 18 (§2.1)."""
        return self.declared_age < 18

    @property
    def cohort(self) -> str:
        if self.true_age < 16:
            return "minor_13_15"
        return "minor_16_17" if self.true_age < 18 else "adult"

    @property
    def sender_type(self) -> str:
        """How the account's contact attempts are typed (§2.7)."""
        raise NotImplementedError

    def follows(self, other: Account) -> bool:
        return other in self.followee_set

    # --------------------------------------------------------- phase 1: post

    def post(self) -> None:
        """Post a Poisson number of items (§7.1)."""
        model = self.model
        content = model.config.content
        rate = model.posting_rate[self.role]
        for _ in range(model.poisson(rate)):
            harm = model.draw_harm_class(self.role)
            noisy = [x + content.topic_noise * model.random.gauss(0.0, 1.0) for x in self.interest]
            topic = unit(noisy)
            sigma = content.appeal_sigma
            appeal = math.exp(sigma * model.random.gauss(0.0, 1.0) - sigma * sigma / 2)
            if harm != "none":
                appeal *= 1.0 + content.harm_appeal_lift
            group = None
            if model.random.random() < content.group_post_share and self.groups:
                group = model.uniform(self.groups)
            model.add_item(self, harm, topic, appeal, group)

    # -------------------------------------------------------- phase 3: browse

    def browse(self) -> None:
        """Open a Poisson number of feed sessions; each is served by the platform (§7.3–7.7)."""
        model = self.model
        self.sessions = model.poisson(self.activity)
        for _ in range(self.sessions):
            self.impressions.extend(model.serve_session(self))

    # ------------------------------------------------------- phase 4: engage

    def engage(self) -> None:
        """Engage with each impression; then harmful affinity is reinforced and decays (§7.8, §7.11).

        Every impression's probability uses the affinity at the start of the
        phase: the update comes after the loop, and nobody else reads this
        account's affinity in phase 4.
        """
        model = self.model
        behaviour = model.config.population.behaviour
        harmful_engagements = 0
        for item in self.impressions:
            harmful = item.harm != "none"
            if harmful:
                self.last_harm_day = model.day          # exposure counts whether or not engaged with (§7.13)
            logit = (behaviour.engage_intercept
                     + behaviour.engage_similarity * dot(self.interest, item.topic)
                     + behaviour.engage_appeal * math.log(item.appeal))
            if harmful:
                logit += behaviour.engage_harm * (self.harmful_affinity - behaviour.harm_threshold)
            if model.random.random() < 1.0 / (1.0 + math.exp(-logit)):
                self.engaged.append(item)
                item.engagers_today.append(self)
                item.author.fans_today.append(self)
                harmful_engagements += harmful
        a = self.harmful_affinity
        a += (1.0 - (1.0 - behaviour.affinity_reinforcement) ** harmful_engagements) * (1.0 - a)
        a += behaviour.affinity_decay * (self.affinity_baseline - a)
        self.harmful_affinity = min(1.0, max(0.0, a))

    # ------------------------------------------------------ phase 5: suggest

    def consider_suggestions(self) -> None:
        """Look at today's account suggestions and decide what each becomes (§7.14, "What a shown pair becomes")."""
        if self.sessions == 0:          # only accounts with a session today get suggestions
            return
        model = self.model
        accept = (model.config.recommender.accept_suggestion_minor if self.is_minor
                  else model.config.recommender.accept_suggestion_adult)
        for shown in model.suggest_accounts(self):
            if model.random.random() < accept:
                if not self.is_minor and shown.is_minor:
                    model.follow_requests.append((self, shown))      # a contact attempt in phase 6
                else:
                    model.new_follows.append((self, shown))          # a plain follow, added at the end of phase 6

    # ----------------------------------------------------- phase 6: contact

    def respond(self, attempt) -> None:
        """A delivered attempt reaches this account; only minors respond (overridden)."""


class MinorAccount(Account):
    """An account with true age below 18."""

    @property
    def sender_type(self) -> str:
        return "minor"

    def message_peers(self) -> None:
        """Message minors this account follows (§7.18, peers)."""
        model = self.model
        for _ in range(model.poisson(model.config.contact.minor_peer_contact_per_day)):
            peer = model.uniform(self.followees)
            if peer is not None and peer.is_minor and peer.present:
                model.attempt(self, peer, "message", "known")

    def respond(self, attempt) -> None:
        """Reply, block, report, accept a follow request (§7.20), with the lifts on_delivery set (§7.19)."""
        model = self.model
        cfg = model.config.contact
        sender = attempt.sender
        known = self.follows(sender)
        stranger = not known and sender.sender_type != "minor"
        if known:
            p_reply = cfg.reply_known
        elif self.young:
            p_reply = cfg.reply_stranger_13_15
        else:
            p_reply = cfg.reply_stranger_16_17
        u1, u2, u3, u4 = (model.random.random() for _ in range(4))
        attempt.blocked = stranger and u1 < cfg.block_stranger * attempt.block_lift
        attempt.reported = stranger and u2 < cfg.report_stranger * attempt.report_lift
        attempt.replied = not attempt.blocked and u3 < p_reply
        attempt.follow_made = (attempt.kind == "follow_request" and not attempt.blocked
                               and (not self.private or u4 < cfg.accept_follow_request))


class OrdinaryAdult(Account):
    """An adult whose role is not ``offender`` (regular, creator, producer or seller)."""

    @property
    def sender_type(self) -> str:
        return "adult"

    def message_known(self) -> None:
        """Message a random follower if it is a minor: family, teachers (§7.18, known adults)."""
        model = self.model
        for _ in range(model.poisson(model.config.contact.adult_known_contact_per_day)):
            fan = model.uniform(self.followers)            # a draw that finds no minor is lost
            if fan is not None and fan.is_minor and fan.present:
                model.attempt(self, fan, "message", "known")

    def contact_strangers(self) -> None:
        """Contact a random public minor, found through search (§7.18, stranger adults)."""
        model = self.model
        for _ in range(model.poisson(model.config.contact.adult_stranger_contact_per_day)):
            target = model.uniform(model.public_minors)
            if target is None:
                continue
            kind = "message_request" if model.random.random() < 0.5 else "comment"
            model.attempt(self, target, kind, "search")


class Offender(Account):
    """An account with role ``offender``: discovers minors and spends an attempt budget on them (§7.16–7.17)."""

    def __init__(self, model, state) -> None:
        super().__init__(model, state)
        capacity = model.config.contact.discovered_max
        # The discovered set (§2.5): a ring of slots, each empty (None) or (target, channel).
        self.slots: list[tuple[Account, str] | None] = [None] * capacity
        self.cursor = 0                     # entries ever written

    @property
    def sender_type(self) -> str:
        return "offender"

    # ----------------------------------------------------- discovered set

    def held(self) -> set[Account]:
        return {entry[0] for entry in self.slots if entry is not None}

    def add_discovered(self, targets: list[Account], channel: str) -> None:
        """One ``Discovered.add`` call (§7.16): repeats reduced to one, held targets dropped (the first channel
        wins), the new targets written in ring order from the cursor, overwriting whatever the slots held."""
        held = self.held()
        new: list[Account] = []
        for target in targets:
            if target not in held:
                held.add(target)
                new.append(target)
        for target in new:
            self.slots[self.cursor % len(self.slots)] = (target, channel)
            self.cursor += 1

    def forget(self, target: Account) -> None:
        """Empty every slot holding ``target`` (after a block he does not come back from, §7.22)."""
        self.slots = [None if entry is not None and entry[0] is target else entry for entry in self.slots]

    def target_weight(self, target: Account) -> float:
        """``prefer_young`` for a 13–15-year-old times ``prefer_public`` for a public account (§7.17)."""
        cfg = self.model.config.contact
        return (cfg.prefer_young if target.young else 1.0) * (1.0 if target.private else cfg.prefer_public)

    def pick_slot(self, exclude: Account | None = None) -> tuple[Account, str] | None:
        """A held, present target drawn with the weights of §7.17 (excluding ``exclude``), or None."""
        entries = [entry for entry in self.slots
                   if entry is not None and entry[0].present and entry[0] is not exclude]
        weights = [self.target_weight(entry[0]) for entry in entries]
        total = sum(weights)
        if total <= 0:
            return None
        u = self.model.random.random() * total
        for entry, w in zip(entries, weights):
            u -= w
            if u < 0:
                return entry
        return entries[-1]

    # ---------------------------------------------------------- discovery

    def discover(self) -> None:
        """Search, group browsing, network browsing, then the comment channel, in this order (§7.16)."""
        model = self.model
        cfg = model.config.contact

        found = []                                                     # 1. search
        for _ in range(model.poisson(cfg.search_per_day)):
            if model.public_minors:
                found.append(model.search_pick())
        self.add_discovered(found, "search")

        found = []                                                     # 2. group browsing
        for _ in range(model.poisson(cfg.group_browse_per_day)):
            group = model.uniform(self.groups)
            member = model.uniform(group.members) if group is not None else None
            if member is not None and member.is_minor and member.present:
                found.append(member)
        self.add_discovered(found, "group")

        found = []                                                     # 3. network browsing
        for _ in range(model.poisson(cfg.network_browse_per_day)):
            followee = model.uniform(self.followees)
            fan = model.uniform(followee.followers) if followee is not None else None
            if fan is not None and fan.is_minor and fan.present:
                found.append(fan)
        self.add_discovered(found, "network")

        # 4. comment channel: every engagement today with a post of a present minor.
        self.add_discovered([item.author for item in self.engaged
                             if item.author.is_minor and item.author.present], "comment")

    def note_suggested(self, shown: list[Account]) -> None:
        """Minors shown to him as suggestions join his discovered set, channel ``suggestion`` (§7.14)."""
        self.add_discovered([s for s in shown if s.is_minor], "suggestion")

    def consider_suggestions(self) -> None:
        """An offender never follows a suggestion; he notes the minors he is shown (§7.14, rule 1)."""
        if self.sessions == 0:
            return
        self.note_suggested(self.model.suggest_accounts(self))

    # ----------------------------------------------------------- attempts

    def make_attempts(self) -> None:
        """Spend a Poisson budget of attempts on held targets; settle each attempt's kind (§7.17).

        The budget's mean is ``offender_attempts_per_day``: no safeguard of the
        docked configuration closes discovery, so the closed share ``c_o`` of
        §7.17.1 is 0 and nothing is deterred.
        """
        model = self.model
        cfg = model.config.contact
        if not any(entry is not None and entry[0].present for entry in self.slots):
            return                                                     # W_o = 0: no budget
        kinds = ("follow_request", "message", "message_request", "comment", "group_add")
        shares = (cfg.follow_share, cfg.message_share, 0.0, cfg.comment_share, cfg.group_add_share)
        total = sum(shares)
        for _ in range(model.poisson(cfg.offender_attempts_per_day)):
            target, channel = self.pick_slot()
            u = model.random.random() * total                          # inverse CDF over the kinds
            kind = kinds[-1]
            for name, share in zip(kinds, shares):
                u -= share
                if u < 0:
                    kind = name
                    break
            group = model.uniform(self.groups)
            if kind == "follow_request" and self.follows(target):      # rule 1
                kind = "message"
            if kind == "group_add" and group is None:                  # rule 2
                kind = "message"
            if kind == "message" and not target.follows(self):         # rule 3
                kind = "message_request"
            model.attempt(self, target, kind, channel, group if kind == "group_add" else None)

    def reaim(self, stopped) -> None:
        """Aim a stopped attempt at another minor he holds, with chance ``displacement`` (§7.17.1)."""
        model = self.model
        if model.random.random() >= model.config.contact.displacement:
            return
        entry = self.pick_slot(exclude=stopped.target)
        if entry is None:
            return                                                     # no other target: he gives up
        target, channel = entry
        kind = stopped.kind
        if kind == "follow_request" and self.follows(target):
            kind = "message"
        if kind in ("message", "message_request"):
            kind = "message" if target.follows(self) else "message_request"
        model.attempt(self, target, kind, channel, stopped.group, reaimed=True)


def dot(a: list[float], b: list[float]) -> float:
    return sum(map(operator.mul, a, b))


def unit(x: list[float]) -> list[float]:
    norm = math.sqrt(dot(x, x))
    return x if norm == 0 else [v / norm for v in x]
