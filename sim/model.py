"""The exposure model: builds the world, owns the random streams, runs the day.

Core objects: :class:`ExposureModel`, :class:`RandomStreams`.

``ExposureModel.step()`` is the day's story, one line per phase (DESIGN 2.2).
All state is arrays (population, follow graph, groups, items); Mesa provides
the frame: ``steps``, ``running``, agent views (``MinorAccount``,
``AdultAccount``) and a ``DataCollector`` of daily figures.
"""

from __future__ import annotations

import hashlib

import mesa
import numpy as np

from sim.agents import AccountView, view_class
from sim.config import COHORTS, Config, run_seed, validate
from sim.content import FIRST_VIOLATING, NONE, SUGGESTIVE, ItemStore, post_items, posting_rates
from sim.engagement import engage
from sim.metrics import COLUMN, MINOR_COHORTS, Metrics, day_rows, summarize
from sim.moderation import Moderation
from sim.network import (DECOY_FOLLOWS, FollowGraph, Groups, build_follow_graph, build_groups, graph_statistics,
                         load_follow_graph)
from sim.contact import (CHANNELS, COMMENT_CHANNEL, FOLLOW_REQUEST, GROUP_ADD, MESSAGE, MESSAGE_REQUEST,
                         S_ADULT, S_MINOR, S_OFFENDER,
                         ESCALATED, SOLICITATION, STAGES, SUGGESTION, Attempts, Conversations, Discovered, discover,
                         ContactLog, offender_attempts, ordinary_attempts, respond)
from sim.population import HARMFUL_ROLES, OFFENDER, Population, build_population
from sim.recommenders import FeedContext, FeedIndex, make_feed_policy, serve_feeds
from sim.recommenders.accounts import (ACCOUNT_SUGGESTERS, SuggestionContext, boost_new_accounts,
                                       clean_account_suggestions, suggest_groups)
from sim.safeguards import Delivery, SafeguardSet

class RandomStreams:
    """Independent random streams keyed by name (and optionally day), all from one root seed.

    A stream's key is a hash of its name, not its position in a list, so adding
    a phase or switching a safeguard on never shifts the draws of another
    phase: runs that differ only in a safeguard share common random numbers.
    """

    def __init__(self, seed: int) -> None:
        self.seed = int(seed)

    @staticmethod
    def _key(name: str) -> int:
        return int.from_bytes(hashlib.blake2b(name.encode(), digest_size=8).digest(), "little")

    def get(self, name: str, day: int | None = None) -> np.random.Generator:
        """The generator for ``name`` (on ``day``, for daily phases)."""
        spawn_key = (self._key(name),) if day is None else (self._key(name), int(day))
        return np.random.Generator(np.random.PCG64(np.random.SeedSequence(self.seed, spawn_key=spawn_key)))


class ExposureModel(mesa.Model):
    """A synthetic platform, simulated day by day.

    Args:
        config: a :class:`sim.config.Config`; it is validated here too, so the
            model can be used directly from a notebook or a test.
    """

    def __init__(self, config: Config) -> None:
        validate(config)
        self.streams = RandomStreams(run_seed(config))
        # Mesa's own generators (model.random, model.rng) get a stream of their own.
        super().__init__(rng=int(self.streams.get("mesa").integers(2**62)))
        self.config = config

        self.population, self.graph, self.groups = self._build_world()
        self.graph_stats = graph_statistics(self.graph, self.population.is_minor, self.streams.get("world.stats"))
        pop = self.population
        self.posts_per_day = posting_rates(pop, config.content, config.decoys.posts_per_day)
        expected_items = float(self.posts_per_day.sum()) * (config.content.retention_days + 1)
        self.items = ItemStore(int(expected_items * 1.3) + 64, config.population.interest_dim)
        self.safeguards = SafeguardSet(config.safeguards, pop, self.items, self.streams)
        self.feed_policy = make_feed_policy(config.recommender)
        self.metrics = Metrics(pop.cohort)
        self.moderation = Moderation(config.moderation, self.items, pop, config.content.retention_days)
        self.followers = self.graph.reversed()
        self.account_suggester = (None if config.recommender.accounts == "off"
                                  else ACCOUNT_SUGGESTERS[config.recommender.accounts]())
        self.discovered = Discovered(np.flatnonzero(pop.role == OFFENDER), pop.n, config.contact.discovered_max)
        self.conversations = Conversations(pop.n)
        self.contact_log = ContactLog()
        self._accounts_per_cohort = np.bincount(pop.cohort, minlength=len(COHORTS)).astype(np.int64)

        self._views: dict[int, AccountView] = {}
        if pop.n <= config.population.agent_views_max:
            for row in range(pop.n):  # once, at build time, for small worlds only
                self.account(row)

        self.safeguards.setup(self)
        self.datacollector = mesa.DataCollector(model_reporters={
            "minor_harm_prevalence_per_10k": lambda m: m.latest("harm_prevalence_per_10k", MINOR_COHORTS),
            "minor_exposed_7d_share": lambda m: m.latest("exposed_7d_share", MINOR_COHORTS),
            "adult_harm_prevalence_per_10k": lambda m: m.latest("harm_prevalence_per_10k", (2,)),
            "items_live": lambda m: int(m.items.live(m.day, m.config.content.retention_days).size),
        })

    # ----------------------------------------------------------------- world

    def _build_world(self) -> tuple[Population, FollowGraph, Groups]:
        cfg = self.config
        if cfg.network.kind == "file":
            graph, ages = load_follow_graph(cfg.network.path)
            pop = build_population(cfg.population, cfg.decoys, self.streams.get("world.population"),
                                   n=graph.n, true_age=ages)
            graph = _attach_decoys(graph, pop)
        else:
            pop = build_population(cfg.population, cfg.decoys, self.streams.get("world.population"))
            graph = build_follow_graph(pop.is_minor, pop.role, pop.decoy, cfg.network,
                                       self.streams.get("world.graph"))
        groups = build_groups(pop.interest, pop.is_minor, pop.role, pop.harmful_affinity, pop.decoy,
                              cfg.network, self.streams.get("world.groups"))
        return pop, graph, groups

    def account(self, row: int) -> AccountView:
        """The Mesa agent viewing account ``row`` (created on first use for large worlds)."""
        view = self._views.get(row)
        if view is None:
            view = view_class(int(self.population.true_age[row]))(self, row)
            self._views[row] = view
        return view

    # ------------------------------------------------------------------- day

    @property
    def day(self) -> int:
        """Today's day number, 1-based (Mesa's ``steps``)."""
        return self.steps

    def step(self) -> None:
        """One simulated day."""
        self.safeguards.begin_day(self.day)
        new_items = self.post_content()                   # 1. accounts post
        self.moderate_content(new_items)                  # 2. hash matching, classifier, review queue
        impressions = self.serve_feeds()                  # 3. rank candidates, serve top-k
        self.engage(impressions)                          # 4. engage, drift, reinforce, report
        self.suggest_connections()                        # 5. account and group suggestions
        self.make_contact()                               # 6. contact attempts and responses
        self.enforce()                                    # 7. bans, ban evasion, daily safeguards
        self.measure(impressions)                         # 8. close the day's cohort rows
        self.datacollector.collect(self)

    def run(self, days: int | None = None, progress=None) -> None:
        """Run ``days`` days (default: the configured horizon); ``progress(day)`` is called after each."""
        for _ in range(self.config.days if days is None else days):
            self.step()
            if progress is not None:
                progress(self.day)

    # ---------------------------------------------------------------- phases

    def post_content(self) -> np.ndarray:
        """Phase 1: Poisson posting by role; returns the new item slots."""
        cfg, pop = self.config, self.population
        slots = post_items(self.items, pop, self.posts_per_day, self.groups.account_indptr,
                           self.groups.account_groups, cfg.content, cfg.moderation, self.day,
                           self.streams.get("post", self.day), active=~pop.banned,
                           known_share=cfg.safeguards.hash_matching.known_share)
        by_class = self.metrics.add_by_class("posts", self.items.author[slots], self.items.harm[slots])
        self.metrics.add("posts", by_class.sum(axis=1))
        return slots

    def moderate_content(self, new_items: np.ndarray) -> None:
        """Phase 2: hash matching and the classifier act on uploads; reviewers work the queue."""
        items, m, day = self.items, self.metrics, self.day
        rng = self.streams.get("moderate", day)
        matched = self.safeguards.on_upload(new_items, day, rng)
        items.removed_day[matched] = day
        m.count("hash_matched", items.author[matched])
        removed = self.moderation.on_upload(new_items[items.removed_day[new_items] < 0], day)
        m.count("queued_at_upload", items.author[new_items[items.queued_day[new_items] == day]])
        reviewed_out, kept = self.moderation.review(day, self.population.n, rng)
        m.count("reviewed_kept", items.author[kept])
        m.count("removed_after_review", items.author[reviewed_out])
        m.count("removed_after_report", items.author[reviewed_out[items.reported[reviewed_out]]])
        all_removed = np.concatenate([matched, removed, reviewed_out])
        m.add_by_class("removed", items.author[all_removed], items.harm[all_removed])
        self.moderation.strike(items.author[all_removed])
        m.add_views_by_cause(self.moderation.resolve_views(reviewed_out, reviewed_out[:0], len(COHORTS)))

    def serve_feeds(self):
        """Phase 3: every session gets candidates, a ranking, filtering and top-k impressions."""
        cfg, pop = self.config, self.population
        rng = self.streams.get("serve", self.day)
        index = FeedIndex.build(self.items, pop.private, pop.n, self.groups.n_groups, self.day,
                                cfg.recommender.recency_days)
        self._recent_posts = np.diff(index.author_ptr)
        sessions = self._sessions_today(self.streams.get("sessions", self.day))
        sessions[pop.banned] = 0
        self.safeguards.limit_sessions(sessions, self.streams.get("limit_sessions", self.day))
        self._sessions = sessions
        viewers = np.repeat(np.arange(pop.n, dtype=np.int32), sessions)
        ctx = FeedContext(self.items, pop, cfg.recommender, self.day)
        imps = serve_feeds(ctx, self.feed_policy, index, viewers, self.graph.indptr, self.graph.indices,
                           self.groups.account_indptr, self.groups.account_groups,
                           self.safeguards.filter_feed, rng)
        self.metrics.add("sessions", self.metrics.by_cohort(np.arange(pop.n), weights=sessions))
        self.metrics.add("active_accounts", self.metrics.by_cohort(np.flatnonzero(sessions)))
        return imps

    def _sessions_today(self, rng: np.random.Generator) -> np.ndarray:
        pop = self.population
        sessions = rng.poisson(pop.activity)
        # Decoys are scripted probes: exactly their configured sessions (fractional part by chance).
        d = pop.decoy
        whole = np.floor(pop.activity[d])
        sessions[d] = (whole + (rng.random(int(d.sum())) < pop.activity[d] - whole)).astype(sessions.dtype)
        return sessions

    def engage(self, imps) -> None:
        """Phase 4: engagement, interest drift, affinity reinforcement, reports; and exposure bookkeeping."""
        pop, items, m = self.population, self.items, self.metrics
        outcome = engage(pop, items, imps, self.config.population.behaviour, self.streams.get("engage", self.day))
        harm = items.harm[imps.item]
        harmful = harm > NONE
        explicit = harm >= FIRST_VIOLATING
        per_class = m.add_by_class("impressions", imps.viewer, harm)
        m.add("impressions", per_class.sum(axis=1))
        m.add("harmful_impressions", per_class[:, SUGGESTIVE:].sum(axis=1))
        m.add("explicit_impressions", per_class[:, FIRST_VIOLATING:].sum(axis=1))
        m.count("in_network_impressions", imps.viewer[imps.in_network])
        m.count("engagements", imps.viewer[outcome.engaged])
        m.count("harmful_engagements", imps.viewer[outcome.engaged & harmful])
        m.count("reports", imps.viewer[outcome.reported])
        self.moderation.queue_reports(imps.item[outcome.reported], self.day)
        m.add_views_by_cause(self.moderation.attribute_views(imps.item, pop.cohort[imps.viewer], len(COHORTS)))

        engaged = outcome.engaged
        self._engaged_today = (imps.viewer[engaged].astype(np.int64), imps.item[engaged],
                               items.author[imps.item[engaged]].astype(np.int64))
        exposed = np.unique(imps.viewer[harmful])
        m.count("exposed_today", exposed)
        pop.last_harm_day[exposed] = self.day
        first = exposed[pop.first_harm_day[exposed] < 0]
        pop.first_harm_day[first] = self.day
        pop.last_explicit_day[imps.viewer[explicit]] = self.day

    def suggest_connections(self) -> None:
        """Phase 5: account and group suggestions; accepted ones become follows, joins or discoveries."""
        cfg, pop, m = self.config.recommender, self.population, self.metrics
        rng = self.streams.get("suggest", self.day)
        viewers = np.flatnonzero((self._sessions > 0) & ~pop.banned)
        self._new_follows, self._new_joins = [], []
        self._suggested_follow_requests = None
        ctx = SuggestionContext(pop, self.graph, self.followers, self.groups, *self._engaged_today)

        if self.account_suggester is not None and cfg.account_suggestions > 0:
            sug = self.account_suggester.suggest(ctx, viewers, cfg.account_suggestions, rng)
            new = np.flatnonzero((self.day - pop.joined_day < cfg.new_account_days) & ~pop.banned)
            sug = boost_new_accounts(sug, new, cfg.new_account_share, rng)
            sug = clean_account_suggestions(ctx, viewers, sug, pop.banned)
            self.safeguards.filter_account_suggestions(viewers, sug)
            rows, cols = np.nonzero(sug >= 0)
            viewer, shown = viewers[rows], sug[rows, cols]
            harmful = np.isin(pop.role[shown], HARMFUL_ROLES)
            m.count("account_suggestions", viewer)
            m.count("harmful_account_suggestions", viewer[harmful])
            m.count("adult_stranger_suggestions", viewer[pop.is_minor[viewer] & ~pop.is_minor[shown]])
            self._first_harmful_suggestion(viewer[harmful])

            # Offenders note every minor they are shown; others follow with a small chance.
            offender = pop.role[viewer] == OFFENDER
            to_minor = pop.is_minor[shown]
            self.discovered.add(viewer[offender & to_minor], shown[offender & to_minor], SUGGESTION)
            accept_p = np.where(pop.is_minor[viewer], cfg.accept_suggestion_minor, cfg.accept_suggestion_adult)
            accepted = ~offender & (rng.random(viewer.size) < accept_p)
            # An adult following a minor is a contact (a follow request); everything else is a plain follow.
            request = accepted & to_minor & ~pop.is_minor[viewer]
            self._suggested_follow_requests = (viewer[request], shown[request])
            plain = accepted & ~request
            self._new_follows.append((viewer[plain], shown[plain]))
            m.count("follows_from_suggestions", viewer[plain])

        if cfg.groups != "off" and cfg.group_suggestions > 0 and self.groups.n_groups:
            sug = suggest_groups(ctx, viewers, cfg.group_suggestions, rng)
            self.safeguards.filter_group_suggestions(viewers, sug)
            rows, cols = np.nonzero(sug >= 0)
            viewer, group = viewers[rows], sug[rows, cols]
            harmful = self.groups.harmful[group]
            m.count("group_suggestions", viewer)
            m.count("harmful_group_suggestions", viewer[harmful])
            self._first_harmful_suggestion(viewer[harmful])
            offender = pop.role[viewer] == OFFENDER
            join = (offender & harmful) | (rng.random(viewer.size) < cfg.accept_group)
            self._new_joins.append((viewer[join], group[join]))
            m.count("group_joins", viewer[join])

    def _first_harmful_suggestion(self, viewers: np.ndarray) -> None:
        pop = self.population
        first = viewers[pop.first_harmful_suggestion_day[viewers] < 0]
        pop.first_harmful_suggestion_day[first] = self.day

    def make_contact(self) -> None:
        """Phase 6: discovery, attempts, the allow_contact hook, responses, conversations."""
        cfg, pop, m = self.config.contact, self.population, self.metrics
        rng = self.streams.get("contact", self.day)
        active = ~pop.banned
        discover(self.discovered, pop, self.graph, self.followers, self.groups, cfg, active, self._recent_posts, rng)
        # Comment channel: minors whose posts an offender engaged with today.
        viewer, _, author = self._engaged_today
        via_post = (pop.role[viewer] == OFFENDER) & pop.is_minor[author] & active[author]
        self.discovered.add(viewer[via_post], author[via_post], COMMENT_CHANNEL)

        parts = [offender_attempts(self.discovered, pop, self.graph, self.groups, cfg, active, rng),
                 ordinary_attempts(pop, self.graph, self.followers, cfg, active, rng)]
        if self._suggested_follow_requests is not None:
            src, dst = self._suggested_follow_requests
            parts.append(Attempts(src.astype(np.int64), dst.astype(np.int64),
                                  np.full(src.size, FOLLOW_REQUEST, np.int8), np.full(src.size, SUGGESTION, np.int8),
                                  np.full(src.size, S_ADULT, np.int8), np.full(src.size, -1, np.int64)))
        att = Attempts.concat(parts)
        known_all = self.graph.has_edges(att.target, att.sender)
        allowed, blocked_by = self.safeguards.allow_contact(att, known_all, rng)
        for index, name in enumerate(self.safeguards.names):
            m.count(f"blocked_by_{name}", att.target[blocked_by == index])
        delivered = att.subset(allowed)
        known = known_all[allowed]
        # Offenders' messages and requests may carry an explicit image.
        image = ((delivered.sender_type == S_OFFENDER) & np.isin(delivered.kind, (MESSAGE, MESSAGE_REQUEST))
                 & (rng.random(delivered.n) < cfg.explicit_image_share))
        delivery = Delivery(np.ones(delivered.n), np.ones(delivered.n), image, np.zeros(delivered.n, dtype=bool))
        self.safeguards.on_delivery(delivered, known, self.day, delivery, rng)
        m.count("explicit_images", delivered.target[delivery.image & ~delivery.blurred])
        m.count("explicit_images_blurred", delivered.target[delivery.blurred])
        resp = respond(delivered, pop, self.graph, cfg, rng, delivery.block_lift, delivery.report_lift)

        adult_to_minor = (delivered.sender_type != S_MINOR) & pop.is_minor[delivered.target]
        a2m = np.flatnonzero(adult_to_minor)
        stage = self.conversations.update(
            delivered.sender[a2m], delivered.target[a2m], delivered.channel[a2m], resp.replied[a2m],
            resp.blocked[a2m] | resp.reported[a2m], delivered.sender_type[a2m] == S_OFFENDER, cfg, self.day, rng)
        unwanted = adult_to_minor & ~resp.known
        sexual = np.zeros(delivered.n, dtype=bool)
        # An ended conversation does not make a contact sexual; one at solicitation or escalated does.
        in_solicitation = (stage == SOLICITATION) | (stage == ESCALATED)
        sexual[a2m] = unwanted[a2m] & ((delivered.sender_type[a2m] == S_OFFENDER) | in_solicitation)
        self._record_contact(att, allowed, delivered, unwanted, sexual, resp)

        # Minors' reports go to account review; blocks and reports flag the sender.
        reported = delivered.sender[resp.reported & pop.is_minor[delivered.target]]
        m.count("account_strikes", self.moderation.review_account_reports(reported, rng))
        stranger = unwanted
        flagged = self.moderation.flag(delivered.sender[(resp.blocked | resp.reported) & stranger],
                                       delivered.sender[stranger])
        m.count("flagged_suspicious", flagged)
        # A blocked offender keeps the target (and comes back from another account) with some chance.
        gone = resp.blocked & (delivered.sender_type == S_OFFENDER) & (rng.random(delivered.n) >= cfg.recontact_after_block)
        self.discovered.forget(delivered.sender[gone], delivered.target[gone])
        self._new_follows.append((delivered.sender[resp.follow_made], delivered.target[resp.follow_made]))
        adds = (delivered.kind == GROUP_ADD) & ~resp.blocked
        self._new_joins.append((delivered.target[adds], delivered.group[adds]))
        self._apply_new_connections()

    def _record_contact(self, att, allowed, delivered, unwanted, sexual, resp) -> None:
        pop, m, day = self.population, self.metrics, self.day
        m.count("contact_attempts", att.target)
        m.count("contacts_delivered", delivered.target)
        m.count("contacts_blocked", att.target[~allowed])
        legit = (att.sender_type == S_ADULT) & pop.is_minor[att.target]
        m.count("legit_attempts", att.target[legit])
        m.count("legit_blocked", att.target[legit & ~allowed])
        peer = att.sender_type == S_MINOR
        m.count("peer_attempts", att.target[peer])
        m.count("peer_blocked", att.target[peer & ~allowed])
        m.count("unwanted_contacts", delivered.target[unwanted])
        for code, name in enumerate(CHANNELS[:5]):
            m.count(f"unwanted_via_{name}", delivered.target[unwanted & (delivered.channel == code)])
        m.count("sexual_contacts", delivered.target[sexual])
        m.count("stranger_blocks", delivered.target[resp.blocked])
        m.count("stranger_reports", delivered.target[resp.reported])
        reached = delivered.target[unwanted]
        pop.last_unwanted_day[reached] = day
        first = reached[pop.first_unwanted_day[reached] < 0]
        pop.first_unwanted_day[first] = day
        pop.last_sexual_day[delivered.target[sexual]] = day
        self.contact_log.record(pop.cohort, att, allowed, delivered, unwanted, sexual)

    def _apply_new_connections(self) -> None:
        """Add today's follows and group joins in one batch each (the CSR arrays are rebuilt once)."""
        src = np.concatenate([s for s, _ in self._new_follows]) if self._new_follows else np.zeros(0, np.int64)
        dst = np.concatenate([d for _, d in self._new_follows]) if self._new_follows else np.zeros(0, np.int64)
        if src.size:
            self.graph = self.graph.with_edges(src, dst)
            self.followers = self.graph.reversed()
        acc = np.concatenate([a for a, _ in self._new_joins]) if self._new_joins else np.zeros(0, np.int64)
        grp = np.concatenate([g for _, g in self._new_joins]) if self._new_joins else np.zeros(0, np.int64)
        if acc.size:
            self.groups = self.groups.with_members(acc, grp)

    def enforce(self) -> None:
        """Phase 7: strikes become bans, banned offenders come back, daily safeguards run."""
        m, day = self.metrics, self.day
        rng = self.streams.get("enforce", day)
        banned, settled_views = self.moderation.ban(day, rng)
        m.count("bans", banned)
        m.add_views_by_cause(settled_views)
        back = self.moderation.returns_today(day)
        if back.size:
            self._drop_connections(back)
            m.count("ban_evasions", back)
        self.safeguards.daily(self)
        # Items leaving the store today took their uncaught violating views with them.
        items = self.items
        expiring = np.flatnonzero((items.item_id >= 0) & (items.day == day - self.config.content.retention_days + 1)
                                  & (items.removed_day < 0))
        m.add_views_by_cause(self.moderation.resolve_views(expiring[:0], expiring, len(COHORTS)))

    def _drop_connections(self, accounts: np.ndarray) -> None:
        """A returning offender's new account has no follows, followers, groups or discoveries."""
        self.graph = self.graph.without_accounts(accounts)
        self.followers = self.graph.reversed()
        self.groups = self.groups.without_accounts(accounts)
        idx = self.discovered.index_of[accounts]
        self.discovered.target[idx[idx >= 0]] = -1
        self.discovered.channel[idx[idx >= 0]] = -1
    def measure(self, imps) -> None:
        """Phase 8: trailing-window exposure counts, then close the day's cohort rows."""
        pop, m = self.population, self.metrics
        m.add("accounts", self._accounts_per_cohort)
        m.count("exposed_7d", np.flatnonzero(pop.last_harm_day > self.day - 7))
        m.count("unwanted_contacted_7d", np.flatnonzero(pop.last_unwanted_day > self.day - 7))
        m.count("sexual_contacted_7d", np.flatnonzero(pop.last_sexual_day > self.day - 7))
        by_stage = self.conversations.counts_by_stage(pop.cohort, len(COHORTS))
        for code, name in enumerate(STAGES):
            m.add(f"conversations_{name}", by_stage[:, code])
        m.count("explicit_exposed_7d", np.flatnonzero(pop.last_explicit_day > self.day - 7))
        m.close_day()

    # --------------------------------------------------------------- results

    def latest(self, column: str, cohorts: tuple[int, ...]) -> float:
        """Today's value of a derived per-day figure, pooled over ``cohorts`` (for the DataCollector)."""
        row = self.metrics.history[-1][list(cohorts)].sum(axis=0)
        if column == "harm_prevalence_per_10k":
            den = row[COLUMN["impressions"]]
            return float(1e4 * row[COLUMN["harmful_impressions"]] / den) if den else float("nan")
        den = row[COLUMN["accounts"]]
        return float(row[COLUMN["exposed_7d"]] / den) if den else float("nan")

    def summary(self) -> dict[str, float]:
        """The run summary (DESIGN 3) over the measurement window."""
        pop = self.population
        d = pop.decoy
        out = summarize(self.metrics.as_array(), self.config.measure_days, pop.first_harm_day[d],
                        pop.first_unwanted_day[d], pop.first_harmful_suggestion_day[d])
        offenders = pop.role == OFFENDER
        out["offenders_banned_share"] = float(pop.banned[offenders].mean()) if offenders.any() else float("nan")
        return out

    def day_table(self) -> dict[str, np.ndarray]:
        """Columns of the per-day cohort rows."""
        return day_rows(self.metrics.as_array())

    def contact_table(self) -> dict[str, np.ndarray]:
        """Columns of contacts.parquet: day x target cohort x sender x channel x kind, non-empty rows only."""
        return self.contact_log.table()

    @property
    def contact_history(self) -> list[np.ndarray]:
        """Each day's contact counts (cohort x sender x channel x kind x outcome)."""
        return self.contact_log.days

    def decoy_table(self) -> dict[str, np.ndarray]:
        """One row per decoy: its settings and what it met."""
        pop = self.population
        rows = np.flatnonzero(pop.decoy)
        return {
            "decoy": np.arange(rows.size, dtype=np.int32),
            "account": rows.astype(np.int64),
            "true_age": pop.true_age[rows].astype(np.int32),
            "declared_age": pop.declared_age[rows].astype(np.int32),
            "protected": pop.protected[rows],
            "first_harm_day": pop.first_harm_day[rows].astype(np.int32),
            "first_unwanted_contact_day": pop.first_unwanted_day[rows].astype(np.int32),
            "first_harmful_suggestion_day": pop.first_harmful_suggestion_day[rows].astype(np.int32),
            "followers_end": self.followers.out_degree()[rows].astype(np.int32),
            "harmful_affinity_end": pop.harmful_affinity[rows].astype(np.float64),
        }


def _attach_decoys(graph: FollowGraph, pop: Population) -> FollowGraph:
    """Give an imported graph rows for the decoys, each following a few of the most-followed minors."""
    n_decoys = int(pop.decoy.sum())
    if n_decoys == 0:
        return graph
    indptr = np.concatenate([graph.indptr, np.full(n_decoys, graph.indptr[-1], dtype=graph.indptr.dtype)])
    extended = FollowGraph(indptr=indptr, indices=graph.indices, community=None)
    in_degree = graph.in_degree()
    minors = np.flatnonzero(pop.is_minor[: graph.n])
    pool = minors if minors.size else np.arange(graph.n)
    popular = pool[np.argsort(-in_degree[pool], kind="stable")[:DECOY_FOLLOWS]]
    src = np.repeat(np.arange(graph.n, graph.n + n_decoys), popular.size)
    dst = np.tile(popular, n_decoys)
    return extended.with_edges(src, dst)
