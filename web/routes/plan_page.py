"""The plan page: timeline, strategy sheet, and the components a lead edits in place."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Depends, HTTPException, Request
from jinja2_fragments import render_block

from planner import strategy
from planner.editing import KINDS, fingerprint
from planner.errors import ApprovalPending, EditConflict, EditInvalid, UserListInvalid
from planner.userlist import parse_user_list
from planner.wording import readable
from services import approvals, dashboard, editing, phases, webhooks
from web import forms
from web.auth import Lead, csrf_token, identify, verify_csrf
from web.deps import DatabaseDep
from web.rendering import render, templates
from web.timeline import render_timeline

router = APIRouter(prefix="/plans/{key}", tags=["plan page"], dependencies=[Depends(verify_csrf)],
                   include_in_schema=False)  # pages, not the API

# what else on the page shows an item of each kind, refreshed out of band after an edit
ALSO_SHOWN = {"features": ("matrix", "sheet", "approvals"), "cohorts": ("matrix", "phases", "goals", "sheet", "approvals"),
              "kpis": ("phases", "goals", "approvals"), "goals": ("sheet",), "phases": ("timeline", "matrix", "sheet", "approvals"),
              "matrix": ("timeline", "approvals"), "sheet": ("approvals",), "approvals": ("phases", "timeline", "matrix")}


def page_context(database_url: str, key: str, **extra) -> dict[str, Any]:
    row, plan = editing.plan_for_edit(database_url=database_url, key=key)
    now = datetime.now(UTC)
    views = {v.phase.key: v for v in phases.phase_list(database_url=database_url, key=key, now=now)[1]}
    statuses = {k: v.status for k, v in views.items()}
    return {"row": row, "plan": plan, "now": now, "fp": fingerprint, "phase_views": views,
            **_measures(database_url, key, now),
            "coverage": strategy.coverage(plan), "budgets": strategy.budgets(plan),
            "trainings_split": strategy.trainings(plan),
            "timeline": render_timeline(plan, today=now, statuses=statuses),
            "deliveries": webhooks.listing(database_url=database_url, key=key)[1][:5],
            "approvals": approvals.listing(database_url=database_url, key=key),
            "editing": None, "adding": None, "acting": None, "done": None, "waiting": None, "decided": None, "errors": {}, "form": None,
            "conflict": None, **extra}


def _measures(database_url: str, key: str, now: datetime) -> dict[str, Any]:
    """Each gate beside its phase and each KPI's verdict beside it in the KPI list (the KPI page has the rest)."""
    board = dashboard.board(database_url=database_url, key=key, now=now, charts=False)
    return {"gate_cards": {g.phase: g for g in board.gates}, "kpi_cards": {c.kpi.key: c for c in board.cards}}


def respond(request: Request, database_url: str, key: str, block: str, *, status: int = 200, **extra):
    """One component (for htmx, with the others that show the same data out of band) or the whole page."""
    context = page_context(database_url, key, **extra)
    response = render(request, "plan.html", context, block=block, status=status)
    lead = identify(request)
    if request.headers.get("HX-Request") == "true" and status == 200:
        oob = "".join(render_block(templates.env, "plan.html", name, {**context, "oob": True, "editing": None,
                                                                      "adding": None, "identity": lead,
                                                                      "csrf": csrf_token(request)})
                      for name in ALSO_SHOWN.get(block, ()))
        response.body = response.body + oob.encode()
        response.headers["content-length"] = str(len(response.body))
    return response


def invalid_errors(exc: EditInvalid) -> dict[str, str]:
    """The errors of a refused edit as the form shows them: beside each field of the edited item, and the
    rest (another part of the plan the edit broke, e.g. a phase order) in words, at the top."""
    doc, prefix = exc.document or {}, exc.item
    found: dict[str, str] = {}
    rest: list[str] = []
    for error in exc.errors:
        if prefix and (error.path == prefix or error.path.startswith(prefix + ".")):
            found.setdefault(error.path[len(prefix) + 1:], readable(error, doc, with_field=False))
        else:
            rest.append(readable(error, doc))
    if rest:
        found[""] = "; ".join(([found[""]] if "" in found else []) + rest)
    return found


@router.get("")
def plan_page(key: str, request: Request, _lead: Lead, database_url: DatabaseDep):
    return render(request, "plan.html", page_context(database_url, key), block="page")


@router.post("/sheet")
async def save_sheet(key: str, request: Request, lead: Lead, database_url: DatabaseDep):
    """Goal, currency and guidelines; a new guidelines version when the lead asks for re-acceptance."""
    form = await request.form()
    seen = {("plan", key): str(form.get("seen"))} if form.get("seen") else None
    try:
        editing.save_sheet(database_url=database_url, key=key, actor=lead.user, seen=seen,
                           title=str(form.get("title") or ""), goal=str(form.get("goal") or ""),
                           currency=str(form.get("currency") or ""), guidelines=str(form.get("guidelines") or ""),
                           new_version=bool(form.get("new_version")), pause_until_accepted=bool(form.get("pause")))
    except ApprovalPending as exc:
        return respond(request, database_url, key, "sheet", waiting=exc)
    except EditConflict as exc:
        return respond(request, database_url, key, "sheet", status=409, conflict=exc, editing="sheet", form=dict(form))
    except EditInvalid as exc:
        doc = exc.document or {}
        # the form's field of each error: `guidelines.text` is the guidelines box
        return respond(request, database_url, key, "sheet", status=422, editing="sheet", form=dict(form),
                       errors={e.path.split(".", 1)[0]: readable(e, doc, with_field=False) for e in exc.errors})
    return respond(request, database_url, key, "sheet")


@router.get("/sheet/edit")
def edit_sheet(key: str, request: Request, _lead: Lead, database_url: DatabaseDep):
    return respond(request, database_url, key, "sheet", editing="sheet")


@router.get("/{kind}")
def component(key: str, kind: str, request: Request, _lead: Lead, database_url: DatabaseDep):
    if kind not in ("sheet", "matrix", "timeline"):
        _check_kind(kind)
    return respond(request, database_url, key, kind)


@router.get("/{kind}/new")
def add_form(key: str, kind: str, request: Request, _lead: Lead, database_url: DatabaseDep):
    _check_kind(kind)
    return respond(request, database_url, key, kind, adding=kind)


@router.get("/{kind}/{item}/edit")
def edit_form(key: str, kind: str, item: str, request: Request, _lead: Lead, database_url: DatabaseDep):
    _check_kind(kind)
    return respond(request, database_url, key, kind, editing=item)


def _check_kind(kind: str) -> None:
    if kind not in KINDS:
        raise HTTPException(404, f"no such part of a plan: '{kind}'")


async def _item_from_form(request: Request, kind: str, existing: dict[str, Any] | None) -> dict[str, Any]:
    form = await request.form()
    if kind == "features":
        return forms.feature_item(form)
    if kind == "kpis":
        return forms.kpi_item(form)
    if kind == "goals":
        return forms.goal_item(form)
    if kind == "phases":
        return forms.phase_item(form, existing)
    users = None
    if form.get("kind") == "list":
        upload = form.get("users_file")
        text = await upload.read() if getattr(upload, "filename", "") else str(form.get("users") or "")
        users = parse_user_list(text)
    return forms.cohort_item(form, users)


async def _save(request: Request, database_url: str, key: str, kind: str, item_key: str | None, lead, *,
                delete: bool = False):
    form = await request.form()
    seen = {(kind, item_key): str(form.get("seen"))} if item_key and form.get("seen") else None
    state = {"editing": item_key, "adding": None if item_key else kind}
    try:
        if delete:
            editing.delete_item(database_url=database_url, key=key, kind=kind, item_key=item_key, actor=lead.user,
                                seen=seen)
        else:
            _row, plan = editing.plan_for_edit(database_url=database_url, key=key)
            existing = editing.item_document(plan=plan, kind=kind, key=item_key) if item_key else None
            item = await _item_from_form(request, kind, existing)
            editing.save_item(database_url=database_url, key=key, kind=kind, item_key=item_key, item=item,
                              actor=lead.user, seen=seen)
    except UserListInvalid as exc:
        return respond(request, database_url, key, kind, status=422, form=dict(form), **state,
                       errors={"users": "; ".join(str(e) for e in exc.errors) + " — nothing was imported"})
    except ApprovalPending as exc:
        return respond(request, database_url, key, kind, waiting=exc)
    except EditConflict as exc:
        return respond(request, database_url, key, kind, status=409, form=dict(form), conflict=exc, **state)
    except EditInvalid as exc:
        return respond(request, database_url, key, kind, status=422, form=dict(form), errors=invalid_errors(exc),
                       **state)
    return respond(request, database_url, key, kind)


@router.post("/{kind}")
async def add_item(key: str, kind: str, request: Request, lead: Lead, database_url: DatabaseDep):
    _check_kind(kind)
    return await _save(request, database_url, key, kind, None, lead)


@router.post("/{kind}/{item}")
async def update_item(key: str, kind: str, item: str, request: Request, lead: Lead, database_url: DatabaseDep):
    _check_kind(kind)
    return await _save(request, database_url, key, kind, item, lead)


@router.post("/{kind}/{item}/delete")
async def delete_item(key: str, kind: str, item: str, request: Request, lead: Lead, database_url: DatabaseDep):
    _check_kind(kind)
    return await _save(request, database_url, key, kind, item, lead, delete=True)


@router.post("/matrix/{phase}/{field}/{item}")
async def toggle_matrix(key: str, phase: str, field: str, item: str, request: Request, lead: Lead,
                        database_url: DatabaseDep):
    """Click on a cell: the phase admits (or stops admitting) a cohort, enables (or stops) a feature."""
    if field not in ("cohorts", "features"):
        raise HTTPException(404, "the matrix has cohorts and features")
    form = await request.form()
    seen = {("phases", phase): str(form.get("seen"))} if form.get("seen") else None
    try:
        editing.toggle_matrix(database_url=database_url, key=key, phase=phase, field=field, item=item,
                              actor=lead.user, seen=seen)
    except ApprovalPending as exc:
        return respond(request, database_url, key, "matrix", waiting=exc)
    except EditConflict as exc:
        return respond(request, database_url, key, "matrix", status=409, conflict=exc)
    except EditInvalid as exc:
        return respond(request, database_url, key, "matrix", status=422, errors=invalid_errors(exc))
    return respond(request, database_url, key, "matrix")
