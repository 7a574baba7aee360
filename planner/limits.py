"""Limits on what a plan may hold, checked on the raw document before anything else: a plan file, a form
or an edit that breaks one is refused with the field's path, never a server error or a silent change.

Each limit keeps a page, the database (PostgreSQL's integer columns, UTF-8 text) and Unleash working."""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Any

from planner.errors import PlanError

MAX_FILE_BYTES = 2_000_000  # a plan file or upload
MAX_TEXT = 20_000  # characters of any text (the usage guidelines are the longest)
MAX_NAME = 200  # characters of a title or a name
NAMES = {"name", "title", "topic", "audience", "feature"}
MAX_NUMBER = 10**12  # a budget, a capacity, a version: beyond any rollout, within a 64-bit column
MAX_DEPTH = 12  # nesting of a plan document (it needs 5)
EARLIEST = datetime(2000, 1, 1, tzinfo=UTC)  # instants of a plan (phases, trainings, previews)
LATEST = datetime(2100, 1, 1, tzinfo=UTC)


def document_errors(raw: Any) -> list[PlanError]:
    """Every text, number and nesting limit the raw document breaks, by field path."""
    errors: list[PlanError] = []

    def walk(value: Any, path: str, depth: int) -> None:
        if depth > MAX_DEPTH:
            errors.append(PlanError(path or "(plan)", f"is nested more than {MAX_DEPTH} levels deep"))
            return
        if isinstance(value, dict):
            for key, item in value.items():
                walk(item, f"{path}.{key}" if path else str(key), depth + 1)
        elif isinstance(value, list):
            for index, item in enumerate(value):
                walk(item, f"{path}[{index}]", depth + 1)
        elif isinstance(value, str):
            problem = text_problem(value, name=path.rsplit(".", 1)[-1])
            if problem:
                errors.append(PlanError(path, problem))
        elif isinstance(value, bool):
            return
        elif isinstance(value, (int, float)):
            if isinstance(value, float) and not math.isfinite(value):
                errors.append(PlanError(path, "must be a number (not NaN or infinite)"))
            elif abs(value) > MAX_NUMBER:
                errors.append(PlanError(path, f"is out of range (at most {MAX_NUMBER:,})"))

    walk(raw, "", 0)
    return errors


def text_problem(text: str, *, name: str = "") -> str | None:
    """Why a text cannot be stored and shown as it is; None when it can."""
    limit = MAX_NAME if name in NAMES else MAX_TEXT
    if len(text) > limit:
        return f"is {len(text):,} characters long; at most {limit:,}"
    if "\x00" in text:
        return "contains a NUL character"
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return "contains a character that is not valid Unicode (a lone surrogate)"
    return None


def instant_problem(at: datetime) -> str | None:
    """Why an instant is outside what a plan may name; None when it is inside (timezone-aware only)."""
    if at.tzinfo is not None and not EARLIEST <= at < LATEST:
        return f"must be between {EARLIEST.year} and {LATEST.year - 1}"
    return None
