"""Preview: the cohort x feature access at an instant, and for one user what they get and why."""

from __future__ import annotations

from datetime import UTC, datetime

from fastapi import APIRouter, Request

from planner.access import access
from planner.membership import User
from planner.preview import user_access
from web.auth import Lead
from web.deps import stored_plan
from web.rendering import render

router = APIRouter(prefix="/plans/{key}", tags=["preview"])


def _instant(text: str) -> tuple[datetime | None, str | None]:
    try:
        at = datetime.fromisoformat(text.strip())
    except ValueError:
        return None, f"'{text}' is not a date and time, e.g. 2027-02-03T10:00+01:00"
    if at.tzinfo is None:
        return None, f"'{text}' needs a timezone, e.g. 2027-02-03T10:00+01:00"
    return at, None


@router.get("/preview")
def preview(key: str, request: Request, _lead: Lead, at: str = "", user: str = "", props: str = ""):
    plan = stored_plan(request, key)
    errors: dict[str, str] = {}
    instant, problem = _instant(at) if at else (datetime.now(UTC).replace(microsecond=0), None)
    if problem:
        errors["at"] = problem
    properties: dict[str, str] = {}
    for line in props.replace(",", "\n").splitlines():
        if line.strip():
            name, sep, value = line.partition("=")
            if not sep or not name.strip():
                errors["props"] = f"'{line.strip()}' must look like name=value, e.g. department=HR"
                break
            properties[name.strip()] = value.strip()
    context = {"plan": plan, "at_text": at or instant.isoformat(timespec="minutes"), "user": user.strip(),
               "props": props, "errors": errors, "grid": None, "user_result": None}
    if not errors:
        context["grid"] = access(plan, at=instant)
        context["at"] = instant
        if user.strip():
            context["user_result"] = user_access(plan, User(user.strip(), properties), at=instant)
    return render(request, "preview.html", context, block="result", status=422 if errors else 200)
