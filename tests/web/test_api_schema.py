"""The JSON API against its own OpenAPI document (schemathesis, generated requests): no server error, and
every answer's status, content type and body as documented; with a lead, and with no identity.

Each operation's strategy is run by hypothesis here (schemathesis' own pytest plugin does not run on this
pytest). The checks are the ones about the answers; schemathesis' "positive data acceptance" is left out on
purpose: the API refuses more than the schema can say (an instant outside 2000-2099, a plan that does not
exist), with a documented 4xx."""

from __future__ import annotations

import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis import checks

from tests.web.conftest import sign_in

def no_internal_error(ctx, response, case) -> None:
    """No 500: an answer the planner did not mean. Its documented 502/503 (Unleash unreachable or not
    configured, as in this app, which has no Unleash credentials) are answers, checked like any other."""
    if response.status_code == 500:
        raise AssertionError(f"500 from {case.method} {case.formatted_path}: {response.text[:300]}")


CHECKS = [no_internal_error, checks.status_code_conformance, checks.content_type_conformance,
          checks.response_schema_conformance, checks.response_headers_conformance]



def run_every_operation(app, examples: int, **call) -> int:
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 10, "the API's operations are in the schema"
    for operation in operations:
        @settings(max_examples=examples, deadline=None, suppress_health_check=list(HealthCheck), database=None)
        @given(case=operation.as_strategy())
        def check(case) -> None:
            case.call_and_validate(checks=CHECKS, **call)

        check()
    return len(operations)


def test_a_lead_gets_documented_answers_only(quiet_app):
    lead = sign_in(quiet_app, "lead-1", "lead")
    assert run_every_operation(quiet_app, 100, cookies=dict(lead.client.cookies),
                               headers={"X-CSRF-Token": lead.csrf}) >= 10


def test_no_identity_gets_documented_answers_only(quiet_app):
    assert run_every_operation(quiet_app, 30) >= 10
