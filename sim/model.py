"""The exposure model: builds the world, owns the random streams, runs the day.

Core objects: :class:`ExposureModel`, :class:`RandomStreams`.

``ExposureModel.step()`` is the day's story, one line per phase (docs/ODD.md §3).
All state is arrays (population, follow graph, groups, items); Mesa provides
the frame: ``steps``, ``running``, agent views (``MinorAccount``,
``AdultAccount``) and a ``DataCollector`` of daily figures.
"""

from __future__ import annotations

import hashlib

import mesa
import numpy as np

from sim import registry
from sim.agents import AccountView, view_class
from sim.config import Config, run_seed, validate
from sim.contact import ContactLog, Conversations, Discovered
from sim.content import ItemStore, posting_rates
from sim.measurement import DayRecorder
from sim.metrics import COLUMN, Metrics, day_rows, prevalence_per_10k, share, summarize
from sim.moderation import Moderation
from sim.network import FollowGraph, Groups, build_groups, graph_statistics
from sim.network.sources import Registrations
from sim.phases.contact import contact
from sim.phases.engage import engage_feeds
from sim.phases.enforce import enforce
from sim.phases.moderate import moderate
from sim.phases.post import post
from sim.phases.serve import serve
from sim.phases.suggest import suggest
from sim.population import Population
from sim.recommenders import make_feed_policy
from sim.safeguards import SafeguardContext, SafeguardSet
from sim.vocabulary import ADULT_COHORT, MINOR_COHORTS, N_COHORTS, OFFENDER, VIEW_CAUSES


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

        self.population, self.graph, self.groups, self.registrations = self._build_world()
        self.graph_stats = graph_statistics(self.graph, self.population.is_minor, self.streams.get("world.stats"))
        pop = self.population
        self.posts_per_day = posting_rates(pop, config.content, config.decoys.posts_per_day)
        # The store is sized for the accounts of a day (arrivals and departures balance by default).
        on_platform = pop.present | pop.decoy
        expected_items = float(self.posts_per_day[on_platform].sum()) * (config.content.retention_days + 1)
        self.items = ItemStore(int(expected_items * 1.3) + 64, config.population.interest_dim)
        self.safeguards = SafeguardSet(config.safeguards, pop, self.items, self.streams,
                                       config.moderation.detector_correlation)
        self.feed_policy = make_feed_policy(config.recommender)
        self.metrics = Metrics(pop.cohort)
        self.moderation = Moderation(config.moderation, self.items, pop, config.content.retention_days)
        self.followers = self.graph.reversed()
        rec = config.recommender
        self.account_suggester = None if rec.accounts == "off" else registry.get("account_suggester", rec.accounts)()
        self.group_suggester = None if rec.groups == "off" else registry.get("group_suggester", rec.groups)()
        self.discovered = Discovered(np.flatnonzero(pop.role == OFFENDER), pop.n, config.contact.discovered_max)
        self.conversations = Conversations(pop.n)
        self.contact_log = ContactLog()
        self.recorder = DayRecorder(self.metrics, pop, self.items, self.contact_log, self.safeguards.names)

        self._views: dict[int, AccountView] = {}
        if pop.n <= config.population.agent_views_max:
            for row in range(pop.n):  # once, at build time, for small worlds only
                self.account(row)

        self.safeguards.setup(SafeguardContext(0, self.streams))
        self.datacollector = mesa.DataCollector(model_reporters={
            "minor_harm_prevalence_per_10k": lambda m: m.latest("harm_prevalence_per_10k", MINOR_COHORTS),
            "minor_exposed_7d_share": lambda m: m.latest("exposed_7d_share", MINOR_COHORTS),
            "adult_harm_prevalence_per_10k": lambda m: m.latest("harm_prevalence_per_10k", (ADULT_COHORT,)),
            "items_live": lambda m: int(m.items.live(m.day, m.config.content.retention_days).size),
        })

    # ----------------------------------------------------------------- world

    def _build_world(self) -> tuple[Population, FollowGraph, Groups, Registrations]:
        """Every account of the run, and the follow graph and groups of the accounts present at the start.

        The newcomers' registration follows and group joins are held back
        (:class:`Registrations`) until each one's join day.
        """
        cfg = self.config
        pop, graph = registry.get("graph_source", cfg.network.kind)().build(cfg, self.streams)
        newcomer = pop.joined_day > 0
        groups = build_groups(pop.interest, pop.is_minor, pop.role, pop.harmful_affinity, newcomer,
                              cfg.network, self.streams.get("world.groups"))
        graph, groups, registrations = Registrations.split(graph, groups, newcomer)
        return pop, graph, groups, registrations

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
        """One simulated day: each phase takes what it reads and returns what it did; the recorder counts it."""
        cfg, pop, day, rng, rec = self.config, self.population, self.day, self.streams.get, self.recorder
        cohorts = N_COHORTS
        self.safeguards.begin_day(day)
        rec.joined(*self._open_day(day))                                 # 0. departures and registrations
        posted = rec.posted(post(                                         # 1. accounts post
            self.items, pop, self.posts_per_day, self.groups, cfg, day, rng("post", day)))
        rec.moderated(moderate(                                           # 2. hash matching, classifier, review
            self.items, self.moderation, self.safeguards, posted.slots, pop.n, cohorts, day, rng("moderate", day)))
        served = rec.served(serve(                                        # 3. rank candidates, serve top-k
            self.items, pop, self.graph, self.groups, self.feed_policy, self.safeguards, cfg, day,
            rng("serve", day), rng("sessions", day), rng("limit_sessions", day)))
        engaged = rec.engaged(engage_feeds(                               # 4. engage, drift, reinforce, report
            pop, self.items, self.moderation, served.impressions, cfg, cohorts, day, rng("engage", day)), served, day)
        # The impressions and their per-impression outcomes are counted: the largest arrays of the
        # day go before the suggestions' temporaries arrive. Only the engagements are read on.
        sessions, recent_posts, engaged = served.sessions, served.recent_posts, engaged.engagements_only()
        del served
        suggested = rec.suggested(suggest(                                # 5. account and group suggestions
            pop, self.graph, self.followers, self.groups, self.account_suggester, self.group_suggester,
            self.safeguards, self.discovered, engaged, sessions, cfg.recommender, day, rng("suggest", day),
            rng("suggest.withheld", day)),
            self.groups, day)
        contacted = rec.contacted(contact(                                # 6. contact attempts and responses
            pop, self.graph, self.followers, self.groups, self.discovered, self.conversations, self.moderation,
            self.safeguards, engaged, recent_posts, suggested.follow_requests, cfg.contact, day,
            rng("contact", day), SafeguardContext(day, self.streams)), day)
        follows, joins = [suggested.follows, contacted.follows], [suggested.joins, contacted.joins]
        # The day's engagements are done with: free them before the graphs grow.
        del engaged, suggested, contacted
        self._connect(follows, joins)
        enforced = rec.enforced(enforce(                                  # 7. bans, ban evasion, daily safeguards
            self.moderation, self.safeguards, self.items, self.graph, self.followers, self.groups, self.discovered,
            cfg.content.retention_days, cohorts, SafeguardContext(day, self.streams), day, rng("enforce", day)))
        if enforced.connections is not None:
            self.graph, self.followers, self.groups = enforced.connections
        rec.close_day(self.conversations, day)                           # 8. close the day's cohort rows
        self.datacollector.collect(self)

    def _open_day(self, day: int) -> tuple[dict[str, np.ndarray], np.ndarray]:
        """Who is on the platform today: some accounts leave, newcomers register.

        An account that was on the platform before today and is not a decoy
        leaves with chance ``population.departures_per_day`` (its posts go with
        it). ``Population.present`` is then set for today. Newcomers whose join
        day is today make their registration follows (of accounts still
        present) and group joins; the ``on_join`` safeguards act on every
        account that is present today and was not yesterday (newcomers, and
        banned offenders back with a new account), before anyone posts.

        Returns:
            The ``on_join`` safeguards' counters, and the (cohorts x causes)
            violating views of the departed accounts' posts, settled as never detected.
        """
        pop, rate = self.population, self.config.population.departures_per_day
        views = np.zeros((N_COHORTS, len(VIEW_CAUSES)), dtype=np.int64)
        if rate > 0:
            # One uniform per row from a stream of its own: who leaves on a day is the same whatever
            # the safeguards did (common random numbers for paired runs).
            draw = self.streams.get("departures", day).random(pop.n)
            staying = (pop.joined_day < day) & ~pop.banned & ~pop.left & ~pop.decoy
            leaving = np.flatnonzero(staying & (draw < rate))
            pop.left[leaving] = True
            views = self._take_down(leaving, day)
        arrived = pop.update_present(day)
        # Banned offenders back with a new account joined yesterday and make no registration follows.
        registering = arrived[pop.joined_day[arrived] == day]
        if registering.size:
            (follower, followed), joins = self.registrations.of(registering)
            kept = pop.present[followed]           # an account that left or was banned since is not followed
            follower, followed = follower[kept], followed[kept]
            if follower.size:
                # Two linear merges in place: cheaper than rebuilding the followers graph by transposing.
                self.graph.add_edges(follower, followed)
                self.followers.add_edges(followed, follower)
            if joins[0].size:
                self.groups = self.groups.with_members(*joins)
        context = SafeguardContext(day, self.streams)
        self.safeguards.on_join(arrived, context)
        return context.counts, views

    def _take_down(self, accounts: np.ndarray, day: int) -> np.ndarray:
        """Remove the live posts of accounts that left; returns their uncaught violating views (never detected)."""
        if accounts.size == 0:
            return np.zeros((N_COHORTS, len(VIEW_CAUSES)), dtype=np.int64)
        gone = np.zeros(self.population.n, dtype=bool)
        gone[accounts] = True
        items = self.items
        live = items.live(day, self.config.content.retention_days)
        theirs = live[gone[items.author[live]]]
        items.removed_day[theirs] = day
        return self.moderation.resolve_views(theirs[:0], theirs, N_COHORTS)

    def run(self, days: int | None = None, progress=None) -> None:
        """Run ``days`` days (default: the configured horizon); ``progress(day)`` is called after each."""
        for _ in range(self.config.days if days is None else days):
            self.step()
            if progress is not None:
                progress(self.day)

    def _connect(self, follows: list[tuple[np.ndarray, np.ndarray]],
                 joins: list[tuple[np.ndarray, np.ndarray]]) -> None:
        """Add the day's follows and group joins in one batch each: two linear merges in place into the follow
        graph and its reverse (cheaper in time and memory than transposing the whole graph again or copying it)."""
        src = np.concatenate([s for s, _ in follows])
        if src.size:
            dst = np.concatenate([d for _, d in follows])
            self.graph.add_edges(src, dst)
            self.followers.add_edges(dst, src)
        acc = np.concatenate([a for a, _ in joins])
        if acc.size:
            self.groups = self.groups.with_members(acc, np.concatenate([g for _, g in joins]))

    # --------------------------------------------------------------- results

    def latest(self, column: str, cohorts: tuple[int, ...]) -> float:
        """Today's value of a derived per-day figure, pooled over ``cohorts`` (for the DataCollector)."""
        row = self.metrics.history[-1][list(cohorts)].sum(axis=0)
        if column == "harm_prevalence_per_10k":
            return float(prevalence_per_10k(row[COLUMN["harmful_impressions"]], row[COLUMN["impressions"]]))
        return float(share(row[COLUMN["exposed_7d"]], row[COLUMN["accounts"]]))

    def summary(self) -> dict[str, float]:
        """The run summary (docs/ODD.md §8.2) over the measurement window."""
        pop = self.population
        d = pop.decoy
        out = summarize(self.metrics.as_array(), self.config.measure_days, pop.first_harm_day[d],
                        pop.first_unwanted_day[d], pop.first_harmful_suggestion_day[d],
                        int(pop.joined_day[d].min()) if d.any() else self.config.decoys.join_day)
        offenders = (pop.role == OFFENDER) & (pop.joined_day <= self.day)     # those on the platform at some time
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
