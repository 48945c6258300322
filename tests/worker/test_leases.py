"""Leases against a real Redis: one holder, renewal, and loss noticed by any check."""

from __future__ import annotations

import redis

from shared.config.settings import load_settings
from shared.partitioning import lease_key
from tests.stack import RedisServer
from worker.partitions.leases import PartitionLeases


def leases_for(url: str, identity: str) -> PartitionLeases:
    settings = load_settings({"ATM_PARTITIONS": "4", "ATM_LEASE_SECONDS": "5"})
    return PartitionLeases(redis.Redis.from_url(url), identity, settings)


def test_a_partition_has_one_holder(redis_server: RedisServer) -> None:
    url = redis_server.url.replace("/0", "/4")
    redis.Redis.from_url(url).flushdb()
    first, second = leases_for(url, "first"), leases_for(url, "second")
    assert sorted(first.acquire_free(live_workers=1)) == [0, 1, 2, 3]
    assert second.acquire_free(live_workers=2) == []
    assert redis.Redis.from_url(url).get(lease_key(2)) == b"first"
    handed_back = first.surplus(live_workers=2)
    for partition in handed_back:
        first.release(partition)
    assert sorted(second.acquire_free(live_workers=2)) == sorted(handed_back)
    assert set(first.owned()).isdisjoint(second.owned())


def holder_of_all(redis_server: RedisServer) -> tuple[redis.Redis, PartitionLeases]:
    """A Redis database of its own, emptied, and a worker holding its four partitions."""
    url = redis_server.url.replace("/0", "/4")
    client = redis.Redis.from_url(url)
    client.flushdb()
    holder = leases_for(url, "holder")
    holder.acquire_free(live_workers=1)
    return client, holder


def test_a_lost_lease_is_reported_even_when_a_drain_noticed_it_first(
    redis_server: RedisServer,
) -> None:
    client, holder = holder_of_all(redis_server)
    client.flushdb()  # Redis lost everything, leases included
    holder.sure_until.clear()  # as if the last renewal were long ago
    assert holder.holds(1) is False  # a drain's check notices first
    assert holder.renew() == [0, 1, 2, 3]  # and the ownership step still hears of all four
    assert holder.renew() == []


def test_one_renewal_extends_every_lease_still_held_and_reports_the_one_taken(
    redis_server: RedisServer,
) -> None:
    client, holder = holder_of_all(redis_server)
    for partition in range(4):
        client.pexpire(lease_key(partition), 1000)
    client.set(lease_key(2), "thief")  # expired and taken by another worker
    assert holder.renew() == [2]
    assert sorted(holder.held) == [0, 1, 3] and 2 not in holder.epochs
    assert all(client.pttl(lease_key(p)) > 4000 for p in (0, 1, 3))
    assert client.get(lease_key(2)) == b"thief"  # not released: it is another's
    assert holder.acquire_free(live_workers=1) == []  # none is free: 2 is the thief's


def test_the_applicable_partitions_follow_every_change_of_lease_or_fence(
    redis_server: RedisServer,
) -> None:
    _, holder = holder_of_all(redis_server)
    assert holder.applicable() == []  # held in Redis, not fenced yet
    holder.fenced({0: 3, 1: 3, 2: 3, 3: 3})
    assert holder.applicable() == [0, 1, 2, 3]
    assert holder.applicable() is holder.applicable()  # kept while all are surely held
    holder.forget(1)
    assert holder.applicable() == [0, 2, 3] and dict(holder.fences()) == {0: 3, 2: 3, 3: 3}
    holder.release(3)
    assert holder.applicable() == [0, 2]
    holder.sure_until[2] = 0.0  # its renewal long ago: asked of Redis again, and still held
    holder.applicable_until = (0.0, [0, 2])
    assert holder.applicable() == [0, 2]
