"""Form input -> plan document items. Values stay raw; the plan's validation judges them, with field paths."""

from __future__ import annotations

from typing import Any

from starlette.datastructures import FormData

def _text(form: FormData, name: str) -> str:
    return str(form.get(name) or "").strip()


def _optional_number(form: FormData, name: str) -> Any:
    value = _text(form, name)
    if not value:
        return None
    try:
        return int(value) if value.lstrip("-").isdigit() else float(value)
    except ValueError:
        return value  # the plan's validation names the field


def _split(value: str, sep: str = ",") -> list[str]:
    return [part.strip() for part in value.split(sep) if part.strip()]


def feature_item(form: FormData) -> dict[str, Any]:
    return {"key": _text(form, "key"), "name": _text(form, "name"), "description": _text(form, "description"),
            "serves": _split(_text(form, "serves"), ";")}


def goal_item(form: FormData) -> dict[str, Any]:
    return {"key": _text(form, "key"), "stakeholder": _text(form, "stakeholder"), "text": _text(form, "text"),
            "cohorts": form.getlist("cohorts"), "kpis": form.getlist("kpis")}


def kpi_item(form: FormData) -> dict[str, Any]:
    item: dict[str, Any] = {"key": _text(form, "key"), "name": _text(form, "name"), "unit": _text(form, "unit"),
                            "source": _text(form, "source") or "manual", "target": _text(form, "target"),
                            "window": _text(form, "window")}
    for name in ("aggregation", "cohort", "feature"):
        if _text(form, name):
            item[name] = _text(form, name)
    if _text(form, "min_sample"):
        item["min_sample"] = _optional_number(form, "min_sample")
    scale = _text(form, "scale")
    if scale:  # "1-5" or "1, 5"
        parts = [p for p in scale.replace(",", " ").replace("-", " ").split()]
        item["scale"] = [_number(p) for p in parts] if len(parts) == 2 else scale
    return item


def _number(text: str) -> Any:
    try:
        return float(text)
    except ValueError:
        return text


def cohort_item(form: FormData, users: list[str] | None) -> dict[str, Any]:
    kind = _text(form, "kind")
    item: dict[str, Any] = {"key": _text(form, "key"), "name": _text(form, "name"), "kind": kind,
                            "description": _text(form, "description"), "interests": _split(_text(form, "interests"), ";"),
                            "needs": _text(form, "needs")}
    if _text(form, "percentage_on"):
        item["percentage"] = _optional_number(form, "percentage")
    if kind == "opt_in" and _text(form, "capacity"):
        item["capacity"] = _optional_number(form, "capacity")
    if kind == "list":
        item["users"] = users or []
    if kind == "attribute":
        rules = []
        for prop, op, values, ci in zip(form.getlist("rule_property"), form.getlist("rule_operator"),
                                        form.getlist("rule_values"), form.getlist("rule_case"), strict=False):
            if not str(prop).strip() and not str(values).strip():
                continue
            rule = {"property": str(prop).strip(), "operator": str(op), "values": _split(str(values))}
            if ci == "yes":
                rule["case_insensitive"] = True
            rules.append(rule)
        item["rules"] = rules
    return item


def phase_item(form: FormData, existing: dict[str, Any] | None) -> dict[str, Any]:
    """A phase from its edit form; which cohorts and features it has is edited in the matrix, so kept."""
    item: dict[str, Any] = {"key": _text(form, "key"), "name": _text(form, "name"), "starts": _text(form, "starts"),
                            "owners": _split(_text(form, "owners")), "gate": form.getlist("gate"),
                            "community_managers": _split(_text(form, "community_managers"))}
    for name in ("cohorts", "features"):
        item[name] = list((existing or {}).get(name, []))
    if _text(form, "ends"):
        item["ends"] = _text(form, "ends")
    for name in ("budget", "spent"):
        number = _optional_number(form, name)
        if number is not None:
            item[name] = number
    trainings = []
    for line in str(form.get("trainings") or "").splitlines():
        if line.strip():
            parts = [p.strip() for p in line.split("|")]
            at, audience, topic, done = (parts + ["", "", "", ""])[:4]
            training: dict[str, Any] = {"at": at, "audience": audience, "topic": topic}
            if done:  # "held", "held, 24 attended" or "24"
                training["held"] = True
                count = "".join(ch for ch in done if ch.isdigit())
                if count:
                    training["attendance"] = int(count)
            trainings.append(training)
    item["trainings"] = trainings
    grants = []
    for line in str(form.get("grants") or "").splitlines():
        feature, _, cohorts = line.partition(":")
        if feature.strip():
            grants.append({"feature": feature.strip(), "cohorts": _split(cohorts)})
    item["grants"] = grants
    item["ramps"] = [ramp_from_line(line) for line in str(form.get("ramps") or "").splitlines() if line.strip()]
    return item


def ramp_from_line(line: str) -> dict[str, Any]:
    """`hr: 10% at start, 50% after 3d, 100% after 1w` as a plan file's ramp. What cannot be read is passed
    on as it is, for the validation to name (e.g. `ramps[0].steps[1].percent`)."""
    cohort, _, steps_text = line.partition(":")
    steps = []
    for part in (p.strip() for p in steps_text.split(",")):
        if not part:
            continue
        percent, _, when = part.partition("%")
        when = when.strip()
        after = "0d" if when in ("", "at start", "at the start") else when.removeprefix("after").strip()
        steps.append({"percent": percent.strip(), "after": after})
    return {"cohort": cohort.strip(), "steps": steps}
