"""The KPI dashboard in real Chromium: the platform's events and a lead's entered value give verdicts in
words and charts; the lead overrides a shut gate, and the real Unleash opens the phase."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from playwright.sync_api import Page, expect

from flags.desired import phase_segment_name
from planner.db import session_scope
from planner.planfile import load_plan
from planner.plans import apply_plan
from services import kpis
from services.sync import sync_plan
from tests.browser import screenshot
from tests.browser.test_lead_journey import sign_in
from tests.integration.unleash import admin_client, unique, unleash_env


def plan_text(key: str) -> str:
    now = datetime.now(UTC).replace(microsecond=0)
    at = lambda delta: (now + delta).isoformat()  # noqa: E731
    return f"""
plan: {key}
title: Social intranet rollout
flag_prefix: {key}-
unleash: {{project: default, environment: development}}
features: [{{key: blog, name: Innovation blog}}, {{key: forum, name: Forum}}]
cohorts:
  - {{key: pilot, name: Pilot group, kind: opt_in, capacity: 50}}
  - {{key: hr, name: HR, kind: attribute, rules: [{{property: department, operator: IN, values: [HR]}}]}}
kpis:
  - {{key: posts, name: New blog posts, unit: posts, source: event, target: ">= 50", window: since pilot}}
  - {{key: satisfaction, name: Pilot satisfaction, unit: of 5, source: manual, target: ">= 4"}}
phases:
  - {{key: pilot, name: Pilot, starts: "{at(-timedelta(days=12))}", cohorts: [pilot], features: [blog]}}
  - {{key: wave-1, name: Wave 1, starts: "{at(timedelta(days=3))}", cohorts: [hr], features: [forum],
     gate: [posts, satisfaction]}}
"""


def test_a_lead_reads_the_verdicts_enters_a_survey_result_and_overrides_a_gate(page: Page, fresh_live_server):
    env = unleash_env()
    key = unique("kpis-")
    database_url = fresh_live_server.database_url
    with session_scope(database_url) as session:
        apply_plan(session=session, plan=load_plan(plan_text(key)), actor="lead-1")
    now = datetime.now(UTC)
    events = [{"kpi": "posts", "user": f"u-{i % 9}", "at": (now - timedelta(days=11) + timedelta(hours=6 * i)).isoformat(),
               "idempotency_key": f"p-{i}"} for i in range(41)]
    assert kpis.ingest(database_url=database_url, key=key, payload=events).stored == 41
    with admin_client(env) as admin:
        assert sync_plan(database_url=database_url, plan_key=key, admin=admin, actor="lead-1").outcome == "ok"
        sign_in(page, fresh_live_server.url)
        page.goto(fresh_live_server / f"plans/{key}/dashboard")
        card = page.locator(".kpi-card", has_text="New blog posts")
        expect(card).to_contain_text("41 posts of 50 needed, 3 days left: inconclusive")
        expect(card.locator("svg.chart path.chart-line")).to_have_count(1)
        expect(card.locator("svg.chart .chart-target")).to_have_count(1)

        survey = page.locator(".kpi-card", has_text="Pilot satisfaction")
        survey.get_by_role("textbox", name="Value", exact=True).fill("4.3")
        survey.get_by_role("textbox", name="Sample", exact=True).fill("38")
        survey.get_by_role("textbox", name="Note", exact=True).fill("pilot survey, November")
        survey.get_by_role("button", name="Enter value").click()
        survey = page.locator(".kpi-card", has_text="Pilot satisfaction")
        expect(survey).to_contain_text("4.3 of 5")
        expect(survey).to_contain_text(": pass")
        gates = page.locator("#gates")
        expect(gates).to_contain_text("inconclusive")
        screenshot(page, "kpi-dashboard")

        page.once("dialog", lambda dialog: dialog.accept())
        gates.get_by_role("textbox", name="Reason").fill("posts moved to the new platform; counted there")
        gates.get_by_role("button", name="Override the gate").click()
        expect(page.locator("#gates")).to_contain_text("overridden")
        expect(page.locator("p.card[role=status]")).to_contain_text("Gate of Wave 1 overridden: 1 write(s) to Unleash")
        segment = next(s for s in admin.list_segments() if s["name"] == phase_segment_name(key, "wave-1"))
        assert segment["constraints"][0]["operator"] == "DATE_AFTER"  # open: true from its start

        page.goto(fresh_live_server / f"plans/{key}")
        expect(page.locator("#phases tr", has_text="Wave 1")).to_contain_text("Gate overridden")


def test_the_management_report_prints_on_its_own_policy(page: Page, live_server):
    from tests.plans import demo_plan

    with session_scope(live_server.database_url) as session:
        apply_plan(session=session, plan=demo_plan(), actor="lead-1")
    kpis.enter_value(database_url=live_server.database_url, key="intranet-rollout", kpi="satisfaction", value=4.2,
                     at=datetime.now(UTC), actor="lead-1", note="pilot survey", sample=38)
    sign_in(page, live_server.url)
    page.goto(live_server / "plans/intranet-rollout/report")
    expect(page.get_by_role("heading", name="Goals and how far each has come")).to_be_visible()
    expect(page.locator("#resources")).to_contain_text("37 % of the planned budget spent")
    screenshot(page, "management-report")
    page.emulate_media(media="print")
    expect(page.locator(".noprint").first).to_be_hidden()  # the print stylesheet applies (and CSP let it in)
