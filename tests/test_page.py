"""The classroom page (sim.page): its world reads the model without changing it, and the page works in a real
browser — offline, stepping, playing, switching safeguards, walking the lesson — as does the exported lesson.

The browser tests need the page's extra (``pip install -e '.[page]'``: Solara, Mesa's visualization and
Playwright's Python package) and Debian's ``chromium`` on PATH; without either they are skipped with a
message saying how to get it. They never install anything. Screenshots go to ``artifacts/page/`` (ignored
by git).
"""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from html import escape
from pathlib import Path
from urllib.parse import urlparse

import numpy as np
import pytest

from sim.metrics import COLUMN
from sim.page.lesson import SCENES
from sim.page.world import WORLD, ClassroomModel, Settings, build_config, set_key
from sim.vocabulary import DECOY

REPO = Path(__file__).resolve().parents[1]
ARTIFACTS = REPO / "artifacts" / "page"
PAGE_PACKAGES = ("solara", "playwright", "ipyvuetify")
LOCAL_HOSTS = ("localhost", "127.0.0.1", "::1")


# ------------------------------------------------------------- the world, no browser

def test_the_phone_recorder_sees_what_the_model_counts():
    """What the page shows of the phone is the model's own record: its impressions and contacts per day equal
    the decoy cohort's counters (the world has one decoy, the phone)."""
    model = ClassroomModel(Settings(preset="teen_accounts_2024", declared_age=21))
    for _ in range(15):
        model.step()
        today = model.metrics.history[-1][DECOY]
        assert model.recorder.today.tiles.size == today[COLUMN["impressions"]]
        delivered = [c for c in model.recorder.today.contacts if c.delivered]
        assert len(delivered) == today[COLUMN["contacts_delivered"]]
        assert len(model.recorder.today.contacts) == today[COLUMN["contact_attempts"]]
        assert sum(c.unwanted for c in delivered) == today[COLUMN["unwanted_contacts"]]
    assert model.frame.day == 15 and len(model.frame.series["harm"]) == 15


def test_following_the_phone_changes_nothing_in_the_run():
    """The page's world is an ordinary run of the small world: the same counters as ExposureModel's."""
    from sim.model import ExposureModel

    settings = Settings(preset="ofcom_2025")
    page, plain = ClassroomModel(settings), ExposureModel(build_config(settings))
    for _ in range(10):
        page.step()
        plain.step()
    assert np.array_equal(page.metrics.as_array(), plain.metrics.as_array())


def test_settings_are_the_command_lines_config():
    """A page setting composes the config `python -m sim <overrides>` would, on the classroom world."""
    from hydra import compose, initialize_config_dir

    from sim.compose import CONFIG_DIR, to_config

    settings = Settings(seed=4, feed="chronological", suggestions=False, preset="dsa_2025", declared_age=21)
    settings = settings.with_safeguard("usage_limits", True).with_safeguard("age_assurance", False)
    with initialize_config_dir(config_dir=str(CONFIG_DIR), version_base="1.3"):
        expected = to_config(compose("config", overrides=settings.overrides()))
    for key, value in WORLD.items():
        set_key(expected, key, value)
    assert build_config(settings) == expected
    assert "safeguards.usage_limits.enabled=true" in settings.overrides()
    # Switching a safeguard back to what the preset says drops it from the switched list.
    assert settings.with_safeguard("usage_limits", False).switched == (("age_assurance", False),)


def test_a_step_of_the_classroom_world_is_well_under_a_second():
    model = ClassroomModel(Settings())
    start = time.perf_counter()
    model.run_to(20)
    per_day = (time.perf_counter() - start) / 20
    print(f"classroom world: {per_day * 1000:.0f} ms per simulated day")
    assert per_day < 0.5


def test_the_classroom_guide_has_every_scene():
    guide = (REPO / "docs" / "CLASSROOM.md").read_text()
    flat = " ".join(guide.split())
    for scene in SCENES:
        assert scene.title in guide
        for text in (scene.script, scene.look, scene.question):
            assert " ".join(text.split()) in flat


@pytest.fixture(scope="module")
def exported(tmp_path_factory) -> Path:
    """``python -m sim.page export lesson.html --days 20``, once for the module."""
    folder = tmp_path_factory.mktemp("lesson")
    out = folder / "lesson.html"
    proc = subprocess.run([sys.executable, "-m", "sim.page", "export", str(out), "--days", "20"],
                          capture_output=True, text=True, timeout=600, cwd=REPO)
    assert proc.returncode == 0, proc.stderr
    assert str(out) in proc.stdout
    return out


def test_the_exported_lesson_is_one_self_contained_file(exported):
    text = exported.read_text()
    assert "http://" not in text and "https://" not in text and "src=" not in text and "@import" not in text
    for scene in SCENES:
        assert escape(scene.title) in text and "".join(escape(scene.question).split()) in "".join(text.split())


# ------------------------------------------------------------------ the browser

@pytest.fixture(scope="module")
def page_stack() -> None:
    missing = [name for name in PAGE_PACKAGES if importlib.util.find_spec(name) is None]
    if missing:
        pytest.skip(f"the classroom page's extra is not installed ({', '.join(missing)} missing): "
                    f"pip install -e '.[page]'")


@pytest.fixture(scope="module")
def artifacts() -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def server(page_stack) -> str:
    """``python -m sim.page`` on a free port, once for the module; yields the address it prints."""
    port = _free_port()
    log = ARTIFACTS.parent / "page-server.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "w") as out:
        proc = subprocess.Popen([sys.executable, "-m", "sim.page", "--port", str(port)], stdout=out,
                                stderr=subprocess.STDOUT, cwd=REPO, start_new_session=True,
                                env={**os.environ, "PYTHONUNBUFFERED": "1"})
    try:
        url = None
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            assert proc.poll() is None, f"the page server stopped: {log.read_text()[-3000:]}"
            found = re.search(r"exposim classroom page: (http://\S+)", log.read_text())
            if found:
                url = found.group(1)
                try:
                    with urllib.request.urlopen(url, timeout=5) as response:
                        if response.status == 200:
                            break
                except OSError:
                    pass
            time.sleep(0.5)
        else:
            pytest.fail(f"the page server did not answer within 180 s: {log.read_text()[-3000:]}")
        assert url == f"http://localhost:{port}/"
        yield url
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=15)


@pytest.fixture(scope="module")
def browser(page_stack, playwright_chromium):
    return playwright_chromium


class Watched:
    """A browser page with what it logged and every URL it asked for."""

    def __init__(self, browser, width: int = 1600, height: int = 1000) -> None:
        self.page = browser.new_page(viewport={"width": width, "height": height})
        self.errors: list[str] = []
        self.urls: list[str] = []
        self.page.on("console", lambda m: self.errors.append(m.text) if m.type == "error" else None)
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))
        self.page.on("request", lambda r: self.urls.append(r.url))
        self.page.on("websocket", lambda ws: self.urls.append(ws.url))

    def outside(self, allowed_schemes: tuple[str, ...]) -> list[str]:
        out = []
        for url in self.urls:
            parsed = urlparse(url)
            if parsed.scheme in ("data", "blob") or parsed.scheme in allowed_schemes and (
                    parsed.scheme == "file" or parsed.hostname in LOCAL_HOSTS):
                continue
            out.append(url)
        return out


@pytest.fixture(scope="module")
def live(browser, server) -> Watched:
    """One page on the server for the module's tests, in the order they are written (each test goes on from
    where the one before left the page, as a teacher would; a new page would be a new session, built anew)."""
    w = Watched(browser)
    w.page.goto(server)
    w.page.get_by_role("button", name="Step").wait_for(timeout=120_000)
    w.page.locator("[data-view=phone]").wait_for(timeout=60_000)
    yield w
    w.page.close()


def _day(page) -> int:
    return int(page.locator("[data-day]").first.get_attribute("data-day"))


def _wait_day(page, day: int, timeout: float = 60_000) -> None:
    page.wait_for_function(f"() => {{ const e = document.querySelector('[data-day]'); "
                           f"return e && +e.dataset.day === {day}; }}", timeout=timeout)


def _wait_world(page, settings: Settings, timeout: float = 120_000) -> None:
    """Wait until the page shows the world run under ``settings``: the day counter names it, the phone says
    what age she registered with, and the plots' legend names it as the current run."""
    page.wait_for_function(
        "([label, age]) => { const e = document.querySelector('[data-settings]'); "
        "const phone = document.querySelector('[data-view=phone]'); "
        "const legend = Array.from(document.querySelectorAll('span')).find(s => s.innerText.startsWith('now:')); "
        "return e && e.dataset.settings === label && phone && "
        "(phone.innerText.includes('registered as ' + age) || phone.innerText.includes('saying she is ' + age)) && "
        "legend && legend.innerText.replace(/\\s+/g, ' ') === 'now: ' + label; }",
        arg=[settings.label(), str(settings.declared_age)], timeout=timeout)


def _offline_and_clean(w: Watched) -> None:
    assert w.errors == []
    assert w.outside(("http", "ws")) == []


def test_page_loads_offline_with_no_console_errors(live, artifacts):
    page = live.page
    page.wait_for_timeout(1000)
    assert _day(page) == 0
    for text in ("Who follows whom", "The phone", "All teens on the platform", "Lesson:"):
        assert page.get_by_text(text).first.is_visible()
    assert page.locator("[data-view=phone]").get_by_text("Not on the platform yet").is_visible()
    page.screenshot(path=str(artifacts / "page-start.png"), full_page=True)
    _offline_and_clean(live)


def test_step_and_play_advance_the_day(live, artifacts):
    page = live.page
    start = _day(page)
    for day in range(start + 1, start + 5):
        page.get_by_role("button", name="Step").click()
        _wait_day(page, day)
    page.get_by_role("button", name="▶").click()
    page.wait_for_function(f"() => +document.querySelector('[data-day]').dataset.day >= {start + 12}",
                           timeout=60_000)
    page.get_by_role("button", name="❚❚").click()
    stopped = _day(page)
    page.wait_for_timeout(1200)
    assert _day(page) <= stopped + 1            # a step under way when pause was pressed may still land
    assert page.locator("[data-view=phone]").get_by_text("Her feed today").is_visible()
    page.screenshot(path=str(artifacts / "page-played.png"), full_page=True)
    _offline_and_clean(live)


def _run_points(page, key: str, run: int = 0) -> str | None:
    line = page.locator(f'svg[data-plot="{key}"] polyline[data-run="{run}"]')
    return line.get_attribute("points") if line.count() else None


def test_switching_a_safeguard_changes_the_plotted_figure(live, artifacts):
    page = live.page
    day = _day(page)
    assert day >= 5
    before = _run_points(page, "cost_posts")
    assert len({float(p.split(",")[1]) for p in before.split()}) == 1   # no safeguard: a flat line at zero
    harm_before = _run_points(page, "harm")
    page.get_by_text("Single safeguards").click()
    page.locator("label", has_text="Filter harmful posts out of teens' feeds").click()
    page.wait_for_function("(b) => { const l = document.querySelector('svg[data-plot=cost_posts] "
                           "polyline[data-run=\"0\"]'); return l && l.getAttribute('points') !== b; }",
                           arg=before, timeout=60_000)
    _wait_world(page, Settings().with_safeguard("feed_filtering", True))
    assert _day(page) == day                    # the same world, run again to the same day
    after = _run_points(page, "cost_posts")
    assert len({float(p.split(",")[1]) for p in after.split()}) > 1
    assert _run_points(page, "cost_posts", run=1) == before      # the run before the switch, dashed
    assert _run_points(page, "harm") != harm_before
    assert page.get_by_text("+ filter harmful posts out of teens").first.is_visible()   # the legend says so
    page.screenshot(path=str(artifacts / "page-safeguard-switched.png"), full_page=True)
    _offline_and_clean(live)


def test_the_lesson_scenes_can_be_walked_through(live, artifacts):
    page = live.page
    page.set_viewport_size({"width": 1920, "height": 1080})
    for number, scene in enumerate(SCENES, start=1):
        page.get_by_role("button", name=f"Scene {number}", exact=True).click()
        page.locator(f'[data-scene="{number}"]').wait_for(timeout=120_000)
        _wait_world(page, scene.settings)
        _wait_day(page, scene.start_day, timeout=120_000)
        assert page.get_by_text(scene.question[:60]).is_visible()
        if number == 1:
            for day in range(1, 13):
                page.get_by_role("button", name="Step").click()
            _wait_day(page, 12)
        # The current run is the solid line; each run the scene compares with is a dashed one.
        page.wait_for_function(f"() => document.querySelectorAll('svg[data-plot=harm] polyline').length === "
                               f"{1 + len(scene.compare)}", timeout=120_000)
        if number in (1, 4, 5):
            page.screenshot(path=str(artifacts / f"page-scene-{number}.png"))
    assert page.locator("[data-view=phone]").get_by_text("registered as 13").is_visible()
    _offline_and_clean(live)


def test_the_exported_lesson_opens_from_a_file_and_its_scenes_switch(browser, exported, artifacts):
    shutil.copy(exported, artifacts / "lesson.html")
    w = Watched(browser)
    page = w.page
    page.goto(exported.as_uri())
    page.get_by_role("button", name="Scene 1", exact=True).wait_for()
    label = page.locator("#daylabel")
    assert label.get_attribute("data-day") == "0"
    for _ in range(10):
        page.get_by_role("button", name="Step").click()
    assert label.get_attribute("data-day") == "10"
    assert page.locator('[data-scene-panel="0"] .phone-slot').get_by_text("Her feed today").is_visible()
    page.screenshot(path=str(artifacts / "lesson-scene-1.png"))
    page.get_by_role("button", name="Scene 4", exact=True).click()
    assert page.locator('[data-scene-panel="3"]').is_visible()
    assert not page.locator('[data-scene-panel="0"]').is_visible()
    assert label.get_attribute("data-day") == "20"          # the scene's first day (the file's runs end there)
    assert page.locator('[data-scene-panel="3"]').get_by_text(SCENES[3].question[:60]).is_visible()
    assert page.locator('[data-scene-panel="3"] .phone-slot').get_by_text("registered as 21").is_visible()
    page.get_by_role("button", name="Scene 5", exact=True).click()
    assert page.locator('[data-scene-panel="4"] svg[data-plot="harm"] polyline').count() == 5
    for _ in range(6):
        page.get_by_role("button", name="Back").click()
    assert label.get_attribute("data-day") == "14"
    page.get_by_role("button", name="▶ Play").click()
    page.wait_for_function("() => +document.getElementById('daylabel').dataset.day === 20", timeout=20_000)
    page.screenshot(path=str(artifacts / "lesson-scene-5.png"))
    assert w.errors == []
    assert w.outside(("file",)) == []
    page.close()
