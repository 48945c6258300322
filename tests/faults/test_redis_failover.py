"""Redis Sentinel for real: a master, a replica and three sentinels; the master killed with
`kill -9` under load, the replica promoted, the service going on. Nothing lost or doubled."""

from __future__ import annotations

import random
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

import pytest
import requests

from tests.conftest import Api
from tests.faults.support import assert_audit_clean
from tests.stack import SentinelGroup, Stack, logs, wait_until

OPENING = Decimal("100.00")
INSUFFICIENT = "insufficient_funds"


@pytest.fixture
def sentinel_group(tmp_path: Path) -> Iterator[SentinelGroup]:
    group = SentinelGroup(tmp_path / "redis")
    try:
        yield group
    finally:
        group.stop()


@dataclass
class Sent:
    """One money request of the load: what it asked, and its final answer."""

    number: str
    kind: str
    amount: Decimal
    key: str = field(default_factory=lambda: str(uuid.uuid4()))
    sent_at: float = field(default_factory=time.monotonic)
    status: int | None = None
    body: dict | None = None


def drive(base_url: str, numbers: list[str], stop: threading.Event, sent: list[Sent]) -> None:
    """Withdrawals and deposits one after another until `stop`, each retried with its own
    Idempotency-Key until it has an answer (no answer, or a 5xx, is retried)."""
    rng = random.Random()
    session = requests.Session()
    while not stop.is_set():
        request = Sent(
            rng.choice(numbers),
            rng.choice(("withdraw", "deposit")),
            Decimal(rng.randint(1, 900)) / 100,
        )
        sent.append(request)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                response = session.post(
                    f"{base_url}/accounts/{request.number}/{request.kind}",
                    json={"amount": str(request.amount)},
                    headers={"Idempotency-Key": request.key, "Prefer": "wait=5"},
                    timeout=15,
                )
            except requests.RequestException:
                time.sleep(0.2)
                continue
            if response.status_code >= 500:
                time.sleep(0.2)
                continue
            request.status, request.body = response.status_code, response.json()
            break


def final_job(client: Api, job_id: str) -> dict:
    def read() -> dict | None:
        data = client.get(f"/jobs/{job_id}", headers={"Prefer": "wait=5"}).json()["data"]
        return data if data["status"] in ("succeeded", "failed") else None

    return wait_until(read, 90, f"job {job_id} to be applied", interval=0.2)


def entry_count(client: Api, number: str) -> int:
    """How many ledger entries the account's history holds, every page of it."""
    count, params = 0, {"limit": 500}
    while True:
        page = client.get(f"/accounts/{number}/transactions", params=params).json()["data"]
        count += len(page["transactions"])
        if page["next_before"] is None:
            return count
        params["before"] = page["next_before"]


def test_the_master_killed_under_load_and_a_replica_promoted(
    tmp_path: Path, sentinel_group: SentinelGroup
) -> None:
    stack = Stack(tmp_path / "stack", sentinel_group.url)
    stop, sent = threading.Event(), []  # type: ignore[var-annotated]
    threads: list[threading.Thread] = []
    try:
        stack.start_worker("first")
        client = Api(stack.start_web())
        stack.wait_healthy()
        numbers = [client.open_account(str(OPENING)) for _ in range(12)]
        threads = [
            threading.Thread(target=drive, args=(stack.base_url, numbers, stop, sent))
            for _ in range(4)
        ]
        for thread in threads:
            thread.start()
        time.sleep(2)
        assert any(r.status == 200 for r in sent), "no request was answered before the kill"
        sentinel_group.kill_master()
        killed_at = time.monotonic()
        wait_until(
            lambda: sentinel_group.master_port_now() == sentinel_group.replica_port,
            30,
            "the sentinels to promote the replica",
            interval=0.2,
        )
        promoted_at = time.monotonic()

        # The service goes on: requests sent after the promotion are applied and answered.
        def answered_after_promotion() -> bool:
            after = [r for r in sent if r.sent_at > promoted_at and r.status == 200]
            return len(after) >= 20

        wait_until(answered_after_promotion, 60, "answers to requests sent after the promotion")
        stop.set()
        for thread in threads:
            thread.join(90)
        assert all(request.status is not None for request in sent), "a request got no answer"
        expected = {number: OPENING for number in numbers}
        applied = dict.fromkeys(numbers, 0)
        for request in sent:
            assert request.body is not None
            if request.status == 202:
                result = final_job(client, request.body["data"]["job_id"])
                succeeded = result["status"] == "succeeded"
            else:
                refused = request.status == 400 and request.body["error"]["type"] == INSUFFICIENT
                assert request.status == 200 or refused, request.body
                succeeded = request.status == 200
            if succeeded:
                sign = 1 if request.kind == "deposit" else -1
                expected[request.number] += sign * request.amount
                applied[request.number] += 1
        for number in numbers:
            assert Decimal(str(client.balance(number))) == expected[number]
            assert entry_count(client, number) == applied[number] + 1  # the opening: none twice
        assert_audit_clean(stack)
        # Celery's broker found the new master with the password and database of the URL:
        # its queues are declared there.
        assert stack.redis.keys("_kombu.binding.*"), "the broker's queues are elsewhere"
        print(f"promoted {promoted_at - killed_at:.1f} s after the kill; {len(sent)} requests")
    except AssertionError as failure:
        raise AssertionError(f"{failure}\n{logs(stack.directory)}") from failure
    finally:
        stop.set()
        for thread in threads:
            thread.join(90)
        stack.stop()
