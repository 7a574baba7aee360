"""The plan page: timeline, strategy sheet, and the components a lead edits in place."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Depends, HTTPException, Request
from jinja2_fragments import render_block

from planner.editing import (KINDS, EditConflict, EditInvalid, PlanMissing, drop_item, find, fingerprint, item_index,
                             load_for_edit, put_item, save_edit, toggle_in)
from planner.optin import guidelines_changed
from planner.planfile import plan_document
from planner.userlist import UserListInvalid, parse_user_list
from web import forms
from web.auth import Lead, verify_csrf
from web.deps import db
from web.rendering import render, templates
from web.timeline import render_timeline

router = APIRouter(prefix="/plans/{key}", tags=["plan page"], dependencies=[Depends(verify_csrf)])

# what else on the page shows an item of each kind, refreshed out of band after an edit
ALSO_SHOWN = {"features": ("matrix",), "cohorts": ("matrix", "phases"), "kpis": ("phases",),
              "phases": ("timeline", "matrix"), "matrix": ("timeline",), "sheet": ()}


def page_context(request: Request, key: str, **extra) -> dict[str, Any]:
    with db(request) as session:
        try:
            row, plan = load_for_edit(session, key)
        except PlanMissing:
            raise HTTPException(404, f"no plan '{key}'") from None
    now = datetime.now(UTC)
    return {"row": row, "plan": plan, "now": now, "fp": fingerprint, "timeline": render_timeline(plan, today=now),
            "editing": None, "adding": None, "errors": {}, "form": None, "conflict": None, **extra}


def respond(request: Request, key: str, block: str, *, status: int = 200, **extra):
    """One component (for htmx, with the others that show the same data out of band) or the whole page."""
    context = page_context(request, key, **extra)
    response = render(request, "plan.html", context, block=block, status=status)
    if request.headers.get("HX-Request") == "true" and status == 200:
        oob = "".join(render_block(templates.env, "plan.html", name, {**context, "oob": True, "editing": None,
                                                                      "adding": None, "identity": None,
                                                                      "csrf": context.get("csrf")})
                      for name in ALSO_SHOWN.get(block, ()))
        response.body = response.body + oob.encode()
        response.headers["content-length"] = str(len(response.body))
    return response


@router.get("")
def plan_page(key: str, request: Request, _lead: Lead):
    return render(request, "plan.html", page_context(request, key), block="page")


@router.post("/sheet")
async def save_sheet(key: str, request: Request, lead: Lead):
    """Goal, currency and guidelines; a new guidelines version when the lead asks for re-acceptance."""
    form = await request.form()
    seen = {("plan", key): str(form.get("seen"))} if form.get("seen") else None

    def edit(doc: dict[str, Any]) -> None:
        guidelines = dict(doc.get("guidelines") or {"version": 1})
        text = str(form.get("guidelines") or "").replace("\r\n", "\n").strip()
        version = int(guidelines.get("version", 1))
        if form.get("new_version") and text != guidelines.get("text", ""):
            version += 1
        doc.update(title=str(form.get("title") or "").strip(), goal=str(form.get("goal") or "").strip(),
                   currency=str(form.get("currency") or "EUR").strip().upper(),
                   guidelines={"version": version, "text": text, "pause_until_accepted": bool(form.get("pause"))})

    try:
        with db(request) as session:
            before = load_for_edit(session, key)[1].guidelines
            after = save_edit(session=session, key=key, actor=lead.user, seen=seen, edit=edit,
                              summary="changed the strategy sheet").guidelines
            if after != before:
                guidelines_changed(session, key)
    except PlanMissing:
        raise HTTPException(404, f"no plan '{key}'") from None
    except EditConflict as exc:
        return respond(request, key, "sheet", status=409, conflict=exc, editing="sheet", form=dict(form))
    except EditInvalid as exc:
        return respond(request, key, "sheet", status=422, editing="sheet", form=dict(form),
                       errors={e.path: e.message for e in exc.errors})
    return respond(request, key, "sheet")


@router.get("/sheet/edit")
def edit_sheet(key: str, request: Request, _lead: Lead):
    return respond(request, key, "sheet", editing="sheet")


@router.get("/{kind}")
def component(key: str, kind: str, request: Request, _lead: Lead):
    if kind not in ("sheet", "matrix", "timeline"):
        _check_kind(kind)
    return respond(request, key, kind)


@router.get("/{kind}/new")
def add_form(key: str, kind: str, request: Request, _lead: Lead):
    _check_kind(kind)
    return respond(request, key, kind, adding=kind)


@router.get("/{kind}/{item}/edit")
def edit_form(key: str, kind: str, item: str, request: Request, _lead: Lead):
    _check_kind(kind)
    return respond(request, key, kind, editing=item)


def _check_kind(kind: str) -> None:
    if kind not in KINDS:
        raise HTTPException(404, f"no such part of a plan: '{kind}'")


async def _item_from_form(request: Request, kind: str, existing: dict[str, Any] | None) -> dict[str, Any]:
    form = await request.form()
    if kind == "features":
        return forms.feature_item(form)
    if kind == "kpis":
        return forms.kpi_item(form)
    if kind == "phases":
        return forms.phase_item(form, existing)
    users = None
    if form.get("kind") == "list":
        upload = form.get("users_file")
        text = (await upload.read()).decode("utf-8-sig") if getattr(upload, "filename", "") else str(form.get("users") or "")
        users = parse_user_list(text)
    return forms.cohort_item(form, users)


async def _save(request: Request, key: str, kind: str, item_key: str | None, lead, *, delete: bool = False):
    form = await request.form()
    with db(request) as session:
        try:
            _row, plan = load_for_edit(session, key)
        except PlanMissing:
            raise HTTPException(404, f"no plan '{key}'") from None
    doc = plan_document(plan)
    existing = doc[kind][item_index(doc, kind, item_key)] if item_key and find(plan, kind, item_key) else None
    if item_key and existing is None:
        raise HTTPException(404, f"no {forms.KIND_LABELS[kind]} '{item_key}' in plan '{key}'")
    seen = {(kind, item_key): str(form.get("seen"))} if item_key and form.get("seen") else None
    state = {"editing": item_key, "adding": None if item_key else kind}
    try:
        item = None if delete else await _item_from_form(request, kind, existing)
    except UserListInvalid as exc:
        return respond(request, key, kind, status=422, form=dict(form), **state,
                       errors={"users": "; ".join(str(e) for e in exc.errors) + " — nothing was imported"})
    label = forms.KIND_LABELS[kind]
    position: list[int] = []

    def edit(document: dict[str, Any]) -> None:
        if delete:
            drop_item(document, kind, item_key)
        else:
            position.append(put_item(document, kind, item_key, item))

    summary = (f"removed {label} '{item_key}'" if delete else
               f"changed {label} '{item_key}'" if item_key else f"added {label} '{item['key']}'")
    try:
        with db(request) as session:
            save_edit(session=session, key=key, actor=lead.user, edit=edit, seen=seen, summary=summary)
    except EditConflict as exc:
        return respond(request, key, kind, status=409, form=dict(form), conflict=exc, **state)
    except EditInvalid as exc:
        errors = exc.for_item(f"{kind}[{position[0]}]") if position else {}
        if not errors:  # the edit broke another part of the plan, e.g. a phase order
            errors = {"": "; ".join(str(e) for e in exc.errors)}
        return respond(request, key, kind, status=422, form=dict(form), errors=errors, **state)
    return respond(request, key, kind)


@router.post("/{kind}")
async def add_item(key: str, kind: str, request: Request, lead: Lead):
    _check_kind(kind)
    return await _save(request, key, kind, None, lead)


@router.post("/{kind}/{item}")
async def update_item(key: str, kind: str, item: str, request: Request, lead: Lead):
    _check_kind(kind)
    return await _save(request, key, kind, item, lead)


@router.post("/{kind}/{item}/delete")
async def delete_item(key: str, kind: str, item: str, request: Request, lead: Lead):
    _check_kind(kind)
    return await _save(request, key, kind, item, lead, delete=True)


@router.post("/matrix/{phase}/{field}/{item}")
async def toggle_matrix(key: str, phase: str, field: str, item: str, request: Request, lead: Lead):
    """Click on a cell: the phase admits (or stops admitting) a cohort, enables (or stops) a feature."""
    if field not in ("cohorts", "features"):
        raise HTTPException(404, "the matrix has cohorts and features")
    form = await request.form()
    seen = {("phases", phase): str(form.get("seen"))} if form.get("seen") else None
    verb = "admits" if field == "cohorts" else "enables"
    try:
        with db(request) as session:
            save_edit(session=session, key=key, actor=lead.user, seen=seen,
                      summary=f"phase '{phase}' {verb} '{item}' (toggled)",
                      edit=lambda doc: toggle_in(doc, phase, field, item))
    except PlanMissing:
        raise HTTPException(404, f"no plan '{key}'") from None
    except StopIteration:
        raise HTTPException(404, f"no phase '{phase}'") from None
    except EditConflict as exc:
        return respond(request, key, "matrix", status=409, conflict=exc)
    except EditInvalid as exc:
        return respond(request, key, "matrix", status=422, errors={"": "; ".join(str(e) for e in exc.errors)})
    return respond(request, key, "matrix")
