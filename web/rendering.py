"""Rendering pages and their fragments from one template per page (jinja2-fragments)."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

from fastapi import HTTPException, Request
from jinja2_fragments.fastapi import Jinja2Blocks

from planner.kpis import window_words
from planner.userids import problem, shown
from web.auth import csrf_token, identify
from web.timeline import zone

templates = Jinja2Blocks(directory=str(Path(__file__).parent / "templates"))
# Templates are read once per process, like the code that fills them: a template changed on disk under a
# running server (a deploy, an edit) would otherwise be rendered by the old code, and fail on what it lacks.
templates.env.auto_reload = False


def _when(value: datetime | None, fmt: str = "%d %b %Y %H:%M") -> str:
    return value.strftime(fmt) if value else ""


def _local_input(value: datetime | None) -> str:
    """A datetime as a form field shows it: ISO with its offset, to the minute."""
    return value.isoformat(timespec="minutes") if value else ""


templates.env.filters["when"] = _when
templates.env.filters["zone"] = zone
templates.env.globals["window_words"] = window_words
templates.env.filters["iso_minutes"] = _local_input
templates.env.filters["shown"] = shown


def is_htmx(request: Request) -> bool:
    return request.headers.get("HX-Request") == "true" and request.headers.get("HX-History-Restore-Request") != "true"


def render(request: Request, template: str, context: dict[str, Any], *, block: str | None = None,
           status: int = 200, always_block: bool = False):
    """The whole page, or for an htmx request just `block` — the component being replaced."""
    try:
        identity = identify(request)
    except HTTPException:  # the error page of a refused credential (bad token, untrusted header) shows no one
        identity = None
    context = {"identity": identity, "csrf": csrf_token(request), **context}
    use_block = block if (always_block or is_htmx(request)) else None
    response = templates.TemplateResponse(request, template, context, status_code=status, block_name=use_block)
    response.headers["Vary"] = "HX-Request"
    return response


def _field_error(errors: dict[str, str] | None, name: str):
    """The inline error of one field (status 422 re-renders carry them), with an id for aria-describedby."""
    from markupsafe import Markup, escape

    message = (errors or {}).get(name)
    if not message:
        return ""
    return Markup(f'<span class="field-error" id="err-{escape(name)}">{escape(message)}</span>')


def _invalid(errors: dict[str, str] | None, name: str):
    from markupsafe import Markup

    return Markup(f'aria-invalid="true" aria-describedby="err-{name}"') if (errors or {}).get(name) else ""


def _value(form: dict[str, Any] | None, name: str, default: Any = "") -> Any:
    """What a field shows: the lead's input when re-rendering a refused form, else the stored value."""
    if form is not None and name in form:
        return form[name]
    return "" if default is None else default


templates.env.globals.update(field_error=_field_error, invalid=_invalid, value=_value, user_id_problem=problem)


def compile_templates() -> None:
    """Compile every template once at start-up: Jinja compiles on first use without a lock, so the first
    burst of requests would otherwise compile the same page in every thread at once."""
    for name in templates.env.list_templates(extensions=["html"]):
        templates.env.get_template(name)
