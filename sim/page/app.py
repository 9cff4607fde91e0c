"""The classroom page: Mesa's SolaraViz around the classroom world, with the phone, the plots and the lesson.

Core objects: :func:`Page` (what ``solara run`` serves), :class:`PageModel`.

SolaraViz gives the frame Mesa models share: the app bar, the sidebar with
Reset, play and Step, and the update signal every panel listens to. The
panels themselves (the network, the phone, the plots, the lesson and the
settings) are components of this module in a fixed layout for a projector,
instead of SolaraViz's draggable grid. A setting changed while the world runs
rebuilds the world with it and runs it to the same day (:mod:`sim.page.world`
says why); the run so far stays on the plots as a dashed line.

This is the only module of ``sim`` that imports the page's stack (solara,
Mesa's visualization); install it with ``pip install -e '.[page]'``.
"""

from __future__ import annotations

import threading
import warnings
from html import escape

import solara

# SolaraViz's grid returns early when it has no components (this page lays its panels out itself);
# Solara's hook checker warns about the hook after that return, which never runs here.
warnings.filterwarnings("ignore", message=r".*ComponentsView: `use_state` found despite early return")
from mesa.visualization import Slider, SolaraViz  # noqa: E402
from mesa.visualization.utils import force_update, update_counter  # noqa: E402

from sim.page import draw  # noqa: E402
from sim.page.lesson import SCENES, scene_settings  # noqa: E402
from sim.page.world import (FEED_LABELS, FEEDS, HORIZON, PRESET_LABELS, PRESETS, SAFEGUARD_LABELS,  # noqa: E402
                            DEFAULT_SEED, SERIES, ClassroomModel, Settings, account_kinds, layout, series_of)

TITLE = "exposim: a social platform in the classroom"
#: Milliseconds between days while playing (SolaraViz's slider changes it).
PLAY_INTERVAL = 300
#: Ages the phone's owner can register with (her real age is 13).
DECLARED_AGES = {13: "13, her real age", 15: "15", 17: "17", 18: "18 (an adult)", 21: "21 (an adult)"}

# Per browser session (Solara keeps a reactive variable's value per session).
settings_now = solara.reactive(Settings())
compared = solara.reactive(())        # ((label, series), ...): the runs the plots compare with, dashed
scene_now = solara.reactive(-1)       # the scene last set up (-1: none)
note = solara.reactive("")            # what the last change did, in a sentence


class PageModel(ClassroomModel):
    """The classroom world as SolaraViz builds it: ``settings`` may be the page's reactive settings.

    SolaraViz's Reset builds ``PageModel(settings=settings_now, world=<the
    "World number" slider>)``, so Reset starts the world again from day 0 under
    the settings on the page, in the world the slider names. Past the horizon a
    step changes nothing (the play button just waits; ``running`` stays true).
    """

    def __init__(self, settings: Settings | solara.Reactive | None = None, world: int | None = None) -> None:
        reactive = settings if isinstance(settings, solara.Reactive) else None
        if reactive is not None:
            settings = reactive.value
        if world is not None and settings is not None and world != settings.seed:
            settings = settings.replace(seed=int(world))
            if reactive is not None:
                reactive.value = settings        # the page's settings now name this world
        super().__init__(settings)

    def step(self) -> None:
        if self.day > HORIZON:          # Mesa counted the step already
            self.steps = HORIZON
            return
        super().step()
        # Kept running at the horizon: SolaraViz's controller would otherwise disable play and Step until
        # Reset, even after a scene or a setting has put an earlier day back on the page.
        self.running = True


def _warm_up() -> None:
    """Run the lesson's settings once, in the background, so its comparisons are ready when asked for."""
    for settings in scene_settings():
        series_of(settings)


threading.Thread(target=_warm_up, name="exposim-page-warm-up", daemon=True).start()


def apply(model: solara.Reactive, new: Settings, compare: tuple[Settings, ...] | None = None,
          day: int | None = None) -> None:
    """Rebuild the world under ``new`` and run it to ``day`` (default: the day it was on).

    With ``compare`` (a scene), the plots compare with those whole runs; without
    (a change by hand), the run so far joins the dashed lines.
    """
    old = model.value
    target = old.day if day is None else day
    if compare is not None:
        compared.value = tuple((s.label(), series_of(s)) for s in compare)
    elif new != old.settings and old.day > 0:
        keep = [c for c in compared.value if c[0] not in (old.settings.label(), new.label())]
        compared.value = tuple([(old.settings.label(), {k: list(v) for k, v in old.series.items()})] + keep)[:5]
    settings_now.value = new
    world = PageModel(new)
    world.run_to(target)
    model.value = world
    note.value = (f"The same world, run again to day {world.day} with: {new.label()}." if compare is None
                  else "")
    force_update()


@solara.component
def DayCounter(model: solara.Reactive):
    update_counter.get()
    world = model.value
    day = world.day
    end = " · the end: choose a scene or press Reset" if day >= HORIZON else ""
    # data-settings names the world shown (a scene's or a setting's world is shown once it has been run).
    solara.HTML(tag="div", unsafe_innerHTML=(
        f'<span style="font-size:30px;font-weight:700" data-day="{day}" '
        f'data-settings="{escape(world.settings.label())}">Day {day}</span>'
        f'<span style="font-size:16px"> of {HORIZON}{end}</span>'))


@solara.component
def LessonPanel(model: solara.Reactive):
    index = scene_now.value

    def set_up(i: int) -> None:
        scene_now.value = i
        scene, seed = SCENES[i], settings_now.value.seed      # a scene keeps the world the class is looking at
        apply(model, scene.settings.replace(seed=seed), compare=tuple(c.replace(seed=seed) for c in scene.compare),
              day=scene.start_day)

    with solara.Card(style={"margin-bottom": "8px"}):
        with solara.Row(style={"align-items": "center", "flex-wrap": "wrap"}, gap="6px"):
            solara.Text("Lesson:", style={"font-weight": "600", "font-size": "16px"})
            for i, scene in enumerate(SCENES):
                solara.Button(f"Scene {i + 1}", on_click=lambda i=i: set_up(i), color="primary",
                              outlined=i != index, small=True)
            solara.v.Spacer()
            DayCounter(model)
        if index < 0:
            solara.HTML(tag="div", unsafe_innerHTML="Choose <b>Scene 1</b> to start the lesson, or use the controls "
                                                    "on the left. Each scene sets up the world and says what to ask "
                                                    "the class.")
        else:
            scene = SCENES[index]
            solara.HTML(tag="div", unsafe_innerHTML=(
                f'<div style="font-size:19px;font-weight:700;margin:6px 0 2px" data-scene="{index + 1}">'
                f'Scene {index + 1}: {escape(scene.title)}</div>'
                f'<div style="font-size:15px;margin:2px 0">{escape(scene.script)}</div>'
                f'<div style="font-size:14px;color:#444;margin:2px 0"><b>Look at:</b> {escape(scene.look)}</div>'
                f'<div style="font-size:16px;background:#fff4d6;border-left:5px solid #f4a000;padding:6px 10px;'
                f'margin-top:6px"><b>Ask the class:</b> {escape(scene.question)}</div>'))
        if note.value:
            solara.Text(note.value, style={"font-size": "13px", "color": "#555"})


@solara.component
def NetworkView(model: solara.Reactive):
    update_counter.get()
    world = model.value
    xy = solara.use_memo(lambda: layout(world), [world.config.seed])
    kinds = solara.use_memo(lambda: account_kinds(world), [world.config.seed])
    with solara.Card("Who follows whom", style={"height": "100%"}):
        solara.HTML(tag="div", unsafe_innerHTML=draw.network_legend_html())
        solara.HTML(tag="div", unsafe_innerHTML=draw.network_svg(world.frame, xy, kinds, world.graph.edges()),
                    attributes={"data-view": "network"})


@solara.component
def PhoneView(model: solara.Reactive):
    update_counter.get()
    with solara.Card("The phone"):
        solara.HTML(tag="div", unsafe_innerHTML=draw.phone_html(model.value.frame), attributes={"data-view": "phone"})
        solara.HTML(tag="div", unsafe_innerHTML=draw.class_legend_html())


@solara.component
def PlotsView(model: solara.Reactive):
    update_counter.get()
    world = model.value
    runs = [(world.settings.label(), world.frame.series)] + list(compared.value)
    with solara.Card("All teens on the platform"):
        solara.HTML(tag="div", unsafe_innerHTML=draw.runs_legend_html([label for label, _ in runs]))
        for key in SERIES:
            solara.HTML(tag="div", unsafe_innerHTML=draw.plot_svg(key, [(label, s[key]) for label, s in runs],
                                                                   world.day, HORIZON))


@solara.component
def SettingsPanel(model: solara.Reactive):
    s = settings_now.value
    preset_by_label = {PRESET_LABELS[p]: p for p in PRESETS}
    feed_by_label = {FEED_LABELS[f]: f for f in FEEDS}

    def change(**kw) -> None:
        apply(model, settings_now.value.replace(**kw))

    with solara.Card("What the platform does"):
        solara.Select("Safety rules (preset)", value=PRESET_LABELS[s.preset], values=list(preset_by_label),
                      on_value=lambda v: change(preset=preset_by_label[v]))
        solara.Select("Feed", value=FEED_LABELS[s.feed], values=list(feed_by_label),
                      on_value=lambda v: change(feed=feed_by_label[v]))
        solara.Switch(label="Account suggestions (\"people you may know\")", value=s.suggestions,
                      on_value=lambda v: change(suggestions=bool(v)))
        ages = dict(DECLARED_AGES)
        ages.setdefault(s.declared_age, str(s.declared_age))
        solara.Select("The phone's owner (13) registered as", value=ages[s.declared_age],
                      values=list(ages.values()),
                      on_value=lambda v: change(declared_age={lab: a for a, lab in ages.items()}[v]))
        with solara.Details("Single safeguards", expand=False):
            on = s.safeguards_on()
            for name, label in SAFEGUARD_LABELS.items():
                solara.Checkbox(label=label, value=on[name],
                                on_value=lambda v, name=name: apply(model, settings_now.value.with_safeguard(
                                    name, bool(v))))
        solara.Button("Clear the dashed lines", small=True, outlined=True,
                      on_click=lambda: (compared.set(()), force_update()))


@solara.component
def Page():
    model = solara.use_reactive(solara.use_memo(lambda: PageModel(settings_now.value), []))
    with solara.Column(gap="0px") as main:
        solara.Title(TITLE)
        solara.Style(draw.CSS)
        # SolaraViz puts its app bar and its sidebar (Reset, play, Step, the world number) in place; its own
        # main area stays empty (no components), so it is kept out of the layout.
        with solara.Div(style={"display": "none"}):
            SolaraViz(model, components=[], name=TITLE, play_interval=PLAY_INTERVAL,
                      model_params={"settings": settings_now,
                                    "world": Slider("World number (press Reset to build it)", DEFAULT_SEED, 1, 20)})
            SidebarSettings(model)
        with solara.Column(style={"padding": "4px 8px"}):
            LessonPanel(model)
            with solara.Row(style={"align-items": "flex-start", "flex-wrap": "wrap"}, gap="12px"):
                with solara.Column(style={"flex": "3 1 280px", "min-width": "280px", "max-width": "720px"}):
                    NetworkView(model)
                with solara.Column(style={"flex": "0 0 330px"}):
                    PhoneView(model)
                with solara.Column(style={"flex": "2 1 300px", "min-width": "300px", "max-width": "560px"}):
                    PlotsView(model)
            # Plain HTML, not solara.Markdown: Markdown loads KaTeX, which the offline assets do not carry.
            solara.HTML(tag="div", style={"font-size": "12px", "color": "#666"}, unsafe_innerHTML=(
                "A simulation, not a real platform: the model's default world made small (400 accounts). Posts "
                "carry only a label for what kind of post they are, never any content. More: docs/CLASSROOM.md."))
    return main


@solara.component
def SidebarSettings(model: solara.Reactive):
    """The settings, below SolaraViz's controls (a sidebar part nested deeper comes later)."""
    _SidebarSettings(model)


@solara.component
def _SidebarSettings(model: solara.Reactive):
    with solara.Sidebar():
        SettingsPanel(model)
