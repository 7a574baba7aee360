"""The JSON API against its own OpenAPI document (schemathesis, generated requests): no server error, and
every answer's status, content type and body as documented; with a lead, and with no identity.

Each operation's strategy is run by hypothesis here (schemathesis' own pytest plugin does not run on this
pytest). The checks are the ones about the answers; schemathesis' "positive data acceptance" is left out on
purpose: the API refuses more than the schema can say (an instant outside 2000-2099, a plan that does not
exist), with a documented 4xx.

Also schemathesis' "unsupported method" requests (its coverage phase): at every path of the document, each method the
document does not declare there must answer 405 with an Allow header (`checks.unsupported_method`), and that
header must name exactly the methods the document declares at the path (a check of ours: Starlette's own
405 named those of the first route of the path only)."""

from __future__ import annotations

import re

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis import checks
from schemathesis.generation import GenerationMode
from schemathesis.generation.meta import CoverageScenario, coverage_scenario

from tests.web.conftest import sign_in

pytestmark = pytest.mark.one_pass  # the API's answers against its schema do not depend on the database

def no_internal_error(ctx, response, case) -> None:
    """No 500: an answer the planner did not mean. Its documented 502/503 (Unleash unreachable or not
    configured, as in this app, which has no Unleash credentials) are answers, checked like any other."""
    if response.status_code == 500:
        raise AssertionError(f"500 from {case.method} {case.formatted_path}: {response.text[:300]}")


CHECKS = [no_internal_error, checks.status_code_conformance, checks.content_type_conformance,
          checks.response_schema_conformance, checks.response_headers_conformance]



HTTP_METHODS = {"get", "put", "post", "delete", "options", "head", "patch", "trace"}


def allow_names_the_declared_methods(ctx, response, case) -> None:
    """A 405's Allow header names exactly the methods the document declares at the path."""
    if response.status_code != 405:
        return
    declared = {m.upper() for m in case.operation.schema.raw_schema["paths"][case.operation.path]} & {
        m.upper() for m in HTTP_METHODS}
    allowed = {m.strip() for value in response.headers.get("allow", []) for m in value.split(",") if m.strip()}
    if allowed != declared:
        raise AssertionError(f"{case.method} {case.formatted_path}: Allow {sorted(allowed)}, "
                             f"the document declares {sorted(declared)}")


def run_unsupported_methods(app, **call) -> int:
    """Every method the document does not declare at a path, once per path; the number of requests."""
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    sent = 0
    for result in schema.get_all_operations():
        operation = result.ok()
        config = schema.config.generation_for(operation=operation, phase="coverage")
        for case in schema.iter_coverage_cases(operation, generation_modes=[GenerationMode.NEGATIVE],
                                               generation_config=config):
            if coverage_scenario(case) is not CoverageScenario.UNSPECIFIED_HTTP_METHOD:
                continue
            response = case.call_and_validate(
                checks=[no_internal_error, checks.unsupported_method, allow_names_the_declared_methods], **call)
            assert not re.search(r"Traceback|\.py\b|csrf|secret", response.text, re.I), response.text[:300]
            sent += 1
    return sent


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


def test_unsupported_methods_answer_405_with_the_allowed_ones(quiet_app):
    lead = sign_in(quiet_app, "lead-1", "lead")
    # 15 paths, 6-7 undeclared methods each of schemathesis' GET PUT POST DELETE OPTIONS PATCH TRACE QUERY: 97
    assert run_unsupported_methods(quiet_app, cookies=dict(lead.client.cookies),
                                   headers={"X-CSRF-Token": lead.csrf}) >= 60
    assert run_unsupported_methods(quiet_app) >= 60  # routing answers before any sign-in is asked for
