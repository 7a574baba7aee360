"""`planner kpi …` and `planner gate …`: KPI verdicts, a lead's entered values, and overriding a gate."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer

from cli import common
from cli.common import PhaseKey, PlanKey
from planner.inputs import parse_instant
from services import dashboard, gates, kpis

kpi_app = typer.Typer(help="KPIs: their values and verdicts; enter a manual KPI's value.", no_args_is_help=True)
gate_app = typer.Typer(help="Gates: override a gated phase's verdict so that it starts.", no_args_is_help=True)

Actor = Annotated[str, typer.Option(help="who acts, for the audit log")]


@kpi_app.command("list")
def list_kpis(plan: PlanKey) -> None:
    """Each KPI's verdict with the numbers behind it, and each gate's."""
    config = common.settings()
    with common.reported():
        board = dashboard.board(database_url=config.database_url, key=plan, charts=False)
    if not board.cards:
        common.out.print(f"plan '{plan}' has no KPIs yet")
        return
    for card in board.cards:  # one line each: the reason is a sentence, a table column would chop it
        feeds = f"gate of {', '.join(card.feeds)}" if card.feeds else "gates no phase"
        common.out.print(f"{card.kpi.key} ({card.name}): {card.verdict.text} "
                         f"[{feeds}; window up to {card.decides}]", highlight=False, markup=False, soft_wrap=True)
    for gate in board.gates:
        state = gate.opened or gate.verdict.outcome.value
        common.out.print(f"gate of {gate.name}: {state}" + (f" by {gate.opened_by}: {gate.opened_reason}"
                                                           if gate.opened == "overridden" else ""),
                         highlight=False, markup=False)


@kpi_app.command("record")
def record(plan: PlanKey, kpi: str, value: float,
           at: Annotated[str, typer.Option("--at", help="when it was measured, e.g. 2026-12-01T12:00:00+01:00 "
                                                      "(default: now)")] = "",
           note: Annotated[str, typer.Option("--note", help="where it comes from, e.g. 'pilot survey'")] = "",
           sample: Annotated[int | None, typer.Option("--sample", help="how many it was measured on")] = None,
           actor: Actor = "cli") -> None:
    """Enter a manual KPI's value (a survey result, say)."""
    config = common.settings()
    with common.reported():
        when = parse_instant(at, field="--at") if at else datetime.now(UTC)
        kpis.enter_value(database_url=config.database_url, key=plan, kpi=kpi, value=value, at=when, note=note,
                         sample=sample, actor=actor)
    common.out.print(f"{kpi}: {value:g} entered for {when.astimezone(UTC):%Y-%m-%d}", highlight=False, markup=False)


@gate_app.command("override")
def override(plan: PlanKey, phase: PhaseKey,
             reason: Annotated[str, typer.Option("--reason", help="why the phase starts whatever its gate says")],
             actor: Actor = "cli") -> None:
    """Open a phase's gate whatever its verdict: it starts at its start, or at once when that has passed. With
    four eyes on, a second lead approves it first."""
    config = common.settings()
    with common.reported():
        admin = config.admin()
    with common.reported(), admin:
        outcome = gates.override(database_url=config.database_url, admin=admin, key=plan, phase=phase, actor=actor,
                                 reason=reason)
    if outcome.pending:
        common.out.print(f"{phase}: the override waits for a second lead's approval (four eyes), request "
                         f"{outcome.pending}: `planner approval approve {plan} {outcome.pending} --actor LEAD`",
                         highlight=False, markup=False)
        return
    common.out.print(f"{phase}: gate overridden; {outcome.writes} write(s) to Unleash "
                     f"(segments: {', '.join(outcome.changed) or 'nothing'})", highlight=False, markup=False)
    if outcome.error:
        raise common.fail(outcome.error, 69)


def report(plan: PlanKey, pdf: Annotated[Path | None, typer.Option("--pdf", help="write the report as a PDF here")] = None,
           html: Annotated[Path | None, typer.Option("--html", help="write the report as one HTML page here")] = None
           ) -> None:
    """The management report of a plan: goals and their KPIs, phases, reach, resources, training and the
    guidelines accepted, as a PDF (printed by Chromium) or one HTML page."""
    from services.report import report as management_report
    from views.pdf import PdfUnavailable, html_to_pdf
    from views.report import render_report

    if pdf is None and html is None:
        raise typer.BadParameter("say where to write it: --pdf FILE or --html FILE", param_hint="--pdf")
    config = common.settings()
    with common.reported():
        page = render_report(management_report(database_url=config.database_url, key=plan))
    if html is not None:
        html.write_text(page, encoding="utf-8")
        common.out.print(f"report of {plan} written to {html}", highlight=False, markup=False)
    if pdf is not None:
        try:
            html_to_pdf(page, pdf)
        except PdfUnavailable as exc:
            raise common.fail(str(exc), 69) from None
        common.out.print(f"report of {plan} written to {pdf} ({pdf.stat().st_size:,} bytes)", highlight=False,
                         markup=False)
