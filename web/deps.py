"""Typed dependencies of the routes: the settings, the database the services use, the Unleash admin client."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from flags.admin import UnleashAdmin
from flags.reader import FlagReader
from planner.errors import NotConfigured
from services.join_queue import JoinQueue
from services.settings import Settings
from services.sync import LeaseTiming


def get_settings(request: Request) -> Settings:
    return request.app.state.settings


def get_database_url(request: Request) -> str:
    return request.app.state.settings.database_url


def get_admin(request: Request) -> UnleashAdmin:
    """The process's long-lived admin client (one connection pool); NotConfigured without an admin token."""
    admin = request.app.state.admin
    if admin is None:
        raise NotConfigured("UNLEASH_ADMIN_TOKEN is not set: the planner cannot read or write Unleash")
    return admin


def get_join_queue(request: Request) -> JoinQueue:
    return request.app.state.join_queue


def get_reader(request: Request) -> FlagReader | None:
    """The planner's flag reader, started now if it is idle (a sync dependency: its first fetch runs in the
    threadpool); None when the planner has no client token."""
    on_demand = getattr(request.app.state, "reader", None)
    return on_demand.reader() if on_demand is not None else None


def get_lease_timing(request: Request) -> LeaseTiming:
    return request.app.state.lease_timing


SettingsDep = Annotated[Settings, Depends(get_settings)]
DatabaseDep = Annotated[str, Depends(get_database_url)]
AdminDep = Annotated[UnleashAdmin, Depends(get_admin)]
JoinQueueDep = Annotated[JoinQueue, Depends(get_join_queue)]
LeaseDep = Annotated[LeaseTiming, Depends(get_lease_timing)]
ReaderDep = Annotated[FlagReader | None, Depends(get_reader)]
