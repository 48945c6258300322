"""The wake-up the doorbell script pushes is the message Celery's own send_task pushes, on
the queue of the partition's owner, and the flag and the message are set together."""

from __future__ import annotations

import base64
import json

import pytest
import redis
from celery import Celery
from kombu import Connection, Consumer, Exchange, Queue

from shared import messaging
from shared.partitioning import DRAIN_TASK, lease_key, owner_queue
from shared.wake_ups import ROUTING_KEY
from tests.stack import RedisServer
from web.serving.dispatch import PartitionDispatcher

IDS = ("id", "root_id", "correlation_id", "delivery_tag", "origin", "reply_to")


@pytest.fixture
def redis_url(redis_server: RedisServer) -> str:
    url = redis_server.url.replace("/0", "/12")
    redis.Redis.from_url(url).flushdb()
    return url


def without_ids(raw: bytes) -> dict:
    """A stored message, decoded, with what differs between any two sends left out."""
    message = json.loads(raw)
    message["body"] = json.loads(base64.b64decode(message["body"]))
    for part in (message["headers"], message["properties"]):
        for name in IDS:
            part.pop(name, None)
    return message


OWNER = "host-a:123"


def test_the_pushed_wake_up_is_what_celery_would_send(redis_url: str) -> None:
    client = redis.Redis.from_url(redis_url)
    celery = Celery("reference", broker=redis_url, set_as_current=False)
    celery.conf.update(task_serializer="json", accept_content=["json"])
    queue = owner_queue(OWNER)
    celery.send_task(DRAIN_TASK, args=[], queue=queue)
    [sent_by_celery] = client.lrange(queue, 0, -1)
    client.delete(queue)
    client.set(lease_key(3), OWNER)

    assert PartitionDispatcher(client).wake([3]) == [3]
    [pushed] = client.lrange(queue, 0, -1)
    expected = without_ids(sent_by_celery)
    # The one difference: the routing key names the owners' queues in general, as the
    # owner is known only to the script that pushes it.
    expected["properties"]["delivery_info"]["routing_key"] = ROUTING_KEY
    assert without_ids(pushed) == expected
    # ids of its own at every send, as a worker tracks messages by them
    headers = json.loads(pushed)["headers"]
    assert headers["id"] == headers["root_id"] == json.loads(pushed)["properties"]["correlation_id"]
    client.delete(messaging.owner_doorbell_key(OWNER))
    assert PartitionDispatcher(client).wake([3]) == [3]
    again = json.loads(client.lrange(queue, 0, 0)[0])
    assert again["headers"]["id"] != headers["id"]
    assert again["properties"]["delivery_tag"] != json.loads(pushed)["properties"]["delivery_tag"]


def test_a_kombu_consumer_of_the_owners_queue_receives_the_task(
    redis_url: str,
) -> None:
    client = redis.Redis.from_url(redis_url)
    client.set(lease_key(5), OWNER)
    PartitionDispatcher(client).wake([5])
    received: list[tuple[str, list]] = []
    name = owner_queue(OWNER)
    with Connection(redis_url, transport_options={"ack_emulation": False}) as connection:
        queue = Queue(name, Exchange(name), routing_key=name)
        with Consumer(connection.channel(), [queue], accept=["json"]) as consumer:
            consumer.register_callback(
                lambda body, message: received.append((message.headers["task"], body[0]))
            )
            connection.drain_events(timeout=5)
    assert received == [(DRAIN_TASK, [])]  # no partition: the worker drains all it holds


def test_one_message_per_owner_while_its_flag_stays_set_and_none_for_nobodys(
    redis_url: str,
) -> None:
    client = redis.Redis.from_url(redis_url)
    client.set(lease_key(1), "owner-a")
    client.set(lease_key(2), "owner-a")
    client.set(lease_key(3), "owner-b")
    dispatcher = PartitionDispatcher(client)
    assert dispatcher.wake([1, 2, 3, 4]) == [1, 3]  # one per owner; nobody holds 4
    assert dispatcher.wake([1, 2, 3, 4]) == []
    assert [client.llen(owner_queue(o)) for o in ("owner-a", "owner-b")] == [1, 1]
    flags = sorted(messaging.owner_doorbell_key(o).encode() for o in ("owner-a", "owner-b"))
    assert sorted(client.keys("atm:doorbell:*")) == flags
