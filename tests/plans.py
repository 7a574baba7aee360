"""Plans the tests share."""

from pathlib import Path

from planner.planfile import load_plan

ROOT = Path(__file__).resolve().parent.parent
DEMO = ROOT / "examples" / "intranet-rollout.yaml"


def demo_plan():
    return load_plan(DEMO.read_text())


def gates_passed(plan):
    """Controls in which every gated phase's gate passed long before its start: the plan runs by its dates."""
    from datetime import datetime, UTC

    from planner.lifecycle import Control

    return {p.key: Control(p.key, gate="passed", gate_at=datetime(2000, 1, 1, tzinfo=UTC), gate_by="test")
            for p in plan.phases if p.gate}


def open_gates(database_url: str, key: str) -> None:
    """Store `gates_passed` for the stored plan `key`."""
    from planner.db import session_scope
    from planner.phasecontrol import load_controls, save_controls
    from planner.store import live_plan

    with session_scope(database_url) as session:
        row, plan = live_plan(session, key)
        save_controls(session, row.id, {**load_controls(session, row.id), **gates_passed(plan)})
