"""Waiting for a job without polling: one Redis subscription per process fans notices out."""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from typing import TYPE_CHECKING, TypeVar

import redis
from redis.exceptions import RedisError

from shared import messaging
from shared.accepting.batch_queue import batch_and_index
from shared.ledger.applying import Outcome
from web.http.parsing import long_poll_seconds, parse_prefer
from web.serving.background import ProcessThread

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from web.serving.services import Services

log = logging.getLogger(__name__)
T = TypeVar("T")
_EMPTY_NOTICE = json.dumps({"jobs": [], "batches": {}})
# The key of requests waiting for anything new in the events feed: woken by every notice.
FEED_NOTICES = "*feed*"


def notice_key(job_id: str) -> str:
    """The key a request waiting for `job_id` waits on: the job's own id, or for an
    operation of a batch (its id names the batch) the batch's, as the worker's notices
    name a batch once for all of its operations a transaction applied
    (shared.messaging.publish_outcomes). Woken for any of its batch's chunks, the request
    reads its operation again and waits on if it is not final yet."""
    named = batch_and_index(job_id)
    return job_id if named is None else named[0]


class Waiter:
    """One request waiting for a job (or any job of a batch); woken with the job's outcome,
    or to re-check the database."""

    def __init__(self) -> None:
        self.event = threading.Event()
        self.outcome: Outcome | None = None

    def wait(self, timeout: float) -> bool:
        woken = self.event.wait(timeout)
        self.event.clear()
        return woken


class NotWaiting(Waiter):
    """Given instead of a Waiter once a process has as many waiters as it may hold: its
    request answers at once (202, or the current state) instead of queueing."""

    def wait(self, timeout: float) -> bool:
        return False


class CompletionListener:
    """Subscribes to the completion channel in a background thread, started on first use.

    Waiters register before the job is woken, so no notice can slip past them. After a
    lost connection every waiter is woken to re-read its job from the database.
    """

    def __init__(self, redis_url: str, max_waiters: int) -> None:
        self.redis_url = redis_url
        self.max_waiters = max_waiters
        self.count = 0
        self.waiters: dict[str, set[Waiter]] = {}
        self.lock = threading.Lock()
        self.ready = threading.Event()
        self.closing = threading.Event()
        self.thread = ProcessThread("completions", self._run)

    @contextmanager
    def expect(self, key: str) -> Iterator[Waiter]:
        """Wait for notices about `key`: a job id, or a batch id for any of its jobs.

        Past `max_waiters` in this process the waiter never waits: each waiting request
        holds a socket and some memory, and the cap keeps both bounded.
        """
        self._ensure_started()
        with self.lock:
            if self.count >= self.max_waiters:
                waiter: Waiter = NotWaiting()
                registered = False
            else:
                waiter, registered = Waiter(), True
                self.waiters.setdefault(key, set()).add(waiter)
                self.count += 1
        try:
            yield waiter
        finally:
            if registered:
                self._forget(key, waiter)

    def _forget(self, key: str, waiter: Waiter) -> None:
        with self.lock:
            self.count -= 1
            group = self.waiters.get(key)
            if group is not None:
                group.discard(waiter)
                if not group:
                    del self.waiters[key]

    def _ensure_started(self) -> None:
        # Only the first request of a process waits for the subscription; while Redis is
        # down later ones go on, and are woken to re-read the database on reconnect.
        if self.thread.ensure_started():
            self.ready.wait(timeout=2)

    def close(self, client: redis.Redis, timeout: float) -> bool:
        """End the subscription; True if its thread has ended. An empty notice wakes the
        thread's read at once instead of at its next one-second timeout."""
        self.closing.set()
        if self.thread.thread is not None:
            with suppress(RedisError):
                client.publish(messaging.completions_channel(client), _EMPTY_NOTICE)
        return self.thread.join(timeout)

    def _run(self) -> None:
        while not self.closing.is_set():
            client = messaging.connect(self.redis_url)
            pubsub = client.pubsub(ignore_subscribe_messages=True)
            try:
                pubsub.subscribe(messaging.completions_channel(client))
                pubsub.get_message(timeout=1)  # the subscribe confirmation
                self.ready.set()
                self._wake_all()
                while not self.closing.is_set():
                    message = pubsub.get_message(timeout=1)
                    if message is not None and message["type"] == "message":
                        self._deliver(json.loads(message["data"]))
            except RedisError as exc:
                log.warning("completion subscription lost (%s); reconnecting", exc)
                self.ready.clear()
                self._wake_all()
                time.sleep(0.5)
            finally:
                pubsub.close()
                client.close()

    def _deliver(self, notice: dict) -> None:
        with self.lock:
            if not self.waiters:
                return
            if notice["jobs"] or notice["batches"]:  # a transaction committed events
                for waiter in self.waiters.get(FEED_NOTICES, ()):
                    waiter.event.set()
            for message in notice["jobs"]:
                for waiter in self.waiters.get(str(message["job_id"]), ()):
                    waiter.outcome = Outcome.from_message(message)
                    waiter.event.set()
            for batch_id, job_ids in notice["batches"].items():
                for key in (batch_id, *job_ids):
                    for waiter in self.waiters.get(key, ()):
                        waiter.event.set()

    def _wake_all(self) -> None:
        with self.lock:
            for group in self.waiters.values():
                for waiter in group:
                    waiter.event.set()


def long_poll(
    listener: CompletionListener,
    key: str,
    seconds: float,
    read: Callable[[], T],
    is_final: Callable[[T], bool],
    look_again: float | None = None,
) -> T:
    """Read until `is_final(value)` or `seconds` pass, re-reading when `key` is notified
    and, with `look_again`, also after that many seconds without a notice.

    `read` runs after the waiter is registered, so a notice between reads is never lost.
    """
    deadline = time.monotonic() + seconds
    with listener.expect(key) as waiter:
        while True:
            value = read()
            remaining = deadline - time.monotonic()
            if is_final(value) or remaining <= 0:
                return value
            timeout = remaining if look_again is None else min(remaining, look_again)
            if not waiter.wait(timeout) and (look_again is None or isinstance(waiter, NotWaiting)):
                return value


def read_until_final(
    services: Services, key: str, read: Callable[[Session], T], is_final: Callable[[T], bool]
) -> tuple[T, dict[str, str]]:
    """A GET that honours `Prefer: wait=N`: `read` (each time in a fresh read transaction)
    until `is_final`, or until the capped wait runs out; with the Preference-Applied header."""
    seconds, headers = long_poll_seconds(parse_prefer(), services.settings.max_wait_seconds)

    def read_once() -> T:
        return services.reading(read)

    return long_poll(services.listener, key, seconds, read_once, is_final), headers
