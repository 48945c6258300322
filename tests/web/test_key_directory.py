"""The key directory's counting and revocation, two web processes' worth on one real Redis.

The end-to-end tests (tests/e2e/test_access.py) run it in gunicorn's processes; here the
flushes are made by hand, to pin down what each one changes.
"""

from __future__ import annotations

import threading
import time

import pytest
import redis

from shared.access.api_keys import READ, KeyIdentity
from tests.stack import RedisServer
from web.http.key_directory import STALE_SECONDS, KeyDirectory

KEY = KeyIdentity("key-1", "reader", frozenset({READ}), None)


@pytest.fixture
def client(redis_server: RedisServer) -> redis.Redis:
    connected = redis.Redis.from_url(redis_server.url.replace("/0", "/9"))
    connected.flushdb()
    return connected


def directory(client: redis.Redis, name: str, live: set[str]) -> KeyDirectory:
    """A directory as a web process holds one, flushed by the test instead of a greenlet;
    its database read finds the key while it is in `live`."""
    made = KeyDirectory(client, lambda secret: KEY if secret in live else None)
    made.process_id = name
    made.flush()
    return made


def test_processes_share_one_count_learned_at_each_flush(client: redis.Redis) -> None:
    live = {"secret"}
    time.sleep(1.01 - time.time() % 1)  # all in one one-second window
    first, second = directory(client, "a", live), directory(client, "b", live)
    counts = []
    for _ in range(5):
        counts.append(first.admit("secret").count)
        counts.append(second.admit("secret").count)
        first.flush()
        second.flush()
    # Each flush adds what the process admitted and learns the total so far: the second
    # process's count is the first's too, one flush later. Two counts of their own would
    # each have counted 1 to 5.
    assert counts == [1, 1, 2, 3, 4, 5, 6, 7, 8, 9]
    assert first.admit("secret").count == 10  # it has not yet learned of the last one


def test_a_revocation_is_applied_by_every_process_before_it_answers(
    client: redis.Redis,
) -> None:
    live = {"secret"}
    first, second = directory(client, "a", live), directory(client, "b", live)
    assert first.admit("secret").identity == KEY and second.admit("secret").identity == KEY
    first.revocations_changed()
    live.clear()  # the database commit
    generation = first.revocations_changed()
    waited = threading.Event()

    def revoker() -> None:
        first.wait_until_applied(generation)
        waited.set()

    thread = threading.Thread(target=revoker)
    thread.start()
    time.sleep(0.05)
    assert not waited.is_set(), "answered before any process had seen the revocation"
    first.flush()
    first.flush()  # the first flush learns it, the next says so
    time.sleep(0.05)
    assert not waited.is_set(), "answered before the second process had seen it"
    assert second.admit("secret").identity == KEY  # still remembered there, until it flushes
    second.flush()
    second.flush()
    thread.join(5)
    assert waited.is_set()
    assert first.admit("secret").identity is None and second.admit("secret").identity is None


def test_a_process_that_cannot_flush_checks_each_request_itself(client: redis.Redis) -> None:
    live = {"secret"}
    stale = directory(client, "a", live)
    assert stale.admit("secret").identity == KEY
    stale.fresh_until = time.monotonic() - 1  # no flush for longer than STALE_SECONDS
    other = directory(client, "b", live)
    other.revocations_changed()
    live.clear()
    other.revocations_changed()
    assert stale.admit("secret").identity is None  # the round trip saw the revocation
    # and a revoker does not wait for a process that stopped flushing STALE_SECONDS ago
    client.zadd("atm:web:flushers", {"a": time.time() - STALE_SECONDS - 1})
    client.set("atm:web:flushers-since", time.time() - 3600)  # a list kept for long
    started = time.monotonic()
    other.flush()
    other.flush()
    other.wait_until_applied(int(client.get("atm:api-keys:revocations")))
    assert time.monotonic() - started < STALE_SECONDS


def test_after_redis_lost_its_data_a_revocation_waits_out_every_process_trust(
    client: redis.Redis,
) -> None:
    """A process that flushed just before Redis lost its data is missing from the list of
    processes; the revoker waits until it can no longer trust that flush."""
    live = {"secret"}
    forgotten = directory(client, "a", live)
    client.flushdb()  # Redis restarted empty
    revoker = directory(client, "b", live)
    revoker.revocations_changed()
    live.clear()
    started = time.monotonic()
    revoker.wait_until_applied(revoker.revocations_changed())
    assert time.monotonic() - started >= STALE_SECONDS * 0.9
    assert time.monotonic() > forgotten.fresh_until  # it checks each request for itself now
    assert forgotten.admit("secret").identity is None
