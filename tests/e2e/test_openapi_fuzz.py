"""Property-based fuzzing of the running stack against its own /openapi.json (schemathesis):
no 500, every response matches its documented schema, every error uses the envelope.

That the document describes every route the app serves, and nothing else, is checked
in-process against the app's url_map (tests/web/test_openapi.py)."""

from __future__ import annotations

import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.stack import Stack

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]


def test_every_response_matches_the_description(stack: Stack) -> None:
    """Each operation gets 30 generated requests; all must pass the checks above."""
    schema = schemathesis.openapi.from_url(f"{stack.base_url}/openapi.json")
    tested = []
    for result in schema.get_all_operations():
        operation = result.ok()

        @given(case=operation.as_strategy())
        @settings(max_examples=30, deadline=None, suppress_health_check=list(HealthCheck))
        def fuzz(case) -> None:  # type: ignore[no-untyped-def]
            case.call_and_validate(base_url=stack.base_url, checks=CHECKS)

        fuzz()
        tested.append(operation.label)
    # Every operation but /openapi.json itself, which schemathesis leaves out.
    assert len(tested) == 30, " | ".join(tested)
