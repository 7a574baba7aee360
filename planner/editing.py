"""Editing one part of a stored plan: the change is applied to the whole plan, validated like a plan
file, checked against concurrent edits, and written with an audit entry — or nothing is written."""

from __future__ import annotations

import hashlib
import json
from typing import Any

from sqlmodel import Session

from planner import approvals, audit
from planner.approvals import edit_needs_approval
from planner.phasecontrol import load_controls
from planner.tables import utcnow
from planner.errors import EditConflict, EditInvalid, ItemNotFound
from planner.model import PARTS, Plan, Spec
from planner.planfile import plan_document
from planner.store import live_plan, write_plan
from planner.validation import PlanInvalid, parse_plan
from planner.wording import KIND_LABELS

KINDS = tuple(PARTS)


def fingerprint(item: Spec | Plan | None) -> str:
    """A short stable digest of an item as a lead saw it, to detect that someone changed it since."""
    data = None if item is None else item.model_dump(mode="json")
    return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()[:16]


def find(plan: Plan, kind: str, key: str):
    return next((item for item in getattr(plan, kind) if item.key == key), None)


# Edits work on the plan *document* (the plan file's shape), so that form input of any quality goes
# through exactly the validation a plan file gets, with the same field paths.

def item_index(doc: dict[str, Any], kind: str, key: str) -> int:
    for i, item in enumerate(doc.setdefault(kind, [])):
        if item.get("key") == key:
            return i
    raise ItemNotFound(str(doc.get("plan", "")), KIND_LABELS[kind], key)


def put_item(doc: dict[str, Any], kind: str, key: str | None, item: dict[str, Any]) -> int:
    """Replace item `key` of `kind` with `item` (append when `key` is None); returns its index.
    A renamed cohort, feature or KPI keeps its place in every phase that names it."""
    items = doc.setdefault(kind, [])
    if key is None:
        items.append(item)
        return len(items) - 1
    index = item_index(doc, kind, key)
    items[index] = item
    if item.get("key") != key and kind not in ("phases", "goals"):
        _rename_references(doc, kind, key, item.get("key"))
    return index


def drop_item(doc: dict[str, Any], kind: str, key: str) -> None:
    """Remove an item; phases stop naming a removed cohort, feature or KPI."""
    doc[kind] = [i for i in doc.get(kind, []) if i.get("key") != key]
    if kind not in ("phases", "goals"):
        _rename_references(doc, kind, key, None)


def _rename_references(doc: dict[str, Any], kind: str, old: str, new: str | None) -> None:
    def swap(keys):
        return [k2 for k2 in ((new if k == old else k) for k in keys or []) if k2 is not None]

    for phase in doc.get("phases", []):
        if kind == "cohorts":
            phase["cohorts"] = swap(phase.get("cohorts"))
            phase["grants"] = [{**g, "cohorts": swap(g.get("cohorts"))} for g in phase.get("grants", [])
                               if swap(g.get("cohorts"))]
        elif kind == "features":
            phase["features"] = swap(phase.get("features"))
            phase["grants"] = [{**g, "feature": new} if g.get("feature") == old else g
                               for g in phase.get("grants", []) if not (g.get("feature") == old and new is None)]
        else:
            phase["gate"] = swap(phase.get("gate"))
    for goal in doc.get("goals", []):  # a goal keeps naming its target groups and KPIs by their new keys
        if kind in ("cohorts", "kpis"):
            goal[kind] = swap(goal.get(kind))
    field = {"cohorts": "cohort", "features": "feature"}.get(kind)
    for kpi in doc.get("kpis", []) if field else []:  # a KPI measured on a removed cohort is on everyone
        if kpi.get(field) == old:
            kpi[field] = new


def toggle_in(doc: dict[str, Any], phase_key: str, field: str, key: str) -> None:
    """Add `key` to (or remove it from) a phase's list `field` (cohorts or features)."""
    phase = doc["phases"][item_index(doc, "phases", phase_key)]
    keys = list(phase.get(field, []))
    phase[field] = [k for k in keys if k != key] if key in keys else keys + [key]


def save_edit(*, session: Session, key: str, actor: str, edit, seen: dict[tuple[str, str], str] | None = None,
              summary: str, kind: str | None = None) -> Plan:
    """Apply `edit(document)` (changing the plan document in place) to the stored plan and write it.

    `seen` maps (kind, item key) to the fingerprint the lead's form was rendered from; if any of those
    items changed since, raise `EditConflict` with the newer value. Raise `EditInvalid` when the result
    breaks any rule of the plan file; when `edit` returns the index of the item it put (of `kind`), the
    error carries that item's path, so a form can show each error beside its field. With four eyes on, an
    edit that widens access now is not written: it is kept as a request, which is returned instead.
    """
    row, plan = live_plan(session, key)
    for (kind, item_key), digest in (seen or {}).items():
        current = plan if kind == "plan" else find(plan, kind, item_key)
        if fingerprint(current) != digest:
            raise EditConflict(kind, item_key, current)
    doc = plan_document(plan)
    index = edit(doc)
    try:
        checked = parse_plan(doc)
    except PlanInvalid as exc:
        item = f"{kind}[{index}]" if kind and isinstance(index, int) else None
        raise EditInvalid(exc.errors, item=item, document=doc) from None
    if checked == plan:
        return plan
    if plan.four_eyes and edit_needs_approval(plan, checked, load_controls(session, row.id), at=utcnow()):
        return approvals.request(session, plan_row=row, kind="edit", actor=actor, summary=summary,
                                 document=plan_document(checked))
    write_plan(session, checked)
    audit.record(session, action="plan.edit", actor=actor, plan_id=row.id, summary=summary,
                 detail={"version": row.version})
    return checked
