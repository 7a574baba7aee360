"""Building blocks of the server-rendered SVG (the timeline, the KPI charts): elements with escaped attributes."""

from __future__ import annotations

from markupsafe import Markup, escape

INK, MUTED, GRID, ZEBRA, TODAY = "#1d2330", "#5d6677", "#d9dee7", "#f3f5f8", "#c62828"
FONT = "system-ui, -apple-system, Segoe UI, Roboto, sans-serif"


def el(tag: str, content: str = "", /, **attrs: object) -> str:
    """One element; `class_` -> class, `text_anchor` -> text-anchor. `content` must already be markup."""
    parts = []
    for name, value in attrs.items():
        if value is None:
            continue
        if isinstance(value, float):
            value = f"{value:.1f}"
        parts.append(f' {name.rstrip("_").replace("_", "-")}="{escape(value)}"')
    return f"<{tag}{''.join(parts)}>{content}</{tag}>" if content else f"<{tag}{''.join(parts)}/>"


def title(text: str) -> str:
    return f"<title>{escape(text)}</title>"


def svg(uid: str, width: int, height: int, heading: str, summary: str, body: str, *, cls: str) -> Markup:
    """An accessible inline SVG: its heading and a summary in words for screen readers."""
    return Markup(
        f'<svg xmlns="http://www.w3.org/2000/svg" class="{cls}" role="img" aria-labelledby="{uid}-title {uid}-desc"'
        f' viewBox="0 0 {width} {height}" width="100%" preserveAspectRatio="xMinYMin meet"'
        f' font-family="{FONT}" font-size="12" fill="{INK}">'
        f'<title id="{uid}-title">{escape(heading)}</title><desc id="{uid}-desc">{escape(summary)}</desc>'
        f"{body}</svg>"
    )
