"""One place that turns the planner's and Unleash's error trees into a message and an exit code."""

from __future__ import annotations

from flags.errors import UnleashError, UnleashUnavailable
from planner.errors import NotConfigured, PlanInvalid, PlannerError, PlanNotFound, SyncBusy, TokenNotFound

# exit codes (sysexits.h where one fits): 1 not found, refused or invalid input; 69 Unleash unavailable,
# 75 busy (try again later), 78 a setting is missing
EXIT_CODES = ((SyncBusy, 75), (NotConfigured, 78), (UnleashUnavailable, 69))


def exit_code(exc: BaseException) -> int:
    return next((code for kind, code in EXIT_CODES if isinstance(exc, kind)), 1)


# where to look next, after the message
HINTS = ((PlanNotFound, " (see `planner plan list`)"), (TokenNotFound, " (see `planner token list`)"))


def message(exc: PlannerError | UnleashError) -> str:
    if isinstance(exc, UnleashError):
        return f"Unleash: {exc}"
    if isinstance(exc, PlanInvalid):
        return f"{len(exc.errors)} error(s), nothing written\n" + "\n".join(f"  {e}" for e in exc.errors)
    return str(exc) + next((hint for kind, hint in HINTS if isinstance(exc, kind)), "")
