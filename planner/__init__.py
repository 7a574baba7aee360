"""The rollout planner's domain: plans, cohorts, phases, the access rule and their persistence."""
