"""Applying a diff to Unleash in a safe order, and the whole sync: read, diff, apply."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from flags.admin import ProjectState
from flags.desired import DesiredState, DesiredStateError, desired_state, flag_marker, is_owned_name, owned_cohort
from flags.errors import UnleashConflict
from flags.diff import Change, Diff, diff
from planner import request_id

# Segments must exist before strategies use them; strategies before a flag is turned on (Unleash
# adds a default 100% strategy to an environment turned on without any); a flag is turned off before
# its last strategy goes; segments are deleted only once no strategy uses them.
ORDER = [("segment", "create"), ("segment", "update"), ("flag", "create"), ("flag", "revive"), ("flag", "update"),
         ("strategy", "create"), ("strategy", "update"), ("environment", "enable"), ("environment", "disable"),
         ("strategy", "delete"), ("flag", "archive"), ("segment", "delete")]

Progress = Callable[[int, int, Change], None]
# Unleash answers several writes at once much faster than one after another (see bench/sync_bench.py)
WRITE_CONCURRENCY = 8


@dataclass
class SyncPlan:
    """What a sync would do: the desired state, the diff against what Unleash holds now."""

    desired: DesiredState
    diff: Diff
    segment_ids: dict[str, int] = field(default_factory=dict)

    def report(self) -> dict[str, Any]:
        return {"counts": self.diff.counts(), "changes": [c.as_dict() for c in self.diff.changes],
                "not_owned": self.diff.not_owned, "conflicts": self.diff.conflicts}


def prepare(plan, *, admin, members: dict[str, list[str]] | None = None,
            previous: dict[str, Any] | None = None, controls=None) -> SyncPlan:
    """Read the server's limits and state and compute the diff; writes nothing (this is the dry run)."""
    limits = admin.resource_limits()
    desired = desired_state(plan, members=members, limits=limits, controls=controls)
    actual = admin.read_project_state(desired.project, desired.environment)
    others = sum(1 for s in actual.segments if not is_owned_name(plan.key, s.get("name")))
    if others + len(desired.segments) > limits.segments:
        raise DesiredStateError(
            f"Unleash holds {others} segments of other plans or people and this plan needs {len(desired.segments)}; "
            f"the server allows {limits.segments} in all. Remove unused segments, or raise UNLEASH_SEGMENTS_LIMIT")
    segment_ids = {s["name"]: s["id"] for s in actual.segments if s.get("name") in desired.segments}
    return SyncPlan(desired, diff(desired, actual, previous), segment_ids)


def prepare_scoped(plan, *, admin, members: dict[str, list[str]], cohorts: set[str], limits=None,
                   previous: dict[str, Any] | None = None, controls=None) -> SyncPlan:
    """The diff of a few cohorts only (an opt-in push): their segments, and their strategies where a segment
    comes or goes. When the cohorts' segments are the ones Unleash has and each is used by as many strategies
    as planned, only segments are read and compared: a join or leave is then one write per changed segment."""
    limits = limits or admin.resource_limits()
    desired = desired_state(plan, members=members, limits=limits, controls=controls)
    segments = admin.list_segments()
    wanted = {name for name in desired.segments if owned_cohort(plan.key, name) in cohorts}
    have = {s["name"]: s for s in segments if owned_cohort(plan.key, s.get("name")) in cohorts}
    uses = Counter(s.cohort_segment for s in desired.strategies.values() if s.cohort_segment in wanted)
    settled = set(have) == wanted and all(have[name].get("usedInFeatures", uses[name]) >= uses[name] for name in wanted)
    if settled:
        actual = ProjectState(desired.project, desired.environment, flags={}, segments=segments)
        changes = diff(desired, actual, previous, cohorts=cohorts, segments_only=True)
    else:
        actual = admin.read_project_state(desired.project, desired.environment)
        changes = diff(desired, actual, previous, cohorts=cohorts)
    segment_ids = {s["name"]: s["id"] for s in actual.segments if s.get("name") in desired.segments}
    return SyncPlan(desired, changes, segment_ids)


def prepare_phases(plan, *, admin, members: dict[str, list[str]], controls, limits=None) -> SyncPlan:
    """The diff of the phases' segments alone, for a lead's hold, resume, start or roll back: one segment
    write per phase whose window changed, whatever the plan's size. Reads the segments only."""
    limits = limits or admin.resource_limits()
    desired = desired_state(plan, members=members, limits=limits, controls=controls)
    actual = ProjectState(desired.project, desired.environment, flags={}, segments=admin.list_segments())
    segment_ids = {s["name"]: s["id"] for s in actual.segments if s.get("name") in desired.segments}
    return SyncPlan(desired, diff(desired, actual, None, cohorts=set(), segments_only=True), segment_ids)


def execute(sync: SyncPlan, *, admin, on_progress: Progress | None = None, concurrency: int = WRITE_CONCURRENCY) -> int:
    """Apply the diff; returns the number of writes sent.

    Stages run in ORDER; within a stage, flags are written in parallel (each flag's own writes in
    sequence). The first failure stops the run and is raised: every write is idempotent at the level
    of the next sync, which reads the state again and converges.
    """
    desired, ids = sync.desired, dict(sync.segment_ids)
    project, env = desired.project, desired.environment
    total, done = len(sync.diff.changes), 0
    lock, failed = threading.Lock(), threading.Event()
    writes_before = admin.writes

    def run_group(group: list[Change]) -> None:
        nonlocal done
        for change in group:
            if failed.is_set():
                return
            try:
                _apply_one(change, admin=admin, project=project, env=env, segment_ids=ids)
            except BaseException:
                failed.set()
                raise
            with lock:
                done += 1
                if on_progress:
                    on_progress(done, total, change)

    with ThreadPoolExecutor(max_workers=concurrency) as pool:
        for stage in ORDER:
            groups: dict[str, list[Change]] = {}
            for change in sync.diff.changes:
                if (change.kind, change.action) == stage:
                    groups.setdefault(change.flag or change.name, []).append(change)
            futures = [pool.submit(request_id.carried(run_group), group) for group in groups.values()]
            errors = [f.exception() for f in futures if f.exception() is not None]
            if errors:
                raise errors[0]
    return admin.writes - writes_before


def _revive_own(admin, project: str, change: Change) -> None:
    """The name is taken: by a flag of ours in the archive (the feature left the plan and came back),
    which is revived; by anything else, which is not ours to touch."""
    archived = {f["name"]: f for f in admin.list_archived_features(project)}
    mine = archived.get(change.name)
    if mine is None or flag_marker(change.spec.plan) not in (mine.get("description") or ""):
        raise DesiredStateError(f"flag '{change.name}' already exists in Unleash and is not this plan's; "
                                "rename the feature or remove that flag")
    admin.revive_feature(project, change.name)
    admin.update_feature(project, change.name, description=change.spec.description)


def _apply_one(change: Change, *, admin, project: str, env: str, segment_ids: dict[str, int]) -> None:
    kind, action = change.kind, change.action
    if kind == "segment":
        if action == "create":
            segment_ids[change.name] = admin.create_segment(change.spec.body(project))["id"]
        elif action == "update":
            admin.update_segment(change.actual_id, change.spec.body(project))
        else:
            admin.delete_segment(change.actual_id)
    elif kind == "flag":
        if action == "create":
            try:
                admin.create_feature(project, name=change.name, description=change.spec.description)
            except UnleashConflict:
                _revive_own(admin, project, change)
        elif action == "revive":
            admin.revive_feature(project, change.name)
        elif action == "update":
            admin.update_feature(project, change.name, description=change.spec.description)
        else:
            admin.archive_feature(project, change.name)
    elif kind == "strategy":
        if action == "create":
            admin.add_strategy(project, change.flag, env, change.spec.body(segment_ids))
        elif action == "update":
            admin.update_strategy(project, change.flag, env, change.actual_id, change.spec.body(segment_ids))
        else:
            admin.delete_strategy(project, change.flag, env, change.actual_id)
    else:
        admin.set_environment_enabled(project, change.name, env, action == "enable")


