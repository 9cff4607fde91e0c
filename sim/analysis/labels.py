"""Which summary figures a comparison shows, in what order, under which names.

Core objects: :data:`LABELS`, :data:`HARM_METRICS`, :data:`CONTACT_METRICS`,
:data:`DECOY_METRICS`, :data:`COST_METRICS`, :data:`HEADLINE`,
:data:`TIMELINE_SERIES`.

``comparison.parquet`` holds every numeric summary column; these lists only
choose what the terminal table and the report put first. For every figure
here lower is better for minors except the costs, where lower is better for
everyone else (fewer legitimate contacts blocked, less engagement lost) —
with one exception, ``minor_engagements_per_session``, where a fall is the
cost.
"""

from __future__ import annotations

LABELS: dict[str, str] = {
    "minor_harm_prevalence_per_10k": "harmful impressions per 10k, minors",
    "minor_exposed_7d_share": "minors exposed to harm in 7 days",
    "minor_explicit_exposed_7d_share": "minors shown explicit items in 7 days",
    "minor_unwanted_contact_7d_share": "minors contacted by an adult stranger in 7 days",
    "minor_sexual_contact_7d_share": "minors with a sexual contact in 7 days",
    "unwanted_contact_per_1k_minor_days": "unwanted contacts per 1,000 minor-days",
    "sexual_contact_per_1k_minor_days": "sexual contacts per 1,000 minor-days",
    "decoy_days_to_first_harm": "decoys: day of first harmful impression",
    "decoy_days_to_first_unwanted_contact": "decoys: day of first unwanted contact",
    "decoy_unwanted_contacts_per_week": "decoys: unwanted contacts per week",
    "decoy_harmful_impressions_per_week": "decoys: harmful impressions per week",
    "legit_contact_blocked_share": "known adults' contacts to minors blocked",
    "peer_contact_blocked_share": "minors' contacts to peers blocked",
    "benign_removed_share": "benign uploads wrongly removed",
    "minor_engagements_per_session": "minors' engagements per session",
    "contacts_blocked_by_safeguards": "contacts stopped by safeguards per 1,000 minor-days",
    "offenders_banned_share": "offenders banned by the end",
}

HARM_METRICS = ("minor_harm_prevalence_per_10k", "minor_exposed_7d_share", "minor_explicit_exposed_7d_share")
CONTACT_METRICS = ("unwanted_contact_per_1k_minor_days", "minor_unwanted_contact_7d_share",
                   "minor_sexual_contact_7d_share")
DECOY_METRICS = ("decoy_days_to_first_harm", "decoy_days_to_first_unwanted_contact",
                 "decoy_unwanted_contacts_per_week", "decoy_harmful_impressions_per_week")
COST_METRICS = ("legit_contact_blocked_share", "peer_contact_blocked_share", "benign_removed_share",
                "minor_engagements_per_session")

#: The terminal table's rows, in order.
HEADLINE = ("minor_harm_prevalence_per_10k", "minor_exposed_7d_share", "unwanted_contact_per_1k_minor_days",
            "minor_sexual_contact_7d_share", "decoy_days_to_first_unwanted_contact",
            "legit_contact_blocked_share", "minor_engagements_per_session")

#: Decoy timelines built from ``days.parquet`` (cohort ``decoy``): cumulative count per decoy by day.
TIMELINE_SERIES = {
    "harmful_impressions_per_decoy": ("harmful_impressions", "harmful impressions per decoy (cumulative)"),
    "unwanted_contacts_per_decoy": ("unwanted_contacts", "unwanted contacts per decoy (cumulative)"),
}


def label(metric: str) -> str:
    """The human name of a summary column (the column name itself when it has none)."""
    return LABELS.get(metric, metric)
