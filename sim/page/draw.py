"""The classroom page's pictures as SVG and HTML strings: the network, the phone, the plots.

Core objects: :func:`network_svg`, :func:`phone_html`, :func:`plot_svg`, :data:`CSS`.

The live page (:mod:`sim.page.app`) and the standalone lesson
(:mod:`sim.page.export`) draw with these same functions, so both look alike.
Everything is drawn from plain data (:class:`sim.page.world.Frame`), in plain
words: harm classes by colour and label, contact by kind and by how the
sender found the phone. Nothing refers to anything outside the page.
"""

from __future__ import annotations

import math
from html import escape

import numpy as np

from sim.page.world import (CHANNEL_LABELS, CLASS_LABELS, CLASS_SHORT, KIND_LABELS, SAFEGUARD_LABELS, SENDER_LABELS,
                            SERIES, Contact, Frame)
from sim.vocabulary import HARM_CLASSES

#: Fill colour of each harm class, in class order (ordinary, suggestive, adults-only, illegal).
CLASS_COLOURS = ("#e4e7eb", "#ffd166", "#f3722c", "#9d0208")
CLASS_TEXT = ("#9aa0a6", "#333", "#fff", "#fff")
#: Tile text per class: the short label, with soft hyphens so it fits a narrow tile.
TILE_TEXT = ("ordinary", "sugges&shy;tive", "adults-<wbr>only", "illegal")
#: Network: (label, colour, shape) per account kind of :func:`sim.page.world.account_kinds`.
KIND_STYLE = (
    ("Teen (13-17)", "#1f9e89", "circle"),
    ("Adult", "#a6b0bb", "circle"),
    ("Offender (an adult who seeks out children)", "#d62828", "triangle"),
    ("Adult-content account", "#7b2cbf", "square"),
    ("The phone: a 13-year-old", "#f4a000", "star"),
)
#: Sender colours in the inbox (offender, adult stranger, teen).
SENDER_COLOURS = ("#d62828", "#5c6b7a", "#1f9e89")
#: Line colours for the runs a plot compares (the current run is drawn thick in the first).
RUN_COLOURS = ("#1d3557", "#e76f51", "#2a9d8f", "#8e44ad", "#e9c46a", "#6c757d", "#d62828", "#264653")

CSS = """
.xp-legend { display:flex; flex-wrap:wrap; gap:4px 14px; font-size:14px; margin:4px 0; }
.xp-legend span { display:inline-flex; align-items:center; gap:5px; }
.xp-phone { width:340px; max-width:100%; border:10px solid #222; border-radius:28px; padding:10px 10px 14px;
  background:#fff; font-size:14px; box-sizing:border-box; font-family:system-ui, sans-serif; }
.xp-phone h4 { margin:8px 0 4px; font-size:15px; }
.xp-status { background:#f1f3f5; border-radius:8px; padding:6px 8px; font-size:13px; }
.xp-tiles { display:grid; grid-template-columns:repeat(7, 1fr); gap:3px; }
.xp-tile { height:36px; border-radius:5px; font-size:9px; line-height:1.05; display:flex; align-items:center;
  justify-content:center; text-align:center; overflow:hidden; hyphens:manual; overflow-wrap:anywhere; }
.xp-inbox { list-style:none; padding:0; margin:0; }
.xp-inbox li { border-bottom:1px solid #e5e5e5; padding:4px 0 4px 10px; position:relative; font-size:13px; }
.xp-inbox li::before { content:''; position:absolute; left:0; top:8px; width:6px; height:6px; border-radius:3px;
  background:var(--dot); }
.xp-inbox .xp-how { color:#444; }
.xp-inbox .xp-stopped { color:#2b7a0b; font-weight:600; }
.xp-inbox .xp-reached { color:#b00020; font-weight:600; }
.xp-muted { color:#666; font-size:12.5px; }
.xp-plot-title { font-size:14px; font-weight:600; margin:2px 0 0; }
"""


def _shape(kind: int, x: float, y: float, r: float, colour: str, extra: str = "") -> str:
    shape = KIND_STYLE[kind][2]
    if shape == "triangle":
        h = r * 1.25
        return (f'<polygon points="{x:.0f},{y - h:.0f} {x - h:.0f},{y + h * 0.8:.0f} {x + h:.0f},{y + h * 0.8:.0f}" '
                f'fill="{colour}"{extra}/>')
    if shape == "square":
        return (f'<rect x="{x - r:.0f}" y="{y - r:.0f}" width="{2 * r:.0f}" height="{2 * r:.0f}" '
                f'fill="{colour}"{extra}/>')
    if shape == "star":
        pts = []
        for k in range(10):
            rr = r if k % 2 == 0 else r * 0.45
            a = -math.pi / 2 + k * math.pi / 5
            pts.append(f"{x + rr * math.cos(a):.0f},{y + rr * math.sin(a):.0f}")
        return f'<polygon points="{" ".join(pts)}" fill="{colour}" stroke="#222" stroke-width="3"{extra}/>'
    return f'<circle cx="{x:.0f}" cy="{y:.0f}" r="{r:.0f}" fill="{colour}"{extra}/>'


def _symbol(kind: int, size: int = 14) -> str:
    """A small legend symbol for an account kind."""
    label, colour, _ = KIND_STYLE[kind]
    c = size / 2
    inner = _shape(kind, c * 10, c * 10, c * 8 if kind == 4 else c * 6, colour).replace('stroke-width="3"',
                                                                                        'stroke-width="8"')
    return (f'<svg width="{size}" height="{size}" viewBox="0 0 {size * 10} {size * 10}" aria-hidden="true">'
            f'{inner}</svg>')


def network_legend_html() -> str:
    items = [f"<span>{_symbol(k)}{escape(KIND_STYLE[k][0])}</span>" for k in range(len(KIND_STYLE))]
    items.append('<span><svg width="22" height="8"><line x1="0" y1="4" x2="22" y2="4" stroke="#d62828" '
                 'stroke-width="3"/></svg>reached the phone today</span>')
    items.append('<span><svg width="22" height="8"><line x1="0" y1="4" x2="22" y2="4" stroke="#2b7a0b" '
                 'stroke-width="3" stroke-dasharray="4 3"/></svg>stopped by a safeguard</span>')
    return f'<div class="xp-legend">{"".join(items)}</div>'


def _positions(xy: np.ndarray, size: int) -> np.ndarray:
    pad = 30
    return pad + xy * (size - 2 * pad)


def _edge_path(pos: np.ndarray, src: np.ndarray, dst: np.ndarray, attrs: str = "") -> str:
    """Follows as one faint path (a few thousand lines for a few hundred accounts)."""
    d = "".join(f"M{pos[a, 0]:.0f} {pos[a, 1]:.0f}L{pos[b, 0]:.0f} {pos[b, 1]:.0f}"
                for a, b in zip(src.tolist(), dst.tolist()))
    return f'<path d="{d}" stroke="#c9d1da" stroke-width="1" fill="none"{attrs}/>'


def _nodes(pos: np.ndarray, kinds: np.ndarray, rows: np.ndarray, attrs: dict[int, str] | None = None) -> list[str]:
    """The accounts ``rows``, ordinary ones first so the ones to notice are drawn on top (not the phone)."""
    out = []
    for kind in (1, 0, 3, 2):
        for r in rows[kinds[rows] == kind].tolist():
            extra = attrs.get(r, "") if attrs else ""
            out.append(_shape(kind, pos[r, 0], pos[r, 1], 7 if kind == 1 else 9, KIND_STYLE[kind][1], extra))
    return out


def _phone_mark(pos: np.ndarray, phone: int, attrs: str = "") -> str:
    px, py = pos[phone]
    right = px < 820
    return (f'<g{attrs}>{_shape(4, px, py, 26, KIND_STYLE[4][1])}'
            f'<text x="{px + 30 if right else px - 30:.0f}" y="{py + 8:.0f}" font-size="30" font-weight="700" '
            f'text-anchor="{"start" if right else "end"}" fill="#222" stroke="#fff" stroke-width="6" '
            f'paint-order="stroke">phone</text></g>')


def contact_lines_svg(contacts: list[Contact], xy: np.ndarray, phone: int, size: int = 1000) -> str:
    """A line from each sender of today's attempts to the phone: red reached her, dashed green stopped."""
    pos = _positions(xy, size)
    px, py = pos[phone]
    out = []
    for c in contacts:
        sx, sy = pos[c.sender]
        style = ('stroke="#d62828"' if c.delivered else 'stroke="#2b7a0b" stroke-dasharray="12 8"')
        out.append(f'<line x1="{sx:.0f}" y1="{sy:.0f}" x2="{px:.0f}" y2="{py:.0f}" {style} stroke-width="4" '
                   f'opacity="0.85"/>')
    return "".join(out)


def _svg_open(label: str, size: int) -> str:
    return (f'<svg viewBox="0 0 {size} {size}" width="100%" role="img" aria-label="{escape(label)}" '
            f'style="background:#fbfbfd;border-radius:8px">')


def network_svg(frame: Frame, xy: np.ndarray, kinds: np.ndarray, edges: tuple[np.ndarray, np.ndarray],
                size: int = 1000) -> str:
    """Who follows whom today: every account on the platform, the phone, and today's attempts to reach it.

    Args:
        frame: the day to draw.
        xy: positions in [0, 1] per account row (:func:`sim.page.world.layout`).
        kinds: account kind per row (:func:`sim.page.world.account_kinds`).
        edges: the follow graph's (follower, followed) arrays today.
    """
    pos = _positions(xy, size)
    present = frame.present
    src, dst = edges
    keep = present[src] & present[dst] & (src < dst)
    out = [_svg_open(f"The network on day {frame.day}", size), _edge_path(pos, src[keep], dst[keep])]
    rows = np.flatnonzero(present & (kinds != 4))
    out += _nodes(pos, kinds, rows)
    if frame.phone_joined:
        out.append(contact_lines_svg(frame.today.contacts, xy, frame.phone, size))
        out.append(_phone_mark(pos, frame.phone))
    out.append("</svg>")
    return "".join(out)


def spans(days: np.ndarray) -> str:
    """The days a bool-per-day array is true, as ``a-b`` ranges (``0-60``, ``3-20,24-60``; empty: never)."""
    d = np.flatnonzero(days)
    if d.size == 0:
        return ""
    breaks = np.flatnonzero(np.diff(d) > 1)
    starts = np.concatenate([[d[0]], d[breaks + 1]])
    ends = np.concatenate([d[breaks], [d[-1]]])
    return ",".join(f"{a}-{b}" for a, b in zip(starts.tolist(), ends.tolist()))


def network_timeline_svg(xy: np.ndarray, kinds: np.ndarray, phone: int, present: np.ndarray,
                         edge_days: dict[str, tuple[np.ndarray, np.ndarray]], size: int = 1000) -> str:
    """The network over a whole run, for a page that shows one day at a time without Python.

    Every element carries the days it is shown on (``data-days``, :func:`spans`); a
    script shows those of the day chosen and fills ``g.xp-overlay`` with that day's
    contact lines (:func:`contact_lines_svg`).

    Args:
        present: (days + 1) x accounts, who is on the platform each day (day 0: before the first).
        edge_days: days (as :func:`spans`) -> the (a, b) pairs, a < b, shown on exactly those days.
    """
    pos = _positions(xy, size)
    out = [_svg_open("The network", size)]
    for days, (a, b) in edge_days.items():
        out.append(_edge_path(pos, a, b, f' data-days="{days}"'))
    seen = np.flatnonzero(present.any(axis=0) & (kinds != 4))
    attrs = {int(r): f' data-days="{spans(present[:, r])}"' for r in seen.tolist()}
    out += _nodes(pos, kinds, seen, attrs)
    out.append('<g class="xp-overlay"></g>')
    out.append(_phone_mark(pos, phone, f' data-days="{spans(present[:, phone])}"'))
    out.append("</svg>")
    return "".join(out)


def tile_html(harm: int) -> str:
    return (f'<div class="xp-tile" style="background:{CLASS_COLOURS[harm]};color:{CLASS_TEXT[harm]}" '
            f'title="{escape(CLASS_LABELS[HARM_CLASSES[harm]])}">{TILE_TEXT[harm]}</div>')


def class_legend_html() -> str:
    return '<div class="xp-legend">' + "".join(
        f'<span><span style="display:inline-block;width:14px;height:14px;border-radius:3px;'
        f'background:{CLASS_COLOURS[k]};border:1px solid #bbb"></span>{escape(CLASS_LABELS[name])}</span>'
        for k, name in enumerate(HARM_CLASSES)) + "</div>"


def contact_html(c: Contact) -> str:
    who = SENDER_LABELS[c.sender_type]
    what = KIND_LABELS[c.kind]
    how = CHANNEL_LABELS[c.channel]
    found = "They already know each other" if c.channel == "known" else f"Found her through: <b>{escape(how)}</b>"
    if c.delivered:
        extra = ""
        if c.image:
            extra = " · with an explicit image" + (" (blurred)" if c.blurred else "")
        outcome = f'<span class="xp-reached">Reached her</span>{escape(extra)} · she {escape(c.response)}'
        if c.response == "follows them":
            outcome = '<span class="xp-muted">Reached her · someone she follows</span>'
    else:
        by = SAFEGUARD_LABELS.get(c.stopped_by or "", c.stopped_by or "a safeguard")
        outcome = f'<span class="xp-stopped">Stopped by: {escape(by)}</span>'
    return (f'<li style="--dot:{SENDER_COLOURS[c.sender_type]}"><span class="xp-muted" style="float:right">'
            f'day {c.day}</span><b>{escape(what)}</b> from '
            f'<b style="color:{SENDER_COLOURS[c.sender_type]}">{escape(who.lower())}</b>'
            f'<br><span class="xp-how">{found}</span><br>{outcome}</li>')


def phone_html(frame: Frame, inbox_rows: int = 6) -> str:
    """The phone: who the platform thinks she is, today's feed as tiles, and her inbox of contact attempts."""
    s = frame.settings
    if not frame.phone_joined:
        return (f'<div class="xp-phone" aria-label="The phone"><h4>A 13-year-old\'s phone</h4>'
                f'<div class="xp-status">Not on the platform yet: she registers on day 3, '
                f'saying she is {s.declared_age}.</div></div>')
    treated = ("treated as a <b>teen</b>: teen safeguards apply" if frame.protected
               else "treated as an <b>adult</b>: no teen safeguards apply")
    if frame.declared_age != s.declared_age:
        treated += f" (an age check found she is {frame.declared_age})"
    status = (f'<div class="xp-status">Real age <b>13</b> · registered as <b>{s.declared_age}</b><br>'
              f'{treated}</div>')
    tiles = "".join(tile_html(int(h)) for h in frame.today.tiles) or '<span class="xp-muted">no posts today</span>'
    held = frame.today.withheld_benign + frame.today.withheld_harmful
    held_line = ""
    if held:
        held_line = (f'<div class="xp-muted">Held back by safeguards today: {frame.today.withheld_harmful} harmful, '
                     f'{frame.today.withheld_benign} harmless</div>')
    seen = frame.seen
    tally = " · ".join(f"{int(seen[k])} {CLASS_SHORT[k]}" for k in range(len(seen)))
    inbox = "".join(contact_html(c) for c in frame.inbox[:inbox_rows])
    if not inbox:
        inbox = '<li style="--dot:#ccc"><span class="xp-muted">Nobody has tried to reach her yet.</span></li>'
    strangers = {k: v for k, v in frame.contacts_by_channel.items() if k != "known"}
    by_channel = " · ".join(f"{escape(CHANNEL_LABELS[k])}: {v[0]} reached, {v[1]} stopped"
                            for k, v in sorted(strangers.items(), key=lambda kv: -sum(kv[1])))
    return (f'<div class="xp-phone" aria-label="The phone">{status}'
            f'<h4>Her feed today ({len(frame.today.tiles)} posts)</h4><div class="xp-tiles">{tiles}</div>'
            f'{held_line}<div class="xp-muted">Since she joined: {tally}</div>'
            f'<h4>Inbox: who tried to reach her</h4><ul class="xp-inbox">{inbox}</ul>'
            f'<div class="xp-muted">How strangers found her so far: {by_channel or "none yet"}</div></div>')


def _fmt(v: float) -> str:
    if v >= 100 or v == int(v):
        return f"{v:.0f}"
    return f"{v:.2f}".rstrip("0").rstrip(".")


def plot_svg(key: str, runs: list[tuple[str, list[float]]], day: int, horizon: int,
             width: int = 460, height: int = 150, reveal: str | None = None) -> str:
    """One headline figure over the days: the first run thick, the others (the ones compared) thin.

    Args:
        key: a key of :data:`sim.page.world.SERIES`.
        runs: (label, values per day from day 1), the current run first.
        day: today (a marker line).
        reveal: for a page without Python: an id; the first run is drawn whole but clipped to the
            days up to today by ``rect.xp-reveal``, which a script moves with ``line.xp-marker``
            (the svg's ``data-left``, ``data-w`` and ``data-horizon`` give the scale).
    """
    title, unit = SERIES[key]
    left, right, top, bottom = 44, 10, 8, 26
    w, h = width - left - right, height - top - bottom
    values = [v for _, series in runs for v in series if v == v]
    top_value = max(values, default=0.0)
    step = _nice(top_value / 4 if top_value > 0 else 0.25)
    ticks = max(1, math.ceil(top_value / step - 1e-9))
    ymax = ticks * step

    def px(d: int) -> float:
        return left + w * d / horizon

    def py(v: float) -> float:
        return top + h * (1 - v / ymax)

    out = [f'<svg viewBox="0 0 {width} {height}" width="100%" role="img" aria-label="{escape(title)}" '
           f'data-plot="{key}" data-left="{left}" data-w="{w}" data-horizon="{horizon}">']
    if reveal:
        out.append(f'<clipPath id="{reveal}"><rect class="xp-reveal" x="0" y="0" width="{px(day):.1f}" '
                   f'height="{height}"/></clipPath>')
    for k in range(ticks + 1):
        v = step * k
        out.append(f'<line x1="{left}" x2="{left + w}" y1="{py(v):.1f}" y2="{py(v):.1f}" stroke="#eee"/>'
                   f'<text x="{left - 4}" y="{py(v) + 4:.1f}" font-size="11" text-anchor="end" fill="#555">'
                   f'{_fmt(v)}</text>')
    for d in range(0, horizon + 1, 10):
        out.append(f'<text x="{px(d):.1f}" y="{height - 8}" font-size="11" text-anchor="middle" fill="#555">'
                   f'{d}</text>')
    out.append(f'<text x="{left - 4}" y="{height - 8}" font-size="11" text-anchor="end" fill="#555">day</text>')
    if 0 < day <= horizon or reveal:
        out.append(f'<line class="xp-marker" x1="{px(day):.1f}" x2="{px(day):.1f}" y1="{top}" y2="{top + h}" '
                   f'stroke="#999" stroke-dasharray="3 3"/>')
    for index in range(len(runs) - 1, -1, -1):
        label, series = runs[index]
        pts = [f"{px(d + 1):.1f},{py(v):.1f}" for d, v in enumerate(series) if v == v]
        if not pts:
            continue
        colour = RUN_COLOURS[index % len(RUN_COLOURS)]
        width_ = 3.5 if index == 0 else 1.8
        dash = "" if index == 0 else ' stroke-dasharray="6 3"'
        clip = f' clip-path="url(#{reveal})"' if reveal and index == 0 else ""
        out.append(f'<polyline points="{" ".join(pts)}" fill="none" stroke="{colour}" stroke-width="{width_}"'
                   f'{dash}{clip} data-run="{index}"><title>{escape(label)}</title></polyline>')
    out.append("</svg>")
    return (f'<div class="xp-plot-title">{escape(title)} <span class="xp-muted">({escape(unit)})</span></div>'
            + "".join(out))


def runs_legend_html(labels: list[str]) -> str:
    parts = []
    for index, label in enumerate(labels):
        colour = RUN_COLOURS[index % len(RUN_COLOURS)]
        dash = "" if index == 0 else ' stroke-dasharray="6 3"'
        parts.append(f'<span><svg width="26" height="8"><line x1="0" y1="4" x2="26" y2="4" stroke="{colour}" '
                     f'stroke-width="{3.5 if index == 0 else 2}"{dash}/></svg>'
                     f'{"<b>now:</b> " if index == 0 else ""}{escape(label)}</span>')
    return f'<div class="xp-legend" style="font-size:13px">{"".join(parts)}</div>'


def _nice(v: float) -> float:
    """A round tick step at or above ``v`` (1, 2, 2.5 or 5 times a power of ten)."""
    exp = 10 ** math.floor(math.log10(v))
    for step in (1, 2, 2.5, 5, 10):
        if step * exp >= v - 1e-12:
            return step * exp
    return 10 * exp
