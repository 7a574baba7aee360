"""The plan file (DESIGN.md §7): YAML in, YAML out, with errors that name the field or the line."""

from __future__ import annotations

from typing import Any

import yaml

from planner.model import Plan
from planner.limits import MAX_FILE_BYTES
from planner.validation import PlanError, PlanInvalid, parse_plan


class _UniqueKeys(yaml.SafeLoader):
    """YAML as `safe_load` reads it, but a key given twice in one mapping is an error (YAML keeps the last
    silently: a second `features:` would drop the whole first list)."""

    def construct_mapping(self, node, deep=False):
        seen: dict[Any, int] = {}
        for key_node, _value in node.value:
            key = self.construct_object(key_node, deep=True)
            line = key_node.start_mark.line + 1
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    None, None, f"'{key}' is given twice in one mapping (first on line {seen[key]})",
                    key_node.start_mark)
            seen[key] = line
        return super().construct_mapping(node, deep=deep)


def load_plan(text: str) -> Plan:
    """Parse and validate a plan file; raise `PlanInvalid` listing every mistake."""
    if len(text) > MAX_FILE_BYTES:
        raise PlanInvalid([PlanError("(file)", f"is {len(text):,} characters long; a plan file has at most "
                                               f"{MAX_FILE_BYTES:,}")])
    try:
        raw = yaml.load(text, Loader=_UniqueKeys)  # noqa: S506 - a SafeLoader
    except RecursionError:
        raise PlanInvalid([PlanError("(file)", "is nested too deeply to be a plan")]) from None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else "(file)"
        raise PlanInvalid([PlanError(where, f"not valid YAML: {exc.problem or exc}")]) from None
    except yaml.YAMLError as exc:
        raise PlanInvalid([PlanError("(file)", f"not valid YAML: {exc}")]) from None
    return parse_plan(raw)


def plan_document(plan: Plan) -> dict[str, Any]:
    """The plan as plain data in the file's shape, defaults left out so the file stays readable."""
    doc = plan.model_dump(mode="json", exclude_defaults=True)
    doc.setdefault("unleash", plan.unleash.model_dump(mode="json"))
    for phase_doc, phase in zip(doc.get("phases", []), plan.phases):
        phase_doc["starts"] = phase.starts.isoformat()  # pydantic would rewrite +00:00 as Z; keep it as written
        if phase.ends is not None:
            phase_doc["ends"] = phase.ends.isoformat()
        for training_doc, training in zip(phase_doc.get("trainings", []), phase.trainings):
            training_doc["at"] = training.at.isoformat()
    return doc


class _FlowLists(yaml.SafeDumper):
    """Short lists of keys in [a, b] style, as people write them; mappings in block style."""


def _represent_list(dumper: yaml.SafeDumper, data: list) -> yaml.Node:
    flow = all(isinstance(item, (str, int, float)) for item in data) and len(data) <= 20
    return dumper.represent_sequence("tag:yaml.org,2002:seq", data, flow_style=flow)


def _represent_str(dumper: yaml.SafeDumper, data: str) -> yaml.Node:
    style = "|" if "\n" in data else None  # guidelines and goals keep their lines
    return dumper.represent_scalar("tag:yaml.org,2002:str", data, style=style)


_FlowLists.add_representer(list, _represent_list)
_FlowLists.add_representer(str, _represent_str)


def dump_plan(plan: Plan) -> str:
    return yaml.dump(plan_document(plan), Dumper=_FlowLists, sort_keys=False, allow_unicode=True, width=100)
