"""A lead holds and resumes a phase and rolls back another from the plan page, in real Chromium; the real
Unleash follows each (the phase's segment)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from playwright.sync_api import Page, expect

from flags.desired import NEVER
from flags.diff import normal_constraint
from planner.db import session_scope
from planner.planfile import load_plan
from planner.plans import apply_plan
from services.sync import sync_plan
from tests.browser import screenshot
from tests.browser.test_lead_journey import sign_in
from tests.integration.unleash import admin_client, unique, unleash_env


def plan_text(key: str) -> str:
    now = datetime.now(UTC).replace(microsecond=0)
    at = lambda delta: (now + delta).isoformat()  # noqa: E731
    return f"""
plan: {key}
title: Phase actions
flag_prefix: {key}-
unleash: {{project: default, environment: development}}
features: [{{key: blog, name: Innovation blog}}, {{key: forum}}]
cohorts:
  - {{key: champions, kind: list, users: [c-1, c-2]}}
  - {{key: hr, kind: attribute, rules: [{{property: department, operator: IN, values: [HR]}}]}}
phases:
  - {{key: pilot, name: Pilot, starts: "{at(-timedelta(hours=2))}", cohorts: [champions], features: [blog]}}
  - {{key: wave-1, name: Wave 1, starts: "{at(timedelta(days=2))}", cohorts: [hr], features: [forum]}}
"""


def segment_closed(admin, name: str) -> bool:
    segment = next(s for s in admin.list_segments() if s["name"] == name)
    return [normal_constraint(c) for c in segment["constraints"]] == [normal_constraint(NEVER)]


def act(page: Page, phase_name: str, button: str, reason: str = "") -> None:
    row = page.locator("#phases tr", has_text=phase_name).first
    row.locator("summary", has_text="Hold, start, roll back").click()
    if reason:
        row.get_by_label("Reason").fill(reason)
    page.once("dialog", lambda dialog: dialog.accept())  # the confirmation
    row.get_by_role("button", name=f"{button} {phase_name}").click()


def test_a_lead_holds_resumes_and_rolls_back_phases_and_unleash_follows(page: Page, fresh_live_server):
    env = unleash_env()
    key = unique("journey-")
    with session_scope(fresh_live_server.database_url) as session:
        apply_plan(session=session, plan=load_plan(plan_text(key)), actor="lead-1")
    with admin_client(env) as admin:
        assert sync_plan(database_url=fresh_live_server.database_url, plan_key=key, admin=admin,
                         actor="lead-1").outcome == "ok"
        sign_in(page, fresh_live_server.url)
        page.goto(f"{fresh_live_server.url}/plans/{key}")
        phases = page.locator("#phases")
        expect(phases.locator("tr", has_text="Pilot").first).to_contain_text("active")
        expect(phases.locator("tr", has_text="Wave 1").first).to_contain_text("scheduled")

        act(page, "Wave 1", "Hold", "the works council asked to wait")
        wave = page.locator("#phases tr", has_text="Wave 1").first
        expect(wave).to_contain_text("held by lead-1: the works council asked to wait")
        expect(wave).to_contain_text("Held: 1 write to Unleash")
        assert segment_closed(admin, f"rp:{key}:phase:wave-1")

        act(page, "Wave 1", "Resume")
        expect(page.locator("#phases tr", has_text="Wave 1").first).to_contain_text("scheduled")
        assert not segment_closed(admin, f"rp:{key}:phase:wave-1")

        act(page, "Pilot", "Roll back", "a data leak was reported")
        pilot = page.locator("#phases tr", has_text="Pilot").first
        expect(pilot).to_contain_text("rolled back")
        expect(page.locator("#phases tr", has_text="Wave 1").first).to_contain_text("held")
        assert segment_closed(admin, f"rp:{key}:phase:pilot") and segment_closed(admin, f"rp:{key}:phase:wave-1")
        expect(page.locator("#timeline")).to_contain_text("Pilot: rolled back")
        screenshot(page, "phase-actions")

        # a roll back without a reason is refused next to the button, and nothing changes
        act(page, "Pilot", "Resume")
        expect(page.locator("#phases tr", has_text="Pilot").first).to_contain_text("active")
        act(page, "Pilot", "Roll back")
        expect(page.locator("#phases tr", has_text="Pilot").first).to_contain_text("a reason is required")
        assert not segment_closed(admin, f"rp:{key}:phase:pilot")
