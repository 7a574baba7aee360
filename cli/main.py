"""`planner` — apply, export, preview and sync rollout plans from the command line."""

from __future__ import annotations

import sys
from datetime import datetime
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Column, Table
from typer.core import TyperGroup

from cli.approval import approval_app
from cli.common import PlanKey, database_url, err, fail, out, reported, settings
from cli.kpi import gate_app, kpi_app
from cli.kpi import report as report_command
from cli.phase import phase_app
from cli.webhook import webhook_app
from planner import migrate
from planner.errors import InputInvalid, PlanInvalid
from planner.inputs import parse_instant, parse_properties
from services import bootstrap as bootstraps
from services import plans, tokens
from services.preview import preview as preview_at


class PlannerGroup(TyperGroup):
    """Keeps the words after `planner` in ctx.meta before the callback runs (Click hands the callback none), so
    the database check can leave `--help` and a bare command group alone."""

    def invoke(self, ctx: typer.Context):
        ctx.meta["planner.words"] = [*getattr(ctx, "_protected_args", ()), *ctx.args]
        return super().invoke(ctx)


app = typer.Typer(help="The rollout planner: plans in, flags out.", no_args_is_help=True, add_completion=False,
                  pretty_exceptions_show_locals=False, cls=PlannerGroup, rich_markup_mode="markdown")
db_app = typer.Typer(help="Database schema.", no_args_is_help=True)
plan_app = typer.Typer(help="Plans: apply a plan file, export, list.", no_args_is_help=True)
token_app = typer.Typer(help="Platform API tokens: create (shown once), list, revoke.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(plan_app, name="plan")
app.add_typer(token_app, name="token")
app.add_typer(phase_app, name="phase")
app.add_typer(webhook_app, name="webhook")
app.add_typer(approval_app, name="approval")
app.add_typer(kpi_app, name="kpi")
app.add_typer(gate_app, name="gate")
app.command("report")(report_command)

SHOWN_CHANGES = 40  # a sync of thousands of writes is summarised per kind beyond this


NEEDS_NO_DATABASE = {"db", "serve"}


@app.callback()
def check_database(ctx: typer.Context) -> None:
    """Every command but `db upgrade` needs a migrated database: say so plainly instead of a traceback."""
    if ctx.invoked_subcommand != "serve" and settings().log_format == "json":  # serve hands it to uvicorn
        from services import logs

        logs.configure("json")
    if ctx.invoked_subcommand in NEEDS_NO_DATABASE or only_help(ctx):
        return
    from sqlalchemy.engine import make_url

    url = database_url()
    parsed = make_url(url)
    shown = parsed.render_as_string(hide_password=True)
    if parsed.get_backend_name() == "sqlite" and parsed.database not in (None, "", ":memory:") \
            and not Path(parsed.database).exists():
        raise fail(f"there is no database at {parsed.database} yet; run `planner db upgrade` to create it "
                   "(or set PLANNER_DATABASE_URL)")
    try:
        current = migrate.current(url)
    except Exception as exc:  # noqa: BLE001 - any failure to reach the database is reported the same way
        raise fail(f"cannot open the database {shown} ({type(exc).__name__}); check PLANNER_DATABASE_URL") from None
    if current != migrate.head():
        raise fail(f"the database {shown} is not set up for this planner (revision {current or 'none'}); "
                   "run `planner db upgrade`")


def only_help(ctx: typer.Context) -> bool:
    """`planner CMD ... --help`, or a command group named alone (it prints its commands): nothing is run."""
    words = ctx.meta.get("planner.words", [])
    if "--help" in words:
        return True
    command = ctx.command.get_command(ctx, ctx.invoked_subcommand) if ctx.invoked_subcommand else None
    return hasattr(command, "list_commands") and len(words) == 1  # a group (Typer has its own Click)


@db_app.command("upgrade")
def db_upgrade(revision: str = "head") -> None:
    """Bring the database schema up to date (creates the SQLite file if needed)."""
    migrate.upgrade(database_url(), revision)
    out.print(f"database at revision {migrate.current(database_url())}")


@plan_app.command("apply")
def plan_apply(file: Annotated[Path, typer.Argument(help="plan YAML file, or - for standard input")],
               actor: Annotated[str, typer.Option(help="who applies it, for the audit log")] = "cli") -> None:
    """Validate a plan file and store it; nothing is written when any part is wrong."""
    try:
        raw = sys.stdin.buffer.read() if str(file) == "-" else file.read_bytes()
    except OSError as exc:
        raise fail(f"cannot read {file}: {exc.strerror}") from None
    with reported():
        try:
            result = plans.apply_plan_text(database_url=database_url(), text=raw, actor=actor)
        except PlanInvalid as exc:  # every error on a line of its own, under the file's name
            err.print(f"[red]{file}: {len(exc.errors)} error(s), nothing applied[/red]", highlight=False)
            for error in exc.errors:
                err.print(f"  {error}", highlight=False, markup=False)
            raise typer.Exit(1) from None
    if result.pending:
        out.print(f"plan '{result.plan}' not changed yet: this widens access now, so it waits for a second lead's "
                  f"approval (four eyes). Request {result.pending}: `planner approval approve {result.plan} "
                  f"{result.pending} --actor LEAD`", highlight=False, markup=False)
        return
    if not result.changed:
        out.print(f"plan '{result.plan}' unchanged (version {result.version})")
        return
    out.print(f"plan '{result.plan}' {'created' if result.created else 'updated'} (version {result.version})")
    for line in result.changes:
        out.print(f"  {line}", highlight=False, markup=False)


@plan_app.command("export")
def plan_export(plan: PlanKey, output: Annotated[Path | None, typer.Option("--output", "-o")] = None) -> None:
    """Write a plan as YAML that applies back to the same plan."""
    with reported():
        text = plans.export_plan(database_url=database_url(), key=plan)
    if output:
        output.write_text(text, encoding="utf-8")
    else:
        sys.stdout.write(text)


@plan_app.command("list")
def plan_list() -> None:
    """The stored plans."""
    rows = [summary.row for summary in plans.list_plans(database_url=database_url())]
    if not rows:
        out.print("no plans yet: `planner plan apply FILE`")
        return
    table = Table("title", "version", "unleash", "updated")
    table.columns.insert(0, Column("plan", no_wrap=True))
    for row in rows:
        table.add_row(row.key, row.title, str(row.version), f"{row.project}/{row.environment}",
                      row.updated_at.strftime("%Y-%m-%d %H:%M"))
    out.print(table)


@plan_app.command("archive")
def plan_archive(plan: PlanKey,
                 actor: Annotated[str, typer.Option(help="who archives it, for the audit log")] = "cli") -> None:
    """Archive a plan: it leaves the lists and the pilot page; applying its file again restores it."""
    with reported():
        archived = plans.archive_plan(database_url=database_url(), key=plan, actor=actor)
    out.print(f"plan '{plan}' archived" if archived else f"plan '{plan}' was archived already", highlight=False)


@token_app.command("create")
def token_create(name: Annotated[str, typer.Argument(help="who uses it, e.g. collab-platform")],
                 actor: Annotated[str, typer.Option(help="who creates it, for the audit log")] = "cli") -> None:
    """Create a token for a machine client; it is printed this once (to standard output, alone on its line)."""
    with reported():
        row, token = tokens.create_token(database_url=database_url(), name=name, actor=actor)
    err.print(f"created token '{row.name}'. Copy it now: it is not shown again (the planner keeps only its hash).",
              highlight=False, markup=False)
    sys.stdout.write(token + "\n")


@token_app.command("list")
def token_list() -> None:
    """The tokens: name, first characters, created, last used, revoked. Never the tokens themselves."""
    rows = tokens.list_tokens(database_url=database_url())
    if not rows:
        out.print("no tokens yet: `planner token create NAME`")
        return

    def when(value: datetime | None) -> str:
        return value.strftime("%Y-%m-%d %H:%M") if value else "-"

    table = Table("starts with", "created (UTC)", "by", "last used (UTC)", "revoked (UTC)")
    table.columns.insert(0, Column("name", no_wrap=True))
    for row in rows:
        table.add_row(row.name, f"{row.prefix}…", when(row.created_at), row.created_by, when(row.last_used_at),
                      when(row.revoked_at))
    out.print(table)


@token_app.command("revoke")
def token_revoke(name: str,
                 actor: Annotated[str, typer.Option(help="who revokes it, for the audit log")] = "cli") -> None:
    """Revoke a token: requests with it are refused from now on. Revoking it again changes nothing."""
    with reported():
        row, already = tokens.revoke_token(database_url=database_url(), name=name, actor=actor)
    text = (f"token '{row.name}' was revoked already, on {row.revoked_at.strftime('%Y-%m-%d %H:%M')} UTC" if already
            else f"token '{row.name}' revoked: requests with it are refused from now on")
    out.print(text, highlight=False, markup=False)


@app.command()
def preview(plan: PlanKey,
            at: Annotated[str, typer.Option(help="instant, e.g. 2027-02-03T10:00+01:00")],
            user: Annotated[str | None, typer.Option(help="a user id: show what this user gets and why")] = None,
            prop: Annotated[list[str], typer.Option(help="context property of the user, name=value")] = []) -> None:  # noqa: B006
    """Who sees which feature at an instant; or, with --user, which features one user gets and why."""
    try:
        instant = parse_instant(at, field="--at")
        properties = parse_properties(prop, field="--prop")
    except InputInvalid as exc:
        raise typer.BadParameter(exc.message, param_hint=exc.field) from None
    with reported():
        result = preview_at(database_url=database_url(), key=plan, at=instant, user=user, properties=properties)
    spec = result.plan
    if user is None:
        grants = result.grid
        table = Table("cohort", *[f.key for f in spec.features], title=f"{spec.key} at {instant.isoformat()}")
        for cohort in spec.cohorts:
            table.add_row(cohort.key, *["yes" if (cohort.key, f.key) in grants else "·" for f in spec.features])
        out.print(table)
    elif not result.user_result:
        out.print(f"user '{user}' gets no feature of '{spec.key}' at {instant.isoformat()}")
    else:
        out.print(f"user '{user}' at {instant.isoformat()}:")
        for feature, grants_for in result.user_result.items():
            reasons = "; ".join(f"cohort “{spec.cohort(g.cohort).name or g.cohort}” ({g.reason.describe(spec)})"
                                for g in grants_for)
            out.print(f"  {spec.feature(feature).name or feature}: {reasons}", highlight=False, markup=False)
    if result.gated:
        one = len(result.gated) == 1
        waits = "waits for its gate: what it gives" if one else "wait for their gates: what they give"
        out.print(f"note: {', '.join(result.gated)} {waits} is not shown until the gate passes or a lead overrides "
                  f"it (`planner kpi list {spec.key}`)", highlight=False, markup=False)


@app.command()
def sync(plan: PlanKey,
         dry_run: Annotated[bool, typer.Option("--dry-run", help="show the diff, write nothing")] = False,
         as_json: Annotated[bool, typer.Option("--json", help="counts and items as JSON")] = False,
         verbose: Annotated[bool, typer.Option("--verbose", "-v", help="list every change, however many")] = False,
         actor: Annotated[str, typer.Option(help="who syncs, for the audit log")] = "cli") -> None:
    """Make Unleash match the plan: flags, segments, strategies, environment toggles."""
    import json

    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from services.sync import LeaseTiming, sync_plan

    config = settings()
    with reported():
        admin = config.admin()
    progress = Progress(TextColumn("syncing"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                        console=err, transient=True, disable=as_json or not err.is_terminal)
    task = progress.add_task("sync", total=None)

    def on_progress(done: int, total: int, _change) -> None:
        progress.update(task, completed=done, total=total)

    with reported(), admin, progress:
        result = sync_plan(database_url=config.database_url, plan_key=plan, admin=admin, actor=actor,
                           dry_run=dry_run, on_progress=on_progress, timing=LeaseTiming.of(config))
    if as_json:
        sys.stdout.write(json.dumps(result.as_json(), indent=2) + "\n")
        raise typer.Exit(0 if result.outcome == "ok" else 1)
    data = result.as_json()
    heading = "dry run: would" if dry_run else "sync:"
    items = data["items"]
    for item in items if verbose or len(items) <= SHOWN_CHANGES else [i for i in items if i["drift"]]:
        out.print(f"  {'·' if dry_run else '✓'} {item['text']}", highlight=False, markup=False)
    if not verbose and len(items) > SHOWN_CHANGES:
        kinds: dict[str, int] = {}
        for item in items:
            kinds[f"{item['action']} {item['kind']}"] = kinds.get(f"{item['action']} {item['kind']}", 0) + 1
        out.print("  " + ", ".join(f"{what}: {n}" for what, n in sorted(kinds.items()))
                  + "  (--verbose lists every change)", highlight=False)
    for line in data["conflicts"]:
        out.print(f"  ! conflict: {line}", highlight=False, markup=False)
    for line in data["not_owned"]:
        out.print(f"  ! not owned, left alone: {line}", highlight=False, markup=False)
    summary = (f"{heading} {data['created']} created, {data['updated']} updated, {data['deleted']} deleted, "
               f"{data['unchanged']} unchanged" + ("" if dry_run else f"; {data['writes']} writes")
               + (f"; {data['drift']} drifted" if data["drift"] else ""))
    if result.outcome != "ok":
        hint = (f"\nnothing is lost: run `planner sync {plan}` again once Unleash answers; it picks up where this "
                "one stopped") if result.retryable else ""
        raise fail(f"{summary}\nsync failed: {result.error}{hint}")
    out.print(summary, highlight=False)


@app.command()
def tick() -> None:
    """One round of the controller (for cron, when `planner serve` runs none: PLANNER_CONTROLLER=false): sync
    what changed, restore drift, record each phase's status change. Does nothing while another controller leads."""
    from services.controller import Controller
    from services.sync import LeaseTiming

    config = settings()
    with reported():
        admin = config.admin()
    with reported(), admin:
        controller = Controller(database_url=config.database_url, admin=admin, drift_every=0.0,
                                timing=LeaseTiming.of(config))
        report = controller.round()
        if report.led:
            from planner.db import session_scope
            from planner.leader import step_down

            with session_scope(config.database_url, serial=True) as session:
                step_down(session, "controller", controller.owner)
    if not report.led:
        out.print("another controller leads (a running `planner serve`); nothing done", highlight=False)
        return
    for plan in report.plans:
        what = {"in_sync": "in sync", "pending": f"{plan.pending} change(s) wait for review",
                "drift": f"{plan.drift} hand edit(s) in Unleash found" + (", restored" if plan.synced else ""),
                "error": f"error: {plan.error}", "busy": "a sync is running; next round"}[plan.state]
        wrote = f", {plan.writes} write(s)" if plan.synced else ""
        out.print(f"{plan.plan}: {what}{wrote}", highlight=False, markup=False)
        for line in plan.transitions:
            out.print(f"  {line}", highlight=False, markup=False)
    if any(p.state == "error" for p in report.plans):
        raise typer.Exit(1)


@app.command()
def serve(host: str = "127.0.0.1", port: int = 8000,
          workers: Annotated[int, typer.Option(min=1, help=(
              "server processes. Each has its own opt-in writer, pusher and flag reader; pushes to one plan "
              "take turns through the plan's sync lease."))] = 1) -> None:
    """Serve the planner's web app (health at /health, readiness at /readyz, metrics at /metrics, API docs at /docs)."""
    import os
    import secrets
    import shutil
    import tempfile

    import uvicorn

    from services import logs

    config = settings()
    problems = config.production_problems(bind_host=host)
    if problems:  # PLANNER_ENV=production: one line per development setting, then no start
        for problem in problems:
            err.print(f"refused: {problem}", highlight=False, markup=False)
        raise typer.Exit(78)  # EX_CONFIG

    if workers > 1 and not os.environ.get("PLANNER_SESSION_SECRET"):
        # the development sign-in makes up a secret per process: the workers must share one, or a session
        # made by one worker would be void in the others
        os.environ["PLANNER_SESSION_SECRET"] = secrets.token_urlsafe(32)
    metrics_dir = None
    if workers > 1 and not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        # each worker counts in a file of its own in this folder and a scrape adds them up (prometheus-client's
        # multiprocess mode, chosen when it is imported: the workers are new processes, started after this). A
        # new folder each start: a restart's counts start from zero, as they do with one process
        metrics_dir = tempfile.mkdtemp(prefix="planner-metrics-", dir=config.metrics_dir or None)
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = metrics_dir
    try:
        # proxy_headers off: the trust in the SSO proxy's identity header is decided on the real peer address; with
        # uvicorn's default a local process could name the proxy in X-Forwarded-For and be taken for it. Its access
        # log off: the app writes one line per request, with the route and the request id (web/observe.py)
        uvicorn.run("web.app:create_app", factory=True, host=host, port=port, workers=workers, proxy_headers=False,
                    log_config=logs.config(config.log_format), access_log=False)
    finally:
        if metrics_dir:
            shutil.rmtree(metrics_dir, ignore_errors=True)


@app.command()
def bootstrap(plan: PlanKey) -> None:
    """Print a bootstrap file of the plan's flags as Unleash serves them now (for `FlagReader(bootstrap=...)`)."""
    import json

    with reported():
        document = bootstraps.bootstrap(settings=settings(), key=plan)
    sys.stdout.write(json.dumps(document, indent=2) + "\n")
