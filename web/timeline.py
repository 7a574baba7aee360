"""The plan's timeline as an accessible inline SVG: phases as bars on a date axis, with gates, trainings and today."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from markupsafe import Markup, escape

from planner.limits import EARLIEST, LATEST
from planner.lifecycle import PhaseStatus
from planner.model import Phase, Plan
from views.svg import GRID, INK, MUTED, TODAY, ZEBRA, svg
from views.svg import el as _el
from views.svg import title as _title

ROW = 26  # px per phase row; the SVG grows by this much per phase
BAR = 14
HEAD = 46  # today label and month labels above the rows
LEGEND_ROW = 20
CHAR = 6.6  # rough advance of one 12px character, for truncation and legend layout (no font metrics here)
DEFAULT_LENGTH = timedelta(weeks=4)  # how long the last phase is drawn when it has no planned end
MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")

# Presentation attributes, so the SVG reads right without the stylesheet; `.tl-status-*` rules override them.
COLOURS = {  # status: (fill, stroke)
    PhaseStatus.planned: ("#dbe3f0", "#7d8ba3"),
    PhaseStatus.scheduled: ("#9db8ea", "#2456c8"),
    PhaseStatus.active: ("#3a9d5d", "#1f7a3d"),
    PhaseStatus.held: ("#f5dcae", "#9a6200"),
    PhaseStatus.rolled_back: ("#f6cdc8", "#b42318"),
    PhaseStatus.completed: ("#c4c9d2", "#5d6677"),
    PhaseStatus.gated: ("#e6dcf3", "#6b3fa0"),
}
HATCH_ANGLE = {PhaseStatus.held: 45, PhaseStatus.rolled_back: -45, PhaseStatus.gated: 45}  # interrupted phases are striped


def _utc(at: datetime) -> datetime:
    """In UTC, and drawn within the years a plan may name (planner.limits): a plan stored before that check
    with a phase in year 9999 still draws, at the axis' end, instead of overflowing the date arithmetic."""
    at = at.astimezone(UTC) if at.tzinfo else at.replace(tzinfo=UTC)
    return min(max(at, EARLIEST), LATEST)


def _day(at: datetime) -> str:
    """`2 Nov 2026`, in the offset the date was written in, independent of the server's locale."""
    return f"{at.day} {MONTHS[at.month - 1]} {at.year}"


def zone(at: datetime | None) -> str:
    """The zone an instant is shown in: "UTC", or its offset ("UTC+01:00"); a naive one is UTC (the database's)."""
    if at is None:
        return ""
    minutes = round((at.utcoffset() or timedelta()) / timedelta(minutes=1))
    return f"UTC{'+' if minutes > 0 else '-'}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}" if minutes else "UTC"


def _moment(at: datetime) -> str:
    """`3 Nov 2026, 10:00 UTC+01:00`: the time as written, with its offset so readers in other zones can tell."""
    return f"{_day(at)}, {at:%H:%M} {zone(at)}"


def _label(phase: Phase) -> str:
    return phase.name or phase.key


def _fit(text: str, room: float) -> str:
    chars = max(int(room / CHAR), 3)
    return text if len(text) <= chars else text[: chars - 1].rstrip() + "…"


def _spans(phases: tuple[Phase, ...]) -> list[tuple[Phase, datetime, datetime]]:
    """Each phase with the instants its bar runs between: its end, else the next start, else four weeks."""
    spans = []
    for i, phase in enumerate(phases):
        start = _utc(phase.starts)
        following = _utc(phases[i + 1].starts) if i + 1 < len(phases) else None
        if phase.ends is not None:
            end = _utc(phase.ends)
        elif following is not None and following > start:
            end = following
        else:
            end = start + DEFAULT_LENGTH
        spans.append((phase, start, max(end, start)))
    return spans


def _months(lo: datetime, hi: datetime, px_per_day: float) -> list[datetime]:
    """First days of months inside the range, thinned so that labels stay ~64px apart."""
    step = next((s for s in (1, 2, 3, 6, 12, 24, 60) if s * 30.4 * px_per_day >= 64), 120)
    month, ticks = datetime(lo.year, lo.month, 1, tzinfo=UTC), []
    while month <= hi:
        if month >= lo and (month.year * 12 + month.month - 1) % step == 0:
            ticks.append(month)
        month = datetime(month.year + month.month // 12, month.month % 12 + 1, 1, tzinfo=UTC)
    return ticks


def _bar(uid: str, status: PhaseStatus, x: float, y: float, w: float, h: float, cls: str, **attrs: object) -> str:
    """A status-coloured rectangle; paused and rolled-back ones get stripes, rolled-back a dashed outline."""
    fill, stroke = COLOURS[status]
    dashed = "4 2" if status is PhaseStatus.rolled_back else None
    shape = _el("rect", class_=f"{cls} tl-status-{status.value}", x=x, y=y, width=w, height=h, rx=3.0,
                fill=fill, stroke=stroke, stroke_width=1.5 if dashed else 1.0, stroke_dasharray=dashed, **attrs)
    if status in HATCH_ANGLE:
        shape += _el("rect", class_="tl-hatch", x=x, y=y, width=w, height=h, rx=3.0,
                     fill=f"url(#{uid}-hatch-{status.value})", pointer_events="none")
    return shape


def _svg(uid: str, width: int, height: int, heading: str, summary: str, body: str) -> Markup:
    return svg(uid, width, height, heading, summary, body, cls="tl")


def _summary(plan: Plan, spans: list, today: datetime, statuses: dict[str, PhaseStatus]) -> str:
    last = max([p.starts for p in plan.phases] + [p.ends for p in plan.phases if p.ends], key=_utc)
    count = f"{len(spans)} phase{'s' if len(spans) != 1 else ''}"
    parts = [f"{count} from {_day(plan.phases[0].starts)} to {_day(last)}; today is {_day(today)}."]
    for phase, _, _ in spans:
        extra = "".join([f", gate: {', '.join(phase.gate)}" if phase.gate else "",
                         f", {len(phase.trainings)} training(s)" if phase.trainings else ""])
        parts.append(f"{_label(phase)}: {statuses[phase.key].label}, from {_day(phase.starts)}{extra}.")
    return " ".join(parts)


def _legend(uid: str, top: float, width: int) -> tuple[str, int]:
    """Swatches for every status, then gate, training and today; wraps onto further lines when narrow."""
    items = [(f"status {s.value}", s.label) for s in PhaseStatus]
    items += [("gate", "gate (KPIs must hold)"), ("training", "training"), ("today", "today")]
    out, x, line = [], 8.0, 0
    for kind, text in items:
        room = 20 + len(text) * CHAR * 11 / 12 + 14
        if x + room > width and x > 8:
            x, line = 8.0, line + 1
        y = top + line * LEGEND_ROW
        if kind.startswith("status"):
            out.append(_bar(uid, PhaseStatus(kind.split()[1]), x, y + 2, 16.0, 10.0, "tl-swatch"))
        elif kind == "gate":
            out.append(_gate(x + 8, y + 7))
        elif kind == "training":
            out.append(_el("circle", class_="tl-training", cx=x + 8, cy=y + 7, r=4.0, fill="#fff", stroke=INK,
                           stroke_width=1.5))
        else:
            out.append(_el("line", class_="tl-today", x1=x + 8, y1=y, x2=x + 8, y2=y + 14, stroke=TODAY,
                           stroke_width=2.0))
        out.append(_el("text", escape(text), x=x + 20, y=y + 11, font_size=11, fill=MUTED))
        x += room
    return _el("g", "".join(out), class_="tl-legend"), line + 1


def _gate(x: float, y: float, content: str = "") -> str:
    points = f"{x:.1f},{y - 6:.1f} {x + 6:.1f},{y:.1f} {x:.1f},{y + 6:.1f} {x - 6:.1f},{y:.1f}"
    return _el("polygon", content, class_="tl-gate", points=points, fill=INK, stroke="#fff", stroke_width=1.0)


def render_timeline(plan: Plan, *, today: datetime, width: int = 960,
                    statuses: dict[str, PhaseStatus] | None = None) -> Markup:
    """The plan's phases on a date axis as inline SVG markup, coloured by status (planned when not given);
    every text in it is escaped."""
    statuses = {p.key: PhaseStatus.planned for p in plan.phases} | (statuses or {})
    uid = "tl-" + re.sub(r"[^A-Za-z0-9_-]+", "-", plan.key)
    heading = f"Timeline of {plan.title or plan.key}"
    spans = _spans(plan.phases)
    if not spans:
        message = "No phases planned yet: add a phase to see it on the timeline."
        body = _el("text", escape(message), class_="tl-empty", x=12.0, y=28.0, fill=MUTED)
        return _svg(uid, width, 44, heading, "The plan has no phases yet.", body)

    now = _utc(today)
    instants = [i for _, s, e in spans for i in (s, e)] + [_utc(t.at) for p in plan.phases for t in p.trainings]
    lo, hi = min(instants + [now]), max(instants + [now])
    pad = max((hi - lo) * 0.03, timedelta(days=4))
    lo, hi = lo - pad, hi + pad
    label_w = round(min(max(width * 0.24, 150), 280))
    x0, x1 = label_w + 14.0, width - 16.0

    def x(at: datetime) -> float:
        return x0 + (_utc(at) - lo) / (hi - lo) * (x1 - x0)

    bottom = HEAD + len(spans) * ROW
    legend, legend_lines = _legend(uid, bottom + 12, width)
    height = bottom + 12 + legend_lines * LEGEND_ROW + 2
    out = ["<defs>"]
    for status, angle in HATCH_ANGLE.items():
        line = _el("line", x1=0.0, y1=0.0, x2=0.0, y2=6.0, stroke=COLOURS[status][1], stroke_width=1.6)
        out.append(_el("pattern", line, id=f"{uid}-hatch-{status.value}", width=6.0, height=6.0,
                       patternUnits="userSpaceOnUse", patternTransform=f"rotate({angle})"))
    out.append("</defs>")
    out += [_el("rect", class_="tl-row", x=0.0, y=float(HEAD + i * ROW), width=width, height=ROW, fill=ZEBRA)
            for i in range(1, len(spans), 2)]
    for tick in _months(lo, hi, (x1 - x0) / ((hi - lo) / timedelta(days=1))):
        tx = x(tick)
        out.append(_el("line", class_="tl-grid", x1=tx, y1=HEAD - 14.0, x2=tx, y2=float(bottom), stroke=GRID))
        if tx + 8 * CHAR < width:
            text = escape(f"{MONTHS[tick.month - 1]} {tick.year}")
            out.append(_el("text", text, class_="tl-axis", x=tx + 4, y=HEAD - 6.0, font_size=11, fill=MUTED))
    out.append(_el("line", class_="tl-axis-line", x1=x0 - 6, y1=float(HEAD), x2=x1, y2=float(HEAD), stroke=MUTED))
    out.append(_el("line", class_="tl-divider", x1=float(label_w), y1=float(HEAD), x2=float(label_w),
                   y2=float(bottom), stroke=GRID))

    for i, (phase, start, end) in enumerate(spans):
        top, mid = HEAD + i * ROW, HEAD + i * ROW + ROW / 2
        name, status = _label(phase), statuses[phase.key]
        until = _day(phase.ends) if phase.ends else "no planned end"
        row = [_title(f"{name} ({status.value.replace('_', ' ')}): {_day(phase.starts)} to {until}"
                      + (f"; owners: {', '.join(phase.owners)}" if phase.owners else ""))]
        date = _day(phase.starts)
        row.append(_el("text", escape(_fit(name, label_w - 30 - len(date) * CHAR * 11 / 12)), class_="tl-label",
                       x=8.0, y=mid + 4))
        row.append(_el("text", escape(date), class_="tl-date", x=label_w - 8.0, y=mid + 4, font_size=11,
                       fill=MUTED, text_anchor="end"))
        bx = x(start)
        row.append(_bar(uid, status, bx, top + (ROW - BAR) / 2, max(x(end) - bx, 2.0), float(BAR), "tl-bar",
                        data_phase=phase.key, data_status=status.value))
        if phase.gate:
            row.append(_gate(bx, mid, _title(f"Gate: {', '.join(phase.gate)}")))
        for ramp in phase.ramps:  # each step of a ramp: a tick on the bar, with its share
            for step in ramp.steps[1:]:
                at = phase.starts + step.delay
                tip = _title(f"Ramp of {ramp.cohort}: {step.percent} % from {_moment(at)}")
                row.append(_el("line", tip, class_="tl-ramp-step", x1=x(at), y1=top + (ROW - BAR) / 2 - 3,
                               x2=x(at), y2=top + (ROW + BAR) / 2 + 3, stroke=INK, stroke_width=2.0,
                               data_percent=step.percent))
        for training in phase.trainings:
            tip = _title(f"Training {_moment(training.at)} · {training.audience or 'everyone'} · {training.topic}")
            row.append(_el("circle", tip, class_="tl-training", cx=x(training.at), cy=mid, r=4.5, fill="#fff",
                           stroke=INK, stroke_width=1.5))
        out.append(_el("g", "".join(row), class_="tl-phase", data_phase=phase.key))

    tx, label = x(now), f"Today · {_day(today)}"
    half = len(label) * CHAR / 2
    out.append(_el("line", _title(f"Today, {_moment(today)}"), class_="tl-today", x1=tx, y1=18.0, x2=tx,
                   y2=float(bottom), stroke=TODAY, stroke_width=2.0))
    out.append(_el("text", escape(label), class_="tl-today-label", x=min(max(tx, x0 + half), width - 4 - half),
                   y=13.0, fill=TODAY, font_weight="600", text_anchor="middle"))
    out.append(legend)
    return _svg(uid, width, height, heading, _summary(plan, spans, today, statuses), "".join(out))
