"""Past the backlog limit new work is refused with 503 and Retry-After, never dropped."""

from __future__ import annotations

import time

from tests.conftest import Api
from tests.e2e.test_validation_errors import assert_error
from tests.faults.support import counts
from tests.stack import Stack, wait_until


def test_a_full_backlog_refuses_new_work_until_it_drains(fault_stack: Stack) -> None:
    fault_stack.env["ATM_MAX_BACKLOG"] = "20"
    client = Api(fault_stack.start_web())  # no worker yet: accepted work piles up
    number = client.open_account("0")
    async_headers = {"Prefer": "respond-async"}
    for _ in range(20):
        time.sleep(0.03)
        response = client.post(
            f"/accounts/{number}/deposit", json={"amount": 1}, headers=async_headers
        )
        assert response.status_code == 202, response.text
    time.sleep(0.6)  # let the half-second measurement see the backlog
    refused = client.post(f"/accounts/{number}/deposit", json={"amount": 1}, headers=async_headers)
    body = assert_error(refused, 503, "overloaded")
    assert refused.headers["Retry-After"] == "5"
    assert "20 operations are waiting" in body["error"]["message"]
    batch = client.post(
        "/batches",
        json={"operations": [{"account_number": number, "type": "deposit", "amount": 1}]},
    )
    assert_error(batch, 503, "overloaded")
    assert counts(fault_stack) == {"queued": 20}  # refused work was never recorded

    fault_stack.start_worker("first")
    wait_until(lambda: counts(fault_stack) == {"succeeded": 20}, 30, "the backlog to drain")
    time.sleep(0.6)
    accepted = client.post(f"/accounts/{number}/deposit", json={"amount": 1})
    assert accepted.status_code == 200, accepted.text
    assert client.balance(number) == 21.0
