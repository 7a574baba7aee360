"""Plan errors in words a person reads on a form: "Start of phase Wave 1", not `phases[1].starts`.

Plan files and the CLI keep field paths (they point at a line to fix); the pages name things.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from planner.errors import PlanError

KIND_NAMES = {"features": "feature", "cohorts": "cohort", "kpis": "KPI", "phases": "phase"}
FIELD_NAMES = {"starts": "start", "ends": "end", "key": "key", "name": "name", "percentage": "percentage",
               "capacity": "capacity", "users": "user list", "rules": "rules", "values": "values",
               "property": "property", "budget": "budget", "owners": "owners", "gate": "gate",
               "trainings": "trainings", "at": "date", "topic": "topic", "target": "target", "grants": "previews",
               "feature": "feature", "cohorts": "cohorts", "features": "features", "kind": "kind",
               "title": "title", "goal": "goal", "currency": "currency", "guidelines": "guidelines",
               "version": "version", "flag_prefix": "flag prefix", "unleash": "Unleash", "project": "project",
               "environment": "environment", "plan": "plan key"}
_VERBS = {"must", "is", "needs", "may", "only", "has", "compares"}
_ITEM = re.compile(r"^(features|cohorts|kpis|phases)\[(\d+)\]")
_PART = re.compile(r"([a-z_]+)(?:\[(\d+)\])?")
_REFERENCE = re.compile(r"\b(features|cohorts|kpis|phases)\[(\d+)\](?:\.(\w+))?(?: \(([^)]*)\))?")


def _item_name(doc: dict[str, Any], kind: str, index: int) -> str:
    items = doc.get(kind) or []
    item = items[index] if index < len(items) and isinstance(items[index], dict) else {}
    name = item.get("name") or item.get("key") or f"number {index + 1}"
    return f"{KIND_NAMES[kind]} {name}"


def _instant(text: str) -> str:
    try:
        return datetime.fromisoformat(text).strftime("%d %b %Y %H:%M")
    except ValueError:
        return text


def describe_path(path: str, doc: dict[str, Any]) -> str:
    """`phases[1].starts` → "Start of phase Wave 1"; `cohorts[0].rules[1].values` → "Values of rule 2 of cohort HR"."""
    match = _ITEM.match(path)
    owner = _item_name(doc, match.group(1), int(match.group(2))) if match else ""
    rest = path[match.end():].lstrip(".") if match else path
    words = []
    for name, index in _PART.findall(rest):
        label = FIELD_NAMES.get(name, name.replace("_", " "))
        if index:
            label = f"{label.rstrip('s') if label.endswith('s') else label} {int(index) + 1}"
        words.append(label)
    words.reverse()
    if owner:
        words.append(owner)
    text = " of ".join(words) if words else path
    return text[:1].upper() + text[1:]


def _references(message: str, doc: dict[str, Any]) -> str:
    def swap(match: re.Match) -> str:
        kind, index, field, value = match.groups()
        owner = _item_name(doc, kind, int(index)).split(" ", 1)[1]
        text = f"the {FIELD_NAMES.get(field, field)} of {owner}" if field else owner
        return f"{text} ({_instant(value)})" if value else text

    return _REFERENCE.sub(swap, message)


def readable(error: PlanError, doc: dict[str, Any], *, with_field: bool = True) -> str:
    """One error as a sentence; without the field's name when it is shown beside the field itself."""
    message = _references(error.message, doc)
    if not with_field:
        return message
    joint = " " if message.split(" ", 1)[0] in _VERBS else ": "
    return f"{describe_path(error.path, doc)}{joint}{message}"
