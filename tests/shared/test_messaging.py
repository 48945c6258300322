"""Redis conventions: completion notices stay within their Redis database."""

from __future__ import annotations

import json

from shared import messaging
from shared.ledger.applying import Outcome
from tests.stack import RedisServer


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
