"""Validation of a whole plan: every mistake found at once, each named by its field path."""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import Any

import semver
from pydantic import TypeAdapter, ValidationError

from planner.errors import PlanError, PlanInvalid
from planner.kpis import kpi_errors
from planner.limits import document_errors, instant_problem
from planner.userids import problem, shown
from planner.model import PARTS, Cohort, CohortKind, Phase, Plan, Ramp, Rule, parse_delay

KEY_PATTERN = re.compile(r"^[a-z0-9][a-z0-9._-]{0,59}$")
# Unleash flag names must survive encodeURIComponent unchanged; we keep to a plain, portable subset.
FLAG_NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._~-]{0,99}$")
CONTEXT_NAME_PATTERN = re.compile(r"^[A-Za-z][A-Za-z0-9_.-]{0,99}$")




# A plan file says what is meant to happen; what leads did about it is state (planner/lifecycle.py).
STATUS_GONE = ("is no longer part of a plan file: a phase's status follows from its start and from what leads do. "
               "Delete the line. To hold, resume, start early or roll back a phase, use the plan page or "
               "`planner phase hold|resume|start|rollback PLAN PHASE --reason TEXT` once the plan is applied")


def _path(prefix: str, loc: tuple) -> str:
    path = prefix
    for part in loc:
        path += f"[{part}]" if isinstance(part, int) else (f".{part}" if path else str(part))
    return path or "(plan)"


_FRIENDLY = {
    "missing": "is required",
    "extra_forbidden": "is not a known field (check the spelling)",
}


def _pydantic_errors(prefix: str, exc: ValidationError) -> list[PlanError]:
    errors = []
    for err in exc.errors():
        loc = tuple(p for p in err["loc"] if not (isinstance(p, str) and p.startswith("function-")))
        errors.append(PlanError(_path(prefix, loc), _FRIENDLY.get(err["type"], err["msg"])))
    return errors


def parse_plan(raw: Any) -> Plan:
    """Turn a plan document (parsed YAML or JSON) into a `Plan`, or raise `PlanInvalid` naming every mistake."""
    if not isinstance(raw, dict):
        raise PlanInvalid([PlanError("(plan)", "must be a mapping with `plan`, `features`, `cohorts`, `phases` …")])
    beyond = document_errors(raw)
    if beyond:  # nothing else is judged on text or numbers that cannot be stored
        raise PlanInvalid(beyond)
    errors: list[PlanError] = []
    items: dict[str, list] = {}
    broken_keys: dict[str, set[str]] = {}
    for name, model in PARTS.items():
        value = raw.get(name, [])
        if value is None:
            value = []
        if not isinstance(value, list):
            errors.append(PlanError(name, "must be a list"))
            value = []
        adapter = TypeAdapter(model)
        parsed = []
        for index, item in enumerate(value):
            if name == "phases" and isinstance(item, dict) and "status" in item:
                errors.append(PlanError(f"phases[{index}].status", STATUS_GONE))
                item = {k: v for k, v in item.items() if k != "status"}
            try:
                parsed.append((index, adapter.validate_python(item)))
            except ValidationError as exc:
                errors.extend(_pydantic_errors(f"{name}[{index}]", exc))
        items[name] = parsed
        # keys of items that failed to parse still count as existing, so that a typo in one cohort
        # is reported once, not again at every phase that names it
        broken_keys[name] = {item["key"] for item in value if isinstance(item, dict) and isinstance(item.get("key"), str)}
    plan = None
    try:
        plan = Plan.model_validate({**raw, **{name: [] for name in PARTS}})
    except ValidationError as exc:
        errors.extend(_pydantic_errors("", exc))
    if plan is not None:
        plan = plan.model_copy(update={name: tuple(obj for _, obj in items[name]) for name in PARTS})
        errors.extend(_semantic_errors(plan, items, broken_keys))
    if errors:
        raise PlanInvalid(errors)
    return plan


def _semantic_errors(plan: Plan, items: dict[str, list], known_keys: dict[str, set[str]]) -> list[PlanError]:
    errors: list[PlanError] = []
    add = lambda path, message: errors.append(PlanError(path, message))  # noqa: E731

    if not KEY_PATTERN.match(plan.plan):
        add("plan", "must be lowercase letters, digits, '.', '_' or '-' (at most 60), starting with a letter or digit")
    if plan.flag_prefix and not re.fullmatch(r"[A-Za-z0-9._~-]*", plan.flag_prefix):
        add("flag_prefix", "may contain only letters, digits, '.', '_', '~' or '-'")
    if plan.guidelines.version < 1:
        add("guidelines.version", "must be 1 or more")
    if not re.fullmatch(r"[A-Z]{3}", plan.currency):
        add("currency", f"'{plan.currency}' must be a three-letter currency code, e.g. EUR")
    for field in ("project", "environment"):
        if not re.fullmatch(r"[A-Za-z0-9_.-]+", getattr(plan.unleash, field)):
            add(f"unleash.{field}", "must be a non-empty Unleash id (letters, digits, '.', '_', '-')")

    keys: dict[str, set[str]] = {}
    for name, parsed in items.items():
        seen: dict[str, int] = {}
        for index, obj in parsed:
            path = f"{name}[{index}]"
            if not KEY_PATTERN.match(obj.key):
                add(f"{path}.key", f"'{obj.key}' must be lowercase letters, digits, '.', '_' or '-' "
                                   "(at most 60), starting with a letter or digit")
            if obj.key in seen:
                add(f"{path}.key", f"duplicate key '{obj.key}' (already used by {name}[{seen[obj.key]}])")
            else:
                seen[obj.key] = index
        keys[name] = set(seen) | known_keys[name]

    for index, feature in items["features"]:
        flag = plan.flag_name(feature.key)
        if not FLAG_NAME_PATTERN.match(flag):
            add(f"features[{index}].key", f"'{flag}' is not a valid Unleash flag name "
                                          "(letters, digits, '.', '_', '~', '-'; at most 100)")
    for index, cohort in items["cohorts"]:
        if cohort.key == "phase":  # `rp:<plan>:phase:<key>` names the phases' segments in Unleash
            add(f"cohorts[{index}].key", "'phase' is reserved for the phases' segments in Unleash; choose another key")
        errors.extend(_cohort_errors(f"cohorts[{index}]", cohort))
    for index, kpi in items["kpis"]:
        errors.extend(kpi_errors(f"kpis[{index}]", kpi, plan))
    for index, goal in items["goals"]:
        path = f"goals[{index}]"
        if not goal.stakeholder.strip():
            add(f"{path}.stakeholder", "name the stakeholder whose goal this is, e.g. HR")
        if not goal.text.strip():
            add(f"{path}.text", "say what the stakeholder wants, e.g. people connect across departments")
        for field, kind in (("cohorts", "cohorts"), ("kpis", "kpis")):
            for i, ref in enumerate(getattr(goal, field)):
                if ref not in keys[kind]:
                    add(f"{path}.{field}[{i}]", f"unknown {kind[:-1].replace('kpi', 'KPI')} '{ref}'")
    for index, feature in items["features"]:
        errors.extend(_tags_errors(f"features[{index}].serves", feature.serves))
    for index, cohort in items["cohorts"]:
        errors.extend(_tags_errors(f"cohorts[{index}].interests", cohort.interests))

    previous: tuple[int, Phase] | None = None
    for index, phase in items["phases"]:
        path = f"phases[{index}]"
        errors.extend(_phase_errors(path, phase, keys))
        if phase.starts.tzinfo is None:
            continue
        if previous and previous[1].starts.tzinfo is not None and phase.starts <= previous[1].starts:
            add(f"{path}.starts", f"must be after phases[{previous[0]}].starts ({previous[1].starts.isoformat()})")
        previous = (index, phase)
    return errors


MAX_TAG = 80


def _tags_errors(path: str, tags: tuple[str, ...]) -> list[PlanError]:
    """Interests (of a cohort, or that a feature serves): short, named once each."""
    errors, seen = [], set()
    for i, tag in enumerate(tags):
        if not tag.strip():
            errors.append(PlanError(f"{path}[{i}]", "must not be empty"))
        elif len(tag) > MAX_TAG:
            errors.append(PlanError(f"{path}[{i}]", f"is {len(tag)} characters long; name an interest in at most {MAX_TAG}"))
        elif tag.strip().lower() in seen:
            errors.append(PlanError(f"{path}[{i}]", f"'{tag}' is listed twice"))
        seen.add(tag.strip().lower())
    return errors


def _cohort_errors(path: str, cohort: Cohort) -> list[PlanError]:
    errors: list[PlanError] = []
    add = lambda field, message: errors.append(PlanError(f"{path}.{field}", message))  # noqa: E731
    kind = cohort.kind
    if cohort.percentage is not None and not 1 <= cohort.percentage <= 100:
        add("percentage", f"{cohort.percentage} must be between 1 and 100")
    if cohort.capacity is not None:
        if kind is not CohortKind.opt_in:
            add("capacity", f"only opt_in cohorts have a capacity, this one is '{kind.value}'")
        elif cohort.capacity < 1:
            add("capacity", "must be at least 1")
    if kind is CohortKind.list:
        if not cohort.users:
            add("users", "a list cohort needs at least one user id")
        seen: set[str] = set()
        for i, user in enumerate(cohort.users):
            wrong = problem(user)
            if wrong:
                add(f"users[{i}]", f"'{shown(user)}' is not a user id: it {wrong}")
            elif user in seen:
                add(f"users[{i}]", f"user '{user}' is listed twice")
            seen.add(user)
    elif cohort.users:
        add("users", f"only list cohorts have users, this one is '{kind.value}'")
    if kind is CohortKind.attribute:
        if not cohort.rules:
            add("rules", "an attribute cohort needs at least one rule")
        for i, rule in enumerate(cohort.rules):
            errors.extend(_rule_errors(f"{path}.rules[{i}]", rule))
    elif cohort.rules:
        add("rules", f"only attribute cohorts have rules, this one is '{kind.value}'")
    return errors


def _rule_errors(path: str, rule: Rule) -> list[PlanError]:
    errors: list[PlanError] = []
    add = lambda field, message: errors.append(PlanError(f"{path}.{field}", message))  # noqa: E731
    if not CONTEXT_NAME_PATTERN.match(rule.property):
        add("property", f"'{rule.property}' is not a valid context property name")
    op = rule.operator
    if op.multi_valued:
        if not rule.values:
            add("values", f"{op.value} needs at least one value")
        return errors
    if len(rule.values) != 1:
        add("values", f"{op.value} compares with exactly one value, got {len(rule.values)}")
        return errors
    value = rule.values[0]
    try:
        if op.name.startswith("NUM_"):
            float(value)
        elif op.name.startswith("DATE_"):
            if datetime.fromisoformat(value).tzinfo is None:
                add("values[0]", f"'{value}' needs a timezone, e.g. 2027-01-11T08:00:00+01:00")
        else:
            semver.Version.parse(value)
    except ValueError:
        kind = {"NUM": "a number", "DATE": "an ISO date and time", "SEMVER": "a semantic version"}[op.name.split("_")[0]]
        add("values[0]", f"'{value}' is not {kind}, as {op.value} needs")
    return errors


MAX_RAMP_STEPS = 10


def _ramp_errors(path: str, ramp: Ramp, phase: Phase) -> list[PlanError]:
    errors: list[PlanError] = []
    add = lambda field, message: errors.append(PlanError(f"{path}.{field}", message))  # noqa: E731
    if ramp.cohort not in phase.cohorts:
        add("cohort", f"'{ramp.cohort}' is not a cohort this phase admits; a ramp admits one of them in steps")
    if not 1 <= len(ramp.steps) <= MAX_RAMP_STEPS:
        add("steps", f"give 1 to {MAX_RAMP_STEPS} steps, e.g. 10 % at the start, 50 % after 3d, 100 % after 1w")
    previous = None
    for i, step in enumerate(ramp.steps):
        delay = parse_delay(step.after)
        if delay is None:
            add(f"steps[{i}].after", f"'{step.after}' must be a delay such as 12h, 3d or 2w (0d: at the start)")
        elif delay > timedelta(days=366):
            add(f"steps[{i}].after", "must be within a year of the phase's start")
        if i == 0 and delay:
            add("steps[0].after", "a ramp begins at the phase's start: give its first step `after: 0d` (or none)")
        if not 1 <= step.percent <= 100:
            add(f"steps[{i}].percent", f"{step.percent} must be between 1 and 100")
        if previous is not None and step.percent <= previous.percent:
            add(f"steps[{i}].percent", f"must be more than the step before ({previous.percent})")
        if previous is not None and delay is not None and delay <= previous.delay:
            add(f"steps[{i}].after", f"must be later than the step before ({previous.after})")
        previous = step
    return errors


def _phase_errors(path: str, phase: Phase, keys: dict[str, set[str]]) -> list[PlanError]:
    errors: list[PlanError] = []
    add = lambda field, message: errors.append(PlanError(f"{path}.{field}", message))  # noqa: E731
    for field, at in (("starts", phase.starts), ("ends", phase.ends),
                      *((f"trainings[{i}].at", t.at) for i, t in enumerate(phase.trainings))):
        outside = at is not None and instant_problem(at)
        if outside:
            add(field, outside)
    if phase.starts.tzinfo is None:
        add("starts", f"'{phase.starts.isoformat()}' needs a timezone, e.g. 2027-01-11T08:00:00+01:00")
    elif phase.starts.microsecond % 1000:
        add("starts", "give the start to the millisecond at most")
    for field in ("budget", "spent"):
        if getattr(phase, field) is not None and getattr(phase, field) < 0:
            add(field, "must not be negative")
    for i, manager in enumerate(phase.community_managers):
        if not manager.strip():
            add(f"community_managers[{i}]", "must not be empty")
    for i, training in enumerate(phase.trainings):
        if training.attendance is not None and (training.attendance < 0 or not training.held):
            add(f"trainings[{i}].attendance", "is counted once the session was held, and is not negative")
        if training.at.tzinfo is None:
            add(f"trainings[{i}].at", f"'{training.at.isoformat()}' needs a timezone")
        if not training.topic.strip():
            add(f"trainings[{i}].topic", "name the topic")
    for i, owner in enumerate(phase.owners):
        if not owner.strip():
            add(f"owners[{i}]", "must not be empty")
    if phase.ends is not None:
        if phase.ends.tzinfo is None:
            add("ends", f"'{phase.ends.isoformat()}' needs a timezone")
        elif phase.starts.tzinfo is not None and phase.ends <= phase.starts:
            add("ends", "must be after starts")

    def refs(field: str, values, kind: str):
        for i, key in enumerate(values):
            if key not in keys[kind]:
                add(f"{field}[{i}]", f"unknown {kind[:-1]} '{key}'")

    refs("cohorts", phase.cohorts, "cohorts")
    refs("features", phase.features, "features")
    refs("gate", phase.gate, "kpis")
    ramped: set[str] = set()
    for i, ramp in enumerate(phase.ramps):
        errors.extend(_ramp_errors(f"{path}.ramps[{i}]", ramp, phase))
        if ramp.cohort in ramped:
            add(f"ramps[{i}].cohort", f"cohort '{ramp.cohort}' has a ramp in this phase already")
        ramped.add(ramp.cohort)
    for i, grant in enumerate(phase.grants):
        if grant.feature not in keys["features"]:
            add(f"grants[{i}].feature", f"unknown feature '{grant.feature}'")
        if not grant.cohorts:
            add(f"grants[{i}].cohorts", "name at least one cohort")
        refs(f"grants[{i}].cohorts", grant.cohorts, "cohorts")
    return errors
