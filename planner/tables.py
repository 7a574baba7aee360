"""Database tables (SQLModel). The schema changes only through Alembic migrations in migrations/."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import JSON, Column, Text, UniqueConstraint
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


class FeatureRow(SQLModel, table=True):
    __tablename__ = "feature"
    __table_args__ = (UniqueConstraint("plan_id", "key"),)

    id: int | None = Field(default=None, primary_key=True)
    plan_id: int = Field(foreign_key="plan.id", index=True, ondelete="CASCADE")
    key: str = Field(max_length=60)
    name: str = ""
    description: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    position: int = 0


class CohortRow(SQLModel, table=True):
    __tablename__ = "cohort"
    __table_args__ = (UniqueConstraint("plan_id", "key"),)

    id: int | None = Field(default=None, primary_key=True)
    plan_id: int = Field(foreign_key="plan.id", index=True, ondelete="CASCADE")
    key: str = Field(max_length=60)
    name: str = ""
    kind: str
    description: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    interests: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
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
    status: str = "planned"
    cohorts: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    features: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    grants: list[dict[str, Any]] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    gate: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    owners: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    budget: float | None = None
    trainings: list[dict[str, Any]] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    position: int = 0


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
