"""The limits of an Unleash server that every request the planner sends must respect."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class ResourceLimits:
    """The server's limits that the planner must stay within (defaults: Unleash 8.2)."""

    constraint_values: int = 250
    segment_values: int = 1000
    strategy_segments: int = 5
    constraints: int = 30
    feature_environment_strategies: int = 30
    segments: int = 300
    feature_flags: int = 5000

    @classmethod
    def from_ui_config(cls, ui_config: dict[str, Any]) -> ResourceLimits:
        """Read ``resourceLimits`` of ``GET /api/admin/ui-config``; missing or odd values -> defaults."""
        raw = ui_config.get("resourceLimits") if isinstance(ui_config, dict) else None
        raw = raw if isinstance(raw, dict) else {}
        fields = {
            "constraint_values": "constraintValues",
            "segment_values": "segmentValues",
            "strategy_segments": "strategySegments",
            "constraints": "constraints",
            "feature_environment_strategies": "featureEnvironmentStrategies",
            "segments": "segments",
            "feature_flags": "featureFlags",
        }
        found = {
            ours: raw[theirs]
            for ours, theirs in fields.items()
            if isinstance(raw.get(theirs), int) and not isinstance(raw.get(theirs), bool) and raw[theirs] > 0
        }
        return cls(**found)
