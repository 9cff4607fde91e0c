"""Metric formulas, computed by hand on hand-made counter histories."""

from __future__ import annotations

import math

import numpy as np
import pytest

from sim.contact import Attempts, Responses
from sim.measurement import DayRecorder, sexual_advances
from sim.metrics import COLUMN, COUNTERS, SENDER_GROUPS, Metrics, day_rows, median_days_to_first, summarize
from sim.phases.contact import Contacted
from sim.phases.serve import Served
from sim.phases.suggest import Suggested
from sim.safeguards import Delivery
from sim.vocabulary import (ADULT, COHORTS, COMMENT, DECOY, DISCOVERY_CHANNELS, FOLLOW_REQUEST, GROUP_ADD, MESSAGE,
                            MESSAGE_REQUEST, RAPPORT, S_ADULT, S_MINOR, S_OFFENDER, SEARCH, SOLICITATION, SUGGESTION)
from sim.vocabulary import MINOR_13_15 as M13
from sim.vocabulary import MINOR_16_17 as M16


def history(days: int) -> np.ndarray:
    return np.zeros((days, len(COHORTS), len(COUNTERS)), dtype=np.int64)


def put(h, day, cohort, **counters):
    for name, value in counters.items():
        h[day, cohort, COLUMN[name]] = value


def test_prevalence_pools_both_minor_bands_over_the_window_only():
    h = history(3)
    # Day 1 is burn-in (outside a 2-day window) and must not count.
    put(h, 0, M13, impressions=100, harmful_impressions=100)
    put(h, 1, M13, impressions=1000, harmful_impressions=3)
    put(h, 2, M16, impressions=3000, harmful_impressions=5)
    put(h, 1, ADULT, impressions=5000, harmful_impressions=1)
    s = summarize(h, measure_days=2, decoy_first_harm_day=np.array([], dtype=int))
    assert s["minor_harm_prevalence_per_10k"] == pytest.approx(1e4 * 8 / 4000)
    assert s["adult_harm_prevalence_per_10k"] == pytest.approx(1e4 * 1 / 5000)
    assert s["measured_days"] == 2


def test_per_class_prevalence_adds_up_to_the_total():
    h = history(1)
    put(h, 0, M13, impressions=2000, impressions_suggestive=6, impressions_adult_sexual=3,
        impressions_exploitative=1, harmful_impressions=10)
    s = summarize(h, 1, np.array([]))
    parts = sum(s[f"minor_{c}_prevalence_per_10k"] for c in ("suggestive", "adult_sexual", "exploitative"))
    assert s["minor_suggestive_prevalence_per_10k"] == pytest.approx(30.0)
    assert parts == pytest.approx(s["minor_harm_prevalence_per_10k"])


def test_exposed_share_is_the_mean_of_daily_shares():
    h = history(2)
    put(h, 0, M13, accounts=10, exposed_7d=1)
    put(h, 0, M16, accounts=10, exposed_7d=3)     # day 1: 4 / 20 = 0.2
    put(h, 1, M13, accounts=10, exposed_7d=10)
    put(h, 1, M16, accounts=10, exposed_7d=2)     # day 2: 12 / 20 = 0.6
    s = summarize(h, 2, np.array([]))
    assert s["minor_exposed_7d_share"] == pytest.approx(0.4)
    assert s["minor_13_15_exposed_7d_share"] == pytest.approx((0.1 + 1.0) / 2)


def test_zero_denominators_give_nan_not_zero():
    s = summarize(history(2), 2, np.array([]))
    assert math.isnan(s["minor_harm_prevalence_per_10k"])
    assert math.isnan(s["minor_exposed_7d_share"])


def test_removal_shares_exclude_decoys_and_separate_benign_from_violating():
    h = history(1)
    put(h, 0, ADULT, posts=120, posts_none=100, posts_suggestive=10, posts_adult_sexual=6, posts_exploitative=4,
        removed_none=2, removed_suggestive=1, removed_adult_sexual=3, removed_exploitative=2)
    put(h, 0, DECOY, posts=50, posts_none=50, removed_none=50)
    s = summarize(h, 1, np.array([]))
    assert s["benign_removed_share"] == pytest.approx(0.02)
    assert s["violating_removed_share"] == pytest.approx(0.5)


def test_engagements_per_session():
    h = history(1)
    put(h, 0, M13, sessions=40, engagements=10)
    put(h, 0, M16, sessions=10, engagements=5)
    assert summarize(h, 1, np.array([]))["minor_engagements_per_session"] == pytest.approx(0.3)


@pytest.mark.parametrize("first,expected", [
    ([2, 4, 6], 4.0),
    ([3, -1, 5, 1], 4.0),       # "never" counts as last: median of 1, 3, 5, inf
    ([2, -1, -1], math.nan),    # most never: the median is "never"
    ([], math.nan),
])
def test_median_days_to_first(first, expected):
    got = median_days_to_first(np.array(first, dtype=int))
    assert (math.isnan(got) and math.isnan(expected)) or got == expected


def test_decoy_weekly_rate_uses_decoy_days():
    h = history(14)
    for d in range(14):
        put(h, d, DECOY, accounts=4)
    put(h, 3, DECOY, harmful_impressions=8)
    s = summarize(h, 14, np.array([1, 2, 3, 4]))
    assert s["decoy_harmful_impressions_per_week"] == pytest.approx(7 * 8 / (14 * 4))


def test_metrics_counts_by_cohort_and_closes_days():
    cohort = np.array([M13, M13, ADULT, DECOY], dtype=np.int8)
    m = Metrics(cohort)
    m.count("sessions", np.array([0, 0, 1, 2, 3, 3]))
    closed = m.close_day()
    assert closed[:, COLUMN["sessions"]].tolist() == [3, 0, 1, 2]
    assert not m.today.any()
    assert m.as_array().shape == (1, 4, len(COUNTERS))


def test_day_rows_have_one_row_per_day_and_cohort():
    h = history(3)
    put(h, 1, ADULT, impressions=200, harmful_impressions=1, accounts=5, exposed_7d=1)
    rows = day_rows(h)
    assert len(rows["day"]) == 12
    i = 1 * 4 + ADULT
    assert rows["day"][i] == 2 and rows["cohort"][i] == "adult"
    assert rows["harm_prevalence_per_10k"][i] == pytest.approx(50.0)
    assert rows["exposed_7d_share"][i] == pytest.approx(0.2)
    assert math.isnan(rows["harm_prevalence_per_10k"][0])


def test_decoy_rates_cover_the_whole_run_and_the_first_week():
    # Decoys registered on day 1 are probes from day 1: burn-in does not apply to them.
    h = history(10)
    for d in range(10):
        put(h, d, DECOY, accounts=2)
    put(h, 0, DECOY, unwanted_contacts=6, sexual_advances=2)      # day 1, inside the first week
    put(h, 8, DECOY, unwanted_contacts=4)                         # day 9, after it
    s = summarize(h, measure_days=2, decoy_first_harm_day=np.array([1, 1]))
    assert s["decoy_unwanted_contacts_per_week"] == pytest.approx(7 * 10 / 20)
    assert s["decoy_sexual_advances_per_week"] == pytest.approx(7 * 2 / 20)
    assert s["decoy_unwanted_contacts_first_week"] == pytest.approx(6 / 2)


def test_every_summary_column_a_run_writes_is_defined_in_the_odd():
    """The summary-figure recipe (docs/ARCHITECTURE.md): a new figure needs its definition in docs/ODD.md §8."""
    from pathlib import Path

    from sim.model import ExposureModel
    from tests.conftest import tiny_config

    model = ExposureModel(tiny_config(days=3))
    model.run()
    import re

    odd = (Path(__file__).resolve().parents[1] / "docs" / "ODD.md").read_text()
    # A family of figures is defined once with a placeholder: `blocked_by_<name>_per_1k_minor_days`.
    # A bare placeholder (`<channel>`) names no family: it would match every name.
    families = [re.compile("^" + re.sub(r"<[a-z]+>", "[a-z0-9_]+", re.escape(m).replace(r"\<", "<").replace(r"\>", ">"))
                           + "$") for m in re.findall(r"`([a-z0-9_]*<[a-z]+>[a-z0-9_<>]*)`", odd)
                if re.sub(r"<[a-z]+>", "", m)]
    undefined = [name for name in model.summary()
                 if f"`{name}`" not in odd and not any(f.match(name) for f in families)]
    assert undefined == []


# ------------------------------------------------------------------ violating and borderline prevalence


def test_violating_and_borderline_prevalence_are_apart_and_add_up_to_the_all_class_figure():
    h = history(2)
    put(h, 0, M13, impressions=10_000, impressions_suggestive=500, impressions_adult_sexual=50,
        impressions_exploitative=50, harmful_impressions=600)              # day 1: outside the 1-day window
    put(h, 1, M13, impressions=3000, impressions_suggestive=90, impressions_adult_sexual=2,
        impressions_exploitative=1, harmful_impressions=93)
    put(h, 1, M16, impressions=1000, impressions_suggestive=10, impressions_adult_sexual=1, harmful_impressions=11)
    put(h, 1, ADULT, impressions=5000, impressions_suggestive=20, impressions_adult_sexual=2, harmful_impressions=22)
    put(h, 0, DECOY, impressions=100, impressions_suggestive=4, impressions_adult_sexual=1, harmful_impressions=5)
    put(h, 1, DECOY, impressions=100, impressions_suggestive=6, impressions_exploitative=1, harmful_impressions=7)
    s = summarize(h, 1, np.array([]))
    assert s["minor_violating_prevalence_per_10k"] == pytest.approx(1e4 * 4 / 4000)     # (2 + 1 + 1) / 4000
    assert s["minor_borderline_prevalence_per_10k"] == pytest.approx(1e4 * 100 / 4000)
    assert s["adult_violating_prevalence_per_10k"] == pytest.approx(1e4 * 2 / 5000)
    assert s["adult_borderline_prevalence_per_10k"] == pytest.approx(1e4 * 20 / 5000)
    assert (s["minor_violating_prevalence_per_10k"] + s["minor_borderline_prevalence_per_10k"]
            == pytest.approx(s["minor_harm_prevalence_per_10k"]))
    # Decoys registered on day 1: both days count, whatever the window.
    assert s["decoy_violating_prevalence_per_10k"] == pytest.approx(1e4 * 2 / 200)
    assert s["decoy_borderline_prevalence_per_10k"] == pytest.approx(1e4 * 10 / 200)
    assert s["decoy_harm_prevalence_per_10k"] == pytest.approx(1e4 * 12 / 200)


# ------------------------------------------------------------------ survey-style 7-day shares


def test_sexual_advance_and_sexual_image_shares_are_means_of_daily_shares():
    h = history(3)
    put(h, 0, M13, accounts=100, sexual_advanced_7d=50, sexual_image_7d=50)           # outside the window
    put(h, 1, M13, accounts=100, sexual_advanced_7d=10, sexual_image_7d=20)
    put(h, 1, M16, accounts=100, sexual_advanced_7d=2, sexual_image_7d=4)
    put(h, 2, M13, accounts=100, sexual_advanced_7d=14, sexual_image_7d=30)
    put(h, 2, M16, accounts=100, sexual_advanced_7d=0, sexual_image_7d=6)
    put(h, 1, DECOY, accounts=4, sexual_advanced_7d=4, sexual_image_7d=4)              # never in minor figures
    s = summarize(h, 2, np.array([]))
    assert s["minor_13_15_sexual_advance_7d_share"] == pytest.approx((0.10 + 0.14) / 2)
    assert s["minor_sexual_advance_7d_share"] == pytest.approx((12 / 200 + 14 / 200) / 2)
    assert s["minor_13_15_sexual_image_7d_share"] == pytest.approx((0.20 + 0.30) / 2)
    assert s["minor_sexual_image_7d_share"] == pytest.approx((24 / 200 + 36 / 200) / 2)


# ------------------------------------------------------------------ contact by sender


def test_contact_figures_split_by_sender_add_up_to_the_totals():
    h = history(1)
    put(h, 0, M13, accounts=200, unwanted_contacts=10, unwanted_from_offenders=4, unwanted_from_other_adults=6,
        unwanted_via_suggestion=7, unwanted_via_search=3,
        unwanted_via_suggestion_offenders=1, unwanted_via_search_offenders=3,
        unwanted_via_suggestion_other_adults=6, unwanted_from_offenders_7d=8, unwanted_from_other_adults_7d=20,
        sexual_advances=3)
    put(h, 0, M16, accounts=200, unwanted_contacts=2, unwanted_from_other_adults=2, unwanted_via_group=2,
        unwanted_via_group_other_adults=2, unwanted_from_other_adults_7d=10)
    s = summarize(h, 1, np.array([]))
    assert s["unwanted_contact_from_offenders_per_1k_minor_days"] == pytest.approx(1e3 * 4 / 400)
    assert s["unwanted_contact_from_other_adults_per_1k_minor_days"] == pytest.approx(1e3 * 8 / 400)
    assert (s["unwanted_contact_from_offenders_per_1k_minor_days"]
            + s["unwanted_contact_from_other_adults_per_1k_minor_days"]
            == pytest.approx(s["unwanted_contact_per_1k_minor_days"]))
    assert s["sexual_advances_per_1k_minor_days"] == pytest.approx(1e3 * 3 / 400)
    assert s["unwanted_contact_share_via_suggestion_offenders"] == pytest.approx(1 / 4)
    assert s["unwanted_contact_share_via_search_offenders"] == pytest.approx(3 / 4)
    assert s["unwanted_contact_share_via_suggestion_other_adults"] == pytest.approx(6 / 8)
    assert s["unwanted_contact_share_via_group_other_adults"] == pytest.approx(2 / 8)
    assert s["unwanted_contact_share_via_suggestion"] == pytest.approx(7 / 12)
    for group in SENDER_GROUPS:
        assert sum(s[f"unwanted_contact_share_via_{c}_{group}"] for c in DISCOVERY_CHANNELS) == pytest.approx(1)
    assert s["minor_unwanted_contact_from_offenders_7d_share"] == pytest.approx(8 / 400)
    assert s["minor_13_15_unwanted_contact_from_offenders_7d_share"] == pytest.approx(8 / 200)
    assert s["minor_unwanted_contact_from_other_adults_7d_share"] == pytest.approx(30 / 400)
    assert s["minor_13_15_unwanted_contact_from_other_adults_7d_share"] == pytest.approx(20 / 200)


# ------------------------------------------------------------------ costs


def test_costs_by_hand():
    h = history(2)
    put(h, 0, M13, accounts=100, legit_attempts=99, legit_blocked=99, legit_prevented=99)   # outside the window
    put(h, 1, M13, accounts=100, sessions=300, engagements=150, impressions=4000, benign_withheld=12,
        legit_attempts=30, legit_blocked=6, legit_prevented=10, benign_messages=40, benign_blurred=2)
    put(h, 1, M16, accounts=100, sessions=100, engagements=50, impressions=1000, benign_withheld=3,
        legit_attempts=10, legit_blocked=0, benign_messages=10, benign_blurred=1)
    put(h, 1, ADULT, accounts=500, impressions=9000, benign_withheld=100, legit_attempts=77, legit_prevented=77,
        adults_wrongly_protected=3, adults_wrongly_flagged=2)
    s = summarize(h, 1, np.array([]))
    assert s["legit_contact_blocked_share"] == pytest.approx(6 / 40)
    assert s["legit_contact_prevented_share"] == pytest.approx((6 + 10) / (40 + 10))
    assert s["minor_benign_withheld_per_1k_impressions"] == pytest.approx(1e3 * 15 / 5000)
    assert s["benign_messages_blurred_share"] == pytest.approx(3 / 50)
    assert s["minor_engagements_per_minor_day"] == pytest.approx(200 / 200)
    assert s["minor_sessions_per_minor_day"] == pytest.approx(400 / 200)
    assert s["adults_wrongly_protected_per_1k_adults"] == pytest.approx(1e3 * 3 / 500)
    assert s["adults_wrongly_flagged_per_1k_adults"] == pytest.approx(1e3 * 2 / 500)


def test_adults_wrongly_protected_per_1k_adults_divides_by_the_mean_number_of_adults():
    h = history(2)
    put(h, 0, ADULT, accounts=400, adults_wrongly_protected=1)
    put(h, 1, ADULT, accounts=600, adults_wrongly_protected=4)
    s = summarize(h, 2, np.array([]))
    assert s["adults_wrongly_protected_per_1k_adults"] == pytest.approx(1e3 * 5 / 500)


def test_legit_prevented_share_counts_suggestions_withheld_even_when_nothing_is_blocked():
    # The strongest presets remove suggestions before any request is made: nothing blocked, much prevented.
    h = history(1)
    put(h, 0, M13, accounts=10, legit_attempts=5, legit_blocked=0, legit_prevented=15)
    s = summarize(h, 1, np.array([]))
    assert s["legit_contact_blocked_share"] == 0
    assert s["legit_contact_prevented_share"] == pytest.approx(15 / 20)


# ------------------------------------------------------------------ decoys from their join day


def test_decoy_figures_count_from_the_join_day():
    h = history(20)
    for d in range(14, 20):                      # decoys register on day 15 (index 14)
        put(h, d, DECOY, accounts=3)
    put(h, 14, DECOY, unwanted_contacts=3, unwanted_from_offenders=1, unwanted_from_other_adults=2,
        harmful_impressions=6)                                   # day 15: the first day of the first week
    put(h, 19, DECOY, unwanted_contacts=6, unwanted_from_offenders=6, sexual_advances=3, explicit_images=2)
    s = summarize(h, measure_days=3, decoy_first_harm_day=np.array([15, 16, -1]),
                  decoy_first_unwanted_day=np.array([15, 20, 20]),
                  decoy_first_harmful_suggestion_day=np.array([-1, -1, 17]), decoy_join_day=15)
    decoy_days = 6 * 3
    assert s["decoy_unwanted_contacts_per_week"] == pytest.approx(7 * 9 / decoy_days)
    assert s["decoy_unwanted_contacts_from_offenders_per_week"] == pytest.approx(7 * 7 / decoy_days)
    assert s["decoy_unwanted_contacts_from_other_adults_per_week"] == pytest.approx(7 * 2 / decoy_days)
    assert s["decoy_sexual_advances_per_week"] == pytest.approx(7 * 3 / decoy_days)
    assert s["decoy_explicit_images_per_week"] == pytest.approx(7 * 2 / decoy_days)
    assert s["decoy_harmful_impressions_per_week"] == pytest.approx(7 * 6 / decoy_days)
    # First week: days 15..21, of which the run has 15..20; per decoy registered on day 15.
    assert s["decoy_unwanted_contacts_first_week"] == pytest.approx(9 / 3)
    assert s["decoy_unwanted_contacts_from_offenders_first_week"] == pytest.approx(7 / 3)
    assert s["decoy_unwanted_contacts_from_other_adults_first_week"] == pytest.approx(2 / 3)
    # Days to first: an event on the join day is day 1.
    assert s["decoy_days_to_first_harm"] == 2.0                  # median of 1, 2, never
    assert s["decoy_days_to_first_unwanted_contact"] == 6.0      # median of 1, 6, 6
    assert math.isnan(s["decoy_days_to_first_harmful_suggestion"])   # most never


def test_decoy_first_week_ends_a_week_after_the_join_day():
    h = history(30)
    for d in range(4, 30):                       # join day 5: first week is days 5..11
        put(h, d, DECOY, accounts=2)
    put(h, 10, DECOY, unwanted_contacts=4)       # day 11: inside
    put(h, 11, DECOY, unwanted_contacts=8)       # day 12: after
    put(h, 3, DECOY, unwanted_contacts=100)      # day 4: before they joined (cannot happen; not counted)
    s = summarize(h, 7, np.array([]), decoy_join_day=5)
    assert s["decoy_unwanted_contacts_first_week"] == pytest.approx(4 / 2)
    assert s["decoy_unwanted_contacts_per_week"] == pytest.approx(7 * 12 / (26 * 2))


def test_median_days_to_first_counts_from_the_join_day():
    assert median_days_to_first(np.array([15, 17, 21]), join_day=15) == 3.0
    assert median_days_to_first(np.array([15, -1, 16]), join_day=15) == 2.0
    assert math.isnan(median_days_to_first(np.array([15, -1, -1]), join_day=15))


# ------------------------------------------------------------------ the recorder


def _world():
    from sim.model import ExposureModel
    from tests.conftest import tiny_config

    model = ExposureModel(tiny_config())
    pop = model.population
    minors = np.flatnonzero(pop.is_minor & ~pop.decoy)
    adults = np.flatnonzero(~pop.is_minor & ~pop.decoy)
    return model, pop, minors, adults


def _contacted(sender, target, kind, channel, sender_type, *, unwanted, stage, image=None, blurred=None,
               benign_blurred=None) -> Contacted:
    """A hand-built phase-6 record in which every attempt was delivered."""
    n = len(sender)
    att = Attempts(np.array(sender, np.int64), np.array(target, np.int64), np.array(kind, np.int8),
                   np.array(channel, np.int8), np.array(sender_type, np.int8), np.full(n, -1, np.int64))
    no = np.zeros(n, dtype=bool)
    image = no.copy() if image is None else np.array(image, bool)
    blurred = no.copy() if blurred is None else np.array(blurred, bool)
    delivery = Delivery(np.ones(n), np.ones(n), image, blurred,
                        None if benign_blurred is None else np.array(benign_blurred, bool))
    responses = Responses(~np.array(unwanted, bool), no.copy(), no.copy(), no.copy(), no.copy())
    none = np.zeros(0, dtype=np.int64)
    return Contacted(att, np.ones(n, bool), np.full(n, -1, np.int16), att, delivery, responses,
                     np.array(unwanted, bool), np.array(stage, np.int8), none, none, (none, none),
                     (none, none), {})


def test_recorder_counts_an_advance_for_an_unwanted_message_with_an_image_not_for_a_follow_request():
    model, pop, minors, adults = _world()
    offender = int(adults[0])
    m13 = minors[pop.cohort[minors] == M13]
    a, b, c, d, e = (int(x) for x in m13[:5])
    out = _contacted(
        sender=[offender] * 6, target=[a, b, c, d, e, e],
        kind=[MESSAGE, FOLLOW_REQUEST, MESSAGE_REQUEST, COMMENT, GROUP_ADD, MESSAGE],
        channel=[SEARCH, SUGGESTION, SEARCH, SEARCH, SEARCH, SEARCH], sender_type=[S_OFFENDER] * 6,
        unwanted=[True, True, True, True, True, False],
        stage=[RAPPORT, SOLICITATION, RAPPORT, SOLICITATION, SOLICITATION, SOLICITATION],
        image=[True, False, True, False, False, True], blurred=[False, False, True, False, False, False])
    assert sexual_advances(out).tolist() == [True, False, True, True, False, False]
    recorder = DayRecorder(model.metrics, pop, model.items, model.contact_log, [])
    recorder.contacted(out, day=3)
    row = model.metrics.today[M13]
    # a: message with an image; c: request with a blurred image (it was sent); d: comment in solicitation.
    # b: a follow request is never an advance, even in solicitation; e: a group add is not, and a message
    # from someone the minor follows is not unwanted.
    assert row[COLUMN["sexual_advances"]] == 3
    assert row[COLUMN["unwanted_from_offenders"]] == 5 and row[COLUMN["unwanted_from_other_adults"]] == 0
    assert row[COLUMN["explicit_images"]] == 2                     # a and e, unblurred
    assert recorder.last_advance_day[[a, b, c, d, e]].tolist() == [3, -10**6, 3, 3, -10**6]
    # An explicit image seen unblurred in a message counts as an image seen; a blurred one does not.
    assert recorder.last_sexual_image_day[[a, c, e]].tolist() == [3, -10**6, 3]
    assert model.contact_log.table()["sexual_advance"].sum() == 3
    recorder.close_day(model.conversations, 3)
    closed = model.metrics.history[-1][M13]
    assert closed[COLUMN["sexual_advanced_7d"]] == 3
    assert closed[COLUMN["sexual_image_7d"]] == 2
    assert closed[COLUMN["unwanted_from_offenders_7d"]] == 5      # a to e (e through the group add)


def test_recorder_splits_unwanted_contact_by_sender_and_the_parts_add_up():
    model, pop, minors, adults = _world()
    targets = [int(x) for x in minors[:6]]
    senders = [int(x) for x in adults[:6]]
    out = _contacted(
        sender=senders, target=targets,
        kind=[MESSAGE, FOLLOW_REQUEST, FOLLOW_REQUEST, MESSAGE, COMMENT, MESSAGE],
        channel=[SEARCH, SUGGESTION, SUGGESTION, SEARCH, SEARCH, SEARCH],
        sender_type=[S_OFFENDER, S_OFFENDER, S_ADULT, S_ADULT, S_ADULT, S_MINOR],
        unwanted=[True, True, True, True, False, False], stage=[RAPPORT] * 5 + [-1],
        benign_blurred=[False, False, False, True, False, True])
    DayRecorder(model.metrics, pop, model.items, model.contact_log, []).contacted(out, day=1)
    today = model.metrics.today
    total = today[:, COLUMN["unwanted_contacts"]]
    by_sender = sum(today[:, COLUMN[f"unwanted_from_{g}"]] for g in SENDER_GROUPS)
    assert (by_sender == total).all() and total.sum() == 4
    assert today[:, COLUMN["unwanted_from_offenders"]].sum() == 2
    assert today[:, COLUMN["unwanted_via_suggestion_offenders"]].sum() == 1
    assert today[:, COLUMN["unwanted_via_suggestion_other_adults"]].sum() == 1
    assert today[:, COLUMN["unwanted_via_search_other_adults"]].sum() == 1
    for g in SENDER_GROUPS:
        by_channel = sum(today[:, COLUMN[f"unwanted_via_{c}_{g}"]] for c in DISCOVERY_CHANNELS)
        assert (by_channel == today[:, COLUMN[f"unwanted_from_{g}"]]).all()
    # Benign messages and their wrongful blurring: messages and requests without an image.
    assert today[:, COLUMN["benign_messages"]].sum() == 3
    assert today[:, COLUMN["benign_blurred"]].sum() == 2
    assert today[:, COLUMN["sexual_advances"]].sum() == 0       # no image, no solicitation


def test_recorder_counts_withheld_feed_items_and_prevented_requests():
    model, pop, minors, adults = _world()
    m, a = int(minors[0]), int(adults[0])
    served = Served(impressions=None, sessions=np.zeros(pop.n, np.int64), recent_posts=np.zeros(pop.n, np.int64),
                    withheld={"benign": np.array([m, m, m, a]), "harmful": np.array([m])})
    recorder = DayRecorder(model.metrics, pop, model.items, model.contact_log, [])
    recorder.served(served)
    out = Suggested(withheld_viewer=np.array([a, a, m]), withheld_shown=np.array([m, m, a]),
                    legit_prevented=np.array([m, m]))
    recorder.suggested(out, model.groups, 1)
    today = model.metrics.today
    assert today[pop.cohort[m], COLUMN["benign_withheld"]] == 3
    assert today[ADULT, COLUMN["benign_withheld"]] == 1
    assert today[pop.cohort[m], COLUMN["harmful_withheld"]] == 1
    assert today[pop.cohort[m], COLUMN["legit_prevented"]] == 2     # in the minor's cohort, like legit_attempts
    assert today[ADULT, COLUMN["account_suggestions_withheld"]] == 2


def test_withheld_suggestions_are_the_pairs_the_safeguards_removed_and_shift_no_other_draw():
    from sim.model import ExposureModel
    from sim.phases.suggest import suggest
    from tests.conftest import tiny_config

    def run(enabled: bool, withheld_rng):
        cfg = tiny_config(**{"recommender.accept_suggestion_adult": 0.5})
        cfg.safeguards.no_minor_suggestions.enabled = enabled
        model = ExposureModel(cfg)
        pop = model.population
        none = np.zeros(0, dtype=np.int64)
        from sim.phases.engage import Engaged
        engaged = Engaged(np.zeros(0, bool), np.zeros(0, bool), none, none, none, np.zeros((4, 4), np.int64))
        return pop, suggest(pop, model.graph, model.followers, model.groups, model.account_suggester,
                            model.group_suggester, model.safeguards, model.discovered, engaged,
                            np.ones(pop.n, np.int64), cfg.recommender, 1, np.random.default_rng(5), withheld_rng)

    pop, open_ = run(False, np.random.default_rng(9))
    _, closed = run(True, np.random.default_rng(9))
    _, closed_no_draw = run(True, None)
    assert open_.withheld_viewer.size == 0 and open_.legit_prevented.size == 0
    shown = set(zip(open_.account_viewer.tolist(), open_.account_shown.tolist()))
    kept = set(zip(closed.account_viewer.tolist(), closed.account_shown.tolist()))
    withheld = list(zip(closed.withheld_viewer.tolist(), closed.withheld_shown.tolist()))
    assert withheld and set(withheld) == shown - kept and len(withheld) == len(set(withheld))
    # Ordinary adults' requests to withheld minors come from their own stream: nothing else moves.
    assert closed.legit_prevented.size > 0
    assert set(closed.legit_prevented.tolist()) <= {s for v, s in withheld if not pop.is_minor[v]}
    assert pop.is_minor[closed.legit_prevented].all()
    for name in ("account_viewer", "account_shown", "group_viewer", "group_shown"):
        assert np.array_equal(getattr(closed, name), getattr(closed_no_draw, name)), name
    for a, b in zip(closed.follows + closed.follow_requests, closed_no_draw.follows + closed_no_draw.follow_requests):
        assert np.array_equal(a, b)
    assert closed_no_draw.legit_prevented.size == 0
