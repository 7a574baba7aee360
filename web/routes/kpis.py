"""KPIs: the platform's events (JSON API, platform token), a lead's entered values and gate overrides (page and
JSON API), and the KPI dashboard page."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Body, Depends, Request
from fastapi.responses import HTMLResponse, JSONResponse
from pydantic import BaseModel, Field

from planner.errors import InputInvalid, PhaseActionRefused
from services import dashboard, gates, kpis
from services.report import report as management_report
from web.auth import Lead, Platform, verify_csrf
from views.charts import bars, kpi_chart, line_chart
from views.report import render_report, style_hash
from web.deps import AdminDep, DatabaseDep
from web.openapi import ERRORS
from web.rendering import render
from web.routes.plan_page import respond
from web.security import POLICY

api = APIRouter(prefix="/api/plans/{key}", tags=["api"], responses=ERRORS)
pages = APIRouter(prefix="/plans/{key}", dependencies=[Depends(verify_csrf)], include_in_schema=False)


class Event(BaseModel):
    kpi: str = Field(description="the KPI's key (a KPI of source `event`)")
    user: str | None = Field(None, description="the user the event is about; needed for distinct users and shares")
    value: float = Field(1, description="the event's value, not negative (default 1: one occurrence)")
    at: datetime = Field(description="when it happened, ISO 8601 with its offset")
    idempotency_key: str = Field(description="unique per event and the same on every retry: a repeat counts once")


class RefusedEvent(BaseModel):
    index: int = Field(description="the event's position in the batch, from 0")
    field: str
    message: str


class EventsStored(BaseModel):
    stored: int = Field(description="events stored now")
    duplicates: int = Field(description="events whose idempotency key was stored before: counted once")
    refused: list[RefusedEvent] = Field(description="bad events, stored nowhere")


@api.post("/events", tags=["platform API"], response_model=EventsStored, dependencies=[Depends(verify_csrf)],
          responses={422: {"description": "every event was refused (the body says why, by position), or the "
                                          "batch holds more than 1,000 events"}})
def post_events(key: str, _platform: Platform, database_url: DatabaseDep,
                payload: Any = Body(..., description="one event, or a list of up to 1,000 (see `Event`)",
                                    openapi_examples={"one": {"value": {"kpi": "blog-posts", "user": "u-1",
                                                                        "at": "2026-12-01T09:30:00Z",
                                                                        "idempotency_key": "post-81723"}}})):
    """The platform's KPI events. The good events of a batch are stored and the bad ones reported by position
    (`refused`); post a corrected batch again as it is: what was stored counts once."""
    done = kpis.ingest(database_url=database_url, key=key, payload=payload)
    status = 422 if done.refused and not done.stored and not done.duplicates else 200
    return JSONResponse(done.as_json(), status_code=status)


class EnteredValue(BaseModel):
    value: float
    at: datetime = Field(description="when it was measured (ISO 8601 with its offset)")
    note: str = Field("", max_length=2000)
    sample: int | None = Field(None, description="how many it was measured on (respondents), when known")


class KpiState(BaseModel):
    kpi: str
    name: str
    value: float | None
    target: str
    verdict: str = Field(description="pass | fail | inconclusive")
    why: str = Field(description="the numbers behind the verdict, in words")
    lower: float | None = Field(None, description="shares and means: the confidence sequence's lower bound")
    upper: float | None = None
    window_ends: str = Field(description="what the window ends at: a gated phase's start, or now")
    gates: list[str] = Field(description="the phases whose gate it is part of")


class GateState(BaseModel):
    phase: str
    name: str
    verdict: str = Field(description="pass | fail | inconclusive")
    opened: str = Field(description="'' (shut), passed or overridden")
    opened_by: str
    why: str


class Dashboard(BaseModel):
    kpis: list[KpiState]
    gates: list[GateState]


@api.get("/kpis", response_model=Dashboard)
def api_kpis(key: str, _lead: Lead, database_url: DatabaseDep):
    """Each KPI's value and verdict, and each gate's."""
    board = dashboard.board(database_url=database_url, key=key, charts=False)
    return Dashboard(
        kpis=[KpiState(kpi=c.kpi.key, name=c.name, value=c.verdict.value, target=c.kpi.target,
                       verdict=c.verdict.outcome.value, why=c.verdict.text,
                       lower=c.verdict.bounds.lower if c.verdict.bounds else None,
                       upper=c.verdict.bounds.upper if c.verdict.bounds else None,
                       window_ends=c.decides, gates=list(c.feeds)) for c in board.cards],
        gates=[GateState(phase=g.phase, name=g.name, verdict=g.verdict.outcome.value, opened=g.opened,
                         opened_by=g.opened_by, why=g.verdict.text) for g in board.gates])


@api.post("/kpis/{kpi}/values", dependencies=[Depends(verify_csrf)])
def api_enter(key: str, kpi: str, body: EnteredValue, lead: Lead, database_url: DatabaseDep) -> dict[str, Any]:
    """Enter a manual KPI's value (a survey result, say) with its date, a note and the sample size."""
    row = kpis.enter_value(database_url=database_url, key=key, kpi=kpi, value=body.value, at=body.at,
                           note=body.note, sample=body.sample, actor=lead.user)
    return {"kpi": kpi, "value": row.value, "at": row.at.isoformat(), "id": row.id}


class OverrideRequest(BaseModel):
    reason: str = Field(max_length=2000, description="why the phase starts whatever its gate's verdict")


@api.post("/phases/{phase}/gate/override", dependencies=[Depends(verify_csrf)])
def api_override(key: str, phase: str, body: OverrideRequest, lead: Lead, database_url: DatabaseDep,
                 admin: AdminDep) -> dict[str, Any]:
    """Open a phase's gate whatever its verdict (one segment write). With four eyes on, a second lead approves
    it first: the answer is then 202 with the request's id."""
    outcome = gates.override(database_url=database_url, admin=admin, key=key, phase=phase, actor=lead.user,
                             reason=body.reason)
    if outcome.pending is not None:
        return JSONResponse(outcome.as_json(), status_code=202)
    return outcome.as_json()


# -- pages ------------------------------------------------------------------------------------------------------

def dashboard_context(database_url: str, key: str, **extra) -> dict[str, Any]:
    now = datetime.now(UTC)
    board = dashboard.board(database_url=database_url, key=key, now=now)
    charts = {card.kpi.key: kpi_chart(card, f"kpi-{i}") for i, card in enumerate(board.cards)}
    reach = bars("reach", "Members and waitlist per opt-in cohort",
                 [(r.name, r.members, r.waiting) for r in board.reach], first="members", second="waiting")
    joins = {r.key: line_chart(f"joins-{r.key}", f"Opt-ins to {r.name} over time",
                               f"{r.members} members of {r.name}", [(d, float(n), None, None) for d, n in r.joins])
             for r in board.reach}
    served = bars("served", "How often each feature was served (Unleash metrics)", board.served,
                  first="served (yes)", second="not served (no)")
    return {"key": key, "board": board, "plan": board.plan, "charts": charts, "reach_chart": reach,
            "joins": joins, "served_chart": served, "now": now, "errors": {}, "form": None, "done": None, **extra}


def _dashboard(request: Request, database_url: str, key: str, *, status: int = 200, **extra):
    return render(request, "dashboard.html", dashboard_context(database_url, key, **extra), block="dashboard",
                  status=status)


@pages.get("/dashboard")
def dashboard_page(key: str, request: Request, _lead: Lead, database_url: DatabaseDep):
    return _dashboard(request, database_url, key)


@pages.post("/kpis/{kpi}/values")
async def enter(key: str, kpi: str, request: Request, lead: Lead, database_url: DatabaseDep):
    form = await request.form()
    try:
        value = float(str(form.get("value") or "").replace(",", "."))
    except ValueError:
        return _dashboard(request, database_url, key, status=422, errors={f"value-{kpi}": "enter a number"},
                          form=dict(form))
    try:
        at = datetime.fromisoformat(str(form.get("at") or ""))
        at = at if at.tzinfo else at.replace(tzinfo=UTC)
    except ValueError:
        return _dashboard(request, database_url, key, status=422, errors={f"at-{kpi}": "enter the date it was measured"},
                          form=dict(form))
    sample_text = str(form.get("sample") or "").strip()
    try:
        kpis.enter_value(database_url=database_url, key=key, kpi=kpi, value=value, at=at, actor=lead.user,
                         note=str(form.get("note") or ""), sample=int(sample_text) if sample_text else None)
    except (InputInvalid, ValueError) as exc:
        field = exc.field if isinstance(exc, InputInvalid) else "sample"
        message = exc.message if isinstance(exc, InputInvalid) else "enter a whole number"
        return _dashboard(request, database_url, key, status=422, errors={f"{field}-{kpi}": message}, form=dict(form))
    return _dashboard(request, database_url, key, done=f"entered for {kpi}")


@pages.post("/phases/{phase}/gate/override")
async def override(key: str, phase: str, request: Request, lead: Lead, database_url: DatabaseDep, admin: AdminDep):
    form = await request.form()
    back = str(form.get("back") or "dashboard")
    try:
        outcome = gates.override(database_url=database_url, admin=admin, key=key, phase=phase, actor=lead.user,
                                 reason=str(form.get("reason") or ""))
    except PhaseActionRefused as exc:
        if back == "plan":
            return respond(request, database_url, key, "phases", status=422, acting=phase,
                           errors={f"override-{phase}": str(exc)}, form=dict(form))
        return _dashboard(request, database_url, key, status=422, errors={f"override-{phase}": str(exc)},
                          form=dict(form))
    if back == "plan":
        return respond(request, database_url, key, "phases", done=outcome)
    return _dashboard(request, database_url, key, done=outcome)


@pages.get("/report")
def report_page(key: str, _lead: Lead, database_url: DatabaseDep):
    """The management report: one printable page (its own print stylesheet; `planner report --pdf` prints it)."""
    html = render_report(management_report(database_url=database_url, key=key), back_link=f"/plans/{key}")
    response = HTMLResponse(html)
    response.headers["Content-Security-Policy"] = POLICY.replace("style-src 'self'", f"style-src 'self' {style_hash()}")
    return response
