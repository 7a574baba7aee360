"""Bad input through the pages and the API: a clear 4xx naming the field, never a server error."""

from __future__ import annotations

KEY = "intranet-rollout"


def test_nan_in_join_json_is_a_422_that_does_not_echo_the_input(member, demo):
    response = member.client.post(f"/api/pilot/{KEY}/pilot/join", content=b'{"accept_guidelines_version": NaN}',
                                  headers={"X-CSRF-Token": member.csrf, "content-type": "application/json"})
    assert response.status_code == 422
    assert response.json() == {"detail": [{"loc": ["body", "accept_guidelines_version"],
                                           "msg": "Input should be a finite number", "type": "finite_number"}]}


def test_a_user_list_upload_that_is_not_utf8_is_named_as_such(lead, demo):
    response = lead.client.post(f"/plans/{KEY}/cohorts", data={"key": "c2", "kind": "list", "name": "C2"},
                                files={"users_file": ("u.csv", "user\nJürgen\n".encode("latin-1"))},
                                headers={"X-CSRF-Token": lead.csrf, "HX-Request": "true"})
    assert response.status_code == 422 and "is not UTF-8 text" in response.text


def test_the_strategy_sheet_shows_an_error_on_the_field_it_belongs_to(lead, demo):
    response = lead.post(f"/plans/{KEY}/sheet", {"title": "T\x00", "currency": "EUR", "guidelines": "g" * 20_001})
    assert response.status_code == 422
    assert 'id="err-title"' in response.text and "contains a NUL character" in response.text
    assert 'id="err-guidelines"' in response.text and "is 20,001 characters long; at most 20,000" in response.text


def test_members_of_an_unknown_plan_or_cohort_are_a_404(lead, demo):
    assert lead.post("/plans/nope/cohorts/pilot/members/remove", {"user": "u-1"}).status_code == 404
    assert lead.post(f"/plans/{KEY}/cohorts/nope/members/remove", {"user": "u-1"}).status_code == 404


def test_the_members_csv_opens_formulas_as_text(lead, demo, database_url):
    """OWASP CSV injection: a cell that a spreadsheet would run as a formula starts with an apostrophe."""
    import csv
    import io

    from planner.db import session_scope
    from planner.tables import CohortRow, MembershipRow, PlanRow, utcnow

    with session_scope(database_url) as session:
        cohort = session.query(CohortRow).join(PlanRow).filter(PlanRow.key == KEY, CohortRow.key == "pilot").one()
        for user in ("=1+2", "+cmd", "-2+3", "@SUM(A1)", "plain"):
            session.add(MembershipRow(cohort_id=cohort.id, user_id=user, status="member", requested_at=utcnow(),
                                      joined_at=utcnow(), guidelines_version=1, accepted_at=utcnow()))
    rows = list(csv.reader(io.StringIO(lead.get(f"/plans/{KEY}/cohorts/pilot/members.csv").text)))
    assert [r[0] for r in rows] == ["user_id", "'=1+2", "'+cmd", "'-2+3", "'@SUM(A1)", "plain"]


def test_a_body_over_the_limit_is_refused_before_it_is_read(lead, demo):
    from web.security import MAX_BODY_BYTES

    huge = b"x" * (MAX_BODY_BYTES + 1)
    declared = lead.client.post("/plans/import", content=huge,
                                headers={"X-CSRF-Token": lead.csrf, "content-type": "application/octet-stream"})
    assert declared.status_code == 413 and "larger than 8,000,000 bytes" in declared.text

    def chunks():  # one file field whose content never ends
        yield b'--b\r\nContent-Disposition: form-data; name="file"; filename="plan.yaml"\r\n\r\n'
        for _ in range(MAX_BODY_BYTES // 1_000_000 + 2):
            yield b"y" * 1_000_000

    streamed = lead.client.post("/plans/import", content=chunks(),  # sent in chunks: no Content-Length
                                headers={"X-CSRF-Token": lead.csrf, "content-type": "multipart/form-data; boundary=b"})
    assert streamed.status_code == 413
    assert lead.get(f"/plans/{KEY}").status_code == 200  # nothing else was disturbed
