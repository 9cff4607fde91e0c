"""The guided lesson: six scenes, each a setting of the classroom world, a script and a question.

Core objects: :class:`Scene`, :data:`SCENES`.

The same scenes are on the live page, in the exported lesson and in
docs/CLASSROOM.md (a test checks the document quotes every title and question).
Each scene says which settings the world runs under (``settings``), which
other settings its plots compare it with (``compare``: whole runs of the same
world), and the day it opens on (``start_day``: the world is run to that day
when the scene is set up, so the teacher can talk over it, then press play).
"""

from __future__ import annotations

from dataclasses import dataclass

from sim.page.world import PRESETS, Settings


@dataclass(frozen=True)
class Scene:
    title: str
    settings: Settings
    compare: tuple[Settings, ...]
    start_day: int
    script: str        # what the teacher says (plain words; nothing graphic)
    look: str          # what to point at on the screen
    question: str      # the question for the class


SCENES: tuple[Scene, ...] = (
    Scene(
        "A platform with no safeguards",
        Settings(),
        (),
        0,
        "This is a pretend social platform with 400 accounts. Each dot is an account: green dots are teens, grey "
        "dots are adults, red triangles are offenders (adults who look for children online), purple squares post "
        "adults-only content. The star is the phone of a 13-year-old girl. She joins on day 3 and gives her real "
        "age. The platform has no safety features switched on. Press play.",
        "Her feed: each tile is one post, coloured by what kind of post it is (we never see the posts themselves). "
        "Her inbox: who tried to reach her, and how they found her. The lines to the star are today's attempts.",
        "What colours turn up in her feed, although she never asked for them? Who tries to reach her, and how "
        "did they find her?",
    ),
    Scene(
        "What the feed chooses",
        Settings(feed="chronological"),
        (Settings(),),
        20,
        "Every platform decides which posts to put in front of you. So far the feed picked whatever keeps people "
        "watching. Now it shows only posts from accounts she follows, newest first. Same world, same people: only "
        "the rule that picks her feed has changed. The dashed line is how it went with the old rule.",
        "The first plot: harmful posts in teens' feeds, now (solid) against the old feed (dashed).",
        "Why does a feed built to keep people watching show teens more harmful posts? What would the platform "
        "lose with the newest-first feed?",
    ),
    Scene(
        "Switch off account suggestions",
        Settings(suggestions=False),
        (Settings(),),
        20,
        "Platforms suggest accounts to follow: \"people you may know\". Those suggestions also put teens in front "
        "of adults they have never met. Here account suggestions are switched off for everyone.",
        "The second plot: teens contacted by an adult they don't know. In her inbox: how did the people who still "
        "reach her find her?",
        "Who still reaches her, and through which channel? Why would a platform want to keep suggestions on?",
    ),
    Scene(
        "The teen who registered as an adult",
        Settings(preset="teen_accounts_2024", declared_age=21),
        (Settings(),),
        20,
        "Now the platform has teen safety features on (the 2024 \"Teen Accounts\" rules: private accounts, "
        "messages only from people they follow, and more). On the plots they help teens a little on the whole "
        "(the dashed lines have no safeguards). But when she signed up, she typed a birth year that made her "
        "21. The features protect accounts the platform believes are teens.",
        "The box at the top of the phone: who does the platform think she is? Her inbox: is anything stopped? "
        "Then set her registered age back to 13 on the left, and look again.",
        "Why did the teen features not help her? How could a platform find out her real age, and what would "
        "that cost everyone else? (Try the preset \"Ofcom's children's codes\": it checks ages.)",
    ),
    Scene(
        "The rules side by side",
        Settings(preset="ofcom_2025"),
        tuple(Settings(preset=p) for p in PRESETS if p != "ofcom_2025"),
        30,
        "Countries and platforms have written different sets of rules. Here are five, on the same world: none, "
        "Instagram's Teen Accounts (2024), the UK regulator Ofcom's codes (2025), the EU's guidelines (2025), "
        "and every safeguard on. The solid line is Ofcom's codes; the dashed lines are the others.",
        "The first two plots: how far down each set of rules brings harmful posts and contact from strangers.",
        "Which rules help most? Does any of them bring the harm down to zero? Why not?",
    ),
    Scene(
        "What safeguards cost",
        Settings(preset="all_on"),
        (Settings(),),
        30,
        "Safeguards make mistakes too, and someone pays for them. Filters hold back harmless posts. Rules about "
        "who may message a teen also stop adults she knows, like an aunt or a coach. Some adults are taken for "
        "teens. Here every safeguard is on; the dashed line is no safeguards.",
        "The two cost plots at the bottom: harmless posts held back, and ordinary adults' contact stopped.",
        "Who pays for these safeguards? Is it worth it? Who should decide: the platform, the government, parents "
        "or teens?",
    ),
)


def scene_settings() -> list[Settings]:
    """Every setting the lesson runs or compares with (to compute ahead of time)."""
    out: list[Settings] = []
    for scene in SCENES:
        for s in (scene.settings, *scene.compare):
            if s not in out:
                out.append(s)
    return out
