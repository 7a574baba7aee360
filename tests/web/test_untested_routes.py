"""Routes no other web test reaches: removing items, the strategy sheet, archive, logout, guidelines, the JSON API."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
import uuid
from html import unescape
from pathlib import Path

import pytest

from tests.plans import open_gates
import yaml
from fastapi.testclient import TestClient

from tests.plans import DEMO
from tests.web.conftest import sign_in

KEY = "intranet-rollout"
AT = "2026-12-08T10:00:00+01:00"


def exported(client, key: str = KEY) -> dict:
    """The plan as a lead downloads it: the YAML file of the Export button."""
    response = client.get(f"/plans/{key}/export.yaml")
    assert response.status_code == 200, response.text
    return yaml.safe_load(response.text)


def phase(doc: dict, key: str) -> dict:
    return next(p for p in doc["phases"] if p["key"] == key)


def sheet_form(client, **changes) -> dict:
    """What the sheet's edit form sends as the browser shows it, with `changes` typed in."""
    html = client.get(f"/plans/{KEY}/sheet/edit", htmx=True).text
    inputs = re.findall(r'<input (?:type="hidden" )?name="(\w+)" value="([^"]*)"', html)
    textareas = re.findall(r'<textarea name="(\w+)"[^>]*>(.*?)</textarea>', html, re.S)
    form = {name: unescape(value) for name, value in inputs + textareas}
    if re.search(r'name="pause" value="yes" checked', html):
        form["pause"] = "yes"
    form.pop("csrf_token", None)  # the client sends it as a header
    return {**form, **changes}


def guidelines(client) -> tuple[int, str]:
    """The exported guidelines: (version, text); the file leaves out version 1."""
    doc = exported(client)["guidelines"]
    return doc.get("version", 1), doc.get("text", "")


# -- removing an item on the plan page -------------------------------------------------------------

def test_removing_a_cohort_takes_it_out_of_the_page_the_export_and_every_phase(lead, demo):
    response = lead.post(f"/plans/{KEY}/cohorts/champions/delete")
    assert response.status_code == 200
    assert 'id="cohorts"' in response.text and "cohorts/champions/edit" not in response.text
    assert 'id="phases"' in response.text and "for champions" not in response.text  # phases, out of band
    assert "cohorts/champions" not in lead.get(f"/plans/{KEY}").text
    doc = exported(lead)
    assert [c["key"] for c in doc["cohorts"]] == ["pilot", "hr", "sales-quarter", "all"]
    assert phase(doc, "pilot")["cohorts"] == ["pilot"]
    assert not phase(doc, "pilot").get("grants")  # the microblog preview was for champions only


def test_removing_a_feature_takes_it_out_of_every_phase(lead, demo):
    response = lead.post(f"/plans/{KEY}/features/microblog/delete")
    assert response.status_code == 200 and "Remove feature microblog" not in response.text
    assert 'id="matrix"' in response.text
    assert "Microblog" not in response.text.split('id="matrix"')[1].split("</section>")[0]
    doc = exported(lead)
    assert [f["key"] for f in doc["features"]] == ["innovation-blog", "wiki", "communities"]
    assert all("microblog" not in p.get("features", []) for p in doc["phases"])
    assert not phase(doc, "pilot").get("grants")


def test_removing_a_kpi_takes_it_out_of_the_phase_gate(lead, demo):
    assert lead.post(f"/plans/{KEY}/kpis/satisfaction/delete").status_code == 200
    page = lead.get(f"/plans/{KEY}").text
    assert "gate: blog-posts<" in page and "kpis/satisfaction" not in page
    doc = exported(lead)
    assert [k["key"] for k in doc["kpis"]] == ["blog-posts", "pilot-posting", "blog-served"]
    assert phase(doc, "wave-1")["gate"] == ["blog-posts"]


def test_removing_a_phase_leaves_the_others(lead, demo):
    response = lead.post(f"/plans/{KEY}/phases/general/delete")
    assert response.status_code == 200 and "phases/general/edit" not in response.text
    assert [p["key"] for p in exported(lead)["phases"]] == ["pilot", "wave-1"]


def test_removing_without_htmx_renders_the_whole_page(lead, demo):
    response = lead.post(f"/plans/{KEY}/kpis/blog-posts/delete", htmx=False)
    assert response.status_code == 200 and "<html" in response.text and 'id="plan-page"' in response.text
    assert [k["key"] for k in exported(lead)["kpis"]] == ["pilot-posting", "satisfaction", "blog-served"]


@pytest.mark.parametrize("url", [f"/plans/{KEY}/features/nope/delete", f"/plans/{KEY}/gadgets/wiki/delete",
                                 "/plans/nope/features/wiki/delete"])
def test_removing_something_that_is_not_there_is_a_404_and_changes_nothing(lead, demo, url):
    before = exported(lead)
    assert lead.post(url).status_code == 404
    assert exported(lead) == before


# -- the strategy sheet ----------------------------------------------------------------------------

def test_the_sheet_edit_form_holds_the_current_values(lead, demo):
    fragment = lead.get(f"/plans/{KEY}/sheet/edit", htmx=True)
    assert fragment.status_code == 200 and "<html" not in fragment.text
    html = fragment.text
    assert f'action="/plans/{KEY}/sheet"' in html and 'name="csrf_token"' in html and 'name="seen"' in html
    assert 'value="Social intranet rollout"' in html and 'value="EUR"' in html
    assert "Better knowledge exchange across departments</textarea>" in html and "Be respectful." in html
    assert "Usage guidelines (version 1)" in html and "publish as a new version" in html
    page = lead.get(f"/plans/{KEY}/sheet/edit")
    assert page.status_code == 200 and "<html" in page.text and f'action="/plans/{KEY}/sheet"' in page.text


def test_saving_the_sheet_keeps_title_goal_and_currency_and_the_guidelines_version(lead, demo):
    text = "Be kind.\r\nNo customer data."
    response = lead.post(f"/plans/{KEY}/sheet", sheet_form(lead, title=" Intranet 2.0 ", goal="Fewer e-mails",
                                                           currency="chf", guidelines=text))
    assert response.status_code == 200
    assert "Fewer e-mails" in response.text and "<form" not in response.text  # back to the sheet as read
    page = lead.get(f"/plans/{KEY}").text
    assert "<h1>Intranet 2.0</h1>" in page and "12,000 CHF" in page
    doc = exported(lead)
    assert (doc["title"], doc["goal"], doc["currency"]) == ("Intranet 2.0", "Fewer e-mails", "CHF")
    assert guidelines(lead) == (1, "Be kind.\nNo customer data.")  # new text, but no new version asked for


def test_a_new_guidelines_version_only_when_asked_and_the_text_changed(lead, demo):
    assert lead.post(f"/plans/{KEY}/sheet", sheet_form(lead, guidelines="Be respectful.")).status_code == 200
    assert lead.post(f"/plans/{KEY}/sheet", sheet_form(lead, new_version="yes")).status_code == 200
    assert guidelines(lead) == (1, "Be respectful.")
    changed = sheet_form(lead, new_version="yes", guidelines="Be respectful. Be brief.", pause="yes")
    response = lead.post(f"/plans/{KEY}/sheet", changed)
    assert response.status_code == 200 and '<span class="badge">version 2</span>' in response.text
    assert "Access pauses until members accept a new version." in response.text
    assert guidelines(lead) == (2, "Be respectful. Be brief.")
    assert exported(lead)["guidelines"]["pause_until_accepted"] is True


def test_ticking_new_version_on_untouched_guidelines_of_an_imported_plan_keeps_the_version(lead, demo):
    response = lead.post(f"/plans/{KEY}/sheet", sheet_form(lead, goal="Only the goal", new_version="yes"))
    assert response.status_code == 200
    assert guidelines(lead)[0] == 1


def test_saving_the_sheet_over_a_newer_one_is_a_conflict_that_keeps_the_input(app, demo):
    anna, ben = sign_in(app, "anna", "lead"), sign_in(app, "ben", "lead")
    stale = sheet_form(ben, goal="Ben's goal")
    assert anna.post(f"/plans/{KEY}/sheet", sheet_form(anna, goal="Anna's goal")).status_code == 200
    clash = ben.post(f"/plans/{KEY}/sheet", stale)
    assert clash.status_code == 409
    assert "Someone else changed the strategy sheet since you opened it." in clash.text
    assert "Anna&#39;s goal" in clash.text and "Ben&#39;s goal</textarea>" in clash.text
    assert exported(anna)["goal"] == "Anna's goal"


def test_a_wrong_currency_is_named_next_to_the_field_and_nothing_is_saved(lead, demo):
    before = exported(lead)
    response = lead.post(f"/plans/{KEY}/sheet", sheet_form(lead, currency="EURO", goal="Not saved"))
    assert response.status_code == 422
    assert "must be a three-letter currency code" in response.text and "Not saved</textarea>" in response.text
    assert exported(lead) == before


# -- archive and sign-out --------------------------------------------------------------------------

def test_an_archived_plan_is_gone_from_the_list_the_api_its_page_and_the_pilots(lead, member, demo):
    assert f'href="/plans/{KEY}"' in lead.get("/plans").text and "Pilot group" in member.get("/pilot").text
    response = lead.post(f"/plans/{KEY}/archive")
    # htmx loads the plans page whole (HX-Redirect), never a fragment swapped into the page (HX-Location)
    assert response.status_code == 204
    assert response.headers.get("HX-Redirect") == "/plans" and "HX-Location" not in response.headers
    assert f'href="/plans/{KEY}"' not in lead.get("/plans").text
    assert lead.get("/api/plans").json() == []
    assert lead.get(f"/plans/{KEY}").status_code == 404
    assert "No pilot is open for opt-in right now." in member.get("/pilot").text
    assert lead.post("/plans/nope/archive").status_code == 404


def test_archiving_from_a_plain_form_redirects_to_the_plans(lead, demo):
    response = lead.post(f"/plans/{KEY}/archive", htmx=False)
    assert response.status_code == 303 and response.headers["location"] == "/plans"


def test_an_archived_plan_is_not_served_by_the_api_either(lead, demo):
    lead.post(f"/plans/{KEY}/archive")
    assert lead.get(f"/api/plans/{KEY}").status_code == 404


def test_after_signing_out_the_same_client_is_signed_out(lead, demo):
    assert lead.get("/plans").status_code == 200
    response = lead.post("/logout", htmx=False)
    assert response.status_code == 303 and response.headers["location"] == "/login"
    again = lead.get("/plans")
    assert again.status_code == 303 and again.headers["location"].startswith("/login")
    assert lead.get("/api/plans").status_code == 401


def test_signing_out_needs_the_csrf_token(lead, demo):
    assert lead.client.post("/logout").status_code == 403
    assert lead.get("/plans").status_code == 200


# -- accepting the pilot guidelines ----------------------------------------------------------------

def test_a_member_accepts_a_new_guidelines_version_and_a_wrong_one_is_refused(app, lead, demo):
    member = sign_in(app, "u-7", "member")
    assert member.post(f"/pilot/{KEY}/pilot/join", {"accept": "1"}).status_code == 200
    bumped = lead.post(f"/plans/{KEY}/sheet", sheet_form(lead, new_version="yes", guidelines="New rules."))
    assert bumped.status_code == 200
    page = member.get("/pilot").text
    assert "The guidelines changed (you accepted version 1)" in page and "Accept version 2" in page
    wrong = member.post(f"/pilot/{KEY}/accept", {"version": "1"})
    assert wrong.status_code == 422 and "the current guidelines are version 2" in wrong.text
    accepted = member.post(f"/pilot/{KEY}/accept", {"version": "2"})
    assert accepted.status_code == 200 and "Thank you: guidelines version 2 accepted." in accepted.text
    assert "The guidelines changed" not in member.get("/pilot").text
    assert member.post("/pilot/nope/accept", {"version": "1"}).status_code == 404


# -- the JSON API ----------------------------------------------------------------------------------

def test_the_api_lists_plans_and_gives_one_in_the_plan_file_shape(lead, demo):
    [listed] = lead.get("/api/plans").json()
    assert listed["plan"] == KEY and listed["title"] == "Social intranet rollout" and listed["version"] == 1
    assert (listed["project"], listed["environment"]) == ("default", "development") and listed["updated_at"]
    plan = lead.get(f"/api/plans/{KEY}").json()
    assert plan["plan"] == KEY and plan["guidelines"]["text"].startswith("Be respectful.")
    assert [f["key"] for f in plan["features"]] == ["innovation-blog", "wiki", "microblog", "communities"]
    assert phase(plan, "wave-1")["cohorts"] == ["hr", "sales-quarter"]
    assert phase(plan, "wave-1")["starts"] == "2026-12-07T08:00:00+01:00"
    assert lead.get("/api/plans/nope").status_code == 404


def test_the_api_preview_says_who_gets_what_and_why(lead, demo, database_url):
    open_gates(database_url, demo.key)
    everyone = lead.get(f"/api/plans/{KEY}/preview", params={"at": AT})
    assert everyone.status_code == 200
    pairs = {(a["cohort"], a["feature"]) for a in everyone.json()["access"]}
    assert ("hr", "wiki") in pairs and ("all", "communities") not in pairs
    user = lead.get(f"/api/plans/{KEY}/preview", params={"at": AT, "user": "u-7", "prop": "department=HR"}).json()
    assert user["user"] == "u-7" and "communities" not in user["features"]
    assert user["features"]["wiki"] == [{"cohort": "hr", "reason": "admitted by phase 'wave-1', "
                                                                  "feature enabled by phase 'pilot'"}]


@pytest.mark.parametrize("params", [{"at": "2026-12-08T10:00:00"}, {"at": "tomorrow"}, {}])
def test_the_api_preview_refuses_a_bad_instant_and_names_the_field(lead, demo, params):
    response = lead.get(f"/api/plans/{KEY}/preview", params=params)
    assert response.status_code == 422
    detail = response.json()["detail"]
    # a sentence that starts with the field, or FastAPI's list of errors, each with its location
    assert detail.startswith("at: ") if isinstance(detail, str) else [e["loc"][-1] for e in detail] == ["at"]
    if "T10:00:00" in params.get("at", ""):
        assert "needs a timezone" in response.text


def test_the_api_preview_refuses_a_property_without_a_value(lead, demo):
    response = lead.get(f"/api/plans/{KEY}/preview", params={"at": AT, "user": "u-7", "prop": "foo"})
    assert response.status_code == 422 and "prop" in response.text


def test_the_sync_history_of_a_plan_never_synced_is_empty(lead, demo):
    assert lead.get(f"/api/plans/{KEY}/syncs").json() == []
    assert lead.get("/api/plans/nope/syncs").status_code == 404


@pytest.fixture
def no_client_token(monkeypatch, tmp_path):
    """An environment without UNLEASH_CLIENT_TOKEN (taken before the app, which may read its settings once)."""
    monkeypatch.delenv("UNLEASH_CLIENT_TOKEN", raising=False)
    monkeypatch.chdir(tmp_path)  # and no .env of a developer's supplies one


def test_without_a_client_token_the_bootstrap_says_what_is_missing(no_client_token, app, demo):
    lead = sign_in(app, "lead-1", "lead")
    response = lead.get(f"/api/plans/{KEY}/bootstrap")
    assert response.status_code == 503 and "UNLEASH_CLIENT_TOKEN" in response.text
    assert lead.get("/api/plans/nope/bootstrap").status_code == 404


@pytest.mark.integration
def test_the_bootstrap_of_a_synced_plan_has_exactly_its_flags(lead, database_url, tmp_path):
    env = {n: os.environ.get(n, "") for n in ("UNLEASH_URL", "UNLEASH_ADMIN_TOKEN", "UNLEASH_CLIENT_TOKEN")}
    if not all(env.values()):
        if os.environ.get("CI") == "true":
            pytest.fail("the Unleash test server is not configured; run the tests with `make test`", pytrace=False)
        pytest.skip("no Unleash server configured (run `make unleash` and export its lines)")
    key = f"sync-{uuid.uuid4().hex[:8]}"  # a test plan's key: the session's clean-up removes it from Unleash
    text = DEMO.read_text().replace(f"plan: {KEY}", f"plan: {key}\nflag_prefix: {key}-")
    imported = lead.client.post("/plans/import", files={"file": ("plan.yaml", text.encode(), "text/yaml")},
                                headers={"X-CSRF-Token": lead.csrf, "HX-Request": "true"})
    assert imported.status_code == 204
    planner = str(Path(sys.executable).with_name("planner"))
    synced = subprocess.run([planner, "sync", key], env={**os.environ, "PLANNER_DATABASE_URL": database_url},
                            cwd=tmp_path, capture_output=True, text=True, timeout=300, stdin=subprocess.DEVNULL)
    assert synced.returncode == 0, synced.stdout + synced.stderr
    flags = {f"{key}-{f}" for f in ("innovation-blog", "wiki", "microblog", "communities")}
    deadline = time.monotonic() + 15  # the client API publishes writes about once a second
    while True:
        response = lead.get(f"/api/plans/{key}/bootstrap")
        assert response.status_code == 200, response.text
        body = response.json()
        if {f["name"] for f in body["features"]} == flags or time.monotonic() > deadline:
            break
        time.sleep(0.3)
    assert {f["name"] for f in body["features"]} == flags
    used = {s for f in body["features"] for strategy in f["strategies"] for s in strategy.get("segments", [])}
    assert used and {s["id"] for s in body["segments"]} == used
    assert all(s["name"].startswith(f"rp:{key}:") for s in body["segments"])
    [run] = lead.get(f"/api/plans/{key}/syncs").json()
    assert not run["dry_run"] and run["writes"] > 0 and run["finished_at"]


# -- who may ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("method, url", [
    ("post", f"/plans/{KEY}/features/wiki/delete"), ("get", f"/plans/{KEY}/sheet/edit"),
    ("post", f"/plans/{KEY}/sheet"), ("post", f"/plans/{KEY}/archive"), ("get", f"/plans/{KEY}/export.yaml"),
    ("get", f"/api/plans/{KEY}"), ("get", f"/api/plans/{KEY}/preview?at=2026-12-08T10:00:00%2B01:00"),
    ("get", f"/api/plans/{KEY}/syncs"), ("get", f"/api/plans/{KEY}/bootstrap"),
])
def test_a_pilot_user_gets_403_on_lead_routes(member, lead, demo, method, url):
    before = exported(lead)
    response = member.post(url, {"goal": "mine"}) if method == "post" else member.get(url)
    assert response.status_code == 403
    assert exported(lead) == before


def test_signed_out_visitors_cannot_use_the_api(app, demo):
    anonymous = TestClient(app, follow_redirects=False)
    for url in (f"/api/plans/{KEY}", f"/api/plans/{KEY}/syncs", f"/api/plans/{KEY}/bootstrap"):
        assert anonymous.get(url).status_code == 401, url


def test_the_sync_panel_says_so_when_unleash_cannot_be_read(database_url, demo):
    """Unleash down: the panel says it could not be read, never that Unleash already matches the plan."""
    from services.settings import Settings
    from tests.ports import free_port
    from tests.web.conftest import sign_in
    from web.app import create_app

    token = "*:*." + "s3cret" * 8
    app = create_app(settings=Settings(dev_login=True, session_secret="t" * 32, database_url=database_url,
                                       unleash_url=f"http://127.0.0.1:{free_port()}/api", unleash_admin_token=token,
                                       background=False))
    page = sign_in(app, "lead-1", "lead").get(f"/plans/{KEY}/sync", htmx=True)
    assert page.status_code == 200 and "Unleash could not be read" in page.text
    assert "already matches" not in page.text and "Apply" not in page.text
    assert token not in page.text and "s3cret" not in page.text


def test_signing_out_ends_the_sign_in_on_the_server_so_a_copied_cookie_is_void(app, lead, demo):
    from fastapi.testclient import TestClient

    copied = dict(lead.client.cookies)
    assert TestClient(app, cookies=copied).get("/api/plans").status_code == 200  # the copy works while signed in
    assert lead.post("/logout", htmx=False).status_code == 303
    assert TestClient(app, cookies=copied).get("/api/plans").status_code == 401
    again = TestClient(app, cookies=copied, follow_redirects=False).get("/plans")
    assert again.status_code == 303 and again.headers["location"].startswith("/login")
