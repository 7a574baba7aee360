"""What a user id may be, at every door (SSO header, development sign-in, the join API, plan-file and
uploaded user lists): Unleash keeps opt-in and list cohorts as `userId IN (...)` constraints, and refuses a
whole segment when one of its values is empty or longer than 100 characters (measured on Unleash 8.2), so
one bad id would keep every other member of the cohort out of Unleash."""

from __future__ import annotations

import re

from planner.errors import InputInvalid

MAX_LENGTH = 100  # Unleash 8.2 refuses constraint values over 100 characters (400 BadDataError)
# no whitespace or control characters; no ',' or ';' (user lists are CSV) and no quotes
_SHAPE = re.compile(r"[^\s,;\"'\x00-\x1f\x7f]+")


def problem(user_id: str) -> str | None:
    """Why `user_id` is not a usable user id, in words for the person who typed it; None when it is."""
    if not user_id:
        return "is empty"
    if len(user_id) > MAX_LENGTH:
        return f"is {len(user_id)} characters long; a user id has at most {MAX_LENGTH}"
    if not _SHAPE.fullmatch(user_id):
        return "may not contain spaces, commas, semicolons, quotes or control characters"
    return None


def shown(user_id: str, limit: int = 40) -> str:
    """A user id as a message may quote it: cut short, so a 100,000-character id makes no 100 kB message."""
    return user_id if len(user_id) <= limit else user_id[:limit] + "…"


def check_user_id(user_id: str, *, field: str = "user") -> str:
    """`user_id`, or InputInvalid naming `field` (the value itself is not repeated: it may be anything)."""
    found = problem(user_id)
    if found:
        raise InputInvalid(field, f"the user id {found}")
    return user_id
