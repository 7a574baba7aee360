"""`planner phase …`: a phase's status, and a lead's hold, resume, start now and roll back."""

from __future__ import annotations

from datetime import UTC
from typing import Annotated

import typer
from rich.table import Column, Table

from cli import common
from cli.common import PhaseKey, PlanKey
from planner.lifecycle import Action
from services import phases

phase_app = typer.Typer(help="Phases: list them with their status; hold, resume, start now, roll back.",
                        no_args_is_help=True)

Reason = Annotated[str, typer.Option("--reason", help="why, for the audit log and the phase's segment in Unleash")]
Actor = Annotated[str, typer.Option(help="who acts, for the audit log")]



def _act(plan: str, phase: str, action: Action, reason: str, actor: str) -> None:
    config = common.settings()
    with common.reported():
        admin = config.admin()
    with common.reported(), admin:
        outcome = phases.act(database_url=config.database_url, admin=admin, key=plan, phase=phase, action=action,
                             actor=actor, reason=reason)
    if outcome.pending:
        common.out.print(f"{phase}: waits for a second lead's approval (four eyes), request {outcome.pending}: "
                       f"`planner approval approve {plan} {outcome.pending} --actor LEAD`", highlight=False, markup=False)
        return
    changed = ", ".join(outcome.changed) or "nothing"
    common.out.print(f"{phase}: {phases.VERBS[action]}; {outcome.writes} write(s) to Unleash (segments: {changed})",
                   highlight=False, markup=False)
    if outcome.error:
        raise common.fail(outcome.error, 69)


@phase_app.command("hold")
def hold(plan: PlanKey, phase: PhaseKey, reason: Reason, actor: Actor = "cli") -> None:
    """Hold a phase: it and every later phase that has not started do not start until resumed. An active phase
    keeps what it gave and widens no further."""
    _act(plan, phase, Action.hold, reason, actor)


@phase_app.command("resume")
def resume(plan: PlanKey, phase: PhaseKey, reason: Annotated[str, typer.Option("--reason")] = "", actor: Actor = "cli") -> None:
    """Resume a held or rolled-back phase (and the phases held with it): dates that passed start at once."""
    _act(plan, phase, Action.resume, reason, actor)


@phase_app.command("start")
def start(plan: PlanKey, phase: PhaseKey, reason: Reason,
          now: Annotated[bool, typer.Option("--now", help="start it now, before its date (required)")] = False,
          actor: Actor = "cli") -> None:
    """Start a phase now, before its date."""
    if not now:
        raise typer.BadParameter("say --now: a phase is started early only on purpose", param_hint="--now")
    _act(plan, phase, Action.start, reason, actor)


@phase_app.command("rollback")
def rollback(plan: PlanKey, phase: PhaseKey, reason: Reason, actor: Actor = "cli") -> None:
    """Roll back an active or completed phase: its access is withdrawn at once, Unleash is back where it was
    before the phase started, and later phases are held."""
    _act(plan, phase, Action.rollback, reason, actor)


@phase_app.command("list")
def list_phases(plan: PlanKey) -> None:
    """Each phase: its status, its start, and what Unleash holds for its segment."""
    config = common.settings()
    with common.reported():
        admin = config.admin()
    with common.reported(), admin:
        spec, views = phases.phase_list(database_url=config.database_url, key=plan, admin=admin)
    if not views:
        common.out.print(f"plan '{spec.key}' has no phases yet")
        return
    table = Table("name", "status", "starts (UTC)", "in Unleash", "why")
    table.columns.insert(0, Column("phase", no_wrap=True))
    for view in views:
        why = view.control.reason + (f" (by {view.control.actor})" if view.control.actor else "")
        table.add_row(view.phase.key, view.name, view.status.label, view.starts.astimezone(UTC).strftime("%Y-%m-%d %H:%M"),
                      view.unleash or "-", why)
    common.out.print(table)
