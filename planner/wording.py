"""Plan errors in words a person reads on a form: "Start of phase Wave 1", not `phases[1].starts`.

Plan files and the CLI keep field paths (they point at a line to fix); the pages name things.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from planner.errors import PlanError

KIND_LABELS = {"features": "feature", "cohorts": "cohort", "kpis": "KPI", "goals": "goal", "phases": "phase"}
# field names that read differently on a page; any other reads as itself, underscores as spaces
FIELD_NAMES = {"starts": "start", "ends": "end", "users": "user list", "at": "date", "grants": "previews",
               "unleash": "Unleash", "plan": "plan key"}
_VERBS = {"must", "is", "needs", "may", "only", "has", "compares"}
_ITEM = re.compile(r"^(features|cohorts|kpis|goals|phases)\[(\d+)\]")
_PART = re.compile(r"([a-z_]+)(?:\[(\d+)\])?")
_REFERENCE = re.compile(r"\b(features|cohorts|kpis|phases)\[(\d+)\](?:\.(\w+))?(?: \(([^)]*)\))?")


def _field(name: str) -> str:
    return FIELD_NAMES.get(name, name.replace("_", " "))


def _name_of(doc: dict[str, Any], kind: str, index: int) -> str:
    """Item `index` of `kind` by its name (or key) as the lead typed it."""
    items = doc.get(kind) or []
    item = items[index] if index < len(items) and isinstance(items[index], dict) else {}
    return item.get("name") or item.get("key") or f"number {index + 1}"


def _instant(text: str) -> str:
    try:
        return datetime.fromisoformat(text).strftime("%d %b %Y %H:%M")
    except ValueError:
        return text


def describe_path(path: str, doc: dict[str, Any]) -> str:
    """`phases[1].starts` → "Start of phase Wave 1"; `cohorts[0].rules[1].values` → "Values of rule 2 of cohort HR"."""
    match = _ITEM.match(path)
    owner = f"{KIND_LABELS[match.group(1)]} {_name_of(doc, match.group(1), int(match.group(2)))}" if match else ""
    rest = path[match.end():].lstrip(".") if match else path
    words = []
    for name, index in _PART.findall(rest):
        label = _field(name)
        if index:
            label = f"{label.removesuffix('s')} {int(index) + 1}"
        words.append(label)
    words.reverse()
    if owner:
        words.append(owner)
    text = " of ".join(words) if words else path
    return text[:1].upper() + text[1:]


def _references(message: str, doc: dict[str, Any]) -> str:
    def swap(match: re.Match) -> str:
        kind, index, field, value = match.groups()
        owner = _name_of(doc, kind, int(index))
        text = f"the {_field(field)} of {owner}" if field else owner
        return f"{text} ({_instant(value)})" if value else text

    return _REFERENCE.sub(swap, message)


def readable(error: PlanError, doc: dict[str, Any], *, with_field: bool = True) -> str:
    """One error as a sentence; without the field's name when it is shown beside the field itself."""
    message = _references(error.message, doc)
    if not with_field:
        return message
    joint = " " if message.split(" ", 1)[0] in _VERBS else ": "
    return f"{describe_path(error.path, doc)}{joint}{message}"
