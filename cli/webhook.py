"""`planner webhook …`: the URLs told of a plan's events, with their deliveries."""

from __future__ import annotations

import sys
from typing import Annotated

import typer
from rich.table import Column, Table

from cli import common
from cli.common import PlanKey
from services import webhooks

webhook_app = typer.Typer(help="Webhooks of a plan: add (the secret is shown once), list with deliveries, remove.",
                          no_args_is_help=True)
Actor = Annotated[str, typer.Option(help="who does it, for the audit log")]



@webhook_app.command("add")
def add(plan: PlanKey, url: Annotated[str, typer.Argument(metavar="URL", help="where the events go (https://…)")],
        actor: Actor = "cli") -> None:
    """Send the plan's events to URL, signed; prints the signing secret, this once (to standard output, alone)."""
    with common.reported():
        hook, secret = webhooks.add(database_url=common.database_url(), key=plan, url=url, actor=actor)
    common.err.print(f"webhook {hook.id} added for {hook.url}. Copy its signing secret now: it is not shown again.",
                   highlight=False, markup=False)
    sys.stdout.write(secret + "\n")


@webhook_app.command("list")
def list_webhooks(plan: PlanKey) -> None:
    """The plan's webhooks and their latest deliveries (never the secrets)."""
    with common.reported():
        hooks, deliveries = webhooks.listing(database_url=common.database_url(), key=plan)
    if not hooks:
        common.out.print(f"plan '{plan}' has no webhooks: `planner webhook add {plan} URL`", highlight=False)
        return
    table = Table("url", "added by")
    table.columns.insert(0, Column("id", no_wrap=True))
    for hook in hooks:
        table.add_row(str(hook.id), hook.url, hook.created_by)
    common.out.print(table)
    if deliveries:
        recent = Table("event", "to", "state", "attempts", "last answer", title="latest deliveries")
        for delivery, hook in deliveries:
            answer = f"HTTP {delivery.last_status}" if delivery.last_status else (delivery.last_error or "-")
            recent.add_row(delivery.event, hook.url, delivery.state, str(delivery.attempts), answer)
        common.out.print(recent)


@webhook_app.command("remove")
def remove(plan: PlanKey, webhook_id: int, actor: Actor = "cli") -> None:
    """Stop telling a webhook; its pending deliveries are dropped."""
    with common.reported():
        webhooks.remove(database_url=common.database_url(), key=plan, webhook_id=webhook_id, actor=actor)
    common.out.print(f"webhook {webhook_id} removed", highlight=False)
