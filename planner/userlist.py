"""User lists for `list` cohorts, pasted or uploaded as CSV: every bad line named, nothing taken if any is bad."""

from __future__ import annotations

import csv
import io

from planner.errors import PlanError, UserListInvalid
from planner.userids import problem, shown

HEADERS = {"user", "userid", "user_id", "id", "user id"}


def parse_user_list(text: str | bytes) -> list[str]:
    """User ids from CSV text (an upload's bytes: UTF-8): the first column of each row; an optional header
    row; blank lines skipped."""
    if isinstance(text, bytes):
        try:
            text = text.decode("utf-8-sig")
        except UnicodeDecodeError:
            raise UserListInvalid([PlanError("(file)", "is not UTF-8 text; save the list as UTF-8 CSV")]) from None
    errors: list[PlanError] = []
    users: list[str] = []
    seen: dict[str, int] = {}
    rows = csv.reader(io.StringIO(text.lstrip("\ufeff"), newline=""))
    try:
        numbered = list(enumerate(rows, start=1))
    except csv.Error as exc:  # e.g. a bare carriage return inside a field
        raise UserListInvalid([PlanError(f"line {rows.line_num}", f"is not CSV: {exc}")]) from None
    for number, row in numbered:
        if not row or not any(cell.strip() for cell in row):
            continue
        value = row[0].strip()
        if number == 1 and value.lower() in HEADERS:
            continue
        line = f"line {number}"
        wrong = problem(value)
        if wrong:
            errors.append(PlanError(line, f"'{shown(value)}' is not a user id: it {wrong}"))
        elif value in seen:
            errors.append(PlanError(line, f"user '{value}' is already on line {seen[value]}"))
        else:
            seen[value] = number
            users.append(value)
    if errors:
        raise UserListInvalid(errors)
    if not users:
        raise UserListInvalid([PlanError("line 1", "the list has no user ids")])
    return users
