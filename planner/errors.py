"""Errors of the domain and the services, one class per thing a caller can do about it.

Our exception hierarchy:

* PlannerError                - base of every error a person should see as a message (never a traceback)
  + NotFound                  - the thing named does not exist (HTTP 404)
    + PlanNotFound            - no plan of that key, or it is archived
    + CohortNotFound          - no cohort of that key in the plan
    + ItemNotFound            - no feature, cohort, KPI or phase of that key in the plan (an edit's target)
    + TokenNotFound           - no platform token of that name
    + JobNotFound             - no sync job of that id for the plan
  + Invalid                   - the input is wrong; the message names the field or line (HTTP 422)
    + PlanInvalid             - a plan (file, form or edit) breaks rules; `errors` lists every one, by field path
      + EditInvalid           - an edit of a stored plan would make it invalid
    + UserListInvalid         - a pasted or uploaded user list has bad lines; `errors` names each
    + InputInvalid            - one input field is wrong (`field`, `message`): an instant, a property, a name
      + TokenRefused          - a token name that cannot be used
  + Refused                   - well-formed, but the rules say no (HTTP 422)
    + OptInRefused            - a join, leave or acceptance that cannot be done; the message is for the user
    + PlanUnwritable          - the plan does not fit the Unleash server's limits (flags.desired raises it)
    + PhaseActionRefused      - a hold, resume, start or roll back that the phase's state does not allow
  + NotConfigured             - a setting the operation needs is not set (HTTP 503); the message names it
  + ApprovalPending           - not an error: the change was kept as a request for a second lead (HTTP 202)
  + Conflict                  - the state changed under the request (HTTP 409)
    + PlanExists              - a new plan's key is taken
    + EditConflict            - someone saved the same item since the lead loaded it; `current` is the newer value
    + SyncBusy                - another sync or opt-in push holds the plan's lease

Errors of the Unleash admin client are a tree of their own (flags/errors.py); the web app and the CLI map
both trees, in one place each (web/errors.py, cli/errors.py). Anything else is a bug and is not caught
as one of these.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


class PlannerError(Exception):
    """Base class of the domain's and the services' errors; `str()` is the message for a person."""


class NotFound(PlannerError):
    pass


class PlanNotFound(NotFound):
    def __init__(self, key: str):
        self.key = key
        super().__init__(f"no plan '{key}'")


class CohortNotFound(NotFound):
    def __init__(self, plan_key: str, cohort_key: str):
        self.plan_key, self.cohort_key = plan_key, cohort_key
        super().__init__(f"there is no cohort '{cohort_key}' in plan '{plan_key}'")


class ItemNotFound(NotFound):
    def __init__(self, plan_key: str, label: str, key: str):
        super().__init__(f"no {label} '{key}' in plan '{plan_key}'")


class TokenNotFound(NotFound):
    def __init__(self, name: str):
        self.name = name
        super().__init__(f"no token '{name}'")


class JobNotFound(NotFound):
    def __init__(self, plan_key: str, job_id: int):
        super().__init__(f"no sync job {job_id} of plan '{plan_key}'")


@dataclass(frozen=True)
class PlanError:
    """One mistake in a plan, named by its field path (`phases[1].starts`)."""

    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message}"


class Invalid(PlannerError):
    pass


class PlanInvalid(Invalid):
    """A plan with one or more mistakes; `errors` lists every one of them."""

    def __init__(self, errors: list[PlanError]):
        self.errors = errors
        super().__init__("\n".join(str(e) for e in errors))


class EditInvalid(PlanInvalid):
    """The edit would make the plan invalid; `errors` keep their field paths, `item` is the edited item's
    path (`phases[1]`) when there is one, `document` the plan document the errors refer to."""

    def __init__(self, errors: list[PlanError], *, item: str | None = None, document: dict | None = None):
        super().__init__(errors)
        self.item, self.document = item, document



class UserListInvalid(Invalid):
    def __init__(self, errors: list[PlanError]):
        self.errors = errors
        super().__init__("; ".join(str(e) for e in errors))


class InputInvalid(Invalid):
    """One input field is wrong; `field` names it, `message` says how to fix it."""

    def __init__(self, field: str, message: str):
        self.field, self.message = field, message
        super().__init__(f"{field}: {message}")


class TokenRefused(InputInvalid):
    """A token that cannot be created as asked."""


class Refused(PlannerError):
    pass


class OptInRefused(Refused):
    """A join or leave that cannot be done; the message says why, for the person asking."""


class PlanUnwritable(Refused):
    """The plan cannot be written within the server's limits; the message says what to change."""


class PhaseActionRefused(Refused):
    """A lead's action on a phase that its state does not allow; the message says why and what to do."""


class NotConfigured(PlannerError):
    pass


class ApprovalPending(PlannerError):
    """With four eyes on, the change widens access now: it is kept as request `request_id` for a second lead."""

    def __init__(self, request_id: int, summary: str):
        self.request_id, self.summary = request_id, summary
        super().__init__(f"this widens access now, so it waits for a second lead's approval (request {request_id}: "
                         f"{summary})")


class Conflict(PlannerError):
    pass


class PlanExists(Conflict):
    def __init__(self, key: str):
        super().__init__(f"a plan '{key}' exists already")


class EditConflict(Conflict):
    """Someone saved the same item since this lead loaded it; `current` is the newer value."""

    def __init__(self, kind: str, key: str, current: Any):
        self.kind, self.key, self.current = kind, key, current
        super().__init__(f"{kind} '{key}' was changed by someone else since you opened it")


class SyncBusy(Conflict):
    """Another sync of the same plan is running (`push_round`: an opt-in push, over in a moment)."""

    def __init__(self, message: str, *, push_round: bool = False):
        super().__init__(message)
        self.push_round = push_round
