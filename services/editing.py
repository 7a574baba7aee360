"""Editing a stored plan in place: the strategy sheet, one item of a kind, the phase matrix.

Each edit is applied to the whole plan document, validated like a plan file, checked against edits made
since the lead's form was rendered (`seen`), and written with an audit entry in one transaction, or
nothing is written (EditInvalid, EditConflict). With four eyes on, an edit that widens access now is kept as
a request for a second lead instead (ApprovalPending, raised once the request is committed).
"""

from __future__ import annotations

from typing import Any

from planner.db import session_scope
from planner.errors import ApprovalPending, ItemNotFound
from planner.editing import drop_item, find, item_index, put_item, save_edit, toggle_in
from planner.model import Plan
from planner.optin import guidelines_changed
from planner.planfile import plan_document
from planner.store import live_plan
from planner.wording import KIND_LABELS
from planner.tables import ApprovalRow, PlanRow

Seen = dict[tuple[str, str], str] | None


def plan_for_edit(*, database_url: str, key: str) -> tuple[PlanRow, Plan]:
    """The plan row and its plan (PlanNotFound for none or an archived one), parsed once per version."""
    with session_scope(database_url) as session:
        return live_plan(session, key)


def item_document(*, plan: Plan, kind: str, key: str) -> dict[str, Any]:
    """One item as the plan file has it (the form of a phase keeps what the matrix edits); ItemNotFound."""
    doc = plan_document(plan)
    return doc[kind][item_index(doc, kind, key)]


def save_sheet(*, database_url: str, key: str, actor: str, seen: Seen, title: str, goal: str, currency: str,
               guidelines: str, new_version: bool, pause_until_accepted: bool) -> Plan:
    """Title, goal, currency and the usage guidelines. The guidelines get a new version (members must accept
    again) only when the lead asks for one and the text changed; a new version is recorded for the members."""
    text = guidelines.replace("\r\n", "\n").strip()

    def edit(doc: dict[str, Any]) -> None:
        current = dict(doc.get("guidelines") or {"version": 1})
        version = int(current.get("version", 1))
        if new_version and text != str(current.get("text", "")).replace("\r\n", "\n").strip():
            version += 1
        doc.update(title=title.strip(), goal=goal.strip(), currency=(currency.strip() or "EUR").upper(),
                   guidelines={"version": version, "text": text, "pause_until_accepted": pause_until_accepted})

    with session_scope(database_url) as session:
        before = live_plan(session, key)[1].guidelines
        after = save_edit(session=session, key=key, actor=actor, seen=seen, edit=edit,
                          summary="changed the strategy sheet")
        if isinstance(after, Plan) and after.guidelines != before:
            guidelines_changed(session, key)
    return _written(after)


def save_item(*, database_url: str, key: str, kind: str, item_key: str | None, item: dict[str, Any],
              actor: str, seen: Seen) -> Plan:
    """Add an item of `kind` (item_key None) or replace item `item_key`. A renamed cohort, feature or KPI
    keeps its place in every phase naming it. EditInvalid carries the item's path for inline errors."""
    label = KIND_LABELS[kind]
    summary = f"changed {label} '{item_key}'" if item_key else f"added {label} '{item.get('key')}'"
    with session_scope(database_url) as session:
        _row, plan = live_plan(session, key)
        if item_key is not None and find(plan, kind, item_key) is None:
            raise ItemNotFound(key, label, item_key)
        result = save_edit(session=session, key=key, actor=actor, seen=seen, summary=summary,
                           edit=lambda doc: put_item(doc, kind, item_key, item), kind=kind)
    return _written(result)


def delete_item(*, database_url: str, key: str, kind: str, item_key: str, actor: str, seen: Seen) -> Plan:
    """Remove an item; phases stop naming a removed cohort, feature or KPI. ItemNotFound for an unknown one."""
    label = KIND_LABELS[kind]
    with session_scope(database_url) as session:
        _row, plan = live_plan(session, key)
        if find(plan, kind, item_key) is None:
            raise ItemNotFound(key, label, item_key)
        result = save_edit(session=session, key=key, actor=actor, seen=seen, summary=f"removed {label} '{item_key}'",
                           edit=lambda doc: drop_item(doc, kind, item_key))
    return _written(result)


def toggle_matrix(*, database_url: str, key: str, phase: str, field: str, item: str, actor: str, seen: Seen) -> Plan:
    """A click on a matrix cell: the phase admits (or stops admitting) a cohort, enables (or stops) a feature."""
    verb = "admits" if field == "cohorts" else "enables"
    with session_scope(database_url) as session:
        result = save_edit(session=session, key=key, actor=actor, seen=seen,
                           summary=f"phase '{phase}' {verb} '{item}' (toggled)",
                           edit=lambda doc: toggle_in(doc, phase, field, item))
    return _written(result)


def _written(result: Plan | ApprovalRow) -> Plan:
    """The plan as written; with four eyes, an edit kept as a request (committed) is said by ApprovalPending."""
    if isinstance(result, ApprovalRow):
        raise ApprovalPending(result.id, result.summary)
    return result
