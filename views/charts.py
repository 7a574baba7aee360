"""The KPI dashboard's charts as accessible inline SVG: a KPI's value day by day against its target, with its
confidence band; bars for members and waitlists and for how often each feature was served."""

from __future__ import annotations

from datetime import date

from markupsafe import Markup, escape

from planner.kpis import number
from views.svg import GRID, INK, MUTED, TODAY, el, svg, title

LINE, BAND, TARGET, WAITING = "#2456c8", "#c9d7f5", "#1f7a3d", "#f5dcae"
LEFT, RIGHT, TOP, BOTTOM = 52, 12, 14, 26


def _ticks(lo: float, hi: float, count: int = 4) -> list[float]:
    if hi <= lo:
        return [lo]
    step = (hi - lo) / count
    return [lo + i * step for i in range(count + 1)]


def line_chart(uid: str, heading: str, summary: str, points: list[tuple[date, float | None, float | None, float | None]],
               *, target: float | None = None, percent: bool = False, end: date | None = None,
               width: int = 560, height: int = 170) -> Markup:
    """Values by day (with an optional band lower..upper), a dashed target line, and the window's end."""
    drawn = [(d, v, lo, hi) for d, v, lo, hi in points if v is not None]
    if not drawn:
        body = el("text", escape("no data yet"), x=float(LEFT), y=height / 2, fill=MUTED)
        return svg(uid, width, height, heading, summary, body, cls="chart")
    days = [d for d, *_ in points] + ([end] if end else [])
    first, last = min(days), max(days)
    span = max((last - first).days, 1)
    values = [v for _, v, _, _ in drawn] + [b for _, _, lo, hi in drawn for b in (lo, hi) if b is not None]
    if target is not None:
        values.append(target)
    lo_v, hi_v = min(0.0, min(values)), max(values) * 1.08 or 1.0
    if percent:
        lo_v, hi_v = 0.0, 1.0
    plot_w, plot_h = width - LEFT - RIGHT, height - TOP - BOTTOM

    def x(d: date) -> float:
        return LEFT + plot_w * (d - first).days / span

    def y(v: float) -> float:
        return TOP + plot_h * (1 - (v - lo_v) / ((hi_v - lo_v) or 1.0))

    out = []
    for tick in _ticks(lo_v, hi_v):
        out.append(el("line", x1=float(LEFT), y1=y(tick), x2=float(width - RIGHT), y2=y(tick), stroke=GRID))
        out.append(el("text", escape(number(tick, percent)), x=LEFT - 6.0, y=y(tick) + 4, text_anchor="end",
                      font_size=10, fill=MUTED))
    banded = [(d, lo, hi) for d, _, lo, hi in drawn if lo is not None and hi is not None]
    if banded:
        upper = " ".join(f"{x(d):.1f},{y(hi):.1f}" for d, _, hi in banded)
        lower = " ".join(f"{x(d):.1f},{y(lo):.1f}" for d, lo, _ in reversed(banded))
        out.append(el("polygon", title("confidence band"), class_="chart-band", points=f"{upper} {lower}", fill=BAND,
                      stroke="none"))
    if target is not None:
        out.append(el("line", title(f"target {number(target, percent)}"), class_="chart-target", x1=float(LEFT),
                      y1=y(target), x2=float(width - RIGHT), y2=y(target), stroke=TARGET, stroke_width=1.5,
                      stroke_dasharray="6 3"))
    if end is not None:
        out.append(el("line", title(f"the window ends {end:%d %b %Y}"), class_="chart-end", x1=x(end), y1=float(TOP),
                      x2=x(end), y2=float(height - BOTTOM), stroke=TODAY, stroke_dasharray="2 2"))
    path = " ".join(f"{'M' if i == 0 else 'L'}{x(d):.1f},{y(v):.1f}" for i, (d, v, _, _) in enumerate(drawn))
    out.append(el("path", class_="chart-line", d=path, fill="none", stroke=LINE, stroke_width=2.0))
    d, v, _, _ = drawn[-1]
    out.append(el("circle", title(f"{d:%d %b}: {number(v, percent)}"), cx=x(d), cy=y(v), r=3.5, fill=LINE))
    for d in (first, last):
        out.append(el("text", escape(f"{d.day} {d:%b}"), x=x(d), y=float(height - 8),
                      text_anchor="start" if d == first else "end", font_size=10, fill=MUTED))
    return svg(uid, width, height, heading, summary, "".join(out), cls="chart")


def kpi_chart(card, uid: str, *, width: int = 560, height: int = 170) -> Markup:
    """A KPI card's value day by day (services.dashboard.KpiCard) against its target, with its confidence band
    and, when a gate waits for it, the end of its window."""
    win = card.verdict.window
    points = [(s.day, s.value, s.bounds.lower if s.bounds else None, s.bounds.upper if s.bounds else None)
              for s in card.series]
    return line_chart(uid, f"{card.name} over time", card.verdict.text, points,
                      target=card.verdict.target.number if card.verdict.target else None, percent=card.percent,
                      end=win.end.date() if win and win.decides else None, width=width, height=height)


def bars(uid: str, heading: str, rows: list[tuple[str, int, int]], *, first: str, second: str,
         width: int = 560) -> Markup:
    """One row per item: a bar of `first` and, stacked after it, `second` (e.g. members and waiting)."""
    row_h, label_w = 24, 170
    height = 20 + row_h * max(len(rows), 1)
    top = max((a + b for _, a, b in rows), default=0) or 1
    room = width - label_w - 70
    out = [el("rect", x=float(label_w), y=4.0, width=10.0, height=10.0, fill=LINE),
           el("text", escape(first), x=label_w + 14.0, y=13.0, font_size=10, fill=MUTED),
           el("rect", x=label_w + 110.0, y=4.0, width=10.0, height=10.0, fill=WAITING),
           el("text", escape(second), x=label_w + 124.0, y=13.0, font_size=10, fill=MUTED)]
    summary = []
    for i, (name, a, b) in enumerate(rows):
        y = 20.0 + i * row_h
        shown = name if len(name) <= 26 else name[:25] + "…"
        out.append(el("text", escape(shown), x=0.0, y=y + 15, fill=INK))
        wa, wb = room * a / top, room * b / top
        out.append(el("rect", title(f"{name}: {a} {first}"), x=float(label_w), y=y + 4, width=max(wa, 0.5),
                      height=14.0, fill=LINE))
        if b:
            out.append(el("rect", title(f"{name}: {b} {second}"), x=label_w + wa, y=y + 4, width=wb, height=14.0,
                          fill=WAITING))
        out.append(el("text", escape(f"{a}" + (f" + {b}" if b else "")), x=label_w + wa + wb + 6, y=y + 15,
                      font_size=11, fill=MUTED))
        summary.append(f"{name}: {a} {first}, {b} {second}")
    return svg(uid, width, height, heading, "; ".join(summary) or "nothing yet", "".join(out), cls="chart")
