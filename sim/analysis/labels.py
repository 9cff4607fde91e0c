"""Which summary figures a comparison shows, in what order, under which names.

Core objects: :data:`LABELS`, :data:`HARM_METRICS`, :data:`CONTACT_METRICS`,
:data:`SENDER_METRICS`, :data:`DECOY_METRICS`, :data:`COST_METRICS`,
:data:`HEADLINE`, :data:`HEADLINE_GROUPS`, :data:`TIMELINE_SERIES`, :func:`label`, :func:`title`;
:func:`setting_label` (from :mod:`sim.analysis.settings`) names settings.

``comparison.parquet`` holds every numeric summary column; these lists only
choose what the terminal table and the report put first. For every figure
here lower is better for minors except the costs, where lower is better for
everyone else (fewer legitimate contacts blocked or prevented, fewer benign
items withheld, fewer adults wrongly treated as minors) — with the exceptions
of minors' engagement and sessions (per minor-day, per session), where a fall
is the cost.

Every figure has one name, here, used by the terminal table, the report and
the studies' READMEs; a share is shown as a percentage everywhere
(:func:`scale`, :func:`title`).
"""

from __future__ import annotations

from sim.analysis.settings import IDEAL_NOTE, IDEAL_PRESET, is_ideal, setting_label

__all__ = ["CONTACT_METRICS", "COST_METRICS", "DAY_METRICS", "DECOY_METRICS", "HARM_METRICS", "HEADLINE",
           "HEADLINE_GROUPS", "IDEAL_NOTE", "IDEAL_PRESET", "LABELS", "SENDER_METRICS", "TIMELINE_SERIES", "is_ideal",
           "is_share", "label", "scale", "setting_label", "title"]

LABELS: dict[str, str] = {
    "minor_violating_prevalence_per_10k": "violating impressions per 10k, minors (the platform's prevalence)",
    "minor_borderline_prevalence_per_10k": "borderline (suggestive) impressions per 10k, minors",
    "minor_13_15_sexual_image_7d_share": "13-15s who saw an explicit image in 7 days (feed or message)",
    "minor_sexual_image_7d_share": "minors who saw an explicit image in 7 days (feed or message)",
    "minor_exposed_7d_share": "minors shown harmful content (any class) in 7 days",
    "minor_explicit_exposed_7d_share": "minors shown explicit items in their feed in 7 days",
    "minor_13_15_explicit_exposed_7d_share": "13-15s shown explicit items in their feed in 7 days",
    "minor_harm_prevalence_per_10k": "harmful impressions per 10k (all classes), minors",
    "minor_13_15_sexual_advance_7d_share": "13-15s with an unwanted sexual advance in 7 days",
    "minor_sexual_advance_7d_share": "minors with an unwanted sexual advance in 7 days",
    "minor_sexual_advance_28d_share": "minors with an unwanted sexual advance in 28 days",
    "sexual_advances_per_1k_minor_days": "unwanted sexual advances per 1,000 minor-days",
    "unwanted_contact_from_offenders_per_1k_minor_days": "unwanted contacts from offenders per 1,000 minor-days",
    "unwanted_contact_from_other_adults_per_1k_minor_days":
        "unwanted contacts from other adults per 1,000 minor-days",
    "minor_unwanted_contact_from_offenders_7d_share": "minors contacted by an offender stranger in 7 days",
    "minor_unwanted_contact_from_other_adults_7d_share": "minors contacted by another adult stranger in 7 days",
    "unwanted_contact_share_via_suggestion": "unwanted contact: share via account suggestions",
    "unwanted_contact_share_via_suggestion_offenders": "offenders' unwanted contact: share via account suggestions",
    "unwanted_contact_share_via_suggestion_other_adults":
        "other adults' unwanted contact: share via account suggestions",
    "minor_unwanted_contact_7d_share": "minors contacted by an adult stranger in 7 days",
    "unwanted_contact_per_1k_minor_days": "unwanted contacts per 1,000 minor-days (all adults)",
    "decoy_days_to_first_harm": "decoys: day of first harmful impression",
    "decoy_days_to_first_unwanted_contact": "decoys: day of first unwanted contact",
    "decoy_unwanted_contacts_from_offenders_per_week": "decoys: unwanted contacts from offenders per week",
    "decoy_unwanted_contacts_from_other_adults_per_week": "decoys: unwanted contacts from other adults per week",
    "decoy_sexual_advances_per_week": "decoys: unwanted sexual advances per week",
    "decoy_unwanted_contacts_per_week": "decoys: unwanted contacts per week",
    "decoy_unwanted_contacts_first_week": "decoys: unwanted contacts in their first week",
    "decoy_explicit_images_per_week": "decoys: explicit images per week",
    "decoy_days_to_first_harmful_suggestion": "decoys: day of first harmful account suggestion",
    "decoy_harmful_impressions_per_week": "decoys: harmful impressions per week",
    "legit_contact_prevented_share": "ordinary adults' contact to minors blocked or prevented",
    "legit_contact_blocked_share": "ordinary adults' contact to minors blocked",
    "peer_contact_blocked_share": "minors' contacts to peers blocked",
    "minor_benign_withheld_per_1k_impressions": "benign items withheld from minors' feeds per 1,000 impressions",
    "benign_messages_blurred_share": "benign messages to minors wrongly blurred",
    "adults_wrongly_protected_per_1k_adults": "adults wrongly treated as minors per 1,000 adults",
    "adults_wrongly_flagged_per_1k_adults": "ordinary adults wrongly flagged per 1,000 adults",
    "minor_engagements_per_minor_day": "minors' engagements per minor-day",
    "minor_sessions_per_minor_day": "minors' sessions per minor-day",
    "minor_protected_share": "minors treated as minors (declared or found by age checks)",
    "minor_engagements_per_session": "minors' engagements per session",
    "benign_removed_share": "benign uploads wrongly removed",
    "contacts_blocked_by_safeguards": "contacts stopped by safeguards per 1,000 minor-days",
    "offenders_banned_share": "offenders banned by the end",
}

HARM_METRICS = ("minor_violating_prevalence_per_10k", "minor_borderline_prevalence_per_10k",
                "minor_13_15_sexual_image_7d_share")
CONTACT_METRICS = ("unwanted_contact_from_offenders_per_1k_minor_days",
                   "unwanted_contact_from_other_adults_per_1k_minor_days", "minor_13_15_sexual_advance_7d_share")
#: Unwanted contact split by sender: (offenders, other adults) pairs, shown side by side.
SENDER_METRICS = (
    ("unwanted_contact_from_offenders_per_1k_minor_days", "unwanted_contact_from_other_adults_per_1k_minor_days"),
    ("minor_unwanted_contact_from_offenders_7d_share", "minor_unwanted_contact_from_other_adults_7d_share"),
    ("unwanted_contact_share_via_suggestion_offenders", "unwanted_contact_share_via_suggestion_other_adults"),
    ("decoy_unwanted_contacts_from_offenders_per_week", "decoy_unwanted_contacts_from_other_adults_per_week"),
)
DECOY_METRICS = ("decoy_days_to_first_harm", "decoy_days_to_first_unwanted_contact",
                 "decoy_unwanted_contacts_from_offenders_per_week", "decoy_sexual_advances_per_week",
                 "decoy_harmful_impressions_per_week")
COST_METRICS = ("legit_contact_prevented_share", "legit_contact_blocked_share", "peer_contact_blocked_share",
                "minor_benign_withheld_per_1k_impressions", "benign_messages_blurred_share",
                "adults_wrongly_protected_per_1k_adults", "adults_wrongly_flagged_per_1k_adults",
                "minor_engagements_per_minor_day", "minor_sessions_per_minor_day", "benign_removed_share")

#: The terminal table's rows and the report's main table, in order.
HEADLINE = ("minor_violating_prevalence_per_10k", "minor_borderline_prevalence_per_10k",
            "minor_13_15_sexual_image_7d_share", "minor_13_15_sexual_advance_7d_share",
            "unwanted_contact_from_offenders_per_1k_minor_days",
            "unwanted_contact_from_other_adults_per_1k_minor_days", "decoy_days_to_first_unwanted_contact",
            "legit_contact_prevented_share", "minor_engagements_per_minor_day")

#: Decoy timelines built from ``days.parquet`` (cohort ``decoy``): cumulative count per decoy by day.
TIMELINE_SERIES = {
    "harmful_impressions_per_decoy": ("harmful_impressions", "harmful impressions per decoy (cumulative)"),
    "unwanted_contacts_per_decoy": ("unwanted_contacts", "unwanted contacts per decoy (cumulative)"),
}

#: Figures that are the day something first happened: a setting with no value never saw it happen.
DAY_METRICS = ("decoy_days_to_first_harm", "decoy_days_to_first_unwanted_contact",
               "decoy_days_to_first_harmful_suggestion")

#: The main table's groups: (heading, figures), in the order of :data:`HEADLINE`.
HEADLINE_GROUPS = (
    ("Harmful content shown to minors", HEADLINE[0:3]),
    ("Unwanted contact from adults", HEADLINE[3:6]),
    ("Decoy accounts and costs", HEADLINE[6:9]),
)


def label(metric: str) -> str:
    """The human name of a summary column (the column name itself when it has none)."""
    return LABELS.get(metric, metric)


def is_share(metric: str) -> bool:
    """Whether a figure is a share (0–1), shown to readers as a percentage."""
    return metric.endswith("_share") or "_share_" in metric


def scale(metric: str) -> float:
    """What a figure is multiplied by for readers: 100 for a share (shown in %), else 1."""
    return 100.0 if is_share(metric) else 1.0


def title(metric: str) -> str:
    """A figure's name with its unit where the value is rescaled: shares read "... (%)"."""
    return label(metric) + (" (%)" if is_share(metric) else "")
