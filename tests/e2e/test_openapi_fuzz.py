"""Property-based fuzzing of the running stack against its own /openapi.json (schemathesis):
no 500, every response matches its documented schema, every error uses the envelope."""

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
    assert len(tested) == 25, " | ".join(tested)


def test_the_description_covers_every_route(stack: Stack) -> None:
    import requests

    document = requests.get(f"{stack.base_url}/openapi.json", timeout=10).json()
    assert document["openapi"].startswith("3.")
    assert set(document["paths"]) == {
        "/accounts",
        "/accounts/{account_number}",
        "/accounts/{account_number}/holds",
        "/holds/{hold_id}",
        "/holds/{hold_id}/capture",
        "/holds/{hold_id}/void",
        "/transfers",
        "/jobs/{job_id}/reverse",
        "/accounts/{account_number}/balance",
        "/accounts/{account_number}/transactions",
        "/accounts/{account_number}/withdraw",
        "/accounts/{account_number}/deposit",
        "/jobs/{job_id}",
        "/batches",
        "/batches/{batch_id}",
        "/batches/{batch_id}/results",
        "/api-keys",
        "/api-keys/{key_id}",
        "/webhooks",
        "/webhooks/{webhook_id}",
        "/webhooks/{webhook_id}/deliveries",
        "/health",
        "/openapi.json",
    }
