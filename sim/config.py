"""Structured configuration: the schema, its ranges, and validation.

Core objects: :class:`Config` (and one dataclass per section), :func:`validate`,
:class:`ConfigError`, :func:`run_seed`, :func:`schema`.

The dataclasses are the single description of every setting: Hydra registers
them in its ConfigStore so that an unknown key or a wrong type fails while the
config is composed, and :func:`validate` checks the documented range of every
numeric field (kept in the field's ``metadata``) and every name that must
resolve through a registry. The core takes a validated :class:`Config` object
and never imports Hydra.
"""

from __future__ import annotations

import dataclasses
import hashlib
import math
from dataclasses import dataclass, field
from typing import Any

from sim import registry
from sim.vocabulary import HARMFUL_CLASSES, MAX_MINOR_AGE, MIN_AGE


#: Decoys are an audit sample: at most this share of the accounts, so they do not change the world they probe.
MAX_DECOY_SHARE = 0.1


class ConfigError(ValueError):
    """A configuration value is outside what the model accepts."""


#: Exit status of a command refused for its configuration (nothing was run or written).
CONFIG_ERROR_EXIT = 2


def param(default: Any, lo: float | None = None, hi: float | None = None, *,
          doc: str, choices: tuple[str, ...] | None = None, registry: str | None = None) -> Any:
    """A config field with its documented range (inclusive) or allowed names.

    ``registry`` names a kind of :mod:`sim.registry`: the value is then a name
    registered for that kind, or one of ``choices`` (e.g. ``off``).
    """
    meta = {"doc": doc, "lo": lo, "hi": hi, "choices": choices, "registry": registry}
    if isinstance(default, list):
        return field(default_factory=lambda: list(default), metadata=meta)
    return field(default=default, metadata=meta)


@dataclass
class BehaviourConfig:
    """How accounts engage with what they are shown (phase 4)."""

    engage_intercept: float = param(-3.0, -10, 5, doc="logit of engaging with an average benign item")
    engage_similarity: float = param(3.0, 0, 20, doc="logit weight of cosine(viewer interest, item topic)")
    engage_appeal: float = param(1.0, 0, 10, doc="logit weight of log(item appeal)")
    engage_harm: float = param(2.473, 0, 20, doc="logit weight of (harmful affinity - harm_threshold) on harmful items (calibrated: configs/calibration/calibrated.yaml)")
    harm_threshold: float = param(0.3, 0, 1, doc="affinity at which the harm term of the engagement logit is zero (harmful items still carry their appeal lift)")
    interest_drift: float = param(0.05, 0, 1, doc="step of the interest vector towards the mean topic engaged with, per day")
    affinity_reinforcement: float = param(0.01, 0, 1, doc="rise of harmful affinity per harmful engagement, times (1 - affinity)")
    affinity_decay: float = param(0.01, 0, 1, doc="daily relaxation of harmful affinity towards the account's baseline")
    report_harmful_minor: float = param(0.03, 0, 1, doc="chance a minor reports a harmful impression")
    report_harmful_adult: float = param(0.005, 0, 1, doc="chance an adult reports a harmful impression")


@dataclass
class PopulationConfig:
    """Who is on the platform (accounts, ages, roles, tastes, activity)."""

    n: int = param(10_000, 10, 50_000_000, doc="number of accounts, decoys not included")
    minor_share: float = param(0.15, 0, 0.95, doc="share of accounts whose true age is 13-17")
    minor_13_15_share: float = param(0.55, 0, 1, doc="share of minors aged 13-15 (the rest are 16-17)")
    minor_declares_adult_share: float = param(0.3, 0, 1, doc="share of minors registered with an adult birth date")
    minor_13_15_declares_adult_share: float | None = param(None, 0, 1, doc="the same for 13-15-year-olds only (null: minor_declares_adult_share)")
    offender_poses_as_minor_share: float = param(0.1, 0, 1, doc="share of offenders registered with a minor's birth date")
    offender_share: float = param(0.01228, 0, 0.5, doc="share of adult accounts that are offenders (calibrated: configs/calibration/calibrated.yaml)")
    adult_content_producer_share: float = param(0.01405, 0, 0.5, doc="share of adult accounts producing adult content (calibrated: configs/calibration/calibrated.yaml)")
    exploitative_seller_share: float = param(0.001, 0, 0.5, doc="share of adult accounts selling exploitative material")
    creator_share: float = param(0.03, 0, 0.5, doc="share of ordinary accounts (adult or minor) that are creators")
    interest_dim: int = param(16, 2, 64, doc="dimension of interest and topic vectors")
    topic_clusters: int = param(12, 1, 256, doc="number of interest clusters accounts and groups are drawn around")
    sessions_per_day: float = param(1.5, 0.01, 50, doc="mean feed sessions per adult per day")
    minor_activity_multiplier: float = param(1.5, 0.1, 10, doc="minors' activity relative to adults'")
    activity_sigma: float = param(0.8, 0, 3, doc="log-normal spread of activity (heavy tail)")
    private_share: float = param(0.25, 0, 1, doc="share of accounts that set themselves private without any safeguard")
    affinity_minor: float = param(0.03, 0, 1, doc="mean harmful affinity of minors")
    affinity_adult: float = param(0.12, 0, 1, doc="mean harmful affinity of ordinary adults")
    affinity_offender: float = param(0.8, 0, 1, doc="mean harmful affinity of offenders, producers and sellers")
    arrivals_per_day: float = param(0.001, 0, 0.1, doc="new accounts registering per day, as a share of population.n (newcomers of all ages share the cold-start boost)")
    departures_per_day: float = param(0.001, 0, 0.1, doc="chance an account leaves the platform on a given day (decoys stay)")
    agent_views_max: int = param(20_000, 0, 10_000_000, doc="create Mesa agent views for every account up to this many accounts")
    behaviour: BehaviourConfig = field(default_factory=BehaviourConfig)


@dataclass
class NetworkConfig:
    """The follow graph and groups: generated (``synthetic``) or read (``file``)."""

    kind: str = param("synthetic", doc="where the follow graph comes from", registry="graph_source")
    path: str | None = param(None, doc="edge list (.csv/.tsv/.txt/.edgelist) or GraphML file, for kind=file")
    mean_following: float = param(30.0, 1, 2000, doc="mean number of accounts each account follows")
    following_sigma: float = param(0.9, 0, 3, doc="log-normal spread of out-degree")
    community_size: int = param(120, 2, 100_000, doc="mean size of a local community (school, town)")
    local_share: float = param(0.5, 0, 1, doc="share of follows made inside one's community")
    minor_follows_minor_share: float = param(0.8, 0, 1, doc="share of a minor's follows that go to minors")
    adult_follows_minor_share: float = param(0.03, 0, 1, doc="share of an adult's follows that go to minors")
    triadic_share: float = param(0.2, 0, 2, doc="extra follows, per follow, closing triangles (followee's followee)")
    popularity_tail: float = param(1.6, 1.05, 10, doc="Pareto exponent of account attractiveness (smaller: heavier in-degree tail)")
    creator_boost: float = param(20.0, 1, 1000, doc="attractiveness multiplier of creators")
    producer_boost: float = param(4.0, 1, 1000, doc="attractiveness multiplier of adult-content producers")
    groups_per_1k: float = param(5.0, 0, 1000, doc="groups per 1,000 accounts")
    memberships_mean: float = param(3.0, 0, 100, doc="mean number of groups an account belongs to")
    harmful_group_share: float = param(0.02, 0, 1, doc="share of groups devoted to commercial sex or exploitation")
    moderated_group_share: float = param(0.7, 0, 1, doc="share of benign groups with active moderators")


@dataclass
class ContentConfig:
    """What gets posted (phase 1)."""

    posts_per_day_regular: float = param(0.3, 0, 100, doc="mean posts per day of an ordinary account")
    posts_per_day_creator: float = param(2.0, 0, 100, doc="mean posts per day of a creator")
    posts_per_day_producer: float = param(1.5, 0, 100, doc="mean posts per day of an adult-content producer")
    posts_per_day_seller: float = param(2.0, 0, 100, doc="mean posts per day of an exploitative seller")
    posts_per_day_offender: float = param(0.3, 0, 100, doc="mean posts per day of an offender")
    suggestive_share: float = param(0.005, 0, 1, doc="share of ordinary accounts' and offenders' posts that are suggestive (creators: twice this)")
    producer_adult_sexual_share: float = param(0.2167, 0, 1, doc="share of a producer's posts that are adult_sexual (calibrated: configs/calibration/calibrated.yaml)")
    producer_suggestive_share: float = param(0.7, 0, 1, doc="share of a producer's posts that are suggestive")
    seller_exploitative_share: float = param(0.2, 0, 1, doc="share of a seller's posts that are exploitative")
    seller_adult_sexual_share: float = param(0.3, 0, 1, doc="share of a seller's posts that are adult_sexual")
    offender_adult_sexual_share: float = param(0.05, 0, 1, doc="share of an offender's posts that are adult_sexual")
    group_post_share: float = param(0.25, 0, 1, doc="share of posts made into one of the author's groups")
    appeal_sigma: float = param(0.5, 0, 3, doc="log-normal spread of item appeal")
    harm_appeal_lift: float = param(0.6, 0, 10, doc="appeal lift of harmful classes: appeal x (1 + lift)")
    topic_noise: float = param(0.3, 0, 5, doc="spread of an item's topic around its author's interest")
    retention_days: int = param(7, 1, 365, doc="days an item stays in the store (and can be served)")


@dataclass
class RecommenderConfig:
    """The feed policy and how candidates are gathered (phase 3)."""

    feed: str = param("engagement", doc="feed ranking policy (registry name)")
    feed_size: int = param(10, 1, 200, doc="impressions served per session")
    candidates: int = param(40, 1, 1000, doc="candidate items gathered per session")
    out_of_network_share: float = param(0.3, 0, 1, doc="share of candidates drawn from the global pool")
    recency_days: int = param(3, 1, 365, doc="how old an item may be and still be a candidate")
    popular_pool_share: float = param(0.5, 0, 1, doc="share of out-of-network candidates drawn by popularity rather than uniformly")
    w_similarity: float = param(3.0, 0, 100, doc="engagement policy: weight of topic similarity")
    w_popularity: float = param(0.5, 0, 100, doc="engagement policy: weight of log(1 + engagements)")
    w_appeal: float = param(1.0, 0, 100, doc="engagement policy: weight of log(appeal)")
    w_affinity: float = param(4.0, 0, 100, doc="engagement policy: weight of the viewer's learned harmful-engagement rate on harmful items")
    chunk_sessions: int = param(65_536, 1024, 10_000_000, doc="sessions ranked per block (bounds memory; it orders the random draws too, so keep it fixed across runs you compare)")
    accounts: str = param("mixed", doc="account suggester (registry name; off disables)",
                          registry="account_suggester", choices=("off",))
    account_suggestions: int = param(5, 0, 100, doc="accounts suggested per active account per day")
    new_account_share: float = param(0.05, 0, 1, doc="share of account-suggestion slots given to newly joined accounts (the cold-start boost that helps new users connect)")
    new_account_days: int = param(30, 0, 3650, doc="days after joining during which an account gets the cold-start boost")
    accept_suggestion_adult: float = param(0.01, 0, 1, doc="chance an adult follows a suggested account (calibrated: configs/calibration/calibrated.yaml)")
    accept_suggestion_minor: float = param(0.05, 0, 1, doc="chance a minor follows a suggested account")
    groups: str = param("interest", doc="group suggester: by interest and co-membership, or off",
                        registry="group_suggester", choices=("off",))
    group_suggestions: int = param(2, 0, 100, doc="groups suggested per active account per day")
    accept_group: float = param(0.02, 0, 1, doc="chance an account joins a suggested group (offenders: harmful ones always)")


@dataclass
class ContactConfig:
    """Discovery, contact attempts, minors' responses and conversations (phase 6)."""

    offender_attempts_per_day: float = param(1.804, 0, 1000, doc="mean contact attempts per offender per day (calibrated: configs/calibration/calibrated.yaml)")
    discovered_max: int = param(64, 1, 10_000, doc="minors an offender keeps in his discovered set (oldest dropped first)")
    search_per_day: float = param(0.2507, 0, 1000, doc="mean public accounts an offender looks at through search per day (calibrated: configs/calibration/calibrated.yaml)")
    group_browse_per_day: float = param(0.6556, 0, 1000, doc="mean fellow group members an offender looks at per day (calibrated: configs/calibration/calibrated.yaml)")
    network_browse_per_day: float = param(0.06244, 0, 1000, doc="mean followers-of-followees an offender looks at per day (calibrated: configs/calibration/calibrated.yaml)")
    prefer_young: float = param(2.0, 1, 100, doc="target weight of a 13-15-year-old relative to a 16-17-year-old")
    prefer_public: float = param(2.0, 1, 100, doc="target weight of a public account relative to a private one")
    message_share: float = param(0.5, 0, 1, doc="share of an offender's attempts that are messages (requests if not followed back)")
    follow_share: float = param(0.25, 0, 1, doc="share that are follow requests")
    comment_share: float = param(0.2, 0, 1, doc="share that are comments (on the target's posts)")
    group_add_share: float = param(0.05, 0, 1, doc="share that are adds to one of the offender's groups")
    adult_known_contact_per_day: float = param(0.05, 0, 10, doc="mean messages per day from an ordinary adult to a minor who follows them (family, teachers)")
    adult_stranger_contact_per_day: float = param(0.0005, 0, 10, doc="mean stranger contacts per ordinary adult per day (to a public minor)")
    minor_peer_contact_per_day: float = param(0.3, 0, 100, doc="mean messages per minor per day to a minor they follow")
    reply_known: float = param(0.6, 0, 1, doc="chance a minor replies to someone they follow")
    reply_stranger_13_15: float = param(0.2, 0, 1, doc="chance a 13-15-year-old replies to an adult stranger's contact")
    reply_stranger_16_17: float = param(0.15, 0, 1, doc="chance a 16-17-year-old replies to an adult stranger's contact")
    block_stranger: float = param(0.2, 0, 1, doc="chance a minor blocks an adult stranger after a contact")
    report_stranger: float = param(0.06, 0, 1, doc="chance a minor reports an adult stranger after a contact")
    accept_follow_request: float = param(0.3, 0, 1, doc="chance a private minor accepts a stranger's follow request")
    recontact_after_block: float = param(0.5, 0, 1, doc="chance a blocked offender keeps the target and comes back (from another account)")
    advance_rapport: float = param(0.6773, 0, 1, doc="chance a reply moves a conversation from contact to rapport (calibrated: configs/calibration/calibrated.yaml)")
    advance_solicitation: float = param(0.4517, 0, 1, doc="chance a reply moves an offender's conversation from rapport to solicitation (calibrated: configs/calibration/calibrated.yaml)")
    advance_escalated: float = param(0.15, 0, 1, doc="chance a reply moves a solicitation off-platform (escalated)")
    end_per_day: float = param(0.05, 0, 1, doc="chance an open conversation ends on a given day")
    explicit_image_share: float = param(0.9134, 0, 1, doc="share of offenders' messages and requests that carry an explicit image (calibrated: configs/calibration/calibrated.yaml)")
    displacement: float = param(0.5, 0, 1, doc="offender adaptation: share of the effort a safeguard closes off that moves to other targets and channels (0: deterred, 1: fully displaced)")


@dataclass
class ClassifierConfig:
    """A proactive classifier, set by its operating point."""

    recall: float = param(0.9, 0, 1, doc="share of violating items (adult_sexual, exploitative) scored above the removal threshold")
    false_positive_rate: float = param(0.001, 0, 1, doc="share of other items (none, suggestive) scored above the removal threshold")


@dataclass
class ModerationConfig:
    """Platform moderation (phases 2 and 7)."""

    enabled: bool = param(True, doc="run moderation (classifier, review queue, strikes and bans)")
    classifier: ClassifierConfig = field(default_factory=ClassifierConfig)
    review_threshold: float = param(0.45, 0, 0.5, doc="classifier score from which an upload below the removal threshold (0.5) is queued for review")
    review_capacity_per_1k: float = param(1.0, 0, 10_000, doc="queued items reviewed per day, per 1,000 accounts (highest priority first)")
    review_latency_days: int = param(1, 0, 365, doc="days an item waits in the queue before it can be reviewed")
    reviewer_accuracy: float = param(0.9, 0, 1, doc="chance a reviewer decides an item (or a reported account) correctly")
    strikes_to_ban: int = param(10, 1, 1000, doc="strikes that get an account banned (a removed item is one strike)")
    report_strikes: int = param(5, 1, 1000, doc="strikes for an upheld report by a minor about an adult's contact (child-safety violations weigh more)")
    ban_evasion_share: float = param(0.5, 0, 1, doc="share of banned offenders who come back as a new account (same role, no graph)")
    ban_evasion_delay_days: int = param(3, 0, 365, doc="days before a banned offender's new account appears")
    flag_requests_threshold: int = param(5, 1, 10_000, doc="stranger contacts to minors in the window that flag an adult as suspicious")
    flag_window_days: int = param(7, 1, 365, doc="window of the request count, days")
    detector_correlation: float = param(0.5, 0, 1, doc="chance, per item or account, that a safeguard's detector reads the moderation classifier's latent score instead of its own draw (0: independent errors, 1: they miss the same items)")


@dataclass
class FeedFilteringConfig:
    """S8: recommender filtering for children (Ofcom Protection of Children Codes)."""

    enabled: bool = param(False, doc="filter and downrank harmful classes in protected accounts' feeds")
    filter_classes: list[str] = param(["adult_sexual", "exploitative"], doc="classes removed from protected feeds",
                                      choices=HARMFUL_CLASSES)
    downrank_classes: list[str] = param(["suggestive"], doc="classes downranked in protected feeds",
                                        choices=HARMFUL_CLASSES)
    downrank_factor: float = param(0.3, 0, 1, doc="score multiplier for downranked classes (0 removes them)")
    classifier_recall: float = param(0.87, 0, 1, doc="share of items of a filtered or downranked class the filter recognises")
    false_positive_rate: float = param(0.014, 0, 1, doc="share of other items the filter wrongly removes from protected feeds (benign content withheld)")


@dataclass
class PrivateByDefaultConfig:
    """S1: protected minors' accounts start private."""

    enabled: bool = param(False, doc="protected accounts up to max_age are made private")
    max_age: int = param(MAX_MINOR_AGE, MIN_AGE, MAX_MINOR_AGE, doc="oldest declared age the default applies to")
    switch_public_share: float = param(0.03, 0, 1, doc="share who switch back to public (Meta: 97% of 13-15s kept the default)")


@dataclass
class DmFromConnectionsOnlyConfig:
    """S2: only accounts a protected minor follows may message them or add them to groups."""

    enabled: bool = param(False, doc="block messages and group adds from accounts the protected minor does not follow")
    max_age: int = param(MAX_MINOR_AGE, MIN_AGE, MAX_MINOR_AGE, doc="oldest declared age the restriction applies to")
    request_allowance: int = param(1, 0, 100, doc="text-only message requests a stranger may still send each protected minor")


@dataclass
class SuspiciousAdultExclusionConfig:
    """S3: flagged adults are hidden from minors and lose the message button to them."""

    enabled: bool = param(False, doc="hide suspected adults from protected minors and block their stranger contact")
    recall: float = param(0.8, 0, 1, doc="share of adults flagged by moderation's signals (blocks, reports, many requests to minors) the safeguard acts on")
    false_positive_rate: float = param(0.001, 0, 1, doc="share of other adults wrongly treated as suspicious")
    basis: str = param("signals", doc="signals: act on adults moderation flagged (blocks, reports, requests); offenders: on the true offenders, an analytic bound", choices=("signals", "offenders"))


@dataclass
class SafetyNoticesConfig:
    """S4: a notice on messages from flagged or new adults raises blocking and reporting."""

    enabled: bool = param(False, doc="show safety notices to protected minors")
    block_lift: float = param(2.0, 1, 20, doc="multiplier of the block probability when a notice is shown")
    report_lift: float = param(2.0, 1, 20, doc="multiplier of the report probability when a notice is shown")
    new_account_days: int = param(30, 0, 3650, doc="senders younger than this count as new")


@dataclass
class NoMinorSuggestionsConfig:
    """S5: protected minors are not suggested to adults, nor adults to them."""

    enabled: bool = param(False, doc="keep protected minors and adults out of each other's suggestions")
    max_age: int = param(MAX_MINOR_AGE, MIN_AGE, MAX_MINOR_AGE, doc="oldest declared age the rule applies to")


@dataclass
class HiddenConnectionsConfig:
    """S6: protected minors cannot be found through followers-of-followees."""

    enabled: bool = param(False, doc="block contact that found a protected minor through someone's connection list")


@dataclass
class SensitiveContentControlConfig:
    """S7: sensitive classes out of protected minors' out-of-network slots; no following producers."""

    enabled: bool = param(False, doc="apply the sensitive-content control to protected accounts")
    level: str = param("13+", doc="more: explicit classes out of recommendations; 13+: suggestive too; "
                       "limited: all harmful classes everywhere", choices=("more", "13+", "limited"))
    block_producer_follows: bool = param(True, doc="protected minors cannot follow adult-content producers")
    classifier_recall: float = param(0.8, 0, 1, doc="share of sensitive items the control recognises")
    false_positive_rate: float = param(0.014, 0, 1, doc="share of other items the control wrongly withholds")


#: Age-assurance methods (docs/SOURCES.md#age-assurance): what one check learns about an account's age.
AGE_ASSURANCE_METHODS = ("self_declaration", "facial_estimation", "document")


@dataclass
class AgeAssuranceConfig:
    """S9: checks of an account's age by a method with an error, run at set moments.

    The defaults describe a facial-estimation deployment with a document
    fallback: vendor-reported error (Yoti, MAE about 1.4-1.55 years for
    13-17-year-olds; NIST reports higher errors, NISTIR 7995's best MAE was
    4.3 years) and a "Challenge 25"-style buffer. ``evasion_share`` (0.1) is
    an assumption, not a measured figure.
    """

    enabled: bool = param(False, doc="run age-assurance checks")
    method: str = param("facial_estimation", doc="how a check estimates age: self_declaration (learns nothing new), "
                        "facial_estimation (true age + Gaussian error; under the threshold, a document check), "
                        "document (an adult passes with document_adult_pass, a minor never)",
                        choices=AGE_ASSURANCE_METHODS)
    estimation_mae_years: float = param(1.5, 0, 10, doc="mean absolute error of facial age estimation, years (Gaussian, "
                                        "sigma = MAE * sqrt(pi/2)); vendor-reported 1.4-1.55 for 13-17, NISTIR 7995 best 4.3")
    buffer_years: float = param(3.0, 0, 20, doc="facial estimation passes an account as adult when the estimate is at "
                                "least 18 + buffer_years (3: 21, a 'Challenge 25'-style buffer)")
    document_adult_pass: float = param(0.97, 0, 1, doc="chance an adult passes a document check (the rest have no ID at "
                                       "hand and are taken for minors); once passed, a document check always passes")
    evasion_share: float = param(0.1, 0, 1, doc="share of minors who evade every check persistently while registered "
                                 "as adults (a borrowed ID, an adult's face), drawn once per account; an assumption "
                                 "(decoys never evade)")
    at_registration: bool = param(True, doc="check accounts when they register, before their first session")
    before_first_contact: bool = param(False, doc="check both accounts, if never checked, before a stranger the "
                                       "platform takes for an adult contacts someone")
    on_flags: bool = param(True, doc="check accounts newly flagged as suspicious adults")
    youth_signal_per_day: float = param(0.01, 0, 1, doc="chance per day that an unprotected minor trips an age signal "
                                        "(content, a report of being under age) that triggers a check")
    false_signal_per_day: float = param(0.0005, 0, 1, doc="chance per day that an unprotected adult trips an age signal "
                                        "that triggers a check")
    cadence_days: int = param(0, 0, 3650, doc="periodic re-check of every account on average once in this many days "
                              "(0: no periodic check)")


@dataclass
class HashMatchingConfig:
    """S10: known exploitative items are blocked at upload."""

    enabled: bool = param(False, doc="match uploads against hashes of known exploitative items")
    known_share: float = param(0.5, 0, 1, doc="share of exploitative items that are already known (hashed)")
    recall_on_known: float = param(0.99, 0, 1, doc="share of known items the match catches")
    false_positive_rate: float = param(1e-6, 0, 1, doc="share of other uploads wrongly matched and blocked")


@dataclass
class NudityProtectionConfig:
    """S11: explicit images in messages to protected minors are blurred."""

    enabled: bool = param(False, doc="blur explicit images in messages to protected accounts")
    recall: float = param(0.9, 0, 1, doc="share of explicit images recognised and blurred")
    false_positive_rate: float = param(0.01, 0, 1, doc="share of messages without an explicit image wrongly blurred")
    block_lift: float = param(1.5, 1, 20, doc="multiplier of the block probability for a blurred image")


@dataclass
class CommentFilterConfig:
    """S12: unwanted comments from non-followers are hidden."""

    enabled: bool = param(False, doc="filter comments from accounts a protected minor does not follow")
    recall: float = param(0.8, 0, 1, doc="share of offenders' comments from non-followers the filter catches")
    false_positive_rate: float = param(0.05, 0, 1, doc="share of other adults' comments from non-followers it wrongly hides")


@dataclass
class GroupAddConsentConfig:
    """S13: protected minors cannot be added to groups by non-connections."""

    enabled: bool = param(False, doc="require a connection to add a protected minor to a group")


@dataclass
class UsageLimitsConfig:
    """S15: a daily-time reminder and night-time quiet hours cut protected minors' sessions."""

    enabled: bool = param(False, doc="apply usage limits to protected accounts")
    max_sessions_per_day: int = param(4, 1, 100, doc="sessions after which the reminder ends the day's use")
    quiet_hours_share: float = param(0.15, 0, 1, doc="share of sessions that fell in quiet hours and are dropped")


@dataclass
class SafeguardsConfig:
    """Safeguards: ``preset`` names the preset the values came from; each section one safeguard.

    The sections here are the built-in safeguards', in catalogue order (which
    orders the per-safeguard output columns); each must be the ``config_class``
    of the safeguard registered under its name. :func:`schema` appends the
    sections of safeguards that plug-ins register.
    """

    preset: str = param("none", doc="name of the preset these settings came from")
    private_by_default: PrivateByDefaultConfig = field(default_factory=PrivateByDefaultConfig)
    dm_from_connections_only: DmFromConnectionsOnlyConfig = field(default_factory=DmFromConnectionsOnlyConfig)
    suspicious_adult_exclusion: SuspiciousAdultExclusionConfig = field(default_factory=SuspiciousAdultExclusionConfig)
    safety_notices: SafetyNoticesConfig = field(default_factory=SafetyNoticesConfig)
    no_minor_suggestions: NoMinorSuggestionsConfig = field(default_factory=NoMinorSuggestionsConfig)
    hidden_connections: HiddenConnectionsConfig = field(default_factory=HiddenConnectionsConfig)
    sensitive_content_control: SensitiveContentControlConfig = field(default_factory=SensitiveContentControlConfig)
    feed_filtering: FeedFilteringConfig = field(default_factory=FeedFilteringConfig)
    age_assurance: AgeAssuranceConfig = field(default_factory=AgeAssuranceConfig)
    hash_matching: HashMatchingConfig = field(default_factory=HashMatchingConfig)
    nudity_protection: NudityProtectionConfig = field(default_factory=NudityProtectionConfig)
    comment_filter: CommentFilterConfig = field(default_factory=CommentFilterConfig)
    group_add_consent: GroupAddConsentConfig = field(default_factory=GroupAddConsentConfig)
    usage_limits: UsageLimitsConfig = field(default_factory=UsageLimitsConfig)


#: The built-in safeguards, in catalogue order (:func:`safeguard_names` adds the plug-ins').
SAFEGUARD_NAMES = tuple(f.name for f in dataclasses.fields(SafeguardsConfig) if f.name != "preset")


@dataclass
class DecoysConfig:
    """Audit probe accounts: decoys that mirror an undercover audit (docs/ODD.md §2.1, §5.1)."""

    n: int = param(20, 0, 100_000, doc="number of decoy accounts")
    age: int = param(MIN_AGE, MIN_AGE, MAX_MINOR_AGE, doc="true age of the decoys")
    declared_age: int = param(21, MIN_AGE, 99, doc="age the decoys registered with")
    sessions_per_day: float = param(3.0, 0.1, 50, doc="feed sessions per decoy per day (exactly, every day)")
    posts_per_day: float = param(1.0, 0, 100, doc="mean posts per decoy per day (the age shows through the posts)")
    private: bool = param(False, doc="whether decoys set their accounts private")
    join_day: int = param(15, 1, 3650, doc="day the decoys register, as ordinary newcomers after a burn-in (their figures count from it)")


@dataclass
class OutputConfig:
    """What a run writes."""

    days_table: bool = param(True, doc="write days.parquet (per-day cohort rows)")
    decoys_table: bool = param(True, doc="write decoys.parquet (one row per decoy)")
    contacts_table: bool = param(True, doc="write contacts.parquet (day x cohort x sender x channel x kind)")
    resume: bool = param(True, doc="skip a run whose folder already holds a complete, verified run of the same "
                         "config, input files and code (false: always recompute)")


@dataclass
class DesignConfig:
    """One point of a parameter design: a row of a table of values (calibration, sensitivity; sim.design)."""

    path: str | None = param(None, doc="Parquet table of parameter points, one column per dotted key "
                             "(written by sim.calibrate and sim.sensitivity)")
    row: int = param(0, 0, 10_000_000, doc="the row of design.path whose values this run takes")


@dataclass
class Config:
    """The whole run."""

    seed: int = param(0, 0, 2**63 - 1, doc="root seed; every random stream derives from it (through the replicate)")
    replicate: int = param(0, 0, 1_000_000, doc="replicate index; the run's seed is a hash of (seed, replicate), "
                           "replicate 0 runs on the root seed itself (see run_seed)")
    days: int = param(60, 1, 3650, doc="simulated days")
    measure_days: int = param(28, 1, 3650, doc="the summary is measured over the last this-many days (burn-in excluded)")
    population: PopulationConfig = field(default_factory=PopulationConfig)
    network: NetworkConfig = field(default_factory=NetworkConfig)
    content: ContentConfig = field(default_factory=ContentConfig)
    recommender: RecommenderConfig = field(default_factory=RecommenderConfig)
    contact: ContactConfig = field(default_factory=ContactConfig)
    moderation: ModerationConfig = field(default_factory=ModerationConfig)
    safeguards: SafeguardsConfig = field(default_factory=SafeguardsConfig)
    decoys: DecoysConfig = field(default_factory=DecoysConfig)
    output: OutputConfig = field(default_factory=OutputConfig)
    design: DesignConfig = field(default_factory=DesignConfig)


_SCHEMA: list[type[Config]] = []          # built once, by the first call of schema()


def schema() -> type[Config]:
    """The schema of a run's config: :class:`Config`, with a section for every registered safeguard.

    A safeguard's section is ``safeguards.<name>``, of the ``config_class`` it
    was registered with (:mod:`sim.registry`). The built-in sections are the
    fields of :class:`SafeguardsConfig`; each is checked against its
    registered safeguard. When plug-ins register safeguards, the schema is
    ``ExtendedConfig``, a subclass of :class:`Config` whose ``safeguards``
    section (``ExtendedSafeguardsConfig``) has their sections appended, in the
    order they were registered; otherwise it is :class:`Config` itself. Hydra
    composes against it and the pre-flight check knows its keys, so
    ``safeguards.<plug-in>.enabled=true`` works on the command line; in Python,
    ``schema()()`` is a default config with every section.

    Built at the first call (which loads the registry), then fixed.

    Raises:
        registry.RegistrationError: a built-in section without its safeguard,
            or a safeguard registered with another section's class.
    """
    if not _SCHEMA:
        _SCHEMA.append(_build_schema())
    return _SCHEMA[0]


def safeguard_names() -> tuple[str, ...]:
    """Every safeguard of the schema in order: the built-in ones (:data:`SAFEGUARD_NAMES`), then plug-ins'.

    The order safeguards act in at each hook, and the order of the per-safeguard output columns.
    """
    sections = dataclasses.fields(schema().__dataclass_fields__["safeguards"].default_factory)
    return tuple(f.name for f in sections if f.name != "preset")


def _build_schema() -> type[Config]:
    sections = {name: registry.get("safeguard", name).config_class for name in registry.names("safeguard")}
    for f in dataclasses.fields(SafeguardsConfig):
        if f.name == "preset":
            continue
        if f.name not in sections:
            raise registry.RegistrationError(f"the config section safeguards.{f.name} has no safeguard: register one "
                                             f"as {f.name!r} (sim.registry)")
        if sections[f.name] is not f.default_factory:
            raise registry.RegistrationError(
                f"safeguard {f.name!r} is registered with config_class {sections[f.name].__qualname__}, but its "
                f"section safeguards.{f.name} is {f.default_factory.__qualname__}")
    added = [(name, section, field(default_factory=section)) for name, section in sections.items()
             if name not in SAFEGUARD_NAMES]
    if not added:
        return Config
    safeguards = dataclasses.make_dataclass(
        "ExtendedSafeguardsConfig", added, bases=(SafeguardsConfig,),
        namespace={"__module__": __name__, "__doc__": "SafeguardsConfig with the sections plug-ins' safeguards bring."})
    extended = dataclasses.make_dataclass(
        "ExtendedConfig", [("safeguards", safeguards, field(default_factory=safeguards))], bases=(Config,),
        namespace={"__module__": __name__, "__doc__": "Config with the sections plug-ins' safeguards bring."})
    # Module attributes, so that instances pickle by reference (a process that imports sim builds the same).
    globals().update(ExtendedSafeguardsConfig=safeguards, ExtendedConfig=extended)
    return extended


def run_seed(cfg: Config) -> int:
    """The seed a run's random streams derive from: ``seed`` for replicate 0, else a hash of both.

    Replicate ``r`` of root seed ``s`` always gets the same seed, whatever else
    the sweep holds (it does not depend on Hydra's job number), so a sweep can be
    extended with more replicates without changing the runs it already has, and
    runs of different settings with the same (seed, replicate) are paired: they
    share the world and the draws of every phase the settings do not change.
    """
    if cfg.replicate == 0:
        return int(cfg.seed)
    digest = hashlib.blake2b(f"exposim-replicate:{cfg.seed}:{cfg.replicate}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "little") >> 1       # 63 bits: a valid root seed


def _allowed_names(meta: Any, plugins: bool = True) -> tuple[str, ...] | None:
    """A field's allowed names: its fixed choices, or the names registered for its kind plus its choices."""
    choices = meta.get("choices")
    kind = meta.get("registry")
    if kind is None:
        return choices
    return registry.names(kind, plugins=plugins) + tuple(choices or ())


def _check_field(key: str, value: Any, meta: dict) -> None:
    lo, hi, choices = meta.get("lo"), meta.get("hi"), _allowed_names(meta)
    if choices is not None:
        values = value if isinstance(value, list) else [value]
        bad = [v for v in values if v not in choices]
        if bad:
            raise ConfigError(f"{key}={value!r}: {bad[0]!r} is not allowed; choose from {', '.join(choices)}")
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return
    if isinstance(value, float) and not math.isfinite(value):
        raise ConfigError(f"{key}={value!r}: must be a finite number")
    if (lo is not None and value < lo) or (hi is not None and value > hi):
        raise ConfigError(f"{key}={value!r} is out of range: allowed {lo} <= {key.rsplit('.', 1)[-1]} <= {hi}")


def _walk(obj: Any, prefix: str) -> None:
    for f in dataclasses.fields(obj):
        key = f"{prefix}{f.name}"
        value = getattr(obj, f.name)
        if dataclasses.is_dataclass(value):
            _walk(value, key + ".")
        else:
            _check_field(key, value, f.metadata)


def validate(cfg: Config) -> Config:
    """Check every range and cross-field rule; raise :class:`ConfigError` naming the key.

    Args:
        cfg: a fully built config object.

    Returns:
        The same object, for chaining.
    """
    _walk(cfg, "")
    feeds = registry.names("feed_policy")
    if cfg.recommender.feed not in feeds:
        raise ConfigError(f"recommender.feed={cfg.recommender.feed!r} is not a feed policy; "
                          f"choose from {', '.join(sorted(feeds))}")
    if cfg.measure_days > cfg.days:
        raise ConfigError(f"measure_days={cfg.measure_days} exceeds days={cfg.days}: the summary is measured over "
                          f"the last measure_days of the run; set measure_days<={cfg.days} or raise days")
    if cfg.decoys.n > 0 and cfg.decoys.join_day > cfg.days:
        raise ConfigError(f"decoys.join_day={cfg.decoys.join_day} exceeds days={cfg.days}: the decoys register on "
                          f"decoys.join_day and would never be on the platform; set decoys.join_day<={cfg.days}, "
                          f"raise days or set decoys.n=0")
    pop = cfg.population
    if cfg.network.kind == "synthetic":
        # A graph file settles the population size; sim.inputs checks its decoys once it is read.
        max_decoys = max(1, int(pop.n * MAX_DECOY_SHARE))
        if cfg.decoys.n > max_decoys:
            raise ConfigError(f"decoys.n={cfg.decoys.n} is too many for population.n={pop.n}: decoys are an audit "
                              f"sample added to the world and may be at most {MAX_DECOY_SHARE:.0%} of its accounts; set "
                              f"decoys.n<={max_decoys} or raise population.n")
    # Creators are drawn afterwards among the remaining regular accounts, so they are not in this sum.
    role_sum = pop.offender_share + pop.adult_content_producer_share + pop.exploitative_seller_share
    if role_sum > 1:
        raise ConfigError(f"population: offender_share + adult_content_producer_share + exploitative_seller_share "
                          f"= {role_sum:g} exceeds 1; lower one of them")
    for key in ("producer", "seller"):
        c = cfg.content
        total = (c.producer_adult_sexual_share + c.producer_suggestive_share if key == "producer"
                 else c.seller_exploitative_share + c.seller_adult_sexual_share)
        if total > 1:
            raise ConfigError(f"content: the {key}'s harm-class shares add up to {total:g}; they must not exceed 1")
    c = cfg.contact
    kinds = c.message_share + c.follow_share + c.comment_share + c.group_add_share
    if abs(kinds - 1.0) > 1e-6:
        raise ConfigError(f"contact: message_share + follow_share + comment_share + group_add_share = {kinds:g}; "
                          f"they are the offenders' mix of attempt kinds and must add up to 1")
    if cfg.recommender.recency_days > cfg.content.retention_days:
        raise ConfigError(f"recommender.recency_days={cfg.recommender.recency_days} exceeds "
                          f"content.retention_days={cfg.content.retention_days}: items cannot be served after "
                          f"they leave the store; lower recency_days or raise retention_days")
    if cfg.network.kind == "file" and not cfg.network.path:
        raise ConfigError("network.path is empty: network=file needs network.path=<edge list or GraphML file>")
    if cfg.network.kind != "file" and cfg.network.path:
        raise ConfigError(f"network.path={cfg.network.path!r} is set but network.kind={cfg.network.kind!r} "
                          f"generates the graph and would ignore the file; add network=file to read it")
    return cfg


def field_docs(cls: type = Config, prefix: str = "") -> list[tuple[str, Any, str, str]]:
    """Every leaf key with its default, allowed range and description (for docs and error help)."""
    rows = []
    for f in dataclasses.fields(cls):
        key = f"{prefix}{f.name}"
        if f.default_factory is not dataclasses.MISSING and dataclasses.is_dataclass(f.default_factory):
            rows += field_docs(f.default_factory, key + ".")
            continue
        default = f.default if f.default is not dataclasses.MISSING else f.default_factory()
        meta = f.metadata
        names = _allowed_names(meta, plugins=False)      # the reference lists the built-in names
        allowed = ", ".join(names) if names else (
            f"{meta['lo']} .. {meta['hi']}" if meta.get("lo") is not None else "")
        rows.append((key, default, allowed, meta.get("doc", "")))
    return rows


def config_reference_markdown() -> str:
    """docs/CONFIG.md: every key with its default, allowed values and meaning.

    Regenerate with (a test checks it is current)::

        python -c "import sim.config as c; print(c.config_reference_markdown(), end='')" > docs/CONFIG.md
    """
    lines = [
        "# Configuration reference",
        "",
        "Every key of `python -m sim`, generated from `sim.config.Config` (do not edit by hand;",
        "`config_reference_markdown()` in sim/config.py says how to regenerate it). Override any key on the command line,",
        "e.g. `python -m sim population.n=50000 recommender=chronological`. A value outside",
        "its range, an unknown key, a wrong type or an unknown option stops the run with",
        "exit status 2 before anything is simulated.",
        "",
        "| key | default | allowed | meaning |",
        "| --- | --- | --- | --- |",
    ]
    for key, default, allowed, doc in field_docs():
        lines.append(f"| `{key}` | `{default!r}` | {allowed} | {doc} |")
    return "\n".join(lines) + "\n"

