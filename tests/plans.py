"""Plans the tests share."""

from pathlib import Path

from planner.planfile import load_plan

ROOT = Path(__file__).resolve().parent.parent
DEMO = ROOT / "examples" / "intranet-rollout.yaml"


def demo_plan():
    return load_plan(DEMO.read_text())
