"""Redis conventions both sides share: doorbells, completion notices, the live-worker registry."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable

import redis

from shared.applying import Outcome

WORKERS_KEY = "atm:workers"
SENDERS_KEY = "atm:senders"  # webhook senders, apart: they own no partition
DOORBELL_TTL_SECONDS = 60


def connect(url: str) -> redis.Redis:
    """A client with short timeouts, so a dead Redis is reported instead of hanging a request."""
    return redis.Redis.from_url(
        url, socket_connect_timeout=2, socket_timeout=5, health_check_interval=30
    )


def completions_channel(client: redis.Redis) -> str:
    """The channel of completion notices for the Redis database `client` uses.

    Keys belong to a database but pub/sub channels do not: two services on one Redis
    server in different databases would otherwise each receive the other's notices.
    """
    return f"atm:{client.connection_pool.connection_kwargs.get('db', 0)}:completions"


def doorbell_key(partition: int) -> str:
    return f"atm:doorbell:{partition}"


def ring_doorbells(
    client: redis.Redis,
    partitions: Iterable[int],
    send: Callable[[list[int]], None],
    *,
    force: bool = False,
) -> None:
    """Wake each partition's worker unless a wake-up is already waiting for it.

    The flag is set before the message is sent and cleared by the worker before it reads
    the queued jobs, so a job recorded before a failed SET is always seen by that read.
    Many requests arriving together thus share one message and one group commit. All the
    flags go in one round trip, and `send` gets every partition to wake at once. `force`
    sends even when the flag is set: for a wake-up that reached a worker which no longer
    owns the partition.
    """
    chosen = sorted(set(partitions))
    pipe = client.pipeline(transaction=False)
    for partition in chosen:
        pipe.set(doorbell_key(partition), 1, nx=True, ex=DOORBELL_TTL_SECONDS)
    unset = pipe.execute()
    to_wake = [p for p, was_unset in zip(chosen, unset, strict=True) if was_unset or force]
    if to_wake:
        send(to_wake)


def clear_doorbells(client: redis.Redis, partitions: Iterable[int]) -> None:
    keys = [doorbell_key(partition) for partition in partitions]
    if keys:
        client.delete(*keys)


def publish_outcomes(client: redis.Redis, outcomes: Iterable[Outcome]) -> None:
    """Tell waiting requests what became of their jobs, in one message per transaction.

    A single withdraw or deposit carries its whole outcome (its request answers from it);
    a batch's jobs are listed by id under their batch, as their readers go to the database.
    """
    jobs: list[dict[str, object]] = []
    batches: dict[str, list[str]] = {}
    for outcome in outcomes:
        if outcome.batch_id is None:
            jobs.append(outcome.to_message())
        else:
            batches.setdefault(outcome.batch_id, []).append(outcome.job_id)
    if jobs or batches:
        payload = {"jobs": jobs, "batches": batches}
        client.publish(completions_channel(client), json.dumps(payload, separators=(",", ":")))


def register_worker(
    client: redis.Redis, worker_id: str, ttl_seconds: float, key: str = WORKERS_KEY
) -> int:
    """Mark this worker alive until now + ttl and return how many workers are alive."""
    now = time.time()
    pipe = client.pipeline()
    pipe.zadd(key, {worker_id: now + ttl_seconds})
    pipe.zremrangebyscore(key, "-inf", now)
    pipe.zcard(key)
    return int(pipe.execute()[-1])


def unregister_worker(client: redis.Redis, worker_id: str) -> None:
    client.zrem(WORKERS_KEY, worker_id)


def live_workers(client: redis.Redis) -> int:
    return int(client.zcount(WORKERS_KEY, time.time(), "+inf"))
