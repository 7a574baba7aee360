"""Database tables (SQLModel). The schema changes only through Alembic migrations in migrations/."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import JSON, Column, Index, Text, UniqueConstraint
from sqlmodel import Field, SQLModel


def utcnow() -> datetime:
    return datetime.now(UTC)


class PlanRow(SQLModel, table=True):
    __tablename__ = "plan"

    id: int | None = Field(default=None, primary_key=True)
    key: str = Field(unique=True, index=True, max_length=60)
    title: str = ""
    goal: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    flag_prefix: str = ""
    currency: str = "EUR"
    guidelines_version: int = 1
    guidelines_text: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    guidelines_pause: bool = Field(default=False, sa_column_kwargs={"server_default": "0"})
    project: str = "default"
    environment: str = "production"
    archived: bool = False
    version: int = 1
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)
    # a sync holds this lease while it writes, so two syncs of one plan never interleave
    sync_lease_owner: str | None = None
    sync_lease_until: datetime | None = None
    sync_mode: str = Field(default="auto", max_length=10, sa_column_kwargs={"server_default": "auto"})
    four_eyes: bool = Field(default=False, sa_column_kwargs={"server_default": "0"})
    # what the controller last found: in_sync | pending | drift | error, when, and what
    sync_state: str = Field(default="", max_length=20, sa_column_kwargs={"server_default": ""})
    sync_state_at: datetime | None = None
    sync_state_detail: str = Field(default="", sa_column=Column(Text, nullable=False, default="", server_default=""))
    pending_changes: int = Field(default=0, sa_column_kwargs={"server_default": "0"})


class FeatureRow(SQLModel, table=True):
    __tablename__ = "feature"
    __table_args__ = (UniqueConstraint("plan_id", "key"),)

    id: int | None = Field(default=None, primary_key=True)
    plan_id: int = Field(foreign_key="plan.id", index=True, ondelete="CASCADE")
    key: str = Field(max_length=60)
    name: str = ""
    description: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    position: int = 0
    serves: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False, server_default="[]"))


class CohortRow(SQLModel, table=True):
    __tablename__ = "cohort"
    __table_args__ = (UniqueConstraint("plan_id", "key"),)

    id: int | None = Field(default=None, primary_key=True)
    plan_id: int = Field(foreign_key="plan.id", index=True, ondelete="CASCADE")
    key: str = Field(max_length=60)
    name: str = ""
    kind: str
    description: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    interests: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False, server_default="[]"))
    needs: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    capacity: int | None = None
    percentage: int | None = None
    rules: list[dict[str, Any]] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    position: int = 0
    # opt-in membership changes bump `membership_version`; the pusher records what reached Unleash
    membership_version: int = Field(default=0, sa_column_kwargs={"server_default": "0"})
    pushed_version: int = Field(default=0, sa_column_kwargs={"server_default": "0"})


class MembershipRow(SQLModel, table=True):
    """A user in an opt-in cohort: a member, or waiting in FIFO order while the cohort is full."""

    __tablename__ = "membership"
    __table_args__ = (UniqueConstraint("cohort_id", "user_id"),)

    id: int | None = Field(default=None, primary_key=True)
    cohort_id: int = Field(foreign_key="cohort.id", index=True, ondelete="CASCADE")
    user_id: str = Field(max_length=200, index=True)
    status: str = "member"  # member | waiting
    requested_at: datetime = Field(default_factory=utcnow)
    joined_at: datetime | None = None
    guidelines_version: int
    accepted_at: datetime = Field(default_factory=utcnow)


class ApiTokenRow(SQLModel, table=True):
    """A platform API token: only its SHA-256 is stored; the token itself is shown once, at creation."""

    __tablename__ = "api_token"

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(unique=True, max_length=100)
    token_hash: str = Field(unique=True, index=True, max_length=64)
    prefix: str = Field(max_length=12)
    created_by: str = ""
    created_at: datetime = Field(default_factory=utcnow)
    revoked_at: datetime | None = None
    last_used_at: datetime | None = None


class CohortUserRow(SQLModel, table=True):
    """One user id of a `list` cohort, in the order the plan lists them."""

    __tablename__ = "cohort_user"
    __table_args__ = (UniqueConstraint("cohort_id", "user_id"),)

    id: int | None = Field(default=None, primary_key=True)
    cohort_id: int = Field(foreign_key="cohort.id", index=True, ondelete="CASCADE")
    user_id: str = Field(max_length=200)
    position: int = 0


class KpiRow(SQLModel, table=True):
    __tablename__ = "kpi"
    __table_args__ = (UniqueConstraint("plan_id", "key"),)

    id: int | None = Field(default=None, primary_key=True)
    plan_id: int = Field(foreign_key="plan.id", index=True, ondelete="CASCADE")
    key: str = Field(max_length=60)
    name: str = ""
    source: str = "manual"
    target: str
    position: int = 0
    unit: str = Field(default="", max_length=40, sa_column_kwargs={"server_default": ""})
    aggregation: str | None = Field(default=None, max_length=20)
    window: str = Field(default="", max_length=80, sa_column_kwargs={"server_default": ""})
    cohort: str | None = Field(default=None, max_length=60)
    min_sample: int = Field(default=0, sa_column_kwargs={"server_default": "0"})
    scale: list[float] | None = Field(default=None, sa_column=Column(JSON, nullable=True))
    feature: str | None = Field(default=None, max_length=60)


class GoalRow(SQLModel, table=True):
    __tablename__ = "goal"
    __table_args__ = (UniqueConstraint("plan_id", "key"),)

    id: int | None = Field(default=None, primary_key=True)
    plan_id: int = Field(foreign_key="plan.id", index=True, ondelete="CASCADE")
    key: str = Field(max_length=60)
    stakeholder: str = Field(max_length=200)
    text: str = Field(sa_column=Column(Text, nullable=False))
    cohorts: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    kpis: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    position: int = 0


class KpiEventRow(SQLModel, table=True):
    """One event the platform posted for a KPI (`POST /api/plans/{plan}/events`). The idempotency key is
    unique per plan: the same event posted twice is stored once."""

    __tablename__ = "kpi_event"
    __table_args__ = (UniqueConstraint("plan_id", "idempotency_key"),
                      Index("ix_kpi_event_plan_kpi_at", "plan_id", "kpi_key", "at"))

    id: int | None = Field(default=None, primary_key=True)
    plan_id: int = Field(foreign_key="plan.id", ondelete="CASCADE")
    kpi_key: str = Field(max_length=60)
    user_id: str | None = Field(default=None, max_length=200)
    value: float = 1.0
    at: datetime
    idempotency_key: str = Field(max_length=200)
    received_at: datetime = Field(default_factory=utcnow)


class KpiValueRow(SQLModel, table=True):
    """A value a lead entered for a manual KPI (a survey result, say), with its date and a note."""

    __tablename__ = "kpi_value"

    id: int | None = Field(default=None, primary_key=True)
    plan_id: int = Field(foreign_key="plan.id", index=True, ondelete="CASCADE")
    kpi_key: str = Field(max_length=60)
    value: float
    at: datetime
    sample: int | None = None  # how many it was measured on (respondents), when known
    note: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    actor: str = Field(default="", max_length=200)
    created_at: datetime = Field(default_factory=utcnow)


class ServedHourRow(SQLModel, table=True):
    """How often a flag was served in one hour, copied from Unleash's client metrics by the controller
    (Unleash keeps only recent hours). One row per flag, environment, app and hour; the latest copy wins."""

    __tablename__ = "served_hour"
    __table_args__ = (UniqueConstraint("flag", "environment", "app", "hour"),)

    id: int | None = Field(default=None, primary_key=True)
    flag: str = Field(max_length=100, index=True)
    environment: str = Field(max_length=100)
    app: str = Field(max_length=200)
    hour: datetime
    yes: int = 0
    no: int = 0
    updated_at: datetime = Field(default_factory=utcnow)


class PhaseRow(SQLModel, table=True):
    __tablename__ = "phase"
    __table_args__ = (UniqueConstraint("plan_id", "key"),)

    id: int | None = Field(default=None, primary_key=True)
    plan_id: int = Field(foreign_key="plan.id", index=True, ondelete="CASCADE")
    key: str = Field(max_length=60)
    name: str = ""
    # ISO 8601 with the offset the lead wrote, so an export gives back exactly what was applied
    starts: str
    ends: str | None = None
    cohorts: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    features: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    grants: list[dict[str, Any]] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    ramps: list[dict[str, Any]] = Field(default_factory=list, sa_column=Column(JSON, nullable=False, server_default="[]"))
    gate: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    owners: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    community_managers: list[str] = Field(default_factory=list,
                                          sa_column=Column(JSON, nullable=False, server_default="[]"))
    budget: float | None = None
    spent: float | None = None
    trainings: list[dict[str, Any]] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    position: int = 0


class PhaseControlRow(SQLModel, table=True):
    """What leads did to a phase (planner.lifecycle.Control), and the status last recorded for it, so that
    each transition is written to the audit log once. Kept apart from the plan's content: an action is not
    an edit and does not bump the plan's version."""

    __tablename__ = "phase_control"
    __table_args__ = (UniqueConstraint("plan_id", "phase_key"),)

    id: int | None = Field(default=None, primary_key=True)
    plan_id: int = Field(foreign_key="plan.id", index=True, ondelete="CASCADE")
    phase_key: str = Field(max_length=60)
    state: str = Field(default="", max_length=20)  # "" | held | rolled_back
    since: datetime | None = None
    kept: bool = False
    cause: str = Field(default="", max_length=60)
    started_at: datetime | None = None
    reason: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    actor: str = Field(default="", max_length=200)
    status: str = Field(default="", max_length=20)  # as last recorded (audit of transitions)
    gate: str = Field(default="", max_length=20, sa_column_kwargs={"server_default": ""})  # "" | passed | overridden
    gate_at: datetime | None = None
    gate_by: str = Field(default="", max_length=200, sa_column_kwargs={"server_default": ""})
    gate_reason: str = Field(default="", sa_column=Column(Text, nullable=False, default="", server_default=""))
    # the gate's verdict as last recorded (a change is audited and told to the webhooks once)
    verdict: str = Field(default="", max_length=20, sa_column_kwargs={"server_default": ""})
    verdict_at: datetime | None = None
    verdict_text: str = Field(default="", sa_column=Column(Text, nullable=False, default="", server_default=""))
    updated_at: datetime = Field(default_factory=utcnow)


class SyncRunRow(SQLModel, table=True):
    """One sync of a plan to Unleash: what it planned to change, what it wrote, how it ended."""

    __tablename__ = "sync_run"

    id: int | None = Field(default=None, primary_key=True)
    plan_id: int = Field(foreign_key="plan.id", index=True, ondelete="CASCADE")
    plan_version: int
    actor: str = ""
    dry_run: bool = False
    started_at: datetime = Field(default_factory=utcnow)
    finished_at: datetime | None = None
    state: str = "running"  # queued | running | done | failed | abandoned
    error: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    writes: int = 0
    # a running job writes its progress and heartbeat here, so any process can show it
    progress_done: int = Field(default=0, sa_column_kwargs={"server_default": "0"})
    progress_total: int = Field(default=0, sa_column_kwargs={"server_default": "0"})
    heartbeat_at: datetime | None = None
    counts: dict[str, int] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    changes: list[dict[str, Any]] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    # the Unleash objects the planner meant to own after this run, for telling drift from plan changes
    desired: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    # a digest of `desired` without opt-in members (the pusher's): the controller compares it each round
    digest: str = Field(default="", max_length=64, sa_column_kwargs={"server_default": ""})


class WebhookRow(SQLModel, table=True):
    """A URL told of a plan's events, and the secret that signs each delivery (planner/webhooks.py)."""

    __tablename__ = "webhook"

    id: int | None = Field(default=None, primary_key=True)
    plan_id: int = Field(foreign_key="plan.id", index=True, ondelete="CASCADE")
    url: str = Field(sa_column=Column(Text, nullable=False))
    secret: str = Field(max_length=100)
    created_at: datetime = Field(default_factory=utcnow)
    created_by: str = Field(default="", max_length=200)


class WebhookDeliveryRow(SQLModel, table=True):
    """The outbox: one event for one webhook, posted until it is taken (2xx) or given up."""

    __tablename__ = "webhook_delivery"

    id: int | None = Field(default=None, primary_key=True)
    webhook_id: int = Field(foreign_key="webhook.id", index=True, ondelete="CASCADE")
    event: str = Field(max_length=40)
    body: str = Field(sa_column=Column(Text, nullable=False))  # exactly as signed and sent
    state: str = Field(default="pending", max_length=20, index=True)  # pending | delivered | failed
    attempts: int = 0
    next_attempt_at: datetime = Field(default_factory=utcnow, index=True)
    claimed_until: datetime | None = None
    claimed_by: str = Field(default="", max_length=64)
    last_attempt_at: datetime | None = None
    last_status: int | None = None
    last_error: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    created_at: datetime = Field(default_factory=utcnow)
    delivered_at: datetime | None = None


class ApprovalRow(SQLModel, table=True):
    """A change that widens access, waiting for a second lead (planner/approvals.py)."""

    __tablename__ = "approval_request"

    id: int | None = Field(default=None, primary_key=True)
    plan_id: int = Field(foreign_key="plan.id", index=True, ondelete="CASCADE")
    kind: str = Field(max_length=20)  # edit | start | resume
    phase_key: str = Field(default="", max_length=60)
    summary: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    reason: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    # an edit: the whole plan document as it would be, and the plan version it was made on
    document: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON, nullable=True))
    base_version: int = 0
    requested_by: str = Field(max_length=200)
    requested_at: datetime = Field(default_factory=utcnow)
    state: str = Field(default="pending", max_length=20)  # pending | approved | rejected | stale
    decided_by: str = Field(default="", max_length=200)
    decided_at: datetime | None = None


class LeaderLeaseRow(SQLModel, table=True):
    """One controller among all processes: the one holding this lease runs the rounds, renewing it each round."""

    __tablename__ = "leader_lease"

    name: str = Field(primary_key=True, max_length=40)
    owner: str = Field(default="", max_length=64)
    until: datetime | None = None


class AuditRow(SQLModel, table=True):
    __tablename__ = "audit_entry"

    id: int | None = Field(default=None, primary_key=True)
    plan_id: int | None = Field(default=None, foreign_key="plan.id", index=True, ondelete="SET NULL")
    at: datetime = Field(default_factory=utcnow, index=True)
    actor: str = ""
    action: str
    summary: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    detail: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))


class SignInRow(SQLModel, table=True):
    """A development sign-in, so that signing out ends it on the server: a copy of the session cookie made
    before is void after. Only the session id's SHA-256 is stored."""

    __tablename__ = "sign_in"

    id: int | None = Field(default=None, primary_key=True)
    session_hash: str = Field(unique=True, index=True, max_length=64)
    user_id: str = Field(max_length=200)
    created_at: datetime = Field(default_factory=utcnow)
