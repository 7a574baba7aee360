"""A pilot user's journey in real Chromium: guidelines, join, the feature reported by the real Unleash,
leave, and the waitlist promoting the next user."""

from __future__ import annotations

import re
import time

from playwright.sync_api import Page, expect

from planner.db import session_scope
from planner.planfile import load_plan
from planner.plans import apply_plan
from tests.browser import screenshot
from tests.integration.unleash import admin_client, unique, unleash_env
from tests.plans import DEMO
from services.sync import sync_plan


def sign_in(page: Page, base: str, user: str) -> None:
    page.context.clear_cookies()
    page.goto(f"{base}/login?next=/pilot")
    page.get_by_label("User id").fill(user)
    page.get_by_label("Role").select_option("member")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="Join the pilot")).to_be_visible()


def test_a_pilot_user_joins_sees_the_feature_in_unleash_leaves_and_the_waitlist_moves(page: Page, fresh_live_server):
    env = unleash_env()
    key = unique("pilot-")
    text = DEMO.read_text().replace("plan: intranet-rollout", f"plan: {key}\nflag_prefix: {key}-")
    text = text.replace("capacity: 50", "capacity: 1").replace("title: Social intranet rollout", "title: Pilot journey")
    plan = load_plan(text)
    with session_scope(fresh_live_server.database_url) as session:
        apply_plan(session=session, plan=plan, actor="lead")
    with admin_client(env) as admin:
        assert sync_plan(database_url=fresh_live_server.database_url, plan_key=key, admin=admin,
                         actor="lead").outcome == "ok"
    base = fresh_live_server.url
    offer = f"#offer-{key}-pilot"

    sign_in(page, base, "alice")
    card = page.locator(offer)
    expect(card).to_contain_text("Be respectful.")
    expect(card).to_contain_text("1 of 1 places left")
    card.get_by_role("button", name="Join the pilot").click()
    # the browser refuses to submit without the guidelines box ticked
    expect(page.locator(offer)).not_to_contain_text("you are a member")
    page.locator(offer).get_by_label(re.compile("I have read and accept the usage guidelines")).check()
    page.locator(offer).get_by_role("button", name="Join the pilot").click()
    expect(page.locator(offer)).to_contain_text("you are a member")
    screenshot(page, "pilot-joined")

    # "My features": the real Unleash (through the planner's flag reader) reports the pilot feature
    wiki = f"{key}-wiki"
    deadline = time.monotonic() + 20
    while True:
        page.goto(f"{base}/me/features")
        row = page.locator("tr", has_text=wiki)
        if row.count() and row.locator('[data-unleash="on"]').count():
            break
        assert time.monotonic() < deadline, ("Unleash never reported the pilot feature for alice; health: "
                                             + page.request.get(f"{base}/health").text())
        time.sleep(0.5)
    expect(row).to_contain_text("cohort “Pilot group”")  # the cohort's name
    screenshot(page, "my-features")

    sign_in(page, base, "bob")
    page.locator(offer).get_by_label(re.compile("I have read and accept")).check()
    page.locator(offer).get_by_role("button", name="Join the waitlist").click()
    expect(page.locator(offer)).to_contain_text("waitlist: number 1")

    sign_in(page, base, "alice")
    page.once("dialog", lambda dialog: dialog.accept())
    page.locator(offer).get_by_role("button", name="Leave the pilot").click()
    expect(page.locator("#offers")).to_contain_text("You left the pilot.")

    sign_in(page, base, "bob")
    expect(page.locator(offer)).to_contain_text("you are a member")
