"""Preview: the cohort x feature access at an instant, and for one user what they get and why."""

from __future__ import annotations

from datetime import UTC, datetime

from fastapi import APIRouter, Request

from planner.errors import InputInvalid
from planner.inputs import parse_instant, parse_properties
from services import plans
from services.preview import preview as preview_at
from web.auth import Lead
from web.deps import DatabaseDep
from web.rendering import render

router = APIRouter(prefix="/plans/{key}", tags=["preview"], include_in_schema=False)  # pages, not the API


@router.get("/preview")
def preview(key: str, request: Request, _lead: Lead, database_url: DatabaseDep, at: str = "", user: str = "",
            props: str = ""):
    errors: dict[str, str] = {}
    instant = datetime.now(UTC).replace(microsecond=0)
    properties: dict[str, str] = {}
    try:
        instant = parse_instant(at, field="at") if at else instant
    except InputInvalid as exc:
        errors[exc.field] = exc.message
    try:
        # the form's field holds one property a line, or several on a line separated by commas
        properties = parse_properties(props.replace(",", "\n").splitlines(), field="props")
    except InputInvalid as exc:
        errors[exc.field] = exc.message
    context = {"plan": None, "at_text": at or instant.isoformat(timespec="minutes"), "user": user.strip(),
               "props": props, "errors": errors, "grid": None, "user_result": None, "gated": ()}
    if errors:
        context["plan"] = plans.get_plan(database_url=database_url, key=key)
    else:
        result = preview_at(database_url=database_url, key=key, at=instant, user=user.strip() or None,
                            properties=properties)
        context.update(plan=result.plan, grid=result.grid, at=instant, user_result=result.user_result,
                       gated=result.gated)
    return render(request, "preview.html", context, block="result", status=422 if errors else 200)
