"""The lesson as one standalone HTML file: every scene run at export time, replayed in any browser.

Core objects: :func:`write_lesson`, :func:`lesson_html`, :func:`scene_run`.

``python -m sim.page export lesson.html`` runs each scene of :mod:`sim.page.lesson`
on the classroom world (the same runs the live page makes) and writes one file:
the pictures are drawn here, by :mod:`sim.page.draw` as on the live page, and a
short inline script shows one day at a time (a day slider, play and step). The
network carries the days each account and follow is on the platform; each day's
phone and contact lines are embedded as data. No Python, no server and nothing
outside the file is needed to open it: no external URL appears in it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from html import escape
from pathlib import Path

import numpy as np

from sim.page import draw
from sim.page.lesson import SCENES, Scene
from sim.page.world import HORIZON, SERIES, ClassroomModel, account_kinds, layout, series_of


@dataclass
class SceneRun:
    """A scene's run, drawn: the network over the run, per-day phone and contact lines, and the plots."""

    scene: Scene
    days: int
    network: str                 # network_timeline_svg
    phones: list[str]            # per day 0..days: phone_html
    lines: list[str]             # per day: contact_lines_svg
    plots: str                   # the plots with the current run clipped to the day shown
    legend: str


def scene_run(index: int, days: int = HORIZON) -> SceneRun:
    """Run scene ``index`` for ``days`` days and draw what the page needs to replay it."""
    scene = SCENES[index]
    model = ClassroomModel(scene.settings)
    xy, kinds = layout(model), account_kinds(model)
    n = model.population.n
    present = [model.population.present.copy()]
    pair_days: dict[int, list[int]] = {}
    phones = [draw.phone_html(model.frame)]
    lines = [""]

    def note_edges(day: int) -> None:
        src, dst = model.graph.edges()
        here = model.population.present
        keep = here[src] & here[dst]
        a, b = src[keep].astype(np.int64), dst[keep].astype(np.int64)
        for key in np.unique(np.minimum(a, b) * n + np.maximum(a, b)).tolist():
            pair_days.setdefault(key, []).append(day)

    note_edges(0)
    while model.day < days:
        model.step()
        present.append(model.population.present.copy())
        note_edges(model.day)
        phones.append(draw.phone_html(model.frame))
        lines.append(draw.contact_lines_svg(model.frame.today.contacts, xy, model.phone)
                     if model.frame.phone_joined else "")
    groups: dict[str, list[int]] = {}
    for key, on in pair_days.items():
        mask = np.zeros(days + 1, dtype=bool)
        mask[on] = True
        groups.setdefault(draw.spans(mask), []).append(key)
    edge_days = {span: (np.array(keys) // n, np.array(keys) % n) for span, keys in groups.items()}
    network = draw.network_timeline_svg(xy, kinds, model.phone, np.stack(present), edge_days)
    runs = [(scene.settings.label(), model.series)] + [(s.label(), series_of(s, days)) for s in scene.compare]
    start = min(scene.start_day, days)
    plots = "".join(draw.plot_svg(key, [(label, s[key]) for label, s in runs], start, days,
                                  reveal=f"reveal-{index}-{key}") for key in SERIES)
    return SceneRun(scene, days, network, phones, lines, plots, draw.runs_legend_html([label for label, _ in runs]))


_PAGE_CSS = """
body { font-family: system-ui, sans-serif; margin: 0; color: #222; background: #f5f6f8; }
header { background: #1976d2; color: #fff; padding: 10px 18px; }
header h1 { font-size: 22px; margin: 0; font-weight: 500; }
header p { margin: 4px 0 0; font-size: 14px; opacity: .9; }
.bar { display: flex; flex-wrap: wrap; gap: 8px; align-items: center; padding: 10px 18px; background: #fff;
  border-bottom: 1px solid #ddd; }
.bar button { font: inherit; font-size: 14px; padding: 5px 12px; border: 1px solid #1976d2; border-radius: 4px;
  background: #fff; color: #1976d2; cursor: pointer; }
.bar button[aria-pressed="true"], .bar button.primary { background: #1976d2; color: #fff; }
.bar input[type=range] { width: 260px; }
#daylabel { font-size: 26px; font-weight: 700; margin-left: auto; }
.card { background: #fff; border-radius: 6px; box-shadow: 0 1px 3px rgba(0,0,0,.2); padding: 10px 14px; margin: 10px; }
.grid { display: flex; flex-wrap: wrap; align-items: flex-start; }
.grid > .card { flex: 1 1 300px; }
.grid > .card.phonecard { flex: 0 0 340px; }
.scene-title { font-size: 20px; font-weight: 700; margin: 2px 0; }
.ask { font-size: 16px; background: #fff4d6; border-left: 5px solid #f4a000; padding: 6px 10px; margin-top: 6px; }
h2 { font-size: 18px; font-weight: 500; margin: 2px 0 6px; }
footer { font-size: 12px; color: #666; padding: 0 18px 18px; }
[hidden] { display: none !important; }
"""

_SCRIPT = """
(function () {
  const data = JSON.parse(document.getElementById('lesson-data').textContent);
  const slider = document.getElementById('day');
  const label = document.getElementById('daylabel');
  const play = document.getElementById('play');
  let scene = 0, day = 0, timer = null;
  function inSpans(spans, d) {
    if (!spans) return false;
    return spans.split(',').some(function (s) { const p = s.split('-'); return +p[0] <= d && d <= +p[1]; });
  }
  function showDay(d) {
    const run = data.scenes[scene];
    day = Math.max(0, Math.min(run.days, d));
    slider.max = run.days; slider.value = day;
    label.textContent = 'Day ' + day + ' of ' + run.days;
    label.dataset.day = day;
    const root = document.querySelector('[data-scene-panel="' + scene + '"]');
    root.querySelectorAll('[data-days]').forEach(function (el) {
      el.style.display = inSpans(el.getAttribute('data-days'), day) ? '' : 'none';
    });
    root.querySelector('.xp-overlay').innerHTML = run.lines[day];
    root.querySelector('.phone-slot').innerHTML = run.phones[day];
    root.querySelectorAll('svg[data-plot]').forEach(function (svg) {
      const x = +svg.dataset.left + (+svg.dataset.w) * day / (+svg.dataset.horizon);
      svg.querySelectorAll('.xp-reveal').forEach(function (r) { r.setAttribute('width', x); });
      svg.querySelectorAll('.xp-marker').forEach(function (m) { m.setAttribute('x1', x); m.setAttribute('x2', x); });
    });
  }
  function showScene(i) {
    stop();
    scene = i;
    document.querySelectorAll('[data-scene-panel]').forEach(function (el) {
      el.hidden = el.getAttribute('data-scene-panel') !== String(i);
    });
    document.querySelectorAll('[data-scene-button]').forEach(function (b) {
      b.setAttribute('aria-pressed', b.getAttribute('data-scene-button') === String(i) ? 'true' : 'false');
    });
    showDay(data.scenes[i].start);
  }
  function stop() { if (timer) { clearInterval(timer); timer = null; } play.textContent = '\\u25B6 Play'; }
  play.addEventListener('click', function () {
    if (timer) { stop(); return; }
    play.textContent = '\\u275A\\u275A Pause';
    if (day >= data.scenes[scene].days) showDay(0);
    timer = setInterval(function () {
      showDay(day + 1);
      if (day >= data.scenes[scene].days) stop();
    }, 350);
  });
  document.getElementById('step').addEventListener('click', function () { stop(); showDay(day + 1); });
  document.getElementById('back').addEventListener('click', function () { stop(); showDay(day - 1); });
  slider.addEventListener('input', function () { stop(); showDay(+slider.value); });
  document.querySelectorAll('[data-scene-button]').forEach(function (b) {
    b.addEventListener('click', function () { showScene(+b.getAttribute('data-scene-button')); });
  });
  showScene(0);
})();
"""


def lesson_html(runs: list[SceneRun]) -> str:
    """The standalone page for the scenes' runs."""
    buttons = "".join(f'<button data-scene-button="{i}" aria-pressed="false">Scene {i + 1}</button>'
                      for i in range(len(runs)))
    panels = []
    for i, run in enumerate(runs):
        s = run.scene
        panels.append(
            f'<div data-scene-panel="{i}" hidden>'
            f'<div class="card"><div class="scene-title">Scene {i + 1}: {escape(s.title)}</div>'
            f'<div style="font-size:15px">{escape(s.script)}</div>'
            f'<div style="font-size:14px;color:#444;margin-top:2px"><b>Look at:</b> {escape(s.look)}</div>'
            f'<div class="ask"><b>Ask the class:</b> {escape(s.question)}</div></div>'
            f'<div class="grid"><div class="card"><h2>Who follows whom</h2>{draw.network_legend_html()}'
            f'{run.network}</div>'
            f'<div class="card phonecard"><h2>The phone</h2><div class="phone-slot"></div>'
            f'{draw.class_legend_html()}</div>'
            f'<div class="card"><h2>All teens on the platform</h2>{run.legend}{run.plots}</div></div></div>')
    data = {"scenes": [{"days": r.days, "start": min(r.scene.start_day, r.days), "phones": r.phones,
                        "lines": r.lines} for r in runs]}
    # Inside <script>, "</" would end the element: JSON allows "<\/" for it.
    payload = json.dumps(data, separators=(",", ":")).replace("</", "<\\/")
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        '<title>exposim: a social platform in the classroom (lesson)</title>'
        f"<style>{_PAGE_CSS}{draw.CSS}</style></head><body>"
        "<header><h1>exposim: a social platform in the classroom</h1>"
        "<p>The lesson, replayed from runs made when this file was written. A simulation, not a real platform: "
        "the model's default world made small (400 accounts). "
        "Posts carry only a label for what kind of post they are, never any content.</p></header>"
        f'<nav class="bar" aria-label="Scenes">{buttons}</nav>'
        '<div class="bar"><button id="back">&#9664; Back</button><button id="play" class="primary">'
        '&#9654; Play</button><button id="step">Step</button>'
        '<input type="range" id="day" min="0" max="60" value="0" aria-label="Day">'
        '<span id="daylabel" data-day="0">Day 0</span></div>'
        f'{"".join(panels)}'
        "<footer>Made with exposim (python -m sim.page export). Harm classes are shown by colour and a plain "
        "label; contact by kind and by how the sender found her.</footer>"
        f'<script type="application/json" id="lesson-data">{payload}</script>'
        f"<script>{_SCRIPT}</script></body></html>")


def write_lesson(path: str | Path, days: int | None = None) -> Path:
    """Run every scene and write the standalone lesson to ``path``; returns the path."""
    days = HORIZON if days is None else max(1, min(int(days), HORIZON))
    runs = [scene_run(i, days) for i in range(len(SCENES))]
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(lesson_html(runs), encoding="utf-8")
    tmp.replace(path)
    return path
