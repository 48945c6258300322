"""Redis conventions: completion notices stay within their Redis database, and name a
batch once for all of its operations."""

from __future__ import annotations

import json

from shared import messaging
from shared.accepting.batch_queue import new_batch_id, operation_id_prefix, operation_job_id
from shared.ledger.applying import Outcome
from shared.ledger.chunk import PartRun
from tests.stack import RedisServer
from web.serving.waiting import CompletionListener, notice_key


def test_completion_notices_reach_only_their_own_database(redis_server: RedisServer) -> None:
    ours = messaging.connect(redis_server.url.replace("/0", "/3"))
    neighbour = messaging.connect(redis_server.url.replace("/0", "/4"))
    subscription = ours.pubsub(ignore_subscribe_messages=True)
    subscription.subscribe(messaging.completions_channel(ours))
    subscription.get_message(timeout=1)  # the subscribe confirmation

    def outcome(job_id: str) -> Outcome:
        return Outcome(job_id, "10001", "deposit", 100, "succeeded", new_balance=100)

    messaging.publish_outcomes(neighbour, [outcome("theirs")])
    messaging.publish_outcomes(ours, [outcome("ours")])
    received = subscription.get_message(timeout=2)
    assert received is not None
    assert [job["job_id"] for job in json.loads(received["data"])["jobs"]] == ["ours"]
    assert subscription.get_message(timeout=0.5) is None
    subscription.close()


def test_a_chunk_of_batch_operations_is_told_by_its_batch_and_wakes_their_waiters(
    redis_server: RedisServer,
) -> None:
    """A notice names a batch once, however many of its operations a transaction applied,
    and a request waiting for one of them (GET /jobs/{id}) waits on that batch."""
    url = redis_server.url.replace("/0", "/5")
    client = messaging.connect(url)
    subscription = client.pubsub(ignore_subscribe_messages=True)
    subscription.subscribe(messaging.completions_channel(client))
    subscription.get_message(timeout=1)  # the subscribe confirmation
    listener = CompletionListener(url, max_waiters=10)
    batch_id, other_batch = new_batch_id(), new_batch_id()
    operations = [[index, "deposit", "10001", 100, None, None, None] for index in range(8000)]

    def run(batch: str) -> PartRun:
        prefix = operation_id_prefix(batch)
        return PartRun(
            1, batch, None, prefix, operations, job_ids=[f"{prefix}{i:04x}" for i in range(8000)]
        )

    try:
        job_id = operation_job_id(batch_id, 4321)
        assert notice_key(job_id) == batch_id
        assert notice_key("01a24c10-5bd3-72e2-8e3a-ac5263c484f4") == (
            "01a24c10-5bd3-72e2-8e3a-ac5263c484f4"
        )  # a job of its own waits on its own id
        with listener.expect(notice_key(job_id)) as waiter:
            messaging.publish_outcomes(client, [], [run(other_batch)])
            assert not waiter.wait(0.5)  # another batch's chunk does not wake it
            messaging.publish_outcomes(client, [], [run(batch_id)])
            assert waiter.wait(5)
        notices = [subscription.get_message(timeout=2) for _ in range(2)]
        assert [json.loads(notice["data"]) for notice in notices] == [
            {"jobs": [], "batches": {other_batch: []}},
            {"jobs": [], "batches": {batch_id: []}},
        ]
    finally:
        assert listener.close(client, 5)
        subscription.close()
