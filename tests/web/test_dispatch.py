"""The wake-up the doorbell script pushes is the message Celery's own send_task pushes, and
the flag and the message are set together."""

from __future__ import annotations

import base64
import json

import pytest
import redis
from celery import Celery
from kombu import Connection, Consumer, Exchange, Queue

from shared import messaging
from shared.partitioning import DRAIN_TASK, queue_name
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


def test_the_pushed_wake_up_is_what_celery_would_send(redis_url: str) -> None:
    client = redis.Redis.from_url(redis_url)
    celery = Celery("reference", broker=redis_url, set_as_current=False)
    celery.conf.update(task_serializer="json", accept_content=["json"])
    celery.send_task(DRAIN_TASK, args=[3], queue=queue_name(3))
    [sent_by_celery] = client.lrange(queue_name(3), 0, -1)
    client.delete(queue_name(3))

    assert PartitionDispatcher(client).wake([3]) == [3]
    [pushed] = client.lrange(queue_name(3), 0, -1)
    assert without_ids(pushed) == without_ids(sent_by_celery)
    # ids of its own at every send, as a worker tracks messages by them
    headers = json.loads(pushed)["headers"]
    assert headers["id"] == headers["root_id"] == json.loads(pushed)["properties"]["correlation_id"]
    client.delete(messaging.doorbell_key(3))
    assert PartitionDispatcher(client).wake([3]) == [3]
    again = json.loads(client.lrange(queue_name(3), 0, 0)[0])
    assert again["headers"]["id"] != headers["id"]
    assert again["properties"]["delivery_tag"] != json.loads(pushed)["properties"]["delivery_tag"]


def test_a_kombu_consumer_receives_the_task_and_its_partition(redis_url: str) -> None:
    PartitionDispatcher(redis.Redis.from_url(redis_url)).wake([5])
    received: list[tuple[str, list]] = []
    with Connection(redis_url, transport_options={"ack_emulation": False}) as connection:
        queue = Queue(queue_name(5), Exchange(queue_name(5)), routing_key=queue_name(5))
        with Consumer(connection.channel(), [queue], accept=["json"]) as consumer:
            consumer.register_callback(
                lambda body, message: received.append((message.headers["task"], body[0]))
            )
            connection.drain_events(timeout=5)
    assert received == [(DRAIN_TASK, [5])]


def test_one_message_per_flag_set_and_none_while_it_stays_set(redis_url: str) -> None:
    client = redis.Redis.from_url(redis_url)
    client.set("atm:lease:1", "owner-a")
    client.set("atm:lease:2", "owner-a")
    dispatcher = PartitionDispatcher(client)
    assert dispatcher.wake([1, 2, 4]) == [1, 4]  # one per owner: owner-a, and nobody's 4
    assert dispatcher.wake([1, 2, 4]) == []
    assert [client.llen(queue_name(p)) for p in (1, 2, 4)] == [1, 0, 1]
    assert client.exists(messaging.owner_doorbell_key("owner-a"), messaging.doorbell_key(4)) == 2


def test_a_ring_that_would_wake_nobody_is_refused_before_any_flag_is_set(redis_url: str) -> None:
    client = redis.Redis.from_url(redis_url)
    with pytest.raises(ValueError, match="either"):
        messaging.ring_doorbells(client, [1])
    with pytest.raises(ValueError, match="either"):
        messaging.ring_doorbells(client, [1], print, messages=str)
    assert client.keys("atm:doorbell:*") == []
