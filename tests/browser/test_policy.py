"""Under the Content-Security-Policy every page still works in real Chromium: the few behaviours that were
inline handlers (archive confirm, the percentage slider, the token field) run from /static/app.js, and a
policy violation would fail the test as a console error (see the `page` fixture)."""

from __future__ import annotations

import uuid

from playwright.sync_api import Page, expect

from tests.browser.test_lead_journey import sign_in
from web.security import POLICY


def test_pages_carry_the_policy_and_their_behaviours_work_under_it(page: Page, live_server):
    base = live_server.url
    sign_in(page, base)
    page.wait_for_load_state()  # its scripts and styles in, so the next navigation cuts nothing off
    answer = page.goto(f"{base}/plans")
    assert answer is not None and answer.headers["content-security-policy"] == POLICY
    assert answer.headers["x-frame-options"] == "DENY" and answer.headers["x-content-type-options"] == "nosniff"
    assert answer.headers["referrer-policy"] == "same-origin"

    key = f"policy-{uuid.uuid4().hex[:6]}"
    create = page.locator("#create-plan")
    create.get_by_label("Key").fill(key)
    create.get_by_role("button", name="Create").click()
    expect(page.get_by_role("heading", name=key)).to_be_visible()
    cohorts = page.locator("#cohorts")
    cohorts.get_by_role("link", name="Add cohort").click()
    cohorts.locator("input[name=percentage_on]").check()
    slider = cohorts.locator("input[type=range][name=percentage]")
    slider.fill("37")
    expect(cohorts.locator("output")).to_have_text("37 %")

    page.wait_for_load_state()
    page.goto(f"{base}/tokens")
    page.get_by_label("Name").fill(f"policy-{uuid.uuid4().hex[:6]}")
    page.get_by_role("button", name="Create").click()
    field = page.locator("#new-token")
    field.focus()
    assert page.evaluate("() => document.activeElement.selectionEnd - document.activeElement.selectionStart") > 40

    page.wait_for_load_state()
    page.goto(f"{base}/plans")
    asked: list[str] = []
    page.once("dialog", lambda dialog: (asked.append(dialog.message), dialog.accept()))
    page.locator(f'form[action="/plans/{key}/archive"] button').click()
    expect(page.locator(f'a[href="/plans/{key}"]')).to_have_count(0)
    assert asked == [f"Archive plan {key}?"]
