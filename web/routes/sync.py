"""The sync panel: the dry-run diff in plain words, Apply as a job with live progress, and past syncs.

The job lives in the database: its progress is polled from the job row, so whichever worker answers shows
the same, and a panel opened later shows the latest job and a fresh diff, never a stale result.
"""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from fastapi.responses import RedirectResponse

from planner.errors import SyncBusy
from services import sync
from web.auth import Lead, verify_csrf
from web.deps import AdminDep, DatabaseDep, LeaseDep
from web.rendering import is_htmx, render

router = APIRouter(prefix="/plans/{key}/sync", tags=["sync"], dependencies=[Depends(verify_csrf)],
                   include_in_schema=False)  # pages, not the API


def _panel(request: Request, panel: sync.SyncPanel, *, block: str, busy: str | None = None, status: int = 200):
    return render(request, "sync.html", {"plan": panel.plan, "job": panel.job, "runs": panel.runs,
                                         "dry": panel.dry, "error": panel.error, "busy": busy},
                  block=block, status=status)


@router.get("")
def sync_panel(key: str, request: Request, _lead: Lead, database_url: DatabaseDep, admin: AdminDep, timing: LeaseDep):
    """The panel: the latest job, and unless one is running, exactly what Apply would change (not recorded)."""
    panel = sync.sync_panel(database_url=database_url, key=key, admin=admin, timing=timing)
    return _panel(request, panel, block="panel")


@router.post("")
def apply_sync(key: str, request: Request, lead: Lead, database_url: DatabaseDep, admin: AdminDep, timing: LeaseDep):
    """Start a sync job; the panel follows it. A second Apply while one runs shows the running one."""
    busy = None
    try:
        job_id = sync.start_sync_job(database_url=database_url, plan_key=key, admin=admin, actor=lead.user,
                                     timing=timing)
    except SyncBusy as exc:
        job_id, busy = None, str(exc)
    if not is_htmx(request):
        return RedirectResponse(f"/plans/{key}/sync", status_code=303)
    panel = sync.sync_history(database_url=database_url, key=key, timing=timing, job_id=job_id)
    return _panel(request, panel, block="panel", busy=busy)


@router.get("/jobs/{job_id}")
def job_progress(key: str, job_id: int, request: Request, _lead: Lead, database_url: DatabaseDep, admin: AdminDep,
                 timing: LeaseDep):
    """One job's state and progress, read from its row (any worker answers the same); once it has ended,
    the panel as it opens: the history with it, and a fresh diff."""
    panel = sync.sync_panel(database_url=database_url, key=key, admin=admin, timing=timing, job_id=job_id)
    return _panel(request, panel, block="panel")
