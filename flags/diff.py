"""Diff between the desired Unleash state and the actual one: pure, so dry runs and syncs agree."""

from __future__ import annotations

import hashlib
import json

from dataclasses import dataclass, field
from typing import Any

from flags.desired import DesiredState, FlagSpec, StrategySpec, is_owned_name, owned_cohort, owned_phase
from planner.model import MULTI_VALUED

def normal_constraint(c: dict[str, Any]) -> tuple:
    """A constraint in one canonical shape, whatever defaults or ordering the server added."""
    op = c.get("operator")
    if op in MULTI_VALUED:
        values, value = tuple(sorted(c.get("values") or [])), ""
    else:
        values, value = (), c.get("value") or (c.get("values") or [""])[0]
    return (c.get("contextName"), op, values, value, bool(c.get("inverted")), bool(c.get("caseInsensitive")))


def normal_constraints(constraints) -> tuple:
    return tuple(sorted(normal_constraint(c) for c in constraints or []))


def strategy_fingerprint(s: dict[str, Any], segment_names: dict[int, str]) -> dict[str, Any]:
    params = s.get("parameters") or {}
    return {
        "name": s.get("name"), "title": s.get("title"), "disabled": bool(s.get("disabled")),
        "parameters": {k: str(params.get(k, "")) for k in ("rollout", "stickiness", "groupId")},
        "constraints": [list(c) for c in normal_constraints(s.get("constraints"))],
        "segments": sorted(segment_names.get(i, f"#{i}") for i in s.get("segments") or []),
    }


def segment_fingerprint(s: dict[str, Any]) -> dict[str, Any]:
    return {"name": s.get("name"), "description": s.get("description") or "",
            "constraints": [list(c) for c in normal_constraints(s.get("constraints"))]}


def flag_fingerprint(description: str | None, enabled: bool) -> dict[str, Any]:
    return {"description": description or "", "enabled": bool(enabled)}


def _lists(fp: dict[str, Any]) -> dict[str, Any]:
    """JSON round-trips turn tuples into lists; compare in that shape."""
    return json.loads(json.dumps(fp))


@dataclass(frozen=True)
class Change:
    kind: str  # flag | segment | strategy | environment
    action: str  # create | update | delete | archive | enable | disable
    name: str  # flag name, segment name or strategy title
    flag: str | None = None
    drift: bool = False
    why: str = ""
    spec: Any = None
    actual_id: Any = None  # strategy id or segment id of the object changed
    environment: str = ""

    def describe(self) -> str:
        where = f" on flag '{self.flag}'" if self.flag and self.kind != "flag" and self.kind != "environment" else ""
        what = {"environment": f"flag '{self.name}' in {self.environment or 'the environment'}"}.get(
            self.kind, f"{self.kind} '{self.name}'")
        verb = {"create": "create", "update": "update", "delete": "delete", "archive": "archive", "revive": "revive",
                "enable": "turn on", "disable": "turn off"}[self.action]
        text = f"{verb} {what}{where}"
        if self.drift:
            text += " (drift: changed in Unleash by hand; restoring the plan)"
        if self.why:
            text += f" ({self.why})"
        return text

    def as_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "action": self.action, "name": self.name, "flag": self.flag,
                "drift": self.drift, "why": self.why, "text": self.describe()}


@dataclass
class Diff:
    changes: list[Change] = field(default_factory=list)
    unchanged: int = 0
    not_owned: list[str] = field(default_factory=list)
    conflicts: list[str] = field(default_factory=list)

    def counts(self) -> dict[str, int]:
        created = sum(c.action == "create" for c in self.changes)
        deleted = sum(c.action in ("delete", "archive") for c in self.changes)
        return {"created": created, "updated": len(self.changes) - created - deleted, "deleted": deleted,
                "unchanged": self.unchanged, "drift": sum(c.drift for c in self.changes)}

    @property
    def empty(self) -> bool:
        return not self.changes


def fingerprints(desired: DesiredState) -> dict[str, dict[str, Any]]:
    """What the planner means to own after a sync, in the same shape it reads back; kept per run."""
    return _lists({
        "flags": {f.name: flag_fingerprint(f.description, f.enabled) for f in desired.flags.values()},
        "segments": {s.name: segment_fingerprint(s.body(desired.project)) for s in desired.segments.values()},
        "strategies": {f"{s.flag}|{s.title}": _desired_strategy_fp(s) for s in desired.strategies.values()},
    })


def digest(fps: dict[str, dict[str, Any]], *, plan: str, skip_cohorts: set[str] = frozenset()) -> str:
    """A digest of fingerprints (as `fingerprints` makes them) leaving out the segments of `skip_cohorts`: the
    controller compares the desired state's with the last sync's to know whether the plan changed since, the
    opt-in cohorts' members being the pusher's business."""
    kept = {**fps, "segments": {name: fp for name, fp in fps.get("segments", {}).items()
                                if owned_cohort(plan, name) not in skip_cohorts}}
    return hashlib.sha256(json.dumps(kept, sort_keys=True).encode()).hexdigest()


def _desired_strategy_fp(s: StrategySpec) -> dict[str, Any]:
    """A desired strategy's fingerprint, its segment named (as `strategy_fingerprint` names actual ones)."""
    names = {name: name for name in s.segments}
    return strategy_fingerprint(s.body(names), names)


def diff(desired: DesiredState, actual, previous: dict[str, Any] | None = None, *,
         cohorts: set[str] | None = None, segments_only: bool = False) -> Diff:
    """The fewest writes that make `actual` (a `ProjectState`) match `desired`.

    `previous` are the fingerprints of the last successful sync: an owned object that no longer
    matches them was edited in Unleash by hand, and its restoration is reported as drift.

    With `cohorts`, the diff is scoped to those cohorts (an opt-in push) and to the phases' segments: their
    segments, their strategies on flags that exist already, and turning a flag on or off where their
    strategies are its first or last; flags themselves and other cohorts are left as they are, and no phase
    segment is deleted (other strategies may use it). `segments_only` compares segments alone (the push's
    fast path, when the cohorts' strategies are known to be in place; with `cohorts=set()`, a phase action:
    the phases' segments alone).
    """
    previous = previous or {"flags": {}, "segments": {}, "strategies": {}}
    result = Diff()
    plan = desired.plan

    def in_scope(name: str | None) -> bool:
        return cohorts is None or owned_cohort(plan, name) in cohorts or owned_phase(plan, name) is not None

    def drifted(kind: str, key: str, actual_fp: dict[str, Any] | None) -> bool:
        before = previous.get(kind, {}).get(key)
        return before is not None and (actual_fp is None or _lists(actual_fp) != before)

    # segments: ours by name
    actual_segments: dict[str, list[dict[str, Any]]] = {}
    for seg in actual.segments:
        if is_owned_name(plan, seg.get("name")) and in_scope(seg.get("name")):
            actual_segments.setdefault(seg["name"], []).append(seg)
    segment_names = {seg["id"]: seg.get("name") for seg in actual.segments}
    for name, spec in desired.segments.items():
        if not in_scope(name):
            continue
        found = actual_segments.pop(name, [])
        for extra in found[1:]:
            result.changes.append(Change("segment", "delete", name, why="duplicate", actual_id=extra["id"]))
            # a strategy on the duplicate must move to the one kept before it goes: it no longer looks right
            segment_names[extra["id"]] = f"#{extra['id']} (a duplicate of {name})"
        if not found:
            result.changes.append(Change("segment", "create", name, drift=drifted("segments", name, None), spec=spec))
            continue
        fp = segment_fingerprint(found[0])
        if _lists(fp) != _lists(segment_fingerprint(spec.body(desired.project))):
            result.changes.append(Change("segment", "update", name, drift=drifted("segments", name, fp), spec=spec,
                                         actual_id=found[0]["id"]))
        else:
            result.unchanged += 1
    stale_segments = [Change("segment", "delete", name, why="no longer in the plan", actual_id=seg["id"])
                      for name, segs in actual_segments.items() for seg in segs
                      if cohorts is None or owned_phase(plan, name) is None]
    if not segments_only:
        if cohorts is None:
            _diff_flags(result, desired, actual, segment_names, previous, drifted)
        else:
            _diff_scoped_flags(result, desired, actual, segment_names, drifted, cohorts)
    result.changes += stale_segments  # last: no strategy uses them any more
    return result


def _diff_flags(result: Diff, desired: DesiredState, actual, segment_names, previous, drifted) -> None:
    """Every flag of the plan: ours carry the plan's marker in their description."""
    plan = desired.plan
    owned_flags = {name: f for name, f in actual.flags.items() if desired.marker in (f.description or "")}
    for name, spec in desired.flags.items():
        existing = actual.flags.get(name)
        if existing is not None and name not in owned_flags:
            where = "in the archive" if existing.archived else "in Unleash"
            result.conflicts.append(f"flag '{name}' exists {where} but was not made by plan '{plan}'; left alone "
                                    "(rename the feature, or delete that flag)")
            continue
        if existing is not None and existing.archived:
            # our own flag, archived when the feature left the plan: bring it back with its strategies
            result.changes.append(Change("flag", "revive", name, flag=name, why="back in the plan"))
        _diff_flag(result, spec, existing, desired, segment_names, previous, drifted)
    for name, flag in owned_flags.items():
        if name not in desired.flags and not flag.archived:
            if flag.enabled:
                result.changes.append(Change("environment", "disable", name, flag=name, environment=desired.environment))
            # strategies go first: an archived flag must not keep our segments in use (Unleash then
            # refuses to delete them), and a revived flag starts clean
            result.changes += [Change("strategy", "delete", s["title"], flag=name, actual_id=s["id"],
                                      why="its flag leaves the plan")
                               for s in flag.strategies if is_owned_name(plan, s.get("title"))]
            result.changes.append(Change("flag", "archive", name, flag=name, why="no longer in the plan"))


def _diff_flag(result: Diff, spec: FlagSpec, existing, desired: DesiredState, segment_names, previous, drifted) -> None:
    name = spec.name
    wanted = {title: s for (flag, title), s in desired.strategies.items() if flag == name}
    if existing is None:
        result.changes.append(Change("flag", "create", name, flag=name, spec=spec))
        result.changes += [Change("strategy", "create", t, flag=name, spec=s) for t, s in wanted.items()]
        if spec.enabled:
            result.changes.append(Change("environment", "enable", name, flag=name, environment=desired.environment))
        return
    before = previous.get("flags", {}).get(name)

    def field_drifted(field: str, value: Any) -> bool:
        """A field is drift when it differs from what the last sync left (the other field may move with the plan)."""
        return before is not None and before.get(field) != value

    if (existing.description or "") != spec.description:
        result.changes.append(Change("flag", "update", name, flag=name, spec=spec,
                                     drift=field_drifted("description", existing.description or "")))
    else:
        result.unchanged += 1
    ours = []
    for strategy in existing.strategies:
        title = strategy.get("title")
        if is_owned_name(desired.plan, title):
            ours.append(strategy)
        else:
            result.not_owned.append(f"strategy '{title or strategy.get('name')}' on flag '{name}' (id {strategy.get('id')})")
    _diff_strategies(result, name, ours, wanted, segment_names, drifted)
    if existing.enabled != spec.enabled:
        result.changes.append(Change("environment", "enable" if spec.enabled else "disable", name, flag=name,
                                     environment=desired.environment,
                                     drift=field_drifted("enabled", bool(existing.enabled))))
    else:
        result.unchanged += 1


def _diff_strategies(result: Diff, flag: str, ours: list[dict[str, Any]], wanted: dict[str, StrategySpec],
                     segment_names, drifted) -> None:
    """Make the plan's strategies `ours` on one flag (as Unleash has them, in its order) the `wanted` ones:
    delete what the plan no longer has and duplicates, update what differs, create what is missing."""
    seen: set[str] = set()
    for strategy in ours:
        title = strategy.get("title")
        if title not in wanted:
            result.changes.append(Change("strategy", "delete", title, flag=flag, actual_id=strategy["id"],
                                         why="no longer in the plan"))
            continue
        if title in seen:
            result.changes.append(Change("strategy", "delete", title, flag=flag, actual_id=strategy["id"], why="duplicate"))
            continue
        seen.add(title)
        actual_fp = strategy_fingerprint(strategy, segment_names)
        if _lists(actual_fp) != _lists(_desired_strategy_fp(wanted[title])):
            result.changes.append(Change("strategy", "update", title, flag=flag, spec=wanted[title],
                                         actual_id=strategy["id"], drift=drifted("strategies", f"{flag}|{title}", actual_fp)))
        else:
            result.unchanged += 1
    for title, s in wanted.items():
        if title not in seen:
            result.changes.append(Change("strategy", "create", title, flag=flag, spec=s,
                                         drift=drifted("strategies", f"{flag}|{title}", None)))


def _diff_scoped_flags(result: Diff, desired: DesiredState, actual, segment_names, drifted, cohorts: set[str]) -> None:
    """The strategies of the cohorts in scope on each of the plan's flags that Unleash has, and the flag's
    switch where they change whether it has any strategy of the plan at all."""
    for name in desired.flags:
        existing = actual.flags.get(name)
        if existing is None or existing.archived or desired.marker not in (existing.description or ""):
            continue  # not created yet, or not ours: the full sync's business
        wanted = {title: s for (flag, title), s in desired.strategies.items()
                  if flag == name and owned_cohort(desired.plan, title) in cohorts}
        ours = [s for s in existing.strategies if is_owned_name(desired.plan, s.get("title"))]
        scoped = [s for s in ours if owned_cohort(desired.plan, s.get("title")) in cohorts]
        _diff_strategies(result, name, scoped, wanted, segment_names, drifted)
        enabled = len(ours) - len(scoped) + len(wanted) > 0
        if enabled != existing.enabled:
            result.changes.append(Change("environment", "enable" if enabled else "disable", name, flag=name,
                                         environment=desired.environment))
