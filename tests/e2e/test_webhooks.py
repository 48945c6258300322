"""Webhooks end to end: a real stack with the sender process, and a real receiver."""

from __future__ import annotations

import hashlib
import hmac
import socket
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from shared.config.settings import load_settings
from shared.events.webhooks import create_webhook
from shared.store.db import Database
from tests.conftest import Api
from tests.e2e.test_events_feed import feed
from tests.receiver import Receiver
from tests.stack import RedisServer, Stack, logs, wait_until
from tests.worker.test_health_check import health

SECRET = "a-receivers-signing-secret-0123456789"
RETRY_BASE = 0.3
MAX_ATTEMPTS = 4


@pytest.fixture(scope="module")
def receiver() -> Iterator[Receiver]:
    running = Receiver()
    yield running
    running.stop()


@pytest.fixture(scope="module")
def webhook_stack(
    tmp_path_factory: pytest.TempPathFactory, redis_server: RedisServer
) -> Iterator[Stack]:
    """One worker and the sender, allowed to send to this machine, with short backoffs."""
    directory = tmp_path_factory.mktemp("webhooks")
    stack = Stack(
        directory,
        redis_server.url.replace("/0", "/11"),
        ATM_WEBHOOK_ALLOW_PRIVATE="true",
        ATM_WEBHOOK_RETRY_BASE_SECONDS=str(RETRY_BASE),
        ATM_WEBHOOK_MAX_ATTEMPTS=str(MAX_ATTEMPTS),
        ATM_WEBHOOK_SWEEP_SECONDS="0.5",
        ATM_WEBHOOK_TIMEOUT_SECONDS="1",
    )
    stack.redis.flushdb()
    try:
        stack.start_sender()
        stack.start_service("worker")
        yield stack
    except Exception:
        print(logs(directory))
        raise
    finally:
        stack.stop()


@pytest.fixture
def api(webhook_stack: Stack) -> Api:
    return Api(webhook_stack.base_url)


@pytest.fixture
def subscribe(api: Api, receiver: Receiver) -> Iterator[Callable[..., dict]]:
    """Subscribe a receiver path to events; every subscription is deleted afterwards."""
    made: list[str] = []

    def make(path: str, events: list[str], secret: str | None = SECRET) -> dict:
        body: dict[str, object] = {"url": f"{receiver.url}{path}", "events": events}
        if secret is not None:
            body["secret"] = secret
        response = api.post("/webhooks", json=body)
        assert response.status_code == 201, response.text
        made.append(response.json()["data"]["webhook_id"])
        return response.json()["data"]

    yield make
    for webhook_id in made:
        api.http.delete(api.url(f"/webhooks/{webhook_id}"), timeout=10)


def deliveries(api: Api, webhook_id: str) -> list[dict]:
    response = api.get(f"/webhooks/{webhook_id}/deliveries", params={"limit": 1000})
    assert response.status_code == 200, response.text
    return response.json()["data"]["deliveries"]


def withdraw(api: Api, number: str, amount: str) -> dict:
    response = api.post(f"/accounts/{number}/withdraw", json={"amount": amount})
    assert response.status_code in (200, 400), response.text
    return response.json()


def verify(secret: str, header: str, body: bytes) -> int:
    """Check an ATM-Signature as a receiver would; returns its timestamp."""
    fields = dict(part.split("=", 1) for part in header.split(","))
    expected = hmac.new(secret.encode(), f"{fields['t']}.".encode() + body, hashlib.sha256)
    assert hmac.compare_digest(fields["v1"], expected.hexdigest()), "signature does not match"
    return int(fields["t"])


def test_job_events_arrive_signed_with_the_job_view(
    api: Api, receiver: Receiver, subscribe: Callable[..., dict]
) -> None:
    webhook = subscribe("/ok", ["job.succeeded", "job.failed"])
    assert webhook["secret"] == SECRET and webhook["events"] == ["job.succeeded", "job.failed"]
    number = api.open_account("100")
    succeeded = withdraw(api, number, "30")["data"]["job_id"]
    assert withdraw(api, number, "500")["error"]["type"] == "insufficient_funds"
    wait_until(lambda: receiver.about("/ok", "job_id", succeeded), 15, "the job.succeeded event")
    [event] = receiver.about("/ok", "job_id", succeeded)
    body = event.event
    assert body["type"] == "job.succeeded"
    assert body["data"] == api.get(f"/jobs/{succeeded}").json()["data"]
    assert event.headers["ATM-Event-Id"] == body["event_id"]
    in_feed = {e["data"]["job_id"]: e["event_id"] for e in feed(api, account=number)[0]}
    assert in_feed[succeeded] == body["event_id"]  # the feed's id of the same event
    assert event.headers["Content-Type"] == "application/json"
    assert abs(verify(SECRET, event.headers["ATM-Signature"], event.body) - time.time()) < 30
    assert body["created_at"].endswith("Z")

    def failure_arrived() -> list:
        return [
            r
            for r in receiver.at("/ok")
            if r.event["type"] == "job.failed" and r.event["data"]["account_number"] == number
        ]

    wait_until(failure_arrived, 15, "the job.failed event")
    [failure] = failure_arrived()
    assert failure.event["data"]["error"]["type"] == "insufficient_funds"
    assert (
        failure.event["data"] == api.get(f"/jobs/{failure.event['data']['job_id']}").json()["data"]
    )

    def both_recorded() -> bool:
        return sum(d["status"] == "delivered" for d in deliveries(api, webhook["webhook_id"])) >= 2

    wait_until(both_recorded, 15, "both deliveries recorded as delivered")
    mine = [
        d
        for d in deliveries(api, webhook["webhook_id"])
        if d["event_id"] in (body["event_id"], failure.event["event_id"])
    ]
    assert {(d["type"], d["attempts"], d["last_status_code"]) for d in mine} == {
        ("job.succeeded", 1, 200),
        ("job.failed", 1, 200),
    }


def test_a_generated_secret_signs_and_is_shown_only_at_creation(
    api: Api, receiver: Receiver, subscribe: Callable[..., dict]
) -> None:
    webhook = subscribe("/ok?generated", ["job.succeeded"], secret=None)
    assert webhook["secret"].startswith("whsec_") and len(webhook["secret"]) > 40
    listed = api.get("/webhooks").json()["data"]["webhooks"]
    [mine] = [w for w in listed if w["webhook_id"] == webhook["webhook_id"]]
    assert "secret" not in mine
    number = api.open_account("10")
    job_id = withdraw(api, number, "1")["data"]["job_id"]
    wait_until(lambda: receiver.about("/ok?generated", "job_id", job_id), 15, "the event")
    [event] = receiver.about("/ok?generated", "job_id", job_id)
    verify(webhook["secret"], event.headers["ATM-Signature"], event.body)


def test_failed_deliveries_are_retried_with_the_same_event_id(
    api: Api, receiver: Receiver, subscribe: Callable[..., dict]
) -> None:
    webhook = subscribe("/fail-first/2", ["job.succeeded"])
    number = api.open_account("10")
    job_id = withdraw(api, number, "1")["data"]["job_id"]

    def three_tries() -> bool:
        return len(receiver.about("/fail-first/2", "job_id", job_id)) >= 3

    wait_until(three_tries, 20, "two failed attempts and a third that succeeds")
    tries = receiver.about("/fail-first/2", "job_id", job_id)
    assert len({t.event["event_id"] for t in tries}) == 1
    assert len({t.headers["ATM-Event-Id"] for t in tries}) == 1
    # Backoff: the second try at least one base after the first, the third two after that.
    assert tries[1].at - tries[0].at >= RETRY_BASE * 0.9
    assert tries[2].at - tries[1].at >= 2 * RETRY_BASE * 0.9

    def delivered() -> list[dict]:
        return [
            d
            for d in deliveries(api, webhook["webhook_id"])
            if d["event_id"] == tries[0].event["event_id"] and d["status"] == "delivered"
        ]

    wait_until(delivered, 10, "the delivery recorded as delivered")
    assert delivered()[0]["attempts"] == 3 and delivered()[0]["last_status_code"] == 200
    time.sleep(1)
    assert len(receiver.about("/fail-first/2", "job_id", job_id)) == 3  # and no more


def test_a_receiver_that_keeps_failing_is_given_up_on(
    api: Api, receiver: Receiver, subscribe: Callable[..., dict]
) -> None:
    webhook = subscribe("/down", ["job.succeeded"])
    number = api.open_account("10")
    job_id = withdraw(api, number, "1")["data"]["job_id"]

    def given_up() -> list[dict]:
        return [d for d in deliveries(api, webhook["webhook_id"]) if d["status"] == "failed"]

    wait_until(given_up, 30, f"the delivery to fail after {MAX_ATTEMPTS} attempts")
    [failed] = given_up()
    assert failed["attempts"] == MAX_ATTEMPTS and failed["last_status_code"] == 500
    assert len(receiver.about("/down", "job_id", job_id)) == MAX_ATTEMPTS


def test_nothing_is_sent_after_a_webhook_is_deleted(
    api: Api, receiver: Receiver, subscribe: Callable[..., dict]
) -> None:
    control = subscribe("/ok?control", ["job.succeeded"])
    deleted = subscribe("/ok?deleted", ["job.succeeded"])
    response = api.http.delete(api.url(f"/webhooks/{deleted['webhook_id']}"), timeout=10)
    assert response.status_code == 200
    assert response.json()["data"] == {"webhook_id": deleted["webhook_id"], "deleted": True}
    number = api.open_account("10")
    job_id = withdraw(api, number, "1")["data"]["job_id"]
    wait_until(lambda: receiver.about("/ok?control", "job_id", job_id), 15, "the control event")
    time.sleep(1)  # a sweep or two later
    assert receiver.at("/ok?deleted") == []
    listed = api.get("/webhooks").json()["data"]["webhooks"]
    assert deleted["webhook_id"] not in {w["webhook_id"] for w in listed}
    assert control["webhook_id"] in {w["webhook_id"] for w in listed}
    gone = api.get(f"/webhooks/{deleted['webhook_id']}/deliveries")
    assert gone.status_code == 404 and gone.json()["error"]["type"] == "webhook_not_found"
    again = api.http.delete(api.url(f"/webhooks/{deleted['webhook_id']}"), timeout=10)
    assert again.status_code == 404 and again.json()["error"]["type"] == "webhook_not_found"


def test_batch_completed_and_hold_expired(
    api: Api, receiver: Receiver, subscribe: Callable[..., dict]
) -> None:
    subscribe("/ok?batches", ["batch.completed", "hold.expired"])
    first, second = api.open_account("50"), api.open_account("50")
    operations = [
        {"account_number": first, "type": "withdraw", "amount": "10"},
        {"account_number": second, "type": "deposit", "amount": "5"},
        {"account_number": first, "type": "transfer", "amount": "1", "to_account": second},
        {"account_number": second, "type": "withdraw", "amount": "999"},
    ]
    response = api.post("/batches", json={"operations": operations})
    assert response.status_code == 202, response.text
    batch_id = response.json()["data"]["batch_id"]
    hold = api.post(f"/accounts/{first}/holds", json={"amount": "5", "expires_in": 1})
    assert hold.status_code == 200, hold.text
    hold_id = hold.json()["data"]["hold_id"]
    wait_until(lambda: receiver.about("/ok?batches", "batch_id", batch_id), 20, "batch.completed")
    wait_until(lambda: receiver.about("/ok?batches", "hold_id", hold_id), 20, "hold.expired")
    [completed] = receiver.about("/ok?batches", "batch_id", batch_id)
    assert completed.event["type"] == "batch.completed"
    assert completed.event["data"] == api.get(f"/batches/{batch_id}").json()["data"]
    assert completed.event["data"]["status"] == "completed"
    assert (completed.event["data"]["succeeded"], completed.event["data"]["failed"]) == (3, 1)
    [expired] = receiver.about("/ok?batches", "hold_id", hold_id)
    assert expired.event["type"] == "hold.expired"
    assert expired.event["data"]["status"] == "expired"
    assert expired.event["data"] == api.get(f"/holds/{hold_id}").json()["data"]
    in_feed = {e["type"]: e["event_id"] for e in feed(api, account=first)[0]}
    assert in_feed["hold.expired"] == expired.event["event_id"]
    completions = feed(api, type="batch.completed")[0]
    assert [e["event_id"] for e in completions if e["data"]["batch_id"] == batch_id] == [
        completed.event["event_id"]
    ]
    # Only the subscribed types: none of the batch's jobs was sent as a job event.
    assert not [r for r in receiver.at("/ok?batches") if r.event["type"].startswith("job.")]


def test_a_hanging_receiver_costs_the_appliers_nothing(
    api: Api, receiver: Receiver, subscribe: Callable[..., dict]
) -> None:
    webhook = subscribe("/hang", ["job.succeeded"])
    number = api.open_account("100")
    timings = []
    for _ in range(20):
        started = time.monotonic()
        withdraw(api, number, "1")
        timings.append(time.monotonic() - started)
    # A delivery to /hang takes the whole 1 s timeout; the withdrawals never wait for one.
    assert max(timings) < 0.9, timings
    assert api.balance(number) == 80

    def timed_out() -> list[dict]:
        return [d for d in deliveries(api, webhook["webhook_id"]) if d["attempts"] >= 1]

    wait_until(timed_out, 20, "a delivery to the hanging receiver to time out")
    assert timed_out()[0]["last_error"] == "timed out"


def test_a_refused_connection_is_recorded_as_refused(api: Api) -> None:
    with socket.socket() as bound:  # bound, never listening: a connection to it is refused
        bound.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{bound.getsockname()[1]}/hook"
        created = api.post("/webhooks", json={"url": url, "events": ["job.succeeded"]})
        assert created.status_code == 201, created.text
        webhook_id = created.json()["data"]["webhook_id"]
        try:
            withdraw(api, api.open_account("10"), "1")

            def tried() -> list[dict]:
                return [d for d in deliveries(api, webhook_id) if d["attempts"] >= 1]

            wait_until(tried, 20, "a delivery to the closed port to be tried")
            assert tried()[0]["last_error"] == "connection refused"
        finally:
            api.http.delete(api.url(f"/webhooks/{webhook_id}"), timeout=10)


def test_the_sender_reports_itself_alive(webhook_stack: Stack) -> None:
    result = health(webhook_stack.env["REDIS_URL"], "sender")
    assert result.returncode == 0, result.stdout


def test_events_survive_a_redis_flush_and_killed_processes(
    api: Api, receiver: Receiver, subscribe: Callable[..., dict], webhook_stack: Stack
) -> None:
    """Events are rows written with the money: with the sender dead, the worker killed
    after applying and Redis emptied, they are all delivered once things run again."""
    webhook_stack.kill_worker("sender")
    webhook = subscribe("/ok?durable", ["job.succeeded"])
    number = api.open_account("100")
    job_ids = [withdraw(api, number, "1")["data"]["job_id"] for _ in range(10)]
    # Recorded, not tried yet: listed as pending, newest first.
    listed = deliveries(api, webhook["webhook_id"])
    assert [d["subject_id"] for d in listed] == job_ids[::-1]
    assert {(d["status"], d["attempts"]) for d in listed} == {("pending", 0)}
    webhook_stack.kill_worker("worker")
    webhook_stack.redis.flushdb()
    assert receiver.at("/ok?durable") == []
    webhook_stack.start_worker("worker")
    webhook_stack.start_sender()

    def all_arrived() -> bool:
        return all(receiver.about("/ok?durable", "job_id", job_id) for job_id in job_ids)

    wait_until(all_arrived, 30, "every event recorded before the kill to be delivered")
    arrived = {r.event["event_id"] for r in receiver.at("/ok?durable")}
    assert arrived == {d["event_id"] for d in listed}  # the ids listed before are the ones sent
    webhook_stack.wait_healthy()


def test_the_sender_refuses_an_address_that_turned_private(
    tmp_path: Path, redis_server: RedisServer, receiver: Receiver
) -> None:
    """A webhook made while private addresses were allowed is not sent once they are not:
    the check runs on the address connected to, at every round."""
    stack = Stack(tmp_path, redis_server.url.replace("/0", "/12"), ATM_WEBHOOK_SWEEP_SECONDS="0.5")
    stack.redis.flushdb()
    try:
        base_url = stack.start_service("worker")
        # This stack's API refuses the URL, so the row is written as an earlier setting
        # (ATM_WEBHOOK_ALLOW_PRIVATE=true) would have let the API write it.
        database = Database(load_settings({"DATABASE_URL": stack.env["DATABASE_URL"]}))
        with database.writing() as session:
            webhook_id = create_webhook(
                session, f"{receiver.url}/ok?private", ["job.succeeded"], SECRET
            ).webhook_id
        stack.start_sender()
        api = Api(base_url)
        number = api.open_account("10")
        withdraw(api, number, "1")

        def refused() -> list[dict]:
            return [d for d in deliveries(api, webhook_id) if d["attempts"] >= 1]

        wait_until(refused, 20, "the delivery to be refused")
        assert "private" in refused()[0]["last_error"]
        assert receiver.at("/ok?private") == []
    except Exception:
        print(logs(tmp_path))
        raise
    finally:
        stack.stop()
