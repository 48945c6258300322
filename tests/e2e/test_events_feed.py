"""GET /events over HTTP: an account's events in order with their data, batch events, the
long-poll, cursors, and what a key limited to some accounts sees."""

from __future__ import annotations

import threading
import time

import pytest

from shared.events.feed import event_id
from tests.conftest import ADMIN_SECRET, Api
from tests.e2e.test_batches import wait_completed
from tests.e2e.test_validation_errors import assert_error
from tests.stack import Stack


def feed(client: Api, **params: object) -> tuple[list[dict], str | None]:
    """Every event the filters let through, following `next_after` to the end of the feed;
    and the cursor at that end."""
    events: list[dict] = []
    params.setdefault("limit", 1000)
    while True:
        response = client.get("/events", params=params)
        assert response.status_code == 200, response.text
        data = response.json()["data"]
        events.extend(data["events"])
        if data["next_after"] is None or data["next_after"] == params.get("after"):
            return events, data["next_after"]
        params["after"] = data["next_after"]


def _as_then(view: dict) -> dict:
    view.pop("reversed_by", None)
    return view


def test_an_accounts_events_come_in_order_with_the_views_of_their_jobs(
    client: Api, new_account
) -> None:
    number, other = new_account("100.00"), new_account("0.00")
    deposit = client.post(f"/accounts/{number}/deposit", json={"amount": "1.00"}).json()["data"]
    refused = client.post(f"/accounts/{number}/withdraw", json={"amount": "500.00"}).json()
    operations = [
        {"account_number": number, "type": "withdraw", "amount": "2.00"},
        {"account_number": number, "type": "transfer", "amount": "3.00", "to_account": other},
    ]
    batch_id = client.post("/batches", json={"operations": operations}).json()["data"]["batch_id"]
    wait_completed(client, batch_id)
    results = client.get(f"/batches/{batch_id}/results").json()["data"]["results"]
    events, _ = feed(client, account=number)
    expected = [deposit["job_id"], refused["error"]["job_id"], *(r["job_id"] for r in results)]
    assert [event["data"]["job_id"] for event in events] == expected
    assert [event["type"] for event in events] == [
        "job.succeeded",
        "job.failed",
        "job.succeeded",
        "job.succeeded",
    ]
    for event in events:
        job = client.get(f"/jobs/{event['data']['job_id']}").json()["data"]
        assert event["data"] == _as_then(job)
        assert event["created_at"].endswith("Z")
    assert len({event["event_id"] for event in events}) == len(events)
    destination, _ = feed(client, account=other)
    assert [event["data"]["job_id"] for event in destination] == [results[1]["job_id"]]
    completed, _ = feed(client, type="batch.completed")
    [mine] = [event for event in completed if event["data"]["batch_id"] == batch_id]
    assert mine["data"] == client.get(f"/batches/{batch_id}").json()["data"]


def test_a_long_poll_answers_when_an_event_is_committed(client: Api, new_account) -> None:
    number = new_account("10.00")
    _, end = feed(client, account=number)

    def deposit_soon() -> None:
        time.sleep(0.5)
        client.post(f"/accounts/{number}/deposit", json={"amount": "1.00"})

    thread = threading.Thread(target=deposit_soon)
    started = time.monotonic()
    thread.start()
    response = client.get(
        "/events", params={"after": end, "account": number}, headers={"Prefer": "wait=10"}
    )
    waited = time.monotonic() - started
    thread.join()
    assert response.status_code == 200, response.text
    assert response.headers["Preference-Applied"] == "wait=10"
    [event] = response.json()["data"]["events"]
    assert event["data"]["account_number"] == number and event["type"] == "job.succeeded"
    assert 0.4 < waited < 9
    quiet = client.get("/events", params={"after": event["event_id"], "account": number})
    assert quiet.json()["data"] == {"events": [], "next_after": event["event_id"]}


@pytest.mark.parametrize(
    "params",
    [
        {"after": "not-an-event"},
        {"after": "01a242f4-d290-73d7-a419-89b117680000"},  # a UUID, not an event id
        {"after": event_id(10**12, 0)},  # an event id of no kept event
        {"type": "job.done"},
        {"account": "12ab"},
        {"account": "4242424242424242424"},  # no such account
        {"limit": "0"},
    ],
)
def test_a_bad_cursor_or_filter_is_refused(client: Api, params: dict) -> None:
    assert_error(client.get("/events", params=params), 400, "invalid_parameter")


def test_a_key_limited_to_accounts_sees_its_accounts_and_batches_events(
    keyed_stack: Stack,
) -> None:
    admin = Api(keyed_stack.base_url, ADMIN_SECRET)
    number, elsewhere = admin.open_account("50.00"), admin.open_account("50.00")
    teller = admin.limited_client("reader", [number])
    operation = {"account_number": number, "type": "deposit", "amount": "1.00"}
    mine = teller.post("/batches", json={"operations": [operation]}).json()["data"]["batch_id"]
    theirs = admin.post("/batches", json={"operations": [operation]}).json()["data"]["batch_id"]
    admin.post(f"/accounts/{elsewhere}/deposit", json={"amount": "1.00"})
    wait_completed(admin, mine)
    wait_completed(admin, theirs)
    seen, _ = feed(teller)
    accounts = {e["data"]["account_number"] for e in seen if e["type"].startswith("job.")}
    assert accounts == {number}
    batches = {e["data"]["batch_id"] for e in seen if e["type"] == "batch.completed"}
    assert batches == {mine}
    assert_error(teller.get("/events", params={"account": elsewhere}), 403, "forbidden")
    everything, _ = feed(admin)
    assert {e["data"]["batch_id"] for e in everything if e["type"] == "batch.completed"} >= {
        mine,
        theirs,
    }
