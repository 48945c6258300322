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
from shared.partitioning import OWNER_QUEUE_PREFIX, lease_key, owner_queue
from shared.redis_address import SENTINEL_TIMEOUTS, SentinelAddress, sentinel_address

WORKERS_KEY = "atm:workers"
SENDERS_KEY = "atm:senders"  # webhook senders, apart: they own no partition
DOORBELL_TTL_SECONDS = 60
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


def owner_doorbell_key(identity: str) -> str:
    """The flag of one worker: one drain applies every partition it holds, so one wake-up
    covers them all."""
    return f"{OWNER_DOORBELL_PREFIX}{identity}"


# For each of the N partitions (KEYS: their lease keys; ARGV: TTL, the owner flag prefix,
# the owner queue prefix, N, M, the partitions, then M messages): set the flag of the
# lease's holder, and if this call set it push a message on the holder's own queue, once
# per holder and call (the k-th holder woken gets message k, or k mod M past M). The flag
# and the message exist together or not at all, and both expire: a worker that died
# leaves neither behind for long. A partition nobody holds gets
# nothing: whoever takes it applies what is queued (worker.partitions.ownership). The flag
# and queue keys come from the lease values, so they cannot be declared up front: a
# single Redis server, not a cluster, runs this.
_RING = """
local ttl, by_owner, queue_prefix = ARGV[1], ARGV[2], ARGV[3]
local count, messages = tonumber(ARGV[4]), tonumber(ARGV[5])
local flagged, to_wake = {}, {}
for i = 1, count do
  local owner = redis.call('GET', KEYS[i])
  if owner and flagged[owner] == nil then
    flagged[owner] = redis.call('SET', by_owner .. owner, 1, 'NX', 'EX', ttl) and true or false
    if flagged[owner] then
      local queue = queue_prefix .. owner
      redis.call('LPUSH', queue, ARGV[5 + count + (#to_wake % messages) + 1])
      redis.call('EXPIRE', queue, ttl)
      table.insert(to_wake, tonumber(ARGV[i + 5]))
    end
  end
end
return to_wake
"""
# Messages one ring carries at most: one per owner it wakes, and owners are few. A call
# for a batch over a thousand partitions carries these, not one message a partition.
MESSAGES_A_RING = 8


@cache
def _ring_script(client: redis.Redis) -> Script:
    return client.register_script(_RING)


def ring_doorbells(
    client: redis.Redis,
    partitions: Iterable[int],
    wake_up: Callable[[], str],
) -> list[int]:
    """Wake the owner of each partition unless a wake-up is already waiting for it; return
    one partition of each owner woken.

    The flag belongs to the worker holding the partition's lease (read in the same script):
    it is set before the wake-up is pushed and cleared by that worker only once a look
    finds nothing, after which it looks again, so a job recorded before a failed SET is
    always seen. Requests arriving while their owner drains, whichever of its partitions
    they are for, thus send nothing, and an idle owner gets one message for all of them,
    on the one queue it consumes (shared.partitioning.owner_queue): a worker listens to
    one queue however many partitions it holds, and a wake-up names no partition (the
    drain applies all the worker's). A partition nobody holds is not woken: a worker
    takes its lease, then its fence, then drains, and that drain's look comes after the
    job's commit.

    `wake_up` gives an encoded Celery message (shared.wake_ups), fresh ids each call; the
    script pushes them in the round trip that sets the flags.
    """
    chosen = sorted(set(partitions))
    if not chosen:
        return []
    messages = [wake_up() for _ in range(min(len(chosen), MESSAGES_A_RING))]
    to_wake = _ring_script(client)(
        keys=[lease_key(partition) for partition in chosen],
        args=[
            DOORBELL_TTL_SECONDS,
            OWNER_DOORBELL_PREFIX,
            OWNER_QUEUE_PREFIX,
            len(chosen),
            len(messages),
            *chosen,
            *messages,
        ],
    )
    return [int(partition) for partition in to_wake]


def wake_worker(client: redis.Redis, identity: str, message: str) -> None:
    """Set a worker's flag and push `message` on its own queue, whatever its leases: a
    drain that hands the event loop back wakes itself this way (through a partition's
    lease it would wake whoever holds that one, if no longer itself)."""
    queue = owner_queue(identity)
    pipe = client.pipeline(transaction=True)
    pipe.set(owner_doorbell_key(identity), 1, ex=DOORBELL_TTL_SECONDS)
    pipe.lpush(queue, message)
    pipe.expire(queue, DOORBELL_TTL_SECONDS)
    pipe.execute()


def lease_holders(client: redis.Redis, partitions: Iterable[int]) -> list[str | None]:
    """The worker holding each partition's lease (its `host:pid`), or None, in order."""
    keys = [lease_key(partition) for partition in partitions]
    return [token.decode() if token else None for token in client.mget(keys)] if keys else []


def doorbell_rung(client: redis.Redis, identity: str) -> bool:
    """Whether the flag a wake-up reached this worker through is still set.

    A wake-up that finds it clear is stale: the flag was set before the message was
    pushed, and this worker cleared it and then looked for queued jobs, a look that saw
    every job committed before the flag was set.
    """
    return bool(client.exists(owner_doorbell_key(identity)))


def clear_doorbells(client: redis.Redis, identity: str) -> None:
    """Clear this worker's flag: the next request for one of its partitions rings again."""
    client.delete(owner_doorbell_key(identity))


def publish_outcomes(
    client: redis.Redis, outcomes: Iterable[Outcome], runs: Iterable[PartRun] = ()
) -> None:
    """Tell waiting requests what became of their jobs, in one message per transaction.

    A single withdraw or deposit carries its whole outcome (its request answers from it);
    a batch's jobs are told by their batch, as their readers go to the database. The
    operations applied from a batch's parts are not listed at all: whoever waits for one
    waits on its batch's id (web.serving.waiting.notice_key), and a chunk of thousands of
    them would otherwise be a notice of hundreds of kilobytes, which every web process
    reads whole. Jobs of a batch queued as rows before revision 0005 are still listed.
    """
    jobs: list[dict[str, object]] = []
    batches: dict[str, list[str]] = {}
    for outcome in outcomes:
        if outcome.batch_id is None:
            jobs.append(outcome.to_message())
        else:  # an operation queued as a row before revision 0005
            batches.setdefault(outcome.batch_id, []).append(outcome.job_id)
    for run in runs:
        batches.setdefault(run.batch_id, [])
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
