"""The lead's pages: full pages and htmx fragments, inline edits, validation, conflicts, imports."""

from __future__ import annotations

import io

import pytest

from tests.plans import open_gates

from planner.db import session_scope
from planner.store import load_plan
from tests.plans import DEMO


def stored(database_url, key="intranet-rollout"):
    with session_scope(database_url) as session:
        return load_plan(session, key)


@pytest.mark.parametrize("url, marker", [
    ("/plans", 'id="plans"'),
    ("/plans/intranet-rollout", 'id="plan-page"'),
    ("/plans/intranet-rollout/features", 'id="features"'),
    ("/plans/intranet-rollout/cohorts", 'id="cohorts"'),
    ("/plans/intranet-rollout/phases", 'id="phases"'),
    ("/plans/intranet-rollout/kpis", 'id="kpis"'),
    ("/plans/intranet-rollout/matrix", 'id="matrix"'),
    ("/plans/intranet-rollout/sheet", 'id="sheet"'),
    ("/plans/intranet-rollout/features/wiki/edit", 'id="features"'),
    ("/plans/intranet-rollout/cohorts/new", 'id="cohorts"'),
    ("/plans/intranet-rollout/preview?at=2026-12-08T10:00%2B01:00", 'id="preview-result"'),
    ("/audit", 'id="entries"'),
])
def test_every_htmx_endpoint_gives_its_fragment_and_the_full_page_without_htmx(lead, demo, url, marker):
    fragment = lead.get(url, htmx=True)
    page = lead.get(url)
    assert fragment.status_code == page.status_code == 200
    assert marker in fragment.text and "<html" not in fragment.text
    assert marker in page.text and "<html" in page.text
    assert "HX-Request" in page.headers["vary"] and "HX-Request" in fragment.headers["vary"]


def test_the_plan_page_shows_timeline_and_strategy_sheet(lead, demo):
    page = lead.get("/plans/intranet-rollout").text
    assert "<svg" in page and "Better knowledge exchange" in page and "version 1" in page
    assert "Anna Schmidt (project lead)" in page and "12,000" in page and "Microblog etiquette" in page
    assert "onboarding; internal job posts" in page  # the content strategy
    assert "Interests no feature serves:" in page and "shape the platform" in page  # the coverage
    assert "Features no target group asked for:" in page and "Communities" in page.split("asked for:")[1][:400]
    assert "People connect across departments" in page and "Ben Ito" in page and "7,400" in page  # goals, resources
    assert "1 held (31 attended), 1 planned." in page


def test_inline_edit_replaces_the_component_and_updates_the_matrix_out_of_band(lead, demo, database_url):
    response = lead.post("/plans/intranet-rollout/features/wiki",
                         {"key": "wiki", "name": "Company wiki", "description": "", "seen": _seen(lead, "features", "wiki")})
    assert response.status_code == 200
    assert 'id="features"' in response.text and "Company wiki" in response.text
    assert 'id="matrix" class="card matrix" hx-target="this" hx-swap="outerHTML" hx-swap-oob="true"' in response.text
    assert stored(database_url).features[1].name == "Company wiki"


def test_a_renamed_cohort_keeps_its_place_in_every_phase(lead, demo, database_url):
    data = {"key": "people", "name": "HR", "kind": "attribute", "rule_property": "department", "rule_operator": "IN",
            "rule_values": "HR", "rule_case": "no", "seen": _seen(lead, "cohorts", "hr")}
    assert lead.post("/plans/intranet-rollout/cohorts/hr", data).status_code == 200
    assert stored(database_url).phases[1].cohorts == ("people", "sales-quarter")


def test_invalid_input_comes_back_with_the_error_next_to_the_field(lead, demo, database_url):
    before = stored(database_url)
    data = {"key": "wave-1", "name": "Wave 1", "starts": "2026-12-07T08:00",
            "seen": _seen(lead, "phases", "wave-1")}
    response = lead.post("/plans/intranet-rollout/phases/wave-1", data)
    assert response.status_code == 422
    assert 'id="err-starts"' in response.text and "needs a timezone" in response.text
    assert 'value="2026-12-07T08:00"' in response.text  # the lead's input is kept
    assert stored(database_url) == before
    data["starts"] = "2026-10-01T08:00+01:00"
    ordered = lead.post("/plans/intranet-rollout/phases/wave-1", data)
    # in words a person reads, not field paths: the phase before it by name, its start as the page shows it
    assert ordered.status_code == 422 and "must be after the start of " in ordered.text
    assert "phases[0]" not in ordered.text
    data["starts"] = "2026-12-09T08:00+01:00"
    assert lead.post("/plans/intranet-rollout/phases/wave-1", data).status_code == 200
    assert stored(database_url).phases[1].starts.isoformat() == "2026-12-09T08:00:00+01:00"


def test_two_leads_editing_the_same_item_the_second_gets_a_conflict(app, demo, database_url):
    from tests.web.conftest import sign_in

    first, second = sign_in(app, "anna", "lead"), sign_in(app, "ben", "lead")
    seen = _seen(first, "kpis", "blog-posts")
    assert seen == _seen(second, "kpis", "blog-posts")
    base = {"key": "blog-posts", "name": "New innovation blog posts", "source": "event"}
    assert first.post("/plans/intranet-rollout/kpis/blog-posts", {**base, "target": ">= 60", "seen": seen}).status_code == 200
    clash = second.post("/plans/intranet-rollout/kpis/blog-posts", {**base, "target": ">= 80", "seen": seen})
    assert clash.status_code == 409
    assert "Someone else saved this KPI" in clash.text and "&gt;= 60" in clash.text
    assert 'value="&gt;= 80"' in clash.text  # the second lead's input is not lost
    assert stored(database_url).kpis[0].target == ">= 60"


def test_list_cohort_from_csv_names_bad_lines_and_imports_nothing(lead, demo, database_url):
    base = {"key": "champions", "name": "Champions", "kind": "list", "seen": _seen(lead, "cohorts", "champions")}
    bad = "user_id\nu-1\nu 2\nu-1\n"
    response = lead.client.post("/plans/intranet-rollout/cohorts/champions", data=base,
                                files={"users_file": ("users.csv", io.BytesIO(bad.encode()), "text/csv")},
                                headers={"X-CSRF-Token": lead.csrf, "HX-Request": "true"})
    assert response.status_code == 422
    assert "line 3: &#39;u 2&#39; is not a user id" in response.text and "line 4: user &#39;u-1&#39; is already on line 2" in response.text
    assert stored(database_url).cohort("champions").users == ("u-100", "u-101", "u-102")
    good = "user_id,name\nu-1,Ann\nu-2,Bo\n"
    ok = lead.client.post("/plans/intranet-rollout/cohorts/champions", data=base,
                          files={"users_file": ("users.csv", io.BytesIO(good.encode()), "text/csv")},
                          headers={"X-CSRF-Token": lead.csrf, "HX-Request": "true"})
    assert ok.status_code == 200 and stored(database_url).cohort("champions").users == ("u-1", "u-2")


def test_matrix_click_toggles_a_feature_in_a_phase(lead, demo, database_url):
    seen = _seen(lead, "phases", "general")
    response = lead.post("/plans/intranet-rollout/matrix/general/features/wiki", {"seen": seen})
    assert response.status_code == 200 and 'id="timeline"' in response.text
    assert stored(database_url).phases[2].features == ("communities", "wiki")


def test_create_import_and_export_plans(lead, database_url):
    created = lead.post("/plans", {"key": "new-plan", "title": "New"})
    assert created.status_code == 204 and created.headers["HX-Redirect"] == "/plans/new-plan"
    refused = lead.post("/plans", {"key": "Bad Key"})
    assert refused.status_code == 422 and "lowercase" in refused.text
    broken = DEMO.read_text().replace("operator: IN", "operator: LIKE", 1)
    response = lead.client.post("/plans/import", files={"file": ("plan.yaml", broken.encode(), "text/yaml")},
                                headers={"X-CSRF-Token": lead.csrf, "HX-Request": "true"})
    assert response.status_code == 422 and "nothing imported" in response.text
    assert "cohorts[2].rules[0].operator" in response.text
    assert stored(database_url) is None
    response = lead.client.post("/plans/import", files={"file": ("plan.yaml", DEMO.read_bytes(), "text/yaml")},
                                headers={"X-CSRF-Token": lead.csrf, "HX-Request": "true"})
    assert response.status_code == 204
    exported = lead.get("/plans/intranet-rollout/export.yaml")
    assert exported.headers["content-disposition"] == 'attachment; filename="intranet-rollout.yaml"'
    from planner.planfile import load_plan
    assert load_plan(exported.text) == stored(database_url)


def test_preview_for_a_user_says_what_and_why(lead, demo, database_url):
    open_gates(database_url, demo.key)
    page = lead.get("/plans/intranet-rollout/preview?at=2026-12-08T10:00%2B01:00&user=u-7&props=department%3DHR").text
    assert "<strong>Wiki</strong> — cohort “HR” (admitted by phase “Wave 1”, feature enabled by phase “Pilot”)" in page
    bad = lead.get("/plans/intranet-rollout/preview?at=tomorrow", htmx=True)
    assert bad.status_code == 422 and "is not a date and time" in bad.text


def test_edits_are_in_the_audit_log_filterable_by_plan(lead, demo):
    lead.post("/plans/intranet-rollout/kpis/satisfaction",
              {"key": "satisfaction", "name": "Satisfaction", "source": "manual", "target": ">= 4.2",
               "seen": _seen(lead, "kpis", "satisfaction")})
    page = lead.get("/audit?plan=intranet-rollout").text
    assert "changed KPI &#39;satisfaction&#39;" in page and "lead-1" in page


def _seen(client, kind: str, key: str) -> str:
    import re

    html = client.get(f"/plans/intranet-rollout/{kind}/{key}/edit", htmx=True).text
    return re.search(r'name="seen" value="([0-9a-f]+)"', html).group(1)


def test_a_ramp_is_written_in_the_phase_form_in_words_and_shown_back(lead, demo, database_url):
    data = {"key": "wave-1", "name": "Wave 1", "starts": "2026-12-07T08:00+01:00", "seen": _seen(lead, "phases", "wave-1"),
            "ramps": "hr: 10% at start, 50% after 3d, 100% after 1w"}
    response = lead.post("/plans/intranet-rollout/phases/wave-1", data)
    assert response.status_code == 200, response.text
    ramp = stored(database_url).phases[1].ramps[0]
    assert (ramp.cohort, [(s.percent, s.after) for s in ramp.steps]) == ("hr", [(10, "0d"), (50, "3d"), (100, "1w")])
    assert "ramp of hr: 10 % → 50 % after 3d → 100 % after 1w" in response.text
    form = lead.get("/plans/intranet-rollout/phases/wave-1/edit").text
    assert "hr: 10% at start, 50% after 3d, 100% after 1w" in form  # the form gives it back as it was written
    data.update(ramps="hr: 50% at start, 20% after someday", seen=_seen(lead, "phases", "wave-1"))
    refused = lead.post("/plans/intranet-rollout/phases/wave-1", data)
    assert refused.status_code == 422 and "must be more than the step before (50)" in refused.text
    assert "someday" in refused.text


def test_instants_are_shown_in_the_zone_they_were_planned_in_and_say_which(lead, demo):
    dashboard = lead.get("/plans/intranet-rollout/dashboard").text  # Wave 1: 2026-12-07T08:00+01:00
    assert "starts 07 Dec 2026 08:00 UTC+01:00" in dashboard and "08:00 UTC<" not in dashboard
    assert "window since Pilot&#39;s start, up to Wave 1&#39;s start" in dashboard  # names, not "since pilot"
    plan = lead.get("/plans/intranet-rollout").text
    assert "07 Dec 2026, 08:00 <span class=\"muted\">(UTC+01:00)</span>" in plan

    assert "Interests: new ways of working; shape the platform" in plan
    for path in ("/plans", "/plans/intranet-rollout", "/plans/intranet-rollout/dashboard",
                 "/plans/intranet-rollout/report", "/plans/intranet-rollout/preview?at=2027-03-01T10:00%2B01:00",
                 "/pilot", "/me/features"):
        page = lead.get(path).text
        assert "(&#39;" not in page and "[&#39;" not in page, path  # a Python tuple or list shown as it is
