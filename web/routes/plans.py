"""Plans: list, create, import a plan file, export, archive (the title is edited on the strategy sheet)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request, UploadFile
from fastapi.responses import RedirectResponse, Response

from planner.errors import PlanError, PlanExists, PlanInvalid
from services import plans
from web.auth import Lead, verify_csrf
from web.deps import DatabaseDep
from web.rendering import is_htmx, render

router = APIRouter(tags=["plans"], dependencies=[Depends(verify_csrf)],
                   include_in_schema=False)  # pages, not the API


def plans_context(database_url: str, **extra):
    now = datetime.now(UTC)
    return {"plans": plans.list_plans(database_url=database_url, now=now), "now": now, **extra}


@router.get("/")
def home():
    return RedirectResponse("/plans", status_code=303)


@router.get("/plans")
def plans_page(request: Request, _lead: Lead, database_url: DatabaseDep):
    return render(request, "plans.html", plans_context(database_url), block="plans")


@router.post("/plans")
def create_plan(request: Request, lead: Lead, database_url: DatabaseDep, key: Annotated[str, Form()] = "",
                title: Annotated[str, Form()] = ""):
    try:
        created = plans.create_plan(database_url=database_url, key=key, title=title, actor=lead.user)
    except (PlanInvalid, PlanExists) as exc:
        errors = exc.errors if isinstance(exc, PlanInvalid) else [PlanError("plan", str(exc))]
        return render(request, "plans.html", plans_context(database_url, create_errors=errors,
                                                           form={"key": key, "title": title}),
                      block="create", status=422)
    return _redirect(request, f"/plans/{created.plan}")


def _redirect(request: Request, url: str):
    """After a successful form post: htmx loads the new page whole (HX-Redirect), a plain browser a 303."""
    if is_htmx(request):
        return Response(status_code=204, headers={"HX-Redirect": url})
    return RedirectResponse(url, status_code=303)


@router.post("/plans/import")
async def import_plan(request: Request, lead: Lead, database_url: DatabaseDep, file: UploadFile):
    raw = await file.read()
    try:
        result = plans.apply_plan_text(database_url=database_url, text=raw, actor=lead.user)
    except PlanInvalid as exc:
        return render(request, "plans.html", plans_context(database_url, import_errors=exc.errors,
                                                           filename=file.filename),
                      block="import", status=422)
    return _redirect(request, f"/plans/{result.plan}")


@router.get("/plans/{key}/export.yaml")
def export_plan(key: str, _lead: Lead, database_url: DatabaseDep):
    text = plans.export_plan(database_url=database_url, key=key)
    return Response(text, media_type="application/yaml",
                    headers={"Content-Disposition": f'attachment; filename="{key}.yaml"'})


@router.post("/plans/{key}/archive")
def archive_plan(key: str, request: Request, lead: Lead, database_url: DatabaseDep):
    plans.archive_plan(database_url=database_url, key=key, actor=lead.user)
    return _redirect(request, "/plans")
