"""The events feed while two workers commit at once: a reader following the cursor with a
small page sees every event exactly once (on SQLite and on PostgreSQL, where the order of
commits is not the order of the ids taken in the transactions)."""

from __future__ import annotations

import random
import threading
import time

import requests

from tests.conftest import Api
from tests.stack import Stack, wait_until

WRITERS = 16
SECONDS = 6


def test_a_reader_following_the_feed_sees_every_event_once_while_workers_commit(
    fault_stack: Stack,
) -> None:
    fault_stack.start_worker("first")
    fault_stack.start_worker("second")
    client = Api(fault_stack.start_web())
    fault_stack.wait_healthy()
    wait_until(lambda: len(set(fault_stack.lease_owners().values())) == 2, 30, "both workers")
    numbers = [client.open_account("1000.00") for _ in range(32)]  # over every partition
    _, start = _read_to_the_end(client, None)
    accepted: list[str] = []
    batches: list[str] = []
    lock = threading.Lock()
    stop = threading.Event()

    def write(seed: int) -> None:
        rng = random.Random(seed)
        with requests.Session() as http:
            while not stop.is_set():
                number = rng.choice(numbers)
                if rng.random() < 0.05:
                    operations = [
                        {"account_number": rng.choice(numbers), "type": "deposit", "amount": 1}
                        for _ in range(20)
                    ]
                    answer = http.post(
                        f"{client.base_url}/batches", json={"operations": operations}
                    )
                    if answer.status_code == 202:
                        with lock:
                            batches.append(answer.json()["data"]["batch_id"])
                    continue
                kind = rng.choice(("deposit", "withdraw"))
                answer = http.post(
                    f"{client.base_url}/accounts/{number}/{kind}", json={"amount": "0.01"}
                )
                body = answer.json()
                job_id = (body.get("data") or {}).get("job_id") or body.get("error", {}).get(
                    "job_id"
                )
                if job_id:
                    with lock:
                        accepted.append(job_id)

    read: list[dict] = []
    after = start

    def follow() -> None:
        nonlocal after
        while not stop.is_set():
            page, after = _page(client, after, limit=7)
            read.extend(page)

    threads = [threading.Thread(target=write, args=(seed,)) for seed in range(WRITERS)]
    reader = threading.Thread(target=follow)
    for thread in [*threads, reader]:
        thread.start()
    time.sleep(SECONDS)
    stop.set()
    for thread in [*threads, reader]:
        thread.join(60)
    wait_until(lambda: _settled(fault_stack, client, batches), 120, "every batch applied")
    rest, _ = _read_to_the_end(client, after)
    read.extend(rest)
    ids = [event["event_id"] for event in read]
    assert len(ids) == len(set(ids)), "an event was read twice"
    jobs = [event["data"]["job_id"] for event in read if event["type"].startswith("job.")]
    assert len(jobs) == len(set(jobs)), "a job's event was read twice"
    assert set(accepted) <= set(jobs), f"{len(set(accepted) - set(jobs))} jobs' events missed"
    completed = {e["data"]["batch_id"] for e in read if e["type"] == "batch.completed"}
    assert completed == set(batches)
    operations = sum(1 for job in jobs if job[14] == "8")  # batch operations' ids
    assert operations == 20 * len(batches)
    assert len(accepted) > 200 and len(batches) > 2, "too little load to tell"


def _page(client: Api, after: str | None, limit: int) -> tuple[list[dict], str | None]:
    params: dict[str, object] = {"limit": limit}
    if after is not None:
        params["after"] = after
    response = client.get("/events", params=params)
    assert response.status_code == 200, response.text
    data = response.json()["data"]
    return data["events"], data["next_after"]


def _read_to_the_end(client: Api, after: str | None) -> tuple[list[dict], str | None]:
    events: list[dict] = []
    while True:
        page, following = _page(client, after, 1000)
        events.extend(page)
        if not page:
            return events, following
        after = following


def _settled(stack: Stack, client: Api, batches: list[str]) -> bool:
    return all(
        client.get(f"/batches/{batch_id}").json()["data"]["status"] == "completed"
        for batch_id in batches
    )
