"""`planner approval …`: four eyes, the changes waiting for a second lead."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Column, Table

from cli import common
from cli.common import PlanKey
from services import approvals

approval_app = typer.Typer(help="Four eyes: list the changes waiting for a second lead; approve or reject one.",
                           no_args_is_help=True)
Actor = Annotated[str, typer.Option(help="who decides, for the audit log (not the lead who asked)")]



@approval_app.command("list")
def list_requests(plan: PlanKey) -> None:
    """The plan's latest requests: what, who asked, and their state."""
    with common.reported():
        _pending, latest = approvals.listing(database_url=common.database_url(), key=plan)
    if not latest:
        common.out.print(f"plan '{plan}' has no approval requests", highlight=False)
        return
    table = Table("what", "asked by", "state", "decided by")
    table.columns.insert(0, Column("id", no_wrap=True))
    for r in latest:
        table.add_row(str(r.id), r.summary, r.requested_by, r.state, r.decided_by or "-")
    common.out.print(table)


@approval_app.command("approve")
def approve(plan: PlanKey, request: int, actor: Actor) -> None:
    """Approve another lead's request and carry it out (an edit is written; a start or resume done at once)."""
    config = common.settings()
    with common.reported():
        admin = config.admin()
    with common.reported(), admin:
        done = approvals.approve(database_url=config.database_url, admin=admin, key=plan, request_id=request,
                                 actor=actor)
    wrote = f"; {done.outcome.writes} write(s) to Unleash" if done.outcome else ""
    common.out.print(f"request {request} approved and carried out: {done.request.summary}{wrote}", highlight=False,
                   markup=False)
    if done.outcome and done.outcome.error:
        raise common.fail(done.outcome.error, 69)


@approval_app.command("reject")
def reject(plan: PlanKey, request: int, actor: Actor) -> None:
    """Reject a request (or withdraw one's own): nothing of it is done."""
    with common.reported():
        approvals.reject(database_url=common.database_url(), key=plan, request_id=request, actor=actor)
    common.out.print(f"request {request} rejected", highlight=False)
