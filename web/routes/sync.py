"""The sync panel: the dry-run diff in plain words, Apply with live progress, and past syncs."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

from fastapi import APIRouter, Depends, HTTPException, Request

from flags.desired import DesiredStateError
from flags.errors import UnleashError
from flags.settings import UnleashSettings
from planner.store import plan_row, read_plan
from planner.syncruns import SyncBusy, runs
from web.auth import Lead, verify_csrf
from web.deps import database_url, db
from web.rendering import render
from web.services.sync import sync_plan

router = APIRouter(prefix="/plans/{key}/sync", tags=["sync"], dependencies=[Depends(verify_csrf)])


@dataclass
class Running:
    """A sync started from the browser, followed by the panel while it runs."""

    done: int = 0
    total: int = 0
    finished: bool = False
    outcome: dict | None = None
    error: str | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)


RUNNING: dict[str, Running] = {}


def _context(request: Request, key: str, **extra):
    with db(request) as session:
        row = plan_row(session, key)
        if row is None or row.archived:
            raise HTTPException(404, f"no plan '{key}'")
        return {"plan": read_plan(session, row), "plan_id": row.id, "runs": runs(session, row.id),
                "running": RUNNING.get(key), "dry": None, "error": None, **extra}


def _sync(request: Request, key: str, *, actor: str, dry_run: bool, on_progress=None):
    with UnleashSettings().admin() as admin:
        return sync_plan(database_url=database_url(request), plan_key=key, admin=admin, actor=actor,
                         dry_run=dry_run, on_progress=on_progress)


@router.get("")
def sync_panel(key: str, request: Request, lead: Lead):
    """The panel opens with a dry run: exactly what Apply would change, nothing written."""
    context = _context(request, key)
    try:
        context["dry"] = _sync(request, key, actor=lead.user, dry_run=True).as_json()
    except (UnleashError, DesiredStateError, RuntimeError) as exc:
        context["error"] = str(exc)
    with db(request) as session:  # the history now starts with the dry run just recorded
        context["runs"] = runs(session, context["plan_id"])
    return render(request, "sync.html", context, block="panel")


@router.post("")
def apply_sync(key: str, request: Request, lead: Lead):
    current = RUNNING.get(key)
    if current and not current.finished:
        return render(request, "sync.html", _context(request, key), block="progress", always_block=True)
    running = RUNNING[key] = Running()

    def progress(done: int, total: int, _change) -> None:
        with running.lock:
            running.done, running.total = done, total

    def work() -> None:
        try:
            result = _sync(request, key, actor=lead.user, dry_run=False, on_progress=progress)
            running.outcome = result.as_json()
            running.error = result.error
        except (SyncBusy, UnleashError, DesiredStateError, RuntimeError) as exc:
            running.error = str(exc)
        finally:
            running.finished = True

    threading.Thread(target=work, name=f"sync-{key}", daemon=True).start()
    if request.headers.get("HX-Request") != "true":
        from fastapi.responses import RedirectResponse

        return RedirectResponse(f"/plans/{key}/sync/progress", status_code=303)
    return render(request, "sync.html", _context(request, key), block="progress", always_block=True)


@router.get("/progress")
def sync_progress(key: str, request: Request, _lead: Lead):
    return render(request, "sync.html", _context(request, key), block="progress")
