"""The classroom world: a small platform, the settings a teacher can change, and what one phone meets.

Core objects: :class:`Settings`, :func:`build_config`, :class:`ClassroomModel`,
:class:`Frame`, :func:`series_of`, :func:`layout`.

The world is the model's own (:class:`sim.model.ExposureModel`), made small
(:data:`WORLD`: a few hundred accounts, one decoy "phone" of a 13-year-old) so
that a simulated day takes a few hundredths of a second. Its settings are the
model's config keys: the feed policy (``recommender.feed``), account
suggestions (``recommender.accounts``: ``mixed`` or ``off``), a safeguard
preset (``safeguards=<preset>``, composed by Hydra from ``sim/configs`` exactly
as ``python -m sim safeguards=<preset>`` does), single safeguards switched
against it (``safeguards.<name>.enabled``) and the phone's declared age
(``decoys.declared_age``).

What the phone meets is read, not changed: :class:`PhoneRecorder` is the
model's :class:`sim.measurement.DayRecorder` with one more look at each
phase's outcome record (the phone's impressions, the attempts aimed at it,
the accounts suggested to it). Every counter and every draw is the model's
own, so a classroom run is an ordinary run of a small world.

A setting changed while the world runs cannot be changed inside a running
model (safeguards act from registration on); :class:`ClassroomModel` is built
anew with the setting and run to the same day, on the same seed: the same
world, as it would have gone with that setting from day 1.

No web stack is imported here.
"""

from __future__ import annotations

import copy
import dataclasses
import threading
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from sim.analysis.settings import SAFEGUARD_TITLES, preset_title
from sim.config import Config, validate
from sim.measurement import DayRecorder
from sim.metrics import COLUMN
from sim.model import ExposureModel
from sim.phases.contact import Contacted
from sim.phases.engage import Engaged
from sim.phases.serve import Served
from sim.phases.suggest import Suggested
from sim.vocabulary import (ADULT_AGE, ADULT_CONTENT_PRODUCER, CHANNELS, CONTACT_KINDS, EXPLOITATIVE_SELLER,
                            MINOR_COHORTS, N_CLASSES, OFFENDER)

#: The classroom world: the config keys that differ from the model's defaults. Everything else is
#: the default world's (population shares, behaviour, moderation), only smaller.
WORLD: dict[str, Any] = {
    "population.n": 400,              # a few hundred accounts: every one of them can be drawn
    "network.mean_following": 12,     # a small world follows fewer accounts (default 30 of 10,000)
    "network.community_size": 60,     # a school-sized community (default 120)
    "decoys.n": 1,                    # the phone
    "decoys.age": 13,
    "decoys.join_day": 3,             # a short burn-in: the phone registers on day 3
    "days": 60,
    "measure_days": 28,
}
#: Days a classroom world runs (the play button stops there).
HORIZON = 60
#: The world the page opens on (docs/CLASSROOM.md says how it was chosen: near the median of 20 seeds).
DEFAULT_SEED = 18

#: The safeguard presets a teacher can choose (``ideal`` is an analytic bound, not a policy: left out).
PRESETS = ("none", "teen_accounts_2024", "ofcom_2025", "dsa_2025", "all_on")
#: Each preset by the title of its file (sim.analysis.settings): the report and the page name it alike.
PRESET_LABELS = {p: preset_title(p) for p in PRESETS}
FEEDS = ("engagement", "chronological", "popularity", "interest", "random")
FEED_LABELS = {
    "engagement": "Engagement: what keeps you watching",
    "chronological": "Chronological: people you follow, newest first",
    "popularity": "Most popular first",
    "interest": "Closest to your interests",
    "random": "Random",
}
#: Each safeguard in plain words (the catalogue of docs/ODD.md §7.30), as the report names it.
SAFEGUARD_LABELS = SAFEGUARD_TITLES
#: Each harm class in plain words (items carry a class label, never content).
CLASS_LABELS = {
    "none": "Ordinary post",
    "suggestive": "Suggestive (borderline)",
    "adult_sexual": "Adults-only sexual content",
    "exploitative": "Illegal: exploits children",
}
#: Short labels of the harm classes, in class order.
CLASS_SHORT = ("ordinary", "suggestive", "adults-only", "illegal")
CHANNEL_LABELS = {
    "suggestion": "account suggestions",
    "group": "a group",
    "search": "search",
    "comment": "her comments",
    "network": "a friend's follower list",
    "known": "they already know each other",
}
KIND_LABELS = {
    "follow_request": "Follow request",
    "message": "Message",
    "message_request": "Message request",
    "comment": "Comment",
    "group_add": "Added her to a group",
}
SENDER_LABELS = ("Offender", "Adult stranger", "Teen")

#: The headline figures the page plots: key -> (title, unit). Each is over the last 7 days, teens
#: being the accounts whose true age is 13-17 (the phone excluded).
SERIES = {
    "harm": ("Harmful posts in teens' feeds", "per 1,000 posts shown"),
    "contacted": ("Teens contacted by an adult they don't know", "% of teens, last 7 days"),
    "cost_contact": ("Cost: ordinary adults' contact with teens stopped", "% of attempts"),
    "cost_posts": ("Cost: harmless posts held back from teens", "per 1,000 posts shown"),
}

_WINDOW = 7


@dataclass(frozen=True)
class Settings:
    """What a teacher can change: each field is one config key (or a preset) of the classroom world.

    ``switched`` holds the safeguards switched against the preset, as sorted
    ``(name, enabled)`` pairs (``safeguards.<name>.enabled``).
    """

    seed: int = DEFAULT_SEED
    feed: str = "engagement"
    suggestions: bool = True
    preset: str = "none"
    switched: tuple[tuple[str, bool], ...] = ()
    declared_age: int = 13

    def replace(self, **changes: Any) -> Settings:
        """A copy with ``changes``; a new preset clears the safeguards switched against the old one."""
        if "preset" in changes and changes["preset"] != self.preset and "switched" not in changes:
            changes["switched"] = ()
        return dataclasses.replace(self, **changes)

    def safeguards_on(self) -> dict[str, bool]:
        """Every safeguard's ``enabled`` under these settings."""
        on = dict(preset_enabled(self.preset))
        on.update(dict(self.switched))
        return on

    def with_safeguard(self, name: str, enabled: bool) -> Settings:
        """A copy with safeguard ``name`` switched on or off (dropped from ``switched`` if the preset agrees)."""
        switched = dict(self.switched)
        if preset_enabled(self.preset)[name] == enabled:
            switched.pop(name, None)
        else:
            switched[name] = enabled
        return dataclasses.replace(self, switched=tuple(sorted(switched.items())))

    def overrides(self) -> list[str]:
        """The same settings as ``python -m sim`` overrides (on top of :data:`WORLD`)."""
        out = [f"seed={self.seed}", f"safeguards={self.preset}", f"recommender={self.feed}",
               f"recommender.accounts={'mixed' if self.suggestions else 'off'}",
               f"decoys.declared_age={self.declared_age}"]
        out += [f"safeguards.{name}.enabled={'true' if on else 'false'}" for name, on in self.switched]
        return out

    def label(self) -> str:
        """A short description for a legend: the preset, then what differs from the page's defaults."""
        parts = [PRESET_LABELS[self.preset]]
        for name, on in self.switched:
            parts.append(f"{'+' if on else '−'} {SAFEGUARD_LABELS.get(name, name).lower()}")
        if self.feed != "engagement":
            parts.append(f"{self.feed} feed")
        if not self.suggestions:
            parts.append("no account suggestions")
        if self.declared_age >= ADULT_AGE:
            parts.append(f"phone registered as {self.declared_age}")
        if self.seed != DEFAULT_SEED:
            parts.append(f"world {self.seed}")
        return " · ".join(parts)


# ------------------------------------------------------------------ config

_COMPOSE_LOCK = threading.Lock()
_COMPOSED: dict[tuple[str, str], Config] = {}


def composed(preset: str, feed: str) -> Config:
    """The config ``python -m sim safeguards=<preset> recommender=<feed>`` composes (a fresh copy)."""
    key = (preset, feed)
    with _COMPOSE_LOCK:
        if key not in _COMPOSED:
            from hydra import compose, initialize_config_dir

            from sim.compose import CONFIG_DIR, to_config
            with initialize_config_dir(config_dir=str(CONFIG_DIR), version_base="1.3"):
                _COMPOSED[key] = to_config(compose("config", overrides=[f"safeguards={preset}",
                                                                         f"recommender={feed}"]))
        return copy.deepcopy(_COMPOSED[key])


def preset_enabled(preset: str) -> dict[str, bool]:
    """Which safeguards a preset switches on."""
    sg = composed(preset, "engagement").safeguards
    return {f.name: bool(getattr(sg, f.name).enabled) for f in dataclasses.fields(sg) if f.name != "preset"}


def set_key(cfg: Config, dotted: str, value: Any) -> None:
    """Set a dotted config key (``population.n``); an unknown key raises KeyError."""
    *path, leaf = dotted.split(".")
    node = cfg
    for part in path:
        node = getattr(node, part)
    if not any(f.name == leaf for f in dataclasses.fields(node)):
        raise KeyError(dotted)
    setattr(node, leaf, value)


def build_config(settings: Settings) -> Config:
    """The classroom world's config under ``settings`` (validated)."""
    cfg = composed(settings.preset, settings.feed)
    for key, value in WORLD.items():
        set_key(cfg, key, value)
    cfg.seed = int(settings.seed)
    cfg.recommender.accounts = "mixed" if settings.suggestions else "off"
    cfg.decoys.declared_age = int(settings.declared_age)
    for name, on in settings.switched:
        getattr(cfg.safeguards, name).enabled = bool(on)
    return validate(cfg)


# ----------------------------------------------------------- the phone

@dataclass
class Contact:
    """One contact attempt aimed at the phone (kind, channel and sender type by name; never content)."""

    day: int
    sender: int               # account row
    sender_type: int          # index into SENDER_LABELS (sim.vocabulary.SENDERS)
    kind: str
    channel: str
    delivered: bool
    stopped_by: str | None    # the safeguard that stopped it
    image: bool = False       # carried an explicit image (offenders' messages)
    blurred: bool = False
    response: str = ""        # what she did: ignored it, replied, blocked them, reported them, accepted; or
    #                           "follows them" (someone she follows: not unwanted)
    unwanted: bool = False    # an adult she does not follow reached her (the model's definition)


@dataclass
class PhoneDay:
    """What the phone met on one day."""

    tiles: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int8))   # harm class per post shown
    withheld_benign: int = 0       # harmless posts the feed safeguards held back
    withheld_harmful: int = 0      # harmful posts they held back
    contacts: list[Contact] = field(default_factory=list)
    suggested_harmful: int = 0     # adult-content, seller or offender accounts suggested to her
    suggested: int = 0


class PhoneRecorder(DayRecorder):
    """The model's recorder, which also keeps what reached one account (the phone) each day.

    It only reads the phase records the model hands every recorder; the
    counters it adds to are exactly :class:`DayRecorder`'s.
    """

    def __init__(self, base: DayRecorder, phone: int) -> None:
        super().__init__(base.metrics, base.population, base.items, base.contact_log, base.safeguard_names)
        self.phone = phone
        self.today = PhoneDay()

    def joined(self, safeguard_counts: dict[str, np.ndarray], departed_views: np.ndarray) -> None:
        self.today = PhoneDay()
        super().joined(safeguard_counts, departed_views)

    def served(self, out: Served) -> Served:
        self.today.withheld_benign = int(np.count_nonzero(out.withheld.get("benign", ()) == self.phone))
        self.today.withheld_harmful = int(np.count_nonzero(out.withheld.get("harmful", ()) == self.phone))
        return super().served(out)

    def engaged(self, out: Engaged, served: Served, day: int) -> Engaged:
        mine = served.impressions.viewer == self.phone
        self.today.tiles = self.items.harm[served.impressions.item[mine]].astype(np.int8)
        return super().engaged(out, served, day)

    def suggested(self, out: Suggested, groups: Any, day: int) -> Suggested:
        shown = out.account_shown[out.account_viewer == self.phone]
        role = self.population.role[shown]
        self.today.suggested = int(shown.size)
        self.today.suggested_harmful = int(np.isin(role, (ADULT_CONTENT_PRODUCER, EXPLOITATIVE_SELLER,
                                                          OFFENDER)).sum())
        return super().suggested(out, groups, day)

    def contacted(self, out: Contacted, day: int) -> Contacted:
        att = out.attempts
        where = np.flatnonzero(att.target == self.phone)
        if where.size:
            slot = np.cumsum(out.allowed) - 1            # an allowed attempt's position among the delivered
            resp, dl = out.responses, out.delivery
            for i in where:
                contact = Contact(day, int(att.sender[i]), int(att.sender_type[i]), CONTACT_KINDS[att.kind[i]],
                                  CHANNELS[att.channel[i]], bool(out.allowed[i]), None)
                if contact.delivered:
                    j = slot[i]
                    contact.image, contact.blurred = bool(dl.image[j]), bool(dl.blurred[j])
                    contact.unwanted = bool(out.unwanted[j])
                    contact.response = ("reported them" if resp.reported[j] else "blocked them" if resp.blocked[j]
                                        else "follows them" if resp.target_follows_sender[j]
                                        else "accepted" if resp.follow_made[j]
                                        else "replied" if resp.replied[j] else "ignored it")
                else:
                    by = int(out.blocked_by[i])
                    contact.stopped_by = self.safeguard_names[by] if by >= 0 else None
                self.today.contacts.append(contact)
        return super().contacted(out, day)


@dataclass
class Frame:
    """Everything the page draws for one day (plain data; the live page and the export draw the same)."""

    day: int
    settings: Settings
    phone: int
    phone_joined: bool
    declared_age: int              # what the platform believes today
    protected: bool                # the platform treats the phone as a teen's
    today: PhoneDay
    seen: np.ndarray               # posts shown to the phone since it joined, by harm class
    contacts_by_channel: dict[str, tuple[int, int]]   # channel -> (delivered, stopped), since it joined
    inbox: list[Contact]           # the latest attempts, newest first
    withheld_benign_total: int
    present: np.ndarray            # bool per account row: on the platform today
    series: dict[str, list[float]]


class ClassroomModel(ExposureModel):
    """The classroom world under ``settings``: an :class:`ExposureModel` that also follows its phone.

    Keyword-only so that Mesa's SolaraViz can rebuild it (``ClassroomModel(settings=...)``).
    """

    def __init__(self, settings: Settings | None = None) -> None:
        self.settings = settings if settings is not None else Settings()
        super().__init__(build_config(self.settings))
        pop = self.population
        self.phone = int(np.flatnonzero(pop.decoy)[0])
        self.recorder = PhoneRecorder(self.recorder, self.phone)
        self.series: dict[str, list[float]] = {key: [] for key in SERIES}
        self.seen = np.zeros(N_CLASSES, dtype=np.int64)
        self.by_channel: dict[str, list[int]] = {}
        self.inbox: list[Contact] = []
        self.withheld_benign_total = 0
        self.frame = self._frame()

    def step(self) -> None:
        """One simulated day, then what the page shows of it."""
        super().step()
        today = self.recorder.today
        self.seen += np.bincount(today.tiles, minlength=N_CLASSES)
        self.withheld_benign_total += today.withheld_benign
        for c in today.contacts:
            counts = self.by_channel.setdefault(c.channel, [0, 0])
            counts[0 if c.delivered else 1] += 1
        self.inbox = (today.contacts[::-1] + self.inbox)[:40]
        for key, value in daily_figures(self.metrics.history).items():
            self.series[key].append(value)
        self.frame = self._frame()
        if self.day >= self.config.days:
            self.running = False

    def run_to(self, day: int) -> None:
        """Step until ``day`` (or the horizon)."""
        while self.day < min(day, self.config.days):
            self.step()

    def _frame(self) -> Frame:
        pop, row = self.population, self.phone
        return Frame(self.day, self.settings, row, bool(pop.joined_day[row] <= self.day),
                     int(pop.declared_age[row]), bool(pop.protected[row]), self.recorder.today, self.seen.copy(),
                     {k: (v[0], v[1]) for k, v in self.by_channel.items()}, list(self.inbox),
                     self.withheld_benign_total, pop.present.copy(),
                     {k: list(v) for k, v in self.series.items()})


def daily_figures(history: list[np.ndarray]) -> dict[str, float]:
    """Today's headline figures (:data:`SERIES`) from the metrics history, over the last 7 days."""
    window = np.stack(history[-_WINDOW:])[:, list(MINOR_COHORTS)].sum(axis=(0, 1))
    today = history[-1][list(MINOR_COHORTS)].sum(axis=0)
    c = COLUMN

    def ratio(num: float, den: float, scale: float) -> float:
        return float(scale * num / den) if den > 0 else float("nan")

    return {
        "harm": ratio(window[c["harmful_impressions"]], window[c["impressions"]], 1e3),
        "contacted": ratio(today[c["unwanted_contacted_7d"]], today[c["accounts"]], 100),
        "cost_contact": ratio(window[c["legit_blocked"]] + window[c["legit_prevented"]],
                              window[c["legit_attempts"]] + window[c["legit_prevented"]], 100),
        "cost_posts": ratio(window[c["benign_withheld"]], window[c["impressions"]], 1e3),
    }


# ------------------------------------------------------- runs to compare

_RUNS_LOCK = threading.Lock()
_RUNS: dict[tuple[Settings, int], dict[str, list[float]]] = {}
_PENDING: dict[tuple[Settings, int], threading.Event] = {}


def series_of(settings: Settings, days: int = HORIZON) -> dict[str, list[float]]:
    """The headline series of a whole run of the classroom world under ``settings`` (cached).

    A run asked for while another thread computes it is waited for, not computed twice.
    """
    key = (settings, days)
    while True:
        with _RUNS_LOCK:
            if key in _RUNS:
                return _RUNS[key]
            pending = _PENDING.get(key)
            mine = pending is None
            if mine:
                pending = _PENDING[key] = threading.Event()
        if mine:
            break
        pending.wait()
    try:
        model = ClassroomModel(settings)
        model.run_to(days)
        with _RUNS_LOCK:
            _RUNS[key] = model.series
        return model.series
    finally:
        with _RUNS_LOCK:
            _PENDING.pop(key, None)
        pending.set()


# ---------------------------------------------------------------- layout

_LAYOUTS: dict[tuple[int, int], np.ndarray] = {}
_LAYOUT_LOCK = threading.Lock()


def account_kinds(model: ExposureModel) -> np.ndarray:
    """Per account row, what the network view tells apart: 0 teen, 1 adult, 2 offender, 3 adult-content
    account (producers and sellers), 4 the phone."""
    pop = model.population
    kind = np.where(pop.true_age < ADULT_AGE, 0, 1).astype(np.int8)
    kind[np.isin(pop.role, (ADULT_CONTENT_PRODUCER, EXPLOITATIVE_SELLER))] = 3
    kind[pop.role == OFFENDER] = 2
    kind[pop.decoy] = 4
    return kind


def layout(model: ExposureModel) -> np.ndarray:
    """(rows x 2) positions in [0, 1] for every account of the world, newcomers included (cached per world).

    A force-directed layout of the follow graph at the start together with
    every newcomer's registration follows, so an account keeps its place all run.
    """
    import networkx as nx

    pop = model.population
    key = (int(model.config.seed), int(pop.n))
    with _LAYOUT_LOCK:
        if key in _LAYOUTS:
            return _LAYOUTS[key]
    src, dst = model.graph.edges()
    (rsrc, rdst), _ = model.registrations.of(np.flatnonzero(pop.joined_day > 0))
    g = nx.Graph()
    g.add_nodes_from(range(pop.n))
    g.add_edges_from(zip(np.concatenate([src, rsrc]).tolist(), np.concatenate([dst, rdst]).tolist()))
    pos = nx.spring_layout(g, seed=int(model.config.seed), iterations=60)
    xy = np.array([pos[i] for i in range(pop.n)], dtype=np.float64)
    xy -= xy.min(axis=0)
    xy /= np.maximum(xy.max(axis=0), 1e-9)
    with _LAYOUT_LOCK:
        _LAYOUTS[key] = xy
    return xy

