"""What the JSON API documents besides its answers: the error answers every route may give, in the shape
web/errors.py gives them, so that the OpenAPI document is true of every response (schemathesis checks it)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field


class FieldProblem(BaseModel):
    loc: list[str | int] = Field(description="where in the request: body, query, path, and the field")
    msg: str
    type: str


class Problem(BaseModel):
    detail: str | list[FieldProblem] = Field(description="what is wrong, for a person to read; for a request "
                                                          "that does not match this schema, one entry per field")


def _problem(description: str) -> dict[str, Any]:
    return {"model": Problem, "description": description}


ERRORS: dict[int | str, dict[str, Any]] = {
    401: _problem("not signed in, or an unknown or revoked token"),
    403: _problem("signed in, but not allowed; or a cookie without the CSRF token"),
    404: _problem("no such plan, cohort or job"),
    409: _problem("another sync holds the plan"),
    422: _problem("the request is invalid, or refused by the rules; the message says why"),
    502: _problem("Unleash refused the planner's credentials or request"),
    503: _problem("Unleash is unreachable, or a setting the planner needs is missing"),
}
