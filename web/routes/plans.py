"""Plans: list, create, import a plan file, export, archive (the title is edited on the strategy sheet)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Form, HTTPException, Request, UploadFile
from fastapi.responses import RedirectResponse, Response

from planner import audit
from planner.milestones import standing
from planner.planfile import dump_plan, load_plan
from planner.plans import apply_plan, list_plans
from planner.store import plan_row, read_plan
from planner.validation import PlanError, PlanInvalid, parse_plan
from web.auth import Lead, verify_csrf
from web.deps import db, stored_plan
from web.rendering import render

router = APIRouter(tags=["plans"], dependencies=[Depends(verify_csrf)])


def plans_context(request: Request, **extra):
    now = datetime.now(UTC)
    with db(request) as session:
        rows = list_plans(session=session)
        plans = [(row, standing(read_plan(session, row), now=now)) for row in rows]
    return {"plans": plans, "now": now, **extra}


@router.get("/")
def home():
    return RedirectResponse("/plans", status_code=303)


@router.get("/plans")
def plans_page(request: Request, _lead: Lead):
    return render(request, "plans.html", plans_context(request), block="plans")


@router.post("/plans")
def create_plan(request: Request, lead: Lead, key: Annotated[str, Form()] = "", title: Annotated[str, Form()] = ""):
    key = key.strip()
    try:
        plan = parse_plan({"plan": key, "title": title.strip()})
    except PlanInvalid as exc:
        return render(request, "plans.html", plans_context(request, create_errors=exc.errors, form={"key": key, "title": title}),
                      block="create", status=422)
    with db(request) as session:
        if plan_row(session, key) is not None:
            return render(request, "plans.html", plans_context(
                request, create_errors=[PlanError("plan", f"a plan '{key}' exists already")],
                form={"key": key, "title": title}), block="create", status=422)
        apply_plan(session=session, plan=plan, actor=lead.user)
    return _redirect(request, f"/plans/{key}")


def _redirect(request: Request, url: str):
    """After a successful form post: htmx follows HX-Location, a plain browser a 303."""
    if request.headers.get("HX-Request") == "true":
        return Response(status_code=204, headers={"HX-Location": url})
    return RedirectResponse(url, status_code=303)


@router.post("/plans/import")
async def import_plan(request: Request, lead: Lead, file: UploadFile):
    raw = await file.read()
    try:
        plan = load_plan(raw.decode("utf-8"))
    except UnicodeDecodeError:
        errors = [PlanError("(file)", "is not UTF-8 text; save the plan file as UTF-8")]
    except PlanInvalid as exc:
        errors = exc.errors
    else:
        with db(request) as session:
            result = apply_plan(session=session, plan=plan, actor=lead.user)
        return _redirect(request, f"/plans/{result.plan}")
    return render(request, "plans.html", plans_context(request, import_errors=errors, filename=file.filename),
                  block="import", status=422)


@router.get("/plans/{key}/export.yaml")
def export_plan(key: str, request: Request, _lead: Lead):
    text = dump_plan(stored_plan(request, key))
    return Response(text, media_type="application/yaml",
                    headers={"Content-Disposition": f'attachment; filename="{key}.yaml"'})


@router.post("/plans/{key}/archive")
def archive_plan(key: str, request: Request, lead: Lead):
    with db(request) as session:
        row = plan_row(session, key)
        if row is None:
            raise HTTPException(404, f"no plan '{key}'")
        row.archived = True
        session.add(row)
        audit.record(session, action="plan.archive", actor=lead.user, plan_id=row.id, summary="archived the plan")
    return _redirect(request, "/plans")


