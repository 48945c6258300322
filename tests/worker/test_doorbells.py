"""Wake-ups against a real Redis: one per idle owner, none while its drain finds work, and a
wake-up that arrives after a drain has looked is recognised as stale."""

from __future__ import annotations

from pathlib import Path

import pytest
import redis

from shared import messaging
from shared.accepting.operations import Operation, get_job, new_id, record_operations
from shared.config.settings import load_settings
from shared.ledger.accounts import open_account
from shared.ledger.fences import take_partitions
from shared.partitioning import lease_key, owner_queue, partition_of
from shared.store.db import Database, init_database
from tests.stack import RedisServer
from worker.partitions import draining
from worker.partitions.leases import PartitionLeases
from worker.runtime import WorkerRuntime


@pytest.fixture
def redis_url(redis_server: RedisServer) -> str:
    url = redis_server.url.replace("/0", "/13")
    redis.Redis.from_url(url).flushdb()
    return url


def leases_for(url: str, identity: str) -> PartitionLeases:
    settings = load_settings({"ATM_PARTITIONS": "4", "ATM_LEASE_SECONDS": "5"})
    return PartitionLeases(redis.Redis.from_url(url), identity, settings)


def ring(client: redis.Redis, partitions: list[int]) -> list[int]:
    return messaging.ring_doorbells(client, partitions, wake_up)


def wake_up() -> str:
    """A stand-in for the encoded wake-up, numbered in the order made."""
    made.append(f"wake {len(made)}")
    return made[-1]


made: list[str] = []


def pushed(client: redis.Redis, identity: str) -> list[str]:
    """The wake-ups waiting on a worker's own queue, oldest first."""
    return [m.decode() for m in reversed(client.lrange(owner_queue(identity), 0, -1))]


def test_an_idle_owner_gets_one_wake_up_for_all_its_partitions(redis_url: str) -> None:
    client = redis.Redis.from_url(redis_url)
    first, second = leases_for(redis_url, "first"), leases_for(redis_url, "second")
    first.acquire_free(live_workers=2)
    second.acquire_free(live_workers=2)
    owner = {p: "first" for p in first.owned()} | {p: "second" for p in second.owned()}
    assert sorted(owner) == [0, 1, 2, 3]

    made.clear()
    sent = ring(client, [0, 1, 2, 3])
    assert sorted(owner[p] for p in sent) == ["first", "second"]  # one message per owner
    assert len(made) == 4  # made up to MESSAGES_A_RING, each pushed at most once
    # each on its owner's own queue, the first woken given the first message
    assert [pushed(client, owner[p]) for p in sent] == [["wake 0"], ["wake 1"]]
    assert ring(client, [0, 1, 2, 3]) == []  # both already rung: nothing more to send
    assert messaging.doorbell_rung(client, "first") and messaging.doorbell_rung(client, "second")
    assert 0 < client.ttl(owner_queue("first")) <= messaging.DOORBELL_TTL_SECONDS

    messaging.clear_doorbells(client, "first")
    assert not messaging.doorbell_rung(client, "first")
    assert [owner[p] for p in ring(client, [0, 1, 2, 3])] == ["first"]
    assert len(pushed(client, "first")) == 2 and len(pushed(client, "second")) == 1


def test_a_drain_handing_back_the_event_loop_wakes_itself_whatever_its_leases(
    redis_url: str,
) -> None:
    """Its flag set and a wake-up on its own queue, even with the flag already set and
    no lease held (one lost since would wake another worker through the lease)."""
    client = redis.Redis.from_url(redis_url)
    messaging.wake_worker(client, "drainer", "again 1")
    messaging.wake_worker(client, "drainer", "again 2")
    assert pushed(client, "drainer") == ["again 1", "again 2"]
    assert messaging.doorbell_rung(client, "drainer")
    assert 0 < client.ttl(owner_queue("drainer")) <= messaging.DOORBELL_TTL_SECONDS


def test_a_partition_nobody_holds_is_not_woken(redis_url: str) -> None:
    """Its next owner takes the lease, then the fence, then drains: that drain's look
    comes after every job rung before, so no flag or message is left for it."""
    client = redis.Redis.from_url(redis_url)
    assert ring(client, [3, 1]) == []
    assert client.keys("atm:doorbell:*") == [] and client.keys("atm.worker.*") == []
    taker = leases_for(redis_url, "taker")
    taker.acquire_free(live_workers=1)
    made.clear()
    assert ring(client, [1, 3]) == [1]
    assert pushed(client, "taker") == ["wake 0"]


def test_a_ring_over_many_owners_carries_a_few_messages(redis_url: str) -> None:
    """A batch's ring names a thousand partitions; it carries MESSAGES_A_RING messages,
    not one a partition, and an owner past the last is given the first again."""
    client = redis.Redis.from_url(redis_url)
    for partition in range(12):
        client.set(lease_key(partition), f"w{partition}")
    made.clear()
    assert ring(client, list(range(12))) == list(range(12))
    assert len(made) == messaging.MESSAGES_A_RING == 8
    assert [pushed(client, f"w{p}") for p in range(12)] == [[f"wake {p % 8}"] for p in range(12)]


def applier_runtime(tmp_path: Path, redis_url: str) -> WorkerRuntime:
    """A worker's runtime holding and fencing all 4 partitions of a fresh SQLite file."""
    settings = load_settings(
        {
            "DATABASE_URL": f"sqlite:///{tmp_path / 'atm.db'}",
            "REDIS_URL": redis_url,
            "ATM_PARTITIONS": "4",
        }
    )
    database = Database(settings)
    init_database(database)
    client = messaging.connect(redis_url)
    leases = PartitionLeases(client, "applier", settings)
    leases.acquire_free(live_workers=1)
    with database.writing() as session:  # as the ownership step fences what it took
        leases.fenced(take_partitions(session, leases.unfenced(), "applier"))
    return WorkerRuntime(settings, database, client, "applier", leases)


def test_a_partition_taken_behind_a_drains_back_leaves_its_other_partitions_applied(
    tmp_path: Path, redis_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """After its clear, a drain's look finds work in two partitions, one of them taken by
    another worker since: the refused transaction applied nothing, so the drain gives
    that one up and looks again, rather than taking the refusal for an empty look (which
    would leave the other partition's job to the next sweep)."""
    runtime = applier_runtime(tmp_path, redis_url)
    numbers = {partition_of(str(n), 4): str(n) for n in range(70_100, 70_140)}
    kept, taken = numbers[0], numbers[1]
    with runtime.database.writing() as session:
        for number in (kept, taken):
            open_account(session, number, 0)
    clear = messaging.clear_doorbells

    def clear_then_work_arrives(client: redis.Redis, identity: str) -> None:
        clear(client, identity)
        if not accepted:
            with runtime.database.writing() as session:
                for number in (kept, taken):
                    operation = Operation(new_id(), number, "deposit", 100)
                    record_operations(session, [operation], 4)
                    accepted.append(operation.job_id)
                take_partitions(session, [1], "thief")

    accepted: list[str] = []
    monkeypatch.setattr(messaging, "clear_doorbells", clear_then_work_arrives)
    assert draining.drain(runtime, look_first=False) == 1
    assert 1 not in runtime.leases.applicable()
    with runtime.database.read.begin() as session:
        assert [get_job(session, job_id).status for job_id in accepted] == ["succeeded", "queued"]


def test_a_request_accepted_while_a_drain_applies_sends_no_wake_up(
    tmp_path: Path, redis_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    runtime = applier_runtime(tmp_path, redis_url)
    settings, database, client = runtime.settings, runtime.database, runtime.redis
    with database.writing() as session:
        open_account(session, "70001", 0)
    partition = partition_of("70001", settings.partitions)

    def accept_deposit() -> list[int]:
        """What a request does: record its job, then ring; returns the wake-ups it sent."""
        operation = Operation(new_id(), "70001", "deposit", 100)
        with database.writing() as session:
            record_operations(session, [operation], settings.partitions)
        accepted.append(operation.job_id)
        return ring(client, [partition])

    accepted: list[str] = []
    assert accept_deposit() == [partition]
    rung_while_draining: list[int] = []
    apply_chunk = draining._apply_chunk

    def apply_while_another_arrives(*args: object) -> int:
        applied = apply_chunk(*args)  # type: ignore[arg-type]
        if len(accepted) == 1:  # a second request arrives while the first chunk is applied
            rung_while_draining.extend(accept_deposit())
        return applied

    monkeypatch.setattr(draining, "_apply_chunk", apply_while_another_arrives)
    assert draining.drain(runtime, look_first=False) == 2  # the same drain applied both
    assert rung_while_draining == []  # the doorbell was still set: no wake-up sent
    with database.read.begin() as session:
        assert [get_job(session, job_id).status for job_id in accepted] == ["succeeded"] * 2
    # Cleared once the drain found nothing, after which it looked again: a wake-up that
    # arrives now is stale, and the next request rings afresh.
    assert not messaging.doorbell_rung(client, "applier")
    assert accept_deposit() == [partition]
