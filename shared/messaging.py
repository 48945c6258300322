"""Redis conventions both sides share: doorbells, completion notices, the live-worker registry."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable
from functools import cache
from typing import Any

import redis
from redis.commands.core import Script
from redis.sentinel import Sentinel

from shared.ledger.applying import Outcome, PartRun
from shared.partitioning import lease_key, queue_name
from shared.redis_address import SENTINEL_TIMEOUTS, SentinelAddress, sentinel_address

WORKERS_KEY = "atm:workers"
SENDERS_KEY = "atm:senders"  # webhook senders, apart: they own no partition
DOORBELL_TTL_SECONDS = 60
DOORBELL_PREFIX = "atm:doorbell:"  # + a partition nobody holds
OWNER_DOORBELL_PREFIX = "atm:doorbell:worker:"  # + the identity of a worker


def connect(url: str) -> redis.Redis:
    """A client with short timeouts, so a dead Redis is reported instead of hanging a
    request; of the master the sentinels name, for a `redis+sentinel://` URL."""
    return redis_client(url, socket_connect_timeout=2, socket_timeout=5, health_check_interval=30)


def redis_client(url: str, **options: Any) -> redis.Redis:
    """A client of the server REDIS_URL names (shared.redis_address); `options` are its
    connections' (timeouts). Through Sentinel, each new connection asks the sentinels
    which server is the master, so after a failover the next command finds the new one."""
    address = sentinel_address(url)
    if address is None:
        return redis.Redis.from_url(url, **options)
    return _sentinels(address).master_for(
        address.master,
        db=address.db,
        username=address.username,
        password=address.password,
        **options,
    )


@cache
def _sentinels(address: SentinelAddress) -> Sentinel:
    """One set of connections to the sentinels per process and address, however many
    clients (and reconnections of the completion listener) ask them for the master."""
    return Sentinel(list(address.sentinels), sentinel_kwargs=dict(SENTINEL_TIMEOUTS))


def completions_channel(client: redis.Redis) -> str:
    """The channel of completion notices for the Redis database `client` uses.

    Keys belong to a database but pub/sub channels do not: two services on one Redis
    server in different databases would otherwise each receive the other's notices.
    """
    return f"atm:{client.connection_pool.connection_kwargs.get('db', 0)}:completions"


def doorbell_key(partition: int) -> str:
    """The flag of a partition that no worker holds at the moment it is rung."""
    return f"{DOORBELL_PREFIX}{partition}"


def owner_doorbell_key(identity: str) -> str:
    """The flag of one worker: one drain applies every partition it holds, so one wake-up
    covers them all."""
    return f"{OWNER_DOORBELL_PREFIX}{identity}"


# For each of the N partitions (KEYS: their lease keys, then the queue keys of those given a
# message; ARGV: force, TTL, the two flag prefixes above, N, the partitions, then the
# messages): set the flag of the lease's holder (the partition's own flag if nobody holds
# it), and wake the partition if this call set that flag and no earlier partition of the
# call did (one message per owner), or always with force. Waking is pushing its message on
# its queue when one is given (the flag and the message then exist together or not at
# all), and listing it. The flag keys come from the lease values, so they cannot be
# declared up front: a single Redis server, not a cluster, runs this.
_RING = """
local force, ttl, by_owner, by_partition = ARGV[1] == '1', ARGV[2], ARGV[3], ARGV[4]
local count = tonumber(ARGV[5])
local with_messages = #KEYS > count
local flagged, to_wake = {}, {}
for i = 1, count do
  local partition = ARGV[i + 5]
  local owner = redis.call('GET', KEYS[i])
  local flag = owner and (by_owner .. owner) or (by_partition .. partition)
  local first = flagged[flag] == nil
  if first then
    flagged[flag] = redis.call('SET', flag, 1, 'NX', 'EX', ttl) and true or false
  end
  if force or (first and flagged[flag]) then
    if with_messages then
      redis.call('LPUSH', KEYS[count + i], ARGV[count + i + 5])
    end
    table.insert(to_wake, tonumber(partition))
  end
end
return to_wake
"""


@cache
def _ring_script(client: redis.Redis) -> Script:
    return client.register_script(_RING)


def ring_doorbells(
    client: redis.Redis,
    partitions: Iterable[int],
    send: Callable[[list[int]], None] | None = None,
    *,
    force: bool = False,
    messages: Callable[[int], str] | None = None,
) -> list[int]:
    """Wake the owner of each partition unless a wake-up is already waiting for it; return
    the partitions woken.

    The flag belongs to the worker holding the partition's lease (read in the same script):
    it is set before the wake-up is sent and cleared by that worker only once a look finds
    nothing, after which it looks again, so a job recorded before a failed SET is always
    seen. Requests arriving while their owner drains, whichever of its partitions they
    are for, thus send nothing, and an idle owner gets one message for all of them. A
    partition nobody holds has a flag of its own (its next owner applies what is queued
    when it takes it). `force` sends even when the flag is set: for a wake-up that reached
    a worker which no longer owns the partition, and for a drain that hands the event loop
    back mid-way.

    With `messages` (a partition's encoded Celery message, see web/serving/dispatch.py) the script
    pushes each wake-up itself, in the round trip that sets its flag; otherwise `send` gets
    every partition to wake at once, after the script.
    """
    if (send is None) == (messages is None):
        raise ValueError("give either `send` or `messages`: a flag set with no wake-up waits")
    chosen = sorted(set(partitions))
    if not chosen:
        return []
    keys = [lease_key(partition) for partition in chosen]
    pushed: list[str] = []
    if messages is not None:
        keys += [queue_name(partition) for partition in chosen]
        pushed = [messages(partition) for partition in chosen]
    to_wake = _ring_script(client)(
        keys=keys,
        args=[
            "1" if force else "0",
            DOORBELL_TTL_SECONDS,
            OWNER_DOORBELL_PREFIX,
            DOORBELL_PREFIX,
            len(chosen),
            *chosen,
            *pushed,
        ],
    )
    woken = [int(partition) for partition in to_wake]
    if woken and send is not None:
        send(woken)
    return woken


def lease_holders(client: redis.Redis, partitions: Iterable[int]) -> list[str | None]:
    """The worker holding each partition's lease (its `host:pid`), or None, in order."""
    keys = [lease_key(partition) for partition in partitions]
    return [token.decode() if token else None for token in client.mget(keys)] if keys else []


def doorbell_rung(client: redis.Redis, identity: str, partition: int) -> bool:
    """Whether the flag a wake-up for `partition` reached this worker through is still set.

    A wake-up that finds both flags clear is stale: its flag was set before the message was
    sent, and either this worker cleared it and then looked for queued jobs (that look saw
    every job committed before the flag was set), or it was the flag of an earlier owner or
    of nobody, and this worker's look on taking the partition came after it.
    """
    return bool(client.exists(owner_doorbell_key(identity), doorbell_key(partition)))


def clear_doorbells(client: redis.Redis, identity: str, partitions: Iterable[int]) -> None:
    """Clear this worker's flag, and the flags of its partitions from before it held them."""
    client.delete(owner_doorbell_key(identity), *(doorbell_key(p) for p in partitions))


def publish_outcomes(
    client: redis.Redis, outcomes: Iterable[Outcome], runs: Iterable[PartRun] = ()
) -> None:
    """Tell waiting requests what became of their jobs, in one message per transaction.

    A single withdraw or deposit carries its whole outcome (its request answers from it);
    a batch's jobs are listed by id under their batch, as their readers go to the database.
    """
    jobs: list[dict[str, object]] = []
    batches: dict[str, list[str]] = {}
    for outcome in outcomes:
        if outcome.batch_id is None:
            jobs.append(outcome.to_message())
        else:  # an operation queued as a row before revision 0005
            batches.setdefault(outcome.batch_id, []).append(outcome.job_id)
    for run in runs:
        batches.setdefault(run.batch_id, []).extend(run.job_ids)
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
