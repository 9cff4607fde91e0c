"""Measurement: the one place where what each phase did becomes the day's counters.

Core objects: :class:`DayRecorder`.

Each ``record_*`` method observes one phase's outcome record (:mod:`sim.phases`)
and adds to the day's cohort counters (:class:`sim.metrics.Metrics`), to the
contact log, and to the per-account facts the trailing-window figures are
made from (the last day an account saw harmful content, was contacted by an
adult stranger, ...). No phase counts anything itself. :meth:`DayRecorder.close_day`
is phase 8. The formulas that turn counters into summary figures are in
:mod:`sim.metrics` (one definition each).
"""

from __future__ import annotations

import numpy as np

from sim import compiled
from sim.contact import ContactLog, Conversations
from sim.content import ItemStore
from sim.metrics import SENDER_GROUPS, Metrics
from sim.network import Groups
from sim.phases.contact import Contacted
from sim.phases.engage import Engaged
from sim.phases.enforce import Enforced
from sim.phases.moderate import Moderated
from sim.phases.post import Posted
from sim.phases.serve import Served
from sim.phases.suggest import Suggested
from sim.population import Population
from sim.vocabulary import (CHANNELS, COHORTS, COMMENT, CONTACT_KINDS, DISCOVERY_CHANNELS, ESCALATED, FIRST_VIOLATING,
                            HARM_CLASSES, HARMFUL_ROLES, MESSAGE, MESSAGE_REQUEST, NONE, S_ADULT, S_MINOR, S_OFFENDER,
                            SOLICITATION, STAGES, SUGGESTIVE)

#: Days in the trailing window of the "... in the last 7 days" figures.
WINDOW_DAYS = 7
#: The longer trailing window of the period shares (the longest a default 60-day run can ask about).
PERIOD_DAYS = 28
#: "Never" in the recorder's per-account last-day arrays.
NEVER = -10**6
#: Sender type of each group of ``sim.metrics.SENDER_GROUPS``, in that order.
SENDER_TYPES = (S_OFFENDER, S_ADULT)
#: Kinds of contact that can be a sexual advance (follow requests and group adds are not).
ADVANCE_KINDS = (MESSAGE, MESSAGE_REQUEST, COMMENT)
#: Kinds that are messages (they can carry an image, and be blurred).
MESSAGE_KINDS = (MESSAGE, MESSAGE_REQUEST)
#: The counters of ``compiled.impression_tallies``'s flag columns, in order: impressions that were
#: in-network, engaged with, engaged with and harmful (any class but ``none``), and reported.
IMPRESSION_FLAG_COUNTERS = ("in_network_impressions", "engagements", "harmful_engagements", "reports")


def sexual_advances(out: Contacted) -> np.ndarray:
    """Which delivered attempts are unwanted sexual advances (bool per delivered attempt).

    An unwanted contact (an adult stranger reached a minor) that is a message,
    message request or comment, and that carries an explicit image (blurred or
    not: it was sent) or belongs to a conversation at ``solicitation`` or
    ``escalated``. Follow requests and group adds are not advances.
    """
    d = out.delivered
    in_solicitation = (out.stage == SOLICITATION) | (out.stage == ESCALATED)
    return out.unwanted & np.isin(d.kind, ADVANCE_KINDS) & (out.delivery.image | in_solicitation)


class DayRecorder:
    """Records each phase's outcome into the day's counters; closes the day.

    The per-account "last day" facts that only measurement needs (the last
    day an account received unwanted contact from an offender, from another
    adult, a sexual advance, or saw an explicit image) are kept here, one row
    per account row of the population.

    Args:
        metrics: the cohort counters.
        population: the accounts (cohorts, roles, and the per-account "last day" facts it keeps).
        items: the item store (authors and harm classes of the items an outcome names).
        contact_log: the day x cohort x sender x channel x kind contact counts.
        safeguard_names: the enabled safeguards, in the order ``blocked_by`` indexes them.
    """

    def __init__(self, metrics: Metrics, population: Population, items: ItemStore, contact_log: ContactLog,
                 safeguard_names: list[str]) -> None:
        self.metrics = metrics
        self.population = population
        self.items = items
        self.contact_log = contact_log
        self.safeguard_names = safeguard_names
        n = population.n
        #: Per sender group (offenders, other adults): last day an unwanted contact from one reached the account.
        self.last_unwanted_from = {group: np.full(n, NEVER, dtype=np.int32) for group in SENDER_GROUPS}
        self.last_advance_day = np.full(n, NEVER, dtype=np.int32)        # last sexual advance received
        self.last_sexual_image_day = np.full(n, NEVER, dtype=np.int32)   # explicit image seen (feed or message)

    # ----------------------------------------------------------- phases 0-7

    def joined(self, safeguard_counts: dict[str, np.ndarray], departed_views: np.ndarray) -> None:
        """The start of the day: the ``on_join`` safeguards' counters (counter -> accounts), and the
        (cohorts x causes) violating views of departed accounts' posts, taken down with them."""
        m = self.metrics
        for counter, accounts in safeguard_counts.items():
            m.count(counter, accounts)
        m.add_views_by_cause(departed_views)

    def posted(self, out: Posted) -> Posted:
        m, items = self.metrics, self.items
        by_class = m.add_by_class("posts", items.author[out.slots], items.harm[out.slots])
        m.add("posts", by_class.sum(axis=1))
        return out

    def moderated(self, out: Moderated) -> Moderated:
        m, author = self.metrics, self.items.author
        m.count("hash_matched", author[out.hash_matched])
        m.count("queued_at_upload", author[out.queued_at_upload])
        m.count("reviewed_kept", author[out.reviewed_kept])
        m.count("removed_after_review", author[out.reviewed_out])
        m.count("removed_after_report", author[out.reported_out])
        m.add_by_class("removed", author[out.removed], self.items.harm[out.removed])
        m.add_views_by_cause(out.settled_views)
        return out

    def served(self, out: Served) -> Served:
        m = self.metrics
        m.add("sessions", m.by_cohort(np.arange(self.population.n), weights=out.sessions))
        m.add("active_accounts", m.by_cohort(np.flatnonzero(out.sessions)))
        for kind in ("benign", "harmful"):
            m.count(f"{kind}_withheld", out.withheld.get(kind, np.zeros(0, dtype=np.int64)))
        return out

    def engaged(self, out: Engaged, served: Served, day: int) -> Engaged:
        m, pop, imps = self.metrics, self.population, served.impressions
        # One pass over the impressions (compiled.impression_tallies): the counts by cohort and class,
        # the flagged impressions by cohort, and who saw harmful and explicit items.
        harmful_seen = np.zeros(pop.n, dtype=np.bool_)
        explicit_seen = np.zeros(pop.n, dtype=np.bool_)
        per_class, flagged = compiled.impression_tallies(
            m.cohort, imps.viewer, imps.item, self.items.harm, imps.in_network, out.engaged, out.reported,
            len(COHORTS), len(HARM_CLASSES), NONE, FIRST_VIOLATING, harmful_seen, explicit_seen)
        m.add_class_counts("impressions", per_class)
        m.add("impressions", per_class.sum(axis=1))
        m.add("harmful_impressions", per_class[:, SUGGESTIVE:].sum(axis=1))
        m.add("explicit_impressions", per_class[:, FIRST_VIOLATING:].sum(axis=1))
        for column, counter in enumerate(IMPRESSION_FLAG_COUNTERS):
            m.add(counter, flagged[:, column])
        m.add_views_by_cause(out.views_by_cause)
        exposed = np.flatnonzero(harmful_seen)
        m.count("exposed_today", exposed)
        pop.last_harm_day[exposed] = day
        first = exposed[pop.first_harm_day[exposed] < 0]
        pop.first_harm_day[first] = day
        explicit = np.flatnonzero(explicit_seen)
        pop.last_explicit_day[explicit] = day
        self.last_sexual_image_day[explicit] = day
        return out

    def suggested(self, out: Suggested, groups: Groups, day: int) -> Suggested:
        m, pop = self.metrics, self.population
        viewer, shown = out.account_viewer, out.account_shown
        harmful = np.isin(pop.role[shown], HARMFUL_ROLES)
        m.count("account_suggestions", viewer)
        m.count("harmful_account_suggestions", viewer[harmful])
        m.count("adult_stranger_suggestions", viewer[pop.is_minor[viewer] & ~pop.is_minor[shown]])
        self._first_harmful_suggestion(viewer[harmful], day)
        m.count("follows_from_suggestions", out.follows[0])
        harmful = groups.harmful[out.group_shown]
        m.count("group_suggestions", out.group_viewer)
        m.count("harmful_group_suggestions", out.group_viewer[harmful])
        self._first_harmful_suggestion(out.group_viewer[harmful], day)
        m.count("group_joins", out.joins[0])
        m.count("account_suggestions_withheld", out.withheld_viewer)
        m.count("legit_prevented", out.legit_prevented)
        return out

    def _first_harmful_suggestion(self, viewers: np.ndarray, day: int) -> None:
        pop = self.population
        first = viewers[pop.first_harmful_suggestion_day[viewers] < 0]
        pop.first_harmful_suggestion_day[first] = day

    def contacted(self, out: Contacted, day: int) -> Contacted:
        m, pop = self.metrics, self.population
        att, allowed, delivered, resp = out.attempts, out.allowed, out.delivered, out.responses
        for index, name in enumerate(self.safeguard_names):
            m.count(f"blocked_by_{name}", att.target[out.blocked_by == index])
        m.count("explicit_images", delivered.target[out.delivery.image & ~out.delivery.blurred])
        m.count("explicit_images_blurred", delivered.target[out.delivery.blurred])
        m.count("contact_attempts", att.target)
        m.count("contacts_delivered", delivered.target)
        m.count("contacts_blocked", att.target[~allowed])
        legit = (att.sender_type == S_ADULT) & pop.is_minor[att.target]
        m.count("legit_attempts", att.target[legit])
        m.count("legit_blocked", att.target[legit & ~allowed])
        peer = att.sender_type == S_MINOR
        m.count("peer_attempts", att.target[peer])
        m.count("peer_blocked", att.target[peer & ~allowed])
        m.count("unwanted_contacts", delivered.target[out.unwanted])
        for code, name in enumerate(CONTACT_KINDS):
            m.count(f"unwanted_{name}", delivered.target[out.unwanted & (delivered.kind == code)])
        for code, name in enumerate(CHANNELS):
            if name in DISCOVERY_CHANNELS:           # each has an unwanted_via_<channel> counter
                m.count(f"unwanted_via_{name}", delivered.target[out.unwanted & (delivered.channel == code)])
        for group, sender_type in zip(SENDER_GROUPS, SENDER_TYPES):
            mine = out.unwanted & (delivered.sender_type == sender_type)
            m.count(f"unwanted_from_{group}", delivered.target[mine])
            for code, name in enumerate(CHANNELS):
                if name in DISCOVERY_CHANNELS:
                    m.count(f"unwanted_via_{name}_{group}", delivered.target[mine & (delivered.channel == code)])
            self.last_unwanted_from[group][delivered.target[mine]] = day
        advance = sexual_advances(out)
        m.count("sexual_advances", delivered.target[advance])
        self.last_advance_day[delivered.target[advance]] = day
        self.last_sexual_image_day[delivered.target[out.delivery.image & ~out.delivery.blurred]] = day
        benign = np.isin(delivered.kind, MESSAGE_KINDS) & ~out.delivery.image
        m.count("benign_messages", delivered.target[benign])
        m.count("benign_blurred", delivered.target[benign & out.delivery.benign_blurred])
        m.count("stranger_blocks", delivered.target[resp.blocked])
        m.count("stranger_reports", delivered.target[resp.reported])
        reached = delivered.target[out.unwanted]
        pop.last_unwanted_day[reached] = day
        first = reached[pop.first_unwanted_day[reached] < 0]
        pop.first_unwanted_day[first] = day
        self.contact_log.record(pop.cohort, att, allowed, delivered, out.unwanted, advance)
        m.count("account_strikes", out.account_strikes)
        m.count("flagged_suspicious", out.flagged)
        for counter, accounts in out.safeguard_counts.items():
            m.count(counter, accounts)
        return out

    def enforced(self, out: Enforced) -> Enforced:
        m = self.metrics
        m.count("bans", out.banned)
        m.add_views_by_cause(out.settled_views)
        if out.returned.size:
            m.count("ban_evasions", out.returned)
        for counter, accounts in out.safeguard_counts.items():
            m.count(counter, accounts)
        m.add_views_by_cause(out.expired_views)
        return out

    # ------------------------------------------------------------- phase 8

    def close_day(self, conversations: Conversations, day: int) -> np.ndarray:
        """Trailing-window counts and conversation stages, then close the day's cohort rows."""
        m, pop = self.metrics, self.population
        here = pop.present                                   # the window shares count accounts on the platform today
        m.count("accounts", np.flatnonzero(here))
        m.count("protected_accounts", np.flatnonzero(here & pop.protected))
        window = day - WINDOW_DAYS
        m.count("exposed_7d", np.flatnonzero(here & (pop.last_harm_day > window)))
        m.count("unwanted_contacted_7d", np.flatnonzero(here & (pop.last_unwanted_day > window)))
        for group, last in self.last_unwanted_from.items():
            m.count(f"unwanted_from_{group}_7d", np.flatnonzero(here & (last > window)))
        m.count("sexual_advanced_7d", np.flatnonzero(here & (self.last_advance_day > window)))
        m.count("sexual_advanced_28d", np.flatnonzero(here & (self.last_advance_day > day - PERIOD_DAYS)))
        m.count("sexual_image_7d", np.flatnonzero(here & (self.last_sexual_image_day > window)))
        by_stage = conversations.counts_by_stage(pop.cohort, m.today.shape[0])
        for code, name in enumerate(STAGES):
            m.add(f"conversations_{name}", by_stage[:, code])
        m.count("explicit_exposed_7d", np.flatnonzero(here & (pop.last_explicit_day > window)))
        return m.close_day()
