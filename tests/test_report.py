"""The standalone HTML report: content, self-containment, determinism, and rendering in a real browser."""

from __future__ import annotations

import html
import math
import re
import subprocess
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

from sim.analysis.labels import (CONTACT_METRICS, COST_METRICS, DECOY_METRICS, HARM_METRICS, HEADLINE, IDEAL_NOTE,
                                 SENDER_METRICS, TIMELINE_SERIES, is_ideal, label, setting_label)
from sim.analysis.report import render_report, write_report
from sim.analysis.stats import COMPARISON_SCHEMA

BASELINE = "safeguards=none"
SETTINGS = (BASELINE, "safeguards=teen_accounts_2024", "safeguards=all_on")
METRICS = tuple(dict.fromkeys(HEADLINE + HARM_METRICS + CONTACT_METRICS + COST_METRICS + DECOY_METRICS
                              + tuple(m for pair in SENDER_METRICS for m in pair)
                              + ("minor_harm_prevalence_per_10k", "offenders_banned_share", "unlabelled_extra_metric")))
HEADLINE_HARM = "minor_violating_prevalence_per_10k"
ERRORS = ("ValueError: population.n must be positive, got -3 <see config>",
          "RuntimeError: worker killed & never finished")
FACTOR = {BASELINE: 1.0, SETTINGS[1]: 0.7, SETTINGS[2]: 0.4}


def comparison_table() -> pa.Table:
    """Three settings × every catalogued metric, with hand-picked numbers."""
    cols: dict[str, list] = {k: [] for k in ("setting", "order", "metric", "n", "mean", "ci_low", "ci_high",
                                             "is_baseline", "n_pairs", "diff_mean", "diff_low", "diff_high",
                                             "rel_change", "rel_low", "rel_high")}
    for order, setting in enumerate(SETTINGS):
        base = setting == BASELINE
        for j, metric in enumerate(METRICS):
            b = 0.05 + 0.01 * j if metric.endswith("_share") else 10.0 + j
            if metric == HEADLINE_HARM:
                b = 12.3
            f = FACTOR[setting]
            mean, n = b * f, 4
            if metric.startswith("decoy_days_to_first") and setting == SETTINGS[2]:
                mean, n = math.nan, 0                         # the decoys were never reached
            lo, hi = (mean - 0.18 * b, mean + 0.14 * b) if n >= 2 else (math.nan, math.nan)
            if metric == HEADLINE_HARM and base:
                lo, hi = 10.1, 14.0
            diff = mean - b
            rel = (mean / b - 1, mean / b - 1 - 0.07, mean / b - 1 + 0.07)
            if metric == HEADLINE_HARM and setting == SETTINGS[2]:
                rel = (-0.45, -0.52, -0.38)
            row = {"setting": setting, "order": order, "metric": metric, "n": n, "mean": mean, "ci_low": lo,
                   "ci_high": hi, "is_baseline": base, "n_pairs": n,
                   "diff_mean": math.nan if base else diff,
                   "diff_low": math.nan if base else diff - 0.1 * b,
                   "diff_high": math.nan if base else diff + 0.1 * b,
                   "rel_change": math.nan if base else rel[0], "rel_low": math.nan if base else rel[1],
                   "rel_high": math.nan if base else rel[2]}
            for k, v in row.items():
                cols[k].append(v)
    types = {"setting": pa.string(), "order": pa.int32(), "metric": pa.string(), "n": pa.int32(),
             "is_baseline": pa.bool_(), "n_pairs": pa.int32()}
    return pa.table({k: pa.array(v, type=types.get(k, pa.float64())) for k, v in cols.items()})


def with_methods(table: pa.Table) -> pa.Table:
    """A hand-made table in the form compare_settings writes: with the interval method columns."""
    rows = table.to_pylist()
    for r in rows:
        r["interval"] = "t" if math.isfinite(r["ci_low"]) else "none"
        r["diff_interval"] = "paired t" if math.isfinite(r["diff_low"]) else "none"
        r["rel_interval"] = "Fieller" if math.isfinite(r["rel_low"]) else "none"
    return pa.Table.from_pylist(rows, schema=COMPARISON_SCHEMA)


def edit_cells(table: pa.Table, changes: dict[tuple[str, str], dict]) -> pa.Table:
    """The table with some (setting, metric) cells' fields replaced."""
    rows = table.to_pylist()
    for r in rows:
        r.update(changes.get((r["setting"], r["metric"]), {}))
    return pa.Table.from_pylist(rows, schema=table.schema)


def timelines_table(days: int = 10) -> pa.Table:
    cols: dict[str, list] = {k: [] for k in ("setting", "order", "series", "day", "n", "mean", "ci_low", "ci_high")}
    for order, setting in enumerate(SETTINGS):
        for series in TIMELINE_SERIES:
            for day in range(days):
                mean = FACTOR[setting] * 0.8 * (day + 1)
                for k, v in zip(cols, (setting, order, series, day, 4, mean, 0.8 * mean, 1.2 * mean)):
                    cols[k].append(v)
    types = {"setting": pa.string(), "order": pa.int32(), "series": pa.string(), "day": pa.int32(),
             "n": pa.int32()}
    return pa.table({k: pa.array(v, type=types.get(k, pa.float64())) for k, v in cols.items()})


def empty_timelines() -> pa.Table:
    return timelines_table().slice(0, 0)


def runs_table(failures: bool = True) -> pa.Table:
    rows = []
    for setting in SETTINGS:
        for rep in range(4):
            rows.append({"run_dir": f"{setting.replace('=', '_')}/{rep}", "setting": setting, "replicate": str(rep),
                         "status": "complete", "error": None})
    if failures:
        rows.append({"run_dir": "bad/0", "setting": SETTINGS[1], "replicate": "4", "status": "failed",
                     "error": ERRORS[0]})
        rows.append({"run_dir": "bad/1", "setting": SETTINGS[2], "replicate": "4", "status": "invalid",
                     "error": ERRORS[1]})
    schema = pa.schema([("run_dir", pa.string()), ("setting", pa.string()), ("replicate", pa.string()),
                        ("status", pa.string()), ("error", pa.string())])
    return pa.Table.from_pylist(rows, schema=schema)


def meta() -> dict:
    return {"title": "Safeguards on a small world", "sweep_dir": "multirun/2024-01-01/safeguards",
            "baseline": BASELINE, "level": 0.95, "resamples": 2000, "exposim_version": "0.1.0",
            "metrics": list(HEADLINE)}


def render(timelines: pa.Table | None = None, runs: pa.Table | None = None, table: pa.Table | None = None) -> str:
    return render_report(with_methods(comparison_table()) if table is None else table,
                         timelines_table() if timelines is None else timelines,
                         runs_table() if runs is None else runs, meta())


def visible_text(page: str) -> str:
    return html.unescape(re.sub(r"<[^>]+>", "", page))


def test_report_shows_every_setting_headline_error_and_figure():
    page = render()
    described = page.split('id="settings"')[1].split("</section>")[0]
    for setting in SETTINGS:
        assert html.escape(setting_label(setting)) in page
        assert html.escape(setting) in described          # the override, for whoever re-runs it
    for metric in HEADLINE:
        assert html.escape(label(metric)) in page
    for error in ERRORS:
        assert html.escape(error) in page
    assert page.count("<svg") == 4          # harm, contact, timelines, cost-benefit
    assert "unlabelled_extra_metric" in page  # the full table hides nothing


def test_cells_show_mean_interval_relative_change_and_mark():
    text = visible_text(render())
    assert "12.3 [10.1, 14.0]" in text
    assert "−45.0% [−52.0, −38.0] ◆" in text
    assert "never" in text                  # decoys never reached under all_on
    assert "1 failed" in text and "1 invalid" in text and "12 complete" in text
    assert "at 95% over replicates" in text and "95% intervals" in text
    main = text.split("Main results")[1].split("Harm by setting")[0]
    assert "no detectable difference" not in main and "too few replicates" not in main   # none of either here


def test_how_to_read_names_the_interval_methods():
    page = render()
    how = " ".join(visible_text(page.split('id="how-to-read"')[1].split("</section>")[0]).split())
    assert "Student-t interval at 95% over replicates" in how
    assert "2.78 on five replicates" in how                  # t(4), two-sided 95%
    for words in ("paired t interval", "Fieller's interval", "BCa bootstrap interval, 2000 resamples",
                  "no detectable difference at these replicates", "too few replicates (n) for an interval",
                  "fewer than 3 finite replicates"):
        assert words in how, words
    assert "percentile" not in page
    footer = visible_text(page.split("<footer>")[1].split("</footer>")[0])
    assert "95% intervals: t, paired t, Fieller (BCa with 2000 bootstrap resamples at 10 pairs or more)" in footer


def cell_text(page: str, setting: str, metric: str) -> str:
    """The visible text of one cell of the main results (three tables of three figures each)."""
    main = page.split('id="results"')[1].split("</section>")[0]
    name = html.escape(setting_label(setting)) + "<"
    rows = [r for r in re.findall(r"<tr.*?</tr>", main, flags=re.S) if name in r]
    cells = [c for r in rows for c in re.findall(r"<td.*?</td>", r, flags=re.S)]
    assert len(cells) == len(HEADLINE)
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", cells[list(HEADLINE).index(metric)])).split())


NAN = math.nan
#: Cells edited for the cases below, each in its own metric: (setting, metric) -> fields.
EDITS = {
    # A paired difference whose interval spans 0.
    (SETTINGS[1], HEADLINE[1]): {"diff_mean": -0.4, "diff_low": -1.9, "diff_high": 1.1, "rel_change": -0.03,
                                 "rel_low": -0.14, "rel_high": 0.09},
    # Two replicates of each setting: no interval for the means nor for the change.
    (BASELINE, HEADLINE[0]): {"n": 2, "n_pairs": 2, "ci_low": NAN, "ci_high": NAN, "interval": "none"},
    (SETTINGS[1], HEADLINE[0]): {"n": 2, "n_pairs": 2, "mean": 8.0, "ci_low": NAN, "ci_high": NAN,
                                 "interval": "none", "diff_low": NAN, "diff_high": NAN, "diff_interval": "none",
                                 "rel_change": -0.35, "rel_low": NAN, "rel_high": NAN, "rel_interval": "none"},
    # A baseline mean of 0 (no ratio), and a ratio with no bounded interval.
    (SETTINGS[1], HEADLINE[4]): {"rel_change": NAN, "rel_low": NAN, "rel_high": NAN, "rel_interval": "none",
                                 "diff_mean": 2.0, "diff_low": 1.0, "diff_high": 3.0},
    (SETTINGS[2], HEADLINE[4]): {"rel_low": NAN, "rel_high": NAN, "rel_interval": "none",
                                 "diff_low": -2.0, "diff_high": 0.5},
}


@pytest.fixture(scope="module")
def edited_page() -> str:
    return render(table=edit_cells(with_methods(comparison_table()), EDITS))


def test_a_difference_whose_interval_spans_zero_reads_as_no_detectable_difference(edited_page):
    text = cell_text(edited_page, SETTINGS[1], HEADLINE[1])
    assert text.endswith("] −3.00% [−14.0, 9.00] no detectable difference at these replicates"), text
    assert "◆" not in text
    assert "◆" in cell_text(edited_page, SETTINGS[2], HEADLINE[1])     # the other setting's excludes 0


def test_too_few_replicates_are_said_in_words_not_left_blank(edited_page):
    metric = HEADLINE[0]
    assert cell_text(edited_page, BASELINE, metric) == "12.3 too few replicates (2) for an interval baseline"
    assert cell_text(edited_page, SETTINGS[1], metric) == ("8.00 too few replicates (2) for an interval −35.0% "
                                                            "too few replicates (2) for an interval")
    assert "◆" not in cell_text(edited_page, SETTINGS[1], metric)


def test_a_zero_baseline_shows_the_difference_and_an_unbounded_ratio_says_so(edited_page):
    metric = HEADLINE[4]
    assert cell_text(edited_page, SETTINGS[1], metric).endswith("+2.00 [1.00, 3.00] (difference) ◆")
    assert cell_text(edited_page, SETTINGS[2], metric).endswith(
        "(interval unbounded) no detectable difference at these replicates")


def test_a_comparison_table_without_the_method_columns_still_renders():
    legacy = comparison_table()                              # as written before the columns were added
    assert "interval" not in legacy.schema.names
    text = visible_text(render(table=legacy))
    assert "12.3 [10.1, 14.0]" in text and "−45.0% [−52.0, −38.0] ◆" in text


def test_report_has_no_external_resources():
    page = render()
    assert "<script" not in page and "<link" not in page and "<?xml" not in page and "<!-- " not in page
    assert not re.search(r'(src|href)\s*=\s*["\']?\s*(https?:)?//', page)
    # Only namespace declarations (never fetched) may name a URL.
    for url in re.findall(r"https?://[^\s\"'<>]+", page):
        assert re.search(rf'xmlns(:\w+)?="{re.escape(url)}"', page), url


def test_svg_ids_are_unique_across_figures():
    ids = re.findall(r'\bid="([^"]+)"', render())
    assert ids and len(ids) == len(set(ids))


def test_same_inputs_give_identical_file_written_atomically(tmp_path):
    table = with_methods(comparison_table())
    first = write_report(tmp_path / "report.html", table, timelines_table(), runs_table(), meta())
    before = first.read_bytes()
    second = write_report(tmp_path / "report.html", table, timelines_table(), runs_table(), meta())
    assert second == tmp_path / "report.html"
    assert second.read_bytes() == before
    assert before.decode() == render()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["report.html"]


def test_empty_timelines_are_reported_as_not_available():
    page = render(timelines=empty_timelines())
    assert "Decoy timelines are not available" in page
    assert page.count("<svg") == 3
    for setting in SETTINGS:
        assert html.escape(setting) in page


def test_all_complete_runs_are_one_line():
    page = render(runs=runs_table(failures=False))
    assert "All 12 runs are complete." in page
    assert "failed" not in visible_text(page).split("Main results")[0].split("Runs")[-1]


def test_missing_cost_metrics_skip_the_panel_with_a_note():
    table = comparison_table()
    keep = np.array([m != "minor_engagements_per_minor_day" for m in table["metric"].to_pylist()])
    page = render_report(table.filter(pa.array(keep)), timelines_table(), runs_table(), meta())
    text = " ".join(visible_text(page).split())   # the note is wrapped over several SVG <text> lines
    assert "Not available: minor_engagements_per_minor_day not in this sweep" in text
    assert page.count("<svg") == 4


def test_headline_shows_violating_and_borderline_apart_and_not_the_all_class_figure():
    assert HEADLINE[:2] == ("minor_violating_prevalence_per_10k", "minor_borderline_prevalence_per_10k")
    assert "minor_harm_prevalence_per_10k" not in HEADLINE
    main = render().split('id="results"')[1].split("</section>")[0]
    assert html.escape(label("minor_violating_prevalence_per_10k")) in main
    assert html.escape(label("minor_borderline_prevalence_per_10k")) in main
    assert html.escape(label("minor_harm_prevalence_per_10k")) not in main


def test_report_has_contact_by_sender_and_costs_sections():
    page = render()
    sender = page.split('id="contact-by-sender"')[1].split("</section>")[0]
    for offenders, others in SENDER_METRICS:
        assert html.escape(label(offenders)) in sender and html.escape(label(others)) in sender
    costs = page.split('id="costs"')[1].split("</section>")[0]
    for metric in COST_METRICS:
        assert html.escape(label(metric)) in costs
    assert page.index('id="costs"') < page.index('id="cost-benefit"')


def test_the_ideal_preset_is_named_as_an_analytic_bound_wherever_settings_are_named():
    ideal = "safeguards=ideal"
    table = comparison_table()
    settings = [ideal if s == SETTINGS[2] else s for s in table["setting"].to_pylist()]
    table = table.set_column(table.schema.get_field_index("setting"), "setting", pa.array(settings, pa.string()))
    runs = runs_table()
    run_settings = [ideal if s == SETTINGS[2] else s for s in runs["setting"].to_pylist()]
    runs = runs.set_column(runs.schema.get_field_index("setting"), "setting", pa.array(run_settings, pa.string()))
    page = render_report(table, empty_timelines(), runs, meta())
    named = setting_label(ideal)
    assert named == "Every safeguard perfect — an analytic bound, not a policy"
    for section in ("results", "settings", "runs", "costs", "contact-by-sender", "all-metrics"):
        assert html.escape(named) in page.split(f'id="{section}"')[1].split("</section>")[0], section
    # In the figures' axis labels too (wrapped over lines there): never the bare name alone.
    assert "an analytic bound" in " ".join(visible_text(page.split('id="harm"')[1].split("</section>")[0]).split())
    assert setting_label(SETTINGS[1]) == "Teen Accounts (Instagram, 2024)"


@pytest.mark.parametrize("setting,ideal,name", [
    ("safeguards=ideal", True, "Every safeguard perfect — an analytic bound, not a policy"),
    ("safeguards.preset=ideal", True, "Every safeguard perfect — an analytic bound, not a policy"),
    ("recommender.feed=random, safeguards=ideal", True,
     "feed: random; Every safeguard perfect — an analytic bound, not a policy"),
    ("safeguards=all_on", False, "Every safeguard on"),
    ("recommender=ideal", False, "feed policy: ideal"),
    ("safeguards=ideal_ish", False, "ideal_ish"),                 # no such preset file: its own name
    ("all runs", False, "all runs"),
])
def test_which_settings_are_the_ideal_preset(setting, ideal, name):
    assert is_ideal(setting) is ideal
    assert (IDEAL_NOTE in setting_label(setting)) is ideal
    assert setting_label(setting) == name


# ----------------------------------------------------------------------------- a real browser

CHROMIUM_FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync")


@pytest.fixture(scope="module")
def report_file(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("report")
    return write_report(folder / "report.html", comparison_table(), timelines_table(), runs_table(), meta())


def _run_chromium(binary: str, profile: Path, *args: str) -> subprocess.CompletedProcess:
    cmd = [binary, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", *args]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 0, f"{cmd} exited {proc.returncode}: {proc.stderr[-2000:]}"
    return proc


def test_browser_dom_shows_compared_settings(chromium, report_file, tmp_path):
    dom = _run_chromium(chromium, tmp_path / "profile", "--dump-dom", report_file.as_uri()).stdout
    text = visible_text(dom)
    for setting in SETTINGS:
        assert setting in text
    for metric in HEADLINE:
        assert label(metric) in text
    assert dom.count("<svg") == 4


def test_browser_screenshot_is_not_blank(chromium, report_file, tmp_path):
    import matplotlib.image

    png = tmp_path / "report.png"
    _run_chromium(chromium, tmp_path / "profile", f"--screenshot={png}", "--window-size=1280,2000",
                  report_file.as_uri())
    pixels = matplotlib.image.imread(png)
    assert pixels.shape[0] >= 1000 and pixels.shape[1] >= 1000
    assert float(pixels.max()) != float(pixels.min())


# ----------------------------------------------------------------------------- the Markdown table


def test_the_markdown_table_has_the_reports_names_units_and_verdicts():
    from sim.analysis.markdown import markdown_table
    from sim.analysis.text import number

    share = "minor_13_15_sexual_image_7d_share"
    table = edit_cells(with_methods(comparison_table()), EDITS)
    text = markdown_table(table, [HEADLINE[1], share, "decoy_days_to_first_unwanted_contact"])
    head, rule, *rows = text.splitlines()
    assert head == ("| setting | " + label(HEADLINE[1]) + " | " + label(share) + " (%) | "
                    + label("decoy_days_to_first_unwanted_contact") + " |")
    assert [r.split(" | ")[0].lstrip("| ") for r in rows] == [setting_label(BASELINE) + " (baseline)",
                                                             setting_label(SETTINGS[1]), setting_label(SETTINGS[2])]
    cells = {s: r.strip("| ").split(" | ")[1:] for s, r in zip(SETTINGS, rows)}
    base = next(r for r in table.to_pylist() if r["setting"] == BASELINE and r["metric"] == share)
    assert cells[BASELINE][1].startswith(number(100 * base["mean"]) + " [")       # a share in %
    assert cells[SETTINGS[1]][0].endswith("-3% (n.d.)")                          # spans 0: no detectable difference
    assert cells[SETTINGS[2]][1].endswith("%") and "(n.d.)" not in cells[SETTINGS[2]][1]
    assert cells[SETTINGS[2]][2] == "never"                                       # the decoys were never reached
    transposed = markdown_table(table, [HEADLINE[1]], figures_down=True).splitlines()
    assert transposed[0].startswith("| figure | " + setting_label(BASELINE) + " (baseline) | ")
    with pytest.raises(ValueError, match="not_a_metric"):
        markdown_table(table, ["not_a_metric"])


def test_the_table_command_needs_a_compared_sweep(tmp_path):
    import sys

    done = subprocess.run([sys.executable, "-m", "sim.analysis", "table", str(tmp_path)], capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 2 and "run `python -m sim.analysis compare" in done.stderr and not done.stdout
