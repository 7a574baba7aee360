"""The management report as one printable HTML page (the web app serves it; `planner report` prints it to
PDF through Chromium, views/pdf.py). Self-contained: its stylesheet is inline, its charts are inline SVG."""

from __future__ import annotations

import base64
import hashlib
from pathlib import Path

from jinja2 import Environment, FileSystemLoader, select_autoescape

from services.report import Report
from views.charts import kpi_chart

HERE = Path(__file__).parent
CSS = (HERE / "templates" / "report.css").read_text(encoding="utf-8")
_env = Environment(loader=FileSystemLoader(HERE / "templates"), autoescape=select_autoescape(["html"]))


def style_hash() -> str:
    """The CSP source that allows the report's inline stylesheet, and nothing else inline."""
    return "'sha256-" + base64.b64encode(hashlib.sha256(CSS.encode()).digest()).decode() + "'"


def render_report(report: Report, *, back_link: str | None = None) -> str:
    charts = {}
    for i, card in enumerate([c for g in report.goals for c in g.cards] + report.unlinked):
        charts.setdefault(card.kpi.key, kpi_chart(card, f"r{i}", width=320, height=96))
    return _env.get_template("report.html").render(r=report, plan=report.plan, charts=charts, css=CSS,
                                                   back_link=back_link)
