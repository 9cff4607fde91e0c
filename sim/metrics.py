"""Measurement: event counters -> per-day cohort rows -> run summary.

Core objects: :data:`COUNTERS`, :class:`Metrics`, :func:`summarize`,
:func:`day_rows`, :func:`median_days_to_first`.

Counters are kept per cohort (``minor_13_15``, ``minor_16_17``, ``adult``,
``decoy``) in a (cohorts x counters) integer matrix for the current day; at the
end of the day the matrix is appended to the history. Every summary figure is
computed from that history by one function, :func:`summarize`, whose formulas
docs/ODD.md states.
"""

from __future__ import annotations

import math

import numpy as np

from sim import compiled
from sim.config import safeguard_names
from sim.vocabulary import (ADULT_COHORT, COHORTS, CONTACT_KINDS, DECOY_COHORT, DISCOVERY_CHANNELS, HARM_CLASSES,
                            HARMFUL_CLASSES, MINOR_13_15, MINOR_16_17, MINOR_COHORTS, NON_DECOY_COHORTS, STAGES,
                            SUGGESTIVE, VIEW_CAUSES, VIOLATING_CLASSES)

#: Every safeguard of the config schema (the built-in ones, then plug-ins'): the order of the
#: ``blocked_by_<name>`` counters and summary figures. Asking for it loads the registry, so the
#: modules the registry imports (sim.registry.BUILTIN_MODULES, plug-ins) must not import this one.
SAFEGUARDS = safeguard_names()

#: Senders of unwanted contact, split in the counters and figures: offenders, and every other adult
#: (sender type ``adult``: ordinary adults). Names as in ``unwanted_from_<group>``.
SENDER_GROUPS = ("offenders", "other_adults")
#: The borderline class (allowed, harmful for minors): its name in ``impressions_<class>``.
BORDERLINE_CLASS = HARM_CLASSES[SUGGESTIVE]

COUNTERS = (
    "accounts",                  # accounts in the cohort today
    "active_accounts",           # accounts with >= 1 session today
    "protected_accounts",        # accounts the platform treats as minors today (declared or found by age checks)
    "sessions",
    "impressions",
    *(f"impressions_{c}" for c in HARM_CLASSES),
    "harmful_impressions",       # suggestive + adult_sexual + exploitative
    "in_network_impressions",
    "engagements",
    "harmful_engagements",
    "reports",                   # harmful impressions reported by the viewer
    "exposed_today",             # accounts with >= 1 harmful impression today
    "exposed_7d",                # accounts with >= 1 harmful impression in the trailing 7 days
    "posts",                     # by authors in the cohort
    *(f"posts_{c}" for c in HARM_CLASSES),
    *(f"removed_{c}" for c in HARM_CLASSES),   # uploads removed by moderation, by class
    "explicit_impressions",      # adult_sexual + exploitative
    "explicit_exposed_7d",       # accounts with >= 1 explicit impression in the trailing 7 days
    # Contact, by the target's cohort (phase 6).
    "contact_attempts",
    "contacts_delivered",
    "contacts_blocked",          # stopped by a safeguard (allow_contact)
    "unwanted_contacts",         # delivered, from an adult the minor did not follow
    *(f"unwanted_via_{c}" for c in DISCOVERY_CHANNELS),
    *(f"unwanted_{k}" for k in CONTACT_KINDS),   # unwanted contacts by kind (follow request, message, ...)
    # The same split by sender: offenders, and other (ordinary) adults; each pair adds up to the total.
    *(f"unwanted_from_{g}" for g in SENDER_GROUPS),
    *(f"unwanted_via_{c}_{g}" for g in SENDER_GROUPS for c in DISCOVERY_CHANNELS),
    "sexual_advances",           # unwanted message, request or comment with an explicit image or in solicitation
    "unwanted_contacted_7d",     # accounts with >= 1 unwanted contact in the trailing 7 days
    *(f"unwanted_from_{g}_7d" for g in SENDER_GROUPS),
    "sexual_advanced_7d",        # accounts with >= 1 sexual advance in the trailing 7 days
    "sexual_advanced_28d",       # accounts with >= 1 sexual advance in the trailing 28 days
    "sexual_image_7d",           # accounts that saw an explicit image (feed, or unblurred in a message) in 7 days
    "legit_attempts",            # non-offender adult -> minor attempts
    "legit_blocked",             # of which stopped by a safeguard
    "legit_prevented",           # follow requests ordinary adults would have sent to suggestions safeguards withheld
    "stranger_blocks",           # minors blocking an adult stranger
    "stranger_reports",
    *(f"conversations_{s}" for s in STAGES),
    # Suggestions, by the viewer's cohort (phase 5).
    "account_suggestions",
    "harmful_account_suggestions",   # suggested account is a producer, seller or offender
    "adult_stranger_suggestions",    # (to minors) suggested account is an adult
    "group_suggestions",
    "harmful_group_suggestions",
    "follows_from_suggestions",
    "group_joins",
    "account_suggestions_withheld",  # account suggestions the safeguards removed
    # Feed safeguards' removals, by the viewer's cohort (phase 3).
    "benign_withheld",           # benign (class none) candidates withheld: the filters' cost
    "harmful_withheld",
    # Moderation and enforcement (by the author's or account's cohort; views by the viewer's).
    "hash_matched",
    "queued_at_upload",
    "removed_after_review",
    "removed_after_report",
    "reviewed_kept",
    "account_strikes",
    "flagged_suspicious",
    "bans",
    "ban_evasions",
    *(f"views_{cause}" for cause in VIEW_CAUSES),
    # Safeguards (by the target's or account's cohort).
    *(f"blocked_by_{name}" for name in SAFEGUARDS),
    "explicit_images",           # delivered to the account unblurred
    "explicit_images_blurred",
    "benign_messages",           # delivered messages and message requests without an explicit image
    "benign_blurred",            # of those, wrongly blurred
    "age_checks",
    "minors_found_by_age_assurance",
    "adults_wrongly_protected",
    "adults_wrongly_flagged",    # ordinary adults flagged as suspicious in error (filled by a safeguard)
    "posers_found_by_age_assurance",
    "peer_attempts",             # minor -> minor
    "peer_blocked",
)
COLUMN = {name: i for i, name in enumerate(COUNTERS)}


class Metrics:
    """Per-cohort counters for the current day and the history of closed days."""

    def __init__(self, cohort: np.ndarray) -> None:
        self.cohort = cohort
        self.today = np.zeros((len(COHORTS), len(COUNTERS)), dtype=np.int64)
        self.history: list[np.ndarray] = []

    def by_cohort(self, accounts: np.ndarray, weights: np.ndarray | None = None) -> np.ndarray:
        """Counts (or weight sums) of ``accounts`` rows per cohort."""
        if weights is None:
            return compiled.count_labels(self.cohort, np.asarray(accounts), len(COHORTS))
        counts = np.bincount(self.cohort[accounts], weights=weights, minlength=len(COHORTS))
        return np.rint(counts).astype(np.int64)

    def add(self, counter: str, per_cohort: np.ndarray) -> None:
        self.today[:, COLUMN[counter]] += per_cohort

    def add_by_class(self, prefix: str, accounts: np.ndarray, harm: np.ndarray) -> np.ndarray:
        """Add events to ``<prefix>_<class>`` by the cohort of ``accounts`` and the harm class ``harm``.

        Returns the (cohorts x classes) counts added.
        """
        n_cls = len(HARM_CLASSES)
        counts = compiled.count_label_pairs(self.cohort, np.asarray(accounts), np.asarray(harm), len(COHORTS), n_cls)
        self.add_class_counts(prefix, counts)
        return counts

    def add_class_counts(self, prefix: str, counts: np.ndarray) -> None:
        """Add a (cohorts x classes) matrix of counts to the ``<prefix>_<class>`` counters."""
        for code, name in enumerate(HARM_CLASSES):
            self.add(f"{prefix}_{name}", counts[:, code])

    def add_views_by_cause(self, by_cause: np.ndarray) -> None:
        """Add a (cohorts x causes) matrix of violating views to the ``views_<cause>`` counters."""
        for j, cause in enumerate(VIEW_CAUSES):
            self.add(f"views_{cause}", by_cause[:, j])

    def count(self, counter: str, accounts: np.ndarray) -> None:
        """Add one to ``counter`` for each row in ``accounts``, in its cohort."""
        self.add(counter, self.by_cohort(accounts))

    def close_day(self) -> np.ndarray:
        """Append today's matrix to the history and start a new day; returns the closed matrix."""
        closed = self.today
        self.history.append(closed)
        self.today = np.zeros_like(closed)
        return closed

    def as_array(self) -> np.ndarray:
        """History as (days, cohorts, counters)."""
        if not self.history:
            return np.zeros((0, len(COHORTS), len(COUNTERS)), dtype=np.int64)
        return np.stack(self.history)


def _ratio(num: float, den: float, scale: float = 1.0) -> float:
    return float(scale * num / den) if den > 0 else math.nan


def prevalence_per_10k(harmful: np.ndarray, impressions: np.ndarray) -> np.ndarray:
    """The prevalence formula, the one definition: harmful impressions per 10,000 impressions.

    Works on scalars and arrays alike (NaN where there were no impressions); the
    summary, the per-day rows and the model's daily reporters all use it.
    """
    harmful, impressions = np.asarray(harmful), np.asarray(impressions)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(impressions > 0, 1e4 * harmful / np.maximum(impressions, 1), np.nan)


def share(count: np.ndarray, accounts: np.ndarray) -> np.ndarray:
    """A share of accounts (e.g. exposed in the trailing week), NaN where there were no accounts."""
    count, accounts = np.asarray(count), np.asarray(accounts)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(accounts > 0, count / np.maximum(accounts, 1), np.nan)


def summarize(history: np.ndarray, measure_days: int, decoy_first_harm_day: np.ndarray,
              decoy_first_unwanted_day: np.ndarray | None = None,
              decoy_first_harmful_suggestion_day: np.ndarray | None = None,
              decoy_join_day: int = 1) -> dict[str, float]:
    """The run summary over the last ``measure_days`` days (decoys: from their join day).

    Args:
        history: (days, cohorts, counters) from :meth:`Metrics.as_array`.
        measure_days: length of the measurement window (burn-in excluded); clipped to the run.
        decoy_first_harm_day: each decoy's first day (1-based) with a harmful impression, -1 if never.
        decoy_first_unwanted_day: the same for the first unwanted adult contact.
        decoy_first_harmful_suggestion_day: the same for the first harmful account or group suggestion.
        decoy_join_day: the day (1-based) the decoys registered: their figures count from it.

    Returns:
        Column name -> value (NaN where the denominator is zero).
    """
    window = history[-measure_days:] if measure_days < history.shape[0] else history
    n_window = window.shape[0]
    total = window.sum(axis=0)                 # (cohorts, counters)
    c = COLUMN
    minors = total[list(MINOR_COHORTS)].sum(axis=0)
    adults = total[ADULT_COHORT]
    # Decoys are probes from the day they register: their figures cover the run from that day on,
    # not the window (``accounts`` summed over days is decoy-days), plus their first week.
    joined = max(int(decoy_join_day), 1) - 1          # 0-based index of the join day
    probe = history[joined:, DECOY_COHORT].sum(axis=0)

    def violating(row: np.ndarray) -> float:
        return sum(row[c[f"impressions_{v}"]] for v in VIOLATING_CLASSES)

    out: dict[str, float] = {
        "measured_days": float(n_window),
    }
    # The platform's prevalence (violating classes only) and the borderline class, apart.
    for who, row in (("minor", minors), ("adult", adults), ("decoy", probe)):
        out[f"{who}_violating_prevalence_per_10k"] = float(prevalence_per_10k(violating(row), row[c["impressions"]]))
        out[f"{who}_borderline_prevalence_per_10k"] = float(prevalence_per_10k(
            row[c[f"impressions_{BORDERLINE_CLASS}"]], row[c["impressions"]]))
    for who, row in (("minor", minors), ("adult", adults), ("decoy", probe)):
        out[f"{who}_harm_prevalence_per_10k"] = float(prevalence_per_10k(row[c["harmful_impressions"]],
                                                                         row[c["impressions"]]))
    for cls in HARMFUL_CLASSES:
        for who, row in (("minor", minors), ("adult", adults)):
            out[f"{who}_{cls}_prevalence_per_10k"] = float(prevalence_per_10k(row[c[f"impressions_{cls}"]],
                                                                              row[c["impressions"]]))

    # Mean over days of the daily share: each day weighs the same, as a survey wave would.
    def daily_share(cohorts: tuple[int, ...], counter: str) -> float:
        num = window[:, list(cohorts), c[counter]].sum(axis=1)
        den = window[:, list(cohorts), c["accounts"]].sum(axis=1)
        ok = den > 0
        return float(np.mean(num[ok] / den[ok])) if ok.any() else math.nan

    out["minor_exposed_7d_share"] = daily_share(MINOR_COHORTS, "exposed_7d")
    out["minor_13_15_exposed_7d_share"] = daily_share((MINOR_13_15,), "exposed_7d")
    out["minor_16_17_exposed_7d_share"] = daily_share((MINOR_16_17,), "exposed_7d")
    out["adult_exposed_7d_share"] = daily_share((ADULT_COHORT,), "exposed_7d")
    out["minor_sexual_image_7d_share"] = daily_share(MINOR_COHORTS, "sexual_image_7d")
    out["minor_13_15_sexual_image_7d_share"] = daily_share((MINOR_13_15,), "sexual_image_7d")
    minor_days = minors[c["accounts"]]
    out["minor_engagements_per_session"] = _ratio(minors[c["engagements"]], minors[c["sessions"]])
    out["minor_impressions_per_session"] = _ratio(minors[c["impressions"]], minors[c["sessions"]])
    out["minor_engagements_per_minor_day"] = _ratio(minors[c["engagements"]], minor_days)
    out["minor_sessions_per_minor_day"] = _ratio(minors[c["sessions"]], minor_days)
    out["minor_protected_share"] = daily_share(MINOR_COHORTS, "protected_accounts")

    out["minor_explicit_exposed_7d_share"] = daily_share(MINOR_COHORTS, "explicit_exposed_7d")
    out["minor_13_15_explicit_exposed_7d_share"] = daily_share((MINOR_13_15,), "explicit_exposed_7d")

    everyone = total[list(NON_DECOY_COHORTS)].sum(axis=0)    # authors, decoys excluded
    out["benign_removed_share"] = _ratio(everyone[c["removed_none"]], everyone[c["posts_none"]])
    out["violating_removed_share"] = _ratio(sum(everyone[c[f"removed_{v}"]] for v in VIOLATING_CLASSES),
                                                      sum(everyone[c[f"posts_{v}"]] for v in VIOLATING_CLASSES))

    out["minor_unwanted_contact_7d_share"] = daily_share(MINOR_COHORTS, "unwanted_contacted_7d")
    out["minor_13_15_unwanted_contact_7d_share"] = daily_share((MINOR_13_15,), "unwanted_contacted_7d")
    for g in SENDER_GROUPS:
        out[f"minor_unwanted_contact_from_{g}_7d_share"] = daily_share(MINOR_COHORTS, f"unwanted_from_{g}_7d")
        out[f"minor_13_15_unwanted_contact_from_{g}_7d_share"] = daily_share((MINOR_13_15,), f"unwanted_from_{g}_7d")
    out["minor_sexual_advance_7d_share"] = daily_share(MINOR_COHORTS, "sexual_advanced_7d")
    out["minor_13_15_sexual_advance_7d_share"] = daily_share((MINOR_13_15,), "sexual_advanced_7d")
    # The same over a trailing 28 days: the longest period a 60-day run can ask about (surveys ask about a year).
    out["minor_sexual_advance_28d_share"] = daily_share(MINOR_COHORTS, "sexual_advanced_28d")
    out["unwanted_contact_per_1k_minor_days"] = _ratio(minors[c["unwanted_contacts"]], minor_days, 1e3)
    for g in SENDER_GROUPS:
        out[f"unwanted_contact_from_{g}_per_1k_minor_days"] = _ratio(minors[c[f"unwanted_from_{g}"]],
                                                                     minor_days, 1e3)
    out["sexual_advances_per_1k_minor_days"] = _ratio(minors[c["sexual_advances"]], minor_days, 1e3)
    for channel in DISCOVERY_CHANNELS:
        out[f"unwanted_contact_share_via_{channel}"] = _ratio(minors[c[f"unwanted_via_{channel}"]],
                                                              minors[c["unwanted_contacts"]])
        out[f"unwanted_via_{channel}_per_1k_minor_days"] = _ratio(minors[c[f"unwanted_via_{channel}"]],
                                                                  minor_days, 1e3)
    for kind in CONTACT_KINDS:
        out[f"unwanted_{kind}_per_1k_minor_days"] = _ratio(minors[c[f"unwanted_{kind}"]], minor_days, 1e3)
    for g in SENDER_GROUPS:
        for channel in DISCOVERY_CHANNELS:
            out[f"unwanted_contact_share_via_{channel}_{g}"] = _ratio(minors[c[f"unwanted_via_{channel}_{g}"]],
                                                                      minors[c[f"unwanted_from_{g}"]])
    out["contacts_blocked_by_safeguards"] = _ratio(minors[c["contacts_blocked"]], minor_days, 1e3)
    out["legit_contact_blocked_share"] = _ratio(minors[c["legit_blocked"]], minors[c["legit_attempts"]])
    out["legit_contact_prevented_share"] = _ratio(minors[c["legit_blocked"]] + minors[c["legit_prevented"]],
                                                  minors[c["legit_attempts"]] + minors[c["legit_prevented"]])
    out["peer_contact_blocked_share"] = _ratio(minors[c["peer_blocked"]], minors[c["peer_attempts"]])
    # Costs to everyone else: what the safeguards withhold or flag in error.
    out["minor_benign_withheld_per_1k_impressions"] = _ratio(minors[c["benign_withheld"]],
                                                             minors[c["impressions"]], 1e3)
    out["benign_messages_blurred_share"] = _ratio(minors[c["benign_blurred"]], minors[c["benign_messages"]])
    mean_adults = adults[c["accounts"]] / n_window if n_window else 0.0
    out["adults_wrongly_protected_per_1k_adults"] = _ratio(adults[c["adults_wrongly_protected"]], mean_adults, 1e3)
    out["adults_wrongly_flagged_per_1k_adults"] = _ratio(adults[c["adults_wrongly_flagged"]], mean_adults, 1e3)
    out["minor_harmful_account_suggestions_per_1k_days"] = _ratio(minors[c["harmful_account_suggestions"]],
                                                                   minor_days, 1e3)
    first_week = history[joined:joined + 7, DECOY_COHORT].sum(axis=0)
    n_decoys = history[joined, DECOY_COHORT, c["accounts"]] if history.shape[0] > joined else 0
    out["decoy_unwanted_contacts_per_week"] = _ratio(7 * probe[c["unwanted_contacts"]], probe[c["accounts"]])
    for g in SENDER_GROUPS:
        out[f"decoy_unwanted_contacts_from_{g}_per_week"] = _ratio(7 * probe[c[f"unwanted_from_{g}"]],
                                                                   probe[c["accounts"]])
    out["decoy_sexual_advances_per_week"] = _ratio(7 * probe[c["sexual_advances"]], probe[c["accounts"]])
    out["decoy_unwanted_contacts_first_week"] = _ratio(first_week[c["unwanted_contacts"]], n_decoys)
    for g in SENDER_GROUPS:
        out[f"decoy_unwanted_contacts_from_{g}_first_week"] = _ratio(first_week[c[f"unwanted_from_{g}"]], n_decoys)

    # Moderation and enforcement.
    removed = sum(everyone[c[f"removed_{k}"]] for k in HARM_CLASSES)
    out["proactive_rate"] = _ratio(removed - everyone[c["removed_after_report"]], removed)
    views = total[list(NON_DECOY_COHORTS)].sum(axis=0)
    seen = sum(views[c[f"views_{k}"]] for k in VIEW_CAUSES)
    for k in VIEW_CAUSES:
        out[f"violating_views_share_{k}"] = _ratio(views[c[f"views_{k}"]], seen)
    whole = history.sum(axis=0)
    out["ban_evasions"] = float(whole[:, c["ban_evasions"]].sum())
    out["bans"] = float(whole[:, c["bans"]].sum())
    for name in SAFEGUARDS:
        out[f"blocked_by_{name}_per_1k_minor_days"] = _ratio(minors[c[f"blocked_by_{name}"]], minor_days, 1e3)
    out["minor_explicit_images_per_1k_minor_days"] = _ratio(minors[c["explicit_images"]], minor_days, 1e3)
    out["decoy_explicit_images_per_week"] = _ratio(7 * probe[c["explicit_images"]], probe[c["accounts"]])

    none = np.zeros(0, dtype=int)
    out["decoy_days_to_first_harm"] = median_days_to_first(decoy_first_harm_day, decoy_join_day)
    out["decoy_days_to_first_unwanted_contact"] = median_days_to_first(
        none if decoy_first_unwanted_day is None else decoy_first_unwanted_day, decoy_join_day)
    out["decoy_days_to_first_harmful_suggestion"] = median_days_to_first(
        none if decoy_first_harmful_suggestion_day is None else decoy_first_harmful_suggestion_day, decoy_join_day)
    out["decoy_harmful_impressions_per_week"] = _ratio(7 * probe[c["harmful_impressions"]], probe[c["accounts"]])
    return out


def median_days_to_first(first_day: np.ndarray, join_day: int = 1) -> float:
    """Median over decoys of the days to a first event, counting "never" as infinitely late.

    An event on the join day is day 1: days = ``first_day - join_day + 1``. NaN
    when there are no decoys or when at least half never had the event (the
    median is then "never").
    """
    if first_day.size == 0:
        return math.nan
    days = np.where(first_day > 0, first_day.astype(float) - join_day + 1, math.inf)
    median = float(np.median(days))
    return median if math.isfinite(median) else math.nan


def day_rows(history: np.ndarray) -> dict[str, np.ndarray]:
    """Columns of days.parquet: one row per (day, cohort), counters plus two derived shares."""
    n_days, n_cohorts, _ = history.shape
    cols: dict[str, np.ndarray] = {
        "day": np.repeat(np.arange(1, n_days + 1, dtype=np.int32), n_cohorts),
        "cohort": np.tile(np.array(COHORTS, dtype=object), n_days),
    }
    flat = history.reshape(n_days * n_cohorts, -1)
    for name, j in COLUMN.items():
        cols[name] = flat[:, j]
    cols["harm_prevalence_per_10k"] = prevalence_per_10k(cols["harmful_impressions"], cols["impressions"])
    cols["exposed_7d_share"] = share(cols["exposed_7d"], cols["accounts"])
    return cols
