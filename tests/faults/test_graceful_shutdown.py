"""SIGTERM: a worker stops between transactions and hands its partitions over at once;
the web server finishes the requests in flight."""

from __future__ import annotations

import signal
import threading
import time

import requests

from tests.conftest import Api
from tests.e2e.test_batches import wait_completed
from tests.faults.support import assert_audit_clean, batch_in_progress, counts
from tests.stack import Stack


def test_sigterm_to_a_worker_releases_its_leases_and_loses_nothing(fault_stack: Stack) -> None:
    client, _, batch_id = batch_in_progress(fault_stack, seed=31)
    worker = fault_stack.workers["first"]
    started = time.monotonic()
    worker.send_signal(signal.SIGTERM)
    assert worker.wait(20) == 0
    stopped_after = time.monotonic() - started
    assert stopped_after < 5, f"took {stopped_after:.1f}s to stop"
    assert fault_stack.lease_owners() == {}, "leases were left to expire"
    assert counts(fault_stack).get("queued", 0) > 0, "the worker drained everything first"
    fault_stack.workers.pop("first")
    fault_stack.start_worker("second")
    wait_completed(client, batch_id, timeout=120)
    assert_audit_clean(fault_stack)


def test_sigterm_to_the_web_server_finishes_requests_in_flight(fault_stack: Stack) -> None:
    client = Api(fault_stack.start_web())  # no worker: a request waits its full wait
    number = client.open_account("5.00")
    answers: list[requests.Response] = []

    def slow_request() -> None:
        answers.append(
            requests.post(
                client.url(f"/accounts/{number}/deposit"),
                json={"amount": 1},
                headers={"Prefer": "wait=3"},
                timeout=30,
            )
        )

    thread = threading.Thread(target=slow_request)
    thread.start()
    time.sleep(1)
    assert fault_stack.web is not None
    fault_stack.web.send_signal(signal.SIGTERM)
    thread.join(30)
    assert answers and answers[0].status_code == 202
    assert answers[0].json()["data"]["status"] == "queued"
    assert fault_stack.web.wait(30) == 0
