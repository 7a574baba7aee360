"""The strategy in full on the plan page: goals per stakeholder (added, edited, following renames), what each
feature serves and each target group wants (the coverage), resources and trainings, all in the export."""

from __future__ import annotations

from tests.web.test_untested_routes import KEY, exported, phase


def test_a_lead_adds_a_goal_with_its_target_groups_and_kpis(lead, demo):
    added = lead.post(f"/plans/{KEY}/goals", {"key": "reach", "stakeholder": "Works council", "text": "Nobody is left out",
                                              "cohorts": ["all"], "kpis": ["pilot-posting"]})
    assert added.status_code == 200 and "Nobody is left out" in added.text and "Works council" in added.text
    goal = next(g for g in exported(lead)["goals"] if g["key"] == "reach")
    assert goal == {"key": "reach", "stakeholder": "Works council", "text": "Nobody is left out", "cohorts": ["all"],
                    "kpis": ["pilot-posting"]}


def test_a_goal_without_a_stakeholder_is_refused_beside_the_field_and_nothing_is_written(lead, demo):
    before = exported(lead)
    refused = lead.post(f"/plans/{KEY}/goals", {"key": "x", "stakeholder": "", "text": "something"})
    assert refused.status_code == 422 and "name the stakeholder" in refused.text
    assert exported(lead) == before


def test_a_renamed_cohort_or_a_removed_kpi_is_followed_by_the_goals(lead, demo):
    hr = next(c for c in exported(lead)["cohorts"] if c["key"] == "hr")
    renamed = lead.post(f"/plans/{KEY}/cohorts/hr", {"key": "people", "name": hr["name"], "kind": "attribute",
                                                     "interests": "onboarding; internal job posts",
                                                     "rule_property": "department", "rule_operator": "IN",
                                                     "rule_values": "HR", "rule_case": "no"})
    assert renamed.status_code == 200, renamed.text
    assert lead.post(f"/plans/{KEY}/kpis/blog-posts/delete").status_code == 200
    connect = next(g for g in exported(lead)["goals"] if g["key"] == "connect")
    assert connect["cohorts"] == ["people", "pilot"] and connect["kpis"] == ["pilot-posting"]


def test_what_a_feature_serves_closes_a_gap_in_the_coverage(lead, demo):
    page = lead.get(f"/plans/{KEY}").text
    assert "shape the platform" in page.split("Interests no feature serves:")[1][:300]
    saved = lead.post(f"/plans/{KEY}/features/communities", {"key": "communities", "name": "Communities",
                                                             "serves": "shape the platform; share ideas"})
    assert saved.status_code == 200
    page = lead.get(f"/plans/{KEY}").text
    gaps = page.split("Interests no feature serves:")[1].split("</p>")[0]
    unasked = page.split("Features no target group asked for:")[1].split("</p>")[0]
    assert "shape the platform" not in gaps and "none" in gaps and "none" in unasked
    assert "shape the platform ← Communities" in page


def test_spent_budget_community_managers_and_a_held_training_are_edited_and_exported(lead, demo):
    form = {"key": "wave-1", "name": "Wave 1", "starts": "2026-12-07T08:00+01:00", "owners": "HR business partners",
            "community_managers": "Ben Ito, Cleo Park", "budget": "8000", "spent": "1250", "gate": ["blog-posts"],
            "trainings": "2026-12-08T14:00+01:00 | HR and Sales | Microblog etiquette | held, 24 attended"}
    assert lead.post(f"/plans/{KEY}/phases/wave-1", form).status_code == 200
    wave = phase(exported(lead), "wave-1")
    assert wave["community_managers"] == ["Ben Ito", "Cleo Park"] and wave["spent"] == 1250
    assert wave["trainings"][0]["held"] is True and wave["trainings"][0]["attendance"] == 24
    refused = lead.post(f"/plans/{KEY}/phases/wave-1", {**form, "spent": "-5"})
    assert refused.status_code == 422 and "must not be negative" in refused.text


def test_the_preview_says_which_started_phases_wait_for_their_gate(lead, demo):
    page = lead.get(f"/plans/{KEY}/preview?at=2026-12-08T10:00%2B01:00").text
    assert "Wave 1 waits for its gate" in page
    assert "waits for its gate" not in lead.get(f"/plans/{KEY}/preview?at=2026-12-01T10:00%2B01:00").text
