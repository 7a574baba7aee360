"""The lead's whole journey in real Chromium: plan, edit, preview, dry-run, apply — then the real Unleash has it."""

from __future__ import annotations

import re
import uuid

from playwright.sync_api import Page, expect

from tests.browser import screenshot
from tests.integration.unleash import admin_client, unleash_env


def sign_in(page: Page, base: str, user: str = "lead-1") -> None:
    page.goto(f"{base}/login")
    page.get_by_label("User id").fill(user)
    page.get_by_label("Role").select_option("lead")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="Rollout plans")).to_be_visible()


def add(page: Page, section: str, fields: dict[str, str], selects: dict[str, str] | None = None, *,
        accepted: bool = True) -> None:
    box = page.locator(f"#{section}")
    box.get_by_role("link", name=re.compile("^Add ")).click()
    for label, value in (selects or {}).items():
        box.get_by_label(re.compile("^" + re.escape(label))).first.select_option(value)
    for label, value in fields.items():
        box.get_by_label(re.compile("^" + re.escape(label))).first.fill(value)
    box.get_by_role("button", name="Add", exact=True).click()
    if accepted:  # the component comes back without its form (and the page's other parts are refreshed)
        expect(box.get_by_role("link", name=re.compile("^Add "))).to_be_visible()


def click_cell(page: Page, plan: str, phase: str, field: str, item: str) -> None:
    cell = page.locator(f'#matrix button[formaction="/plans/{plan}/matrix/{phase}/{field}/{item}"]')
    cell.click()
    expect(page.locator(f'#matrix button[formaction="/plans/{plan}/matrix/{phase}/{field}/{item}"]')).to_have_attribute(
        "aria-pressed", "true")


def test_a_lead_plans_previews_and_syncs_a_rollout(page: Page, live_server):
    env = unleash_env()
    run = uuid.uuid4().hex[:6]
    key, blog, wiki = f"journey-{run}", f"blog-{run}", f"wiki-{run}"
    base = live_server.url
    sign_in(page, base)

    create = page.locator("#create-plan")
    create.get_by_label("Key").fill(key)
    create.get_by_label("Title").fill("Intranet journey")
    create.get_by_role("button", name="Create").click()
    expect(page.get_by_role("heading", name="Intranet journey")).to_be_visible()

    add(page, "features", {"Key": blog, "Name": "Innovation blog"})
    expect(page.locator("#features")).to_contain_text("Innovation blog")
    add(page, "features", {"Key": wiki, "Name": "Wiki"})

    add(page, "cohorts", {"Key": "pilot", "Name": "Pilot group", "Capacity (empty: unlimited)": "20"}, {"Kind": "opt_in"})
    add(page, "cohorts", {"Key": "champions", "Name": "Champions", "Paste user ids": "champ-1\nchamp-2"},
        {"Kind": "list"})
    add(page, "cohorts", {"Key": "hr", "Name": "HR", "Property": "department", "Values (comma-separated)": "HR"},
        {"Kind": "attribute"})
    add(page, "cohorts", {"Key": "all", "Name": "Everyone"}, {"Kind": "everyone"})
    expect(page.locator("#cohorts")).to_contain_text("list of 2 users")
    expect(page.locator("#cohorts")).to_contain_text("department IN HR")

    add(page, "phases", {"Key": "pilot", "Name": "Pilot", "Starts (with timezone)": "2030-01-10T08:00+01:00"})
    add(page, "phases", {"Key": "wave-1", "Name": "Wave 1", "Starts (with timezone)": "2030-02-01T08:00+01:00"})
    # a mistake: no timezone — the error appears next to the field, and the input stays
    add(page, "phases", {"Key": "general", "Name": "Everyone", "Starts (with timezone)": "2030-03-01T08:00"},
        accepted=False)
    error = page.locator("#phases #err-starts")
    expect(error).to_contain_text("needs a timezone")
    starts = page.locator("#phases").get_by_label(re.compile("^Starts"))
    expect(starts).to_have_attribute("aria-invalid", "true")
    starts.fill("2030-03-01T08:00+01:00")
    page.locator("#phases").get_by_role("button", name="Add", exact=True).click()
    expect(page.locator("#phases")).to_contain_text("01 Mar 2030")

    for phase, field, item in [("pilot", "cohorts", "pilot"), ("pilot", "cohorts", "champions"),
                               ("pilot", "features", blog), ("wave-1", "cohorts", "hr"),
                               ("wave-1", "features", wiki), ("general", "cohorts", "all")]:
        click_cell(page, key, phase, field, item)
    expect(page.locator("#timeline svg")).to_be_visible()

    # edit one inline: only the features component is replaced
    page.get_by_role("link", name=f"Edit feature {wiki}").click()
    page.locator("#features").get_by_label("Name").fill("Company wiki")
    page.locator("#features").get_by_role("button", name="Save").click()
    expect(page.locator("#features")).to_contain_text("Company wiki")
    screenshot(page, "plan-page")

    page.get_by_role("link", name="Preview").click()
    page.get_by_label("Date and time").fill("2030-02-03T10:00+01:00")
    page.get_by_label("User (optional)").fill("u-7")
    page.get_by_label("User properties").fill("department=HR")
    page.get_by_role("button", name="Preview").click()
    result = page.locator("#preview-result")
    expect(result).to_contain_text("u-7")
    expect(result).to_contain_text("Company wiki — cohort “HR” (phase “Wave 1”)")  # names, not keys
    assert "at=2030-02-03" in page.url  # the preview has its own URL
    screenshot(page, "preview")

    page.goto(f"{base}/plans/{key}")
    page.get_by_role("link", name="Sync to Unleash").click()
    expect(page.locator("#progress")).to_contain_text("What a sync would change")
    expect(page.locator("#progress")).to_contain_text(f"create flag '{blog}'")
    screenshot(page, "sync-dry-run")
    page.get_by_role("button", name=re.compile(r"^Apply \d+ changes$")).click()
    expect(page.locator("#progress")).to_contain_text("Synced", timeout=30_000)
    screenshot(page, "sync-done")

    with admin_client(env) as admin:
        state = admin.read_project_state("default", "production")
    titles = {flag: sorted(s["title"] for s in state.flags[flag].strategies) for flag in (blog, wiki)}
    assert titles[blog] == sorted([f"rp:{key}:champions:1", f"rp:{key}:hr:1", f"rp:{key}:all"])
    assert titles[wiki] == titles[blog]
    assert state.flags[blog].enabled and state.flags[wiki].enabled
