"""Each request's key and its count without a round trip, revocations seen by every process."""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass

import redis
from redis.exceptions import RedisError

from shared.access.api_keys import KeyIdentity, hash_secret

log = logging.getLogger(__name__)

# Bumped around every revocation; a web process drops the keys it remembers when it
# changes (see KeyDirectory).
REVOCATIONS_KEY = "atm:api-keys:revocations"
RATE_PREFIX = "atm:rate"
# Each flushing web process: when it last flushed, and the revocation count it applied.
FLUSHERS_KEY = "atm:web:flushers"
REGISTRY_SINCE_KEY = "atm:web:flushers-since"  # when the list above began (Redis's data)
ACKNOWLEDGED_KEY = "atm:api-keys:applied"
FLUSH_SECONDS = 0.005
IDLE_FLUSH_SECONDS = 0.05
STALE_SECONDS = 0.5
# KEYS[1]: the revocation counter; KEYS[2]: this key's counter for this second.
ADMISSION_SCRIPT = """
local count = redis.call('INCR', KEYS[2])
if count == 1 then redis.call('EXPIRE', KEYS[2], 2) end
return {redis.call('GET', KEYS[1]), count}
"""

# KEYS[1]: the revocation counter; ARGV[1]: where it starts when it does not exist.
REVOCATION_SCRIPT = """
if redis.call('EXISTS', KEYS[1]) == 0 then redis.call('SET', KEYS[1], ARGV[1]) end
return redis.call('INCR', KEYS[1])
"""


@dataclass(frozen=True)
class Admission:
    """What one request's key check found: its key (None: unknown or revoked) and, when
    Redis answered, the request's place in its key's current one-second window."""

    identity: KeyIdentity | None
    count: int | None = None
    window: int = 0


@dataclass(frozen=True)
class Registration:
    """A web process that flushed in the last STALE_SECONDS, as it registered in Redis."""

    process: str  # "host:pid"
    database: str  # the label of the database it serves; "" from an earlier release
    applied: int  # the revocation counter's value it has applied; -1 for none


class KeyDirectory:
    """Finds the key of a secret and counts its requests, without a Redis round trip of its
    own in the usual case.

    Revocation must hold from the next request on, in every web process. Each process
    remembers the keys it has read (no database work per request) and forgets them all when
    a Redis counter, bumped by every revocation before and after its database commit,
    changes. Rate limits count each key's requests in fixed one-second windows shared by
    every process.

    In a process served by gevent, a flusher greenlet does both every FLUSH_SECONDS in one
    pipeline: it reads the revocation counter (and says which value it has applied), and
    adds the requests counted here since the last flush to their Redis counters, learning
    the totals of every process. A request then needs no round trip: its count is the last
    total plus what this process admitted since, so a limit is shared within what the other
    processes admit in one flush interval. A revocation waits, before it answers, until
    every process that flushed lately has applied it. A process whose flusher has not
    completed a flush for STALE_SECONDS (Redis slow or down) stops trusting what it
    remembers and checks each request with a round trip (one Lua script), as a process
    without gevent always does; when Redis cannot be asked at all, every request reads its
    key from the database and nothing is counted.
    """

    def __init__(
        self,
        redis_client: redis.Redis,
        read_key: Callable[[str], KeyIdentity | None],
        *,
        flushing: bool = False,
        database: str = "",
    ) -> None:
        self.redis = redis_client
        # Named in this process's registration, so that a revoking tool can tell the web
        # processes of its own database from those of another (web/cli/key_revocation.py).
        self.database = database
        self._read = read_key  # the database read, off the event loop
        self.known: dict[str, KeyIdentity] = {}
        self.generation = -1  # the revocation counter's value the memory belongs to
        # One command instead of a pipeline of three: the round trip is the same, but
        # redis-py's work per command is a measurable share of a request's CPU.
        self.check = redis_client.register_script(ADMISSION_SCRIPT)
        self.bump = redis_client.register_script(REVOCATION_SCRIPT)
        self.flushing = flushing
        self.flusher_pid: int | None = None
        self.process_id = ""
        self.pending: Counter[str] = Counter()  # admitted here, not yet added in Redis
        self.counted = threading.Event()  # set by the first count after a flush
        self.totals: dict[str, int] = {}  # each counter's total at the last flush
        self.fresh_until = 0.0  # monotonic; until then the flushed state may be used

    def admit(self, secret: str) -> Admission:
        if self.flushing:
            self.start_flusher()
        digest = hash_secret(secret)
        window = int(time.time())
        counter = f"{RATE_PREFIX}:{digest[:32]}:{window}"
        if time.monotonic() > self.fresh_until:
            return self._admit_with_round_trip(secret, digest, counter, window)
        identity = self._identity(digest, secret)
        if identity is None:
            return Admission(None)
        if not self.pending:
            self.counted.set()  # an idle flusher flushes within FLUSH_SECONDS, not IDLE_…
        self.pending[counter] += 1
        return Admission(identity, self.totals.get(counter, 0) + self.pending[counter], window)

    def _admit_with_round_trip(
        self, secret: str, digest: str, counter: str, window: int
    ) -> Admission:
        try:
            generation, count = self.check(keys=[REVOCATIONS_KEY, counter])
        except RedisError as exc:
            log.warning("cannot ask Redis for revocations; reading keys from the database: %s", exc)
            self.known.clear()
            return Admission(self._read(secret))
        self._apply_generation(generation)
        return Admission(self._identity(digest, secret), int(count), window)

    def _identity(self, digest: str, secret: str) -> KeyIdentity | None:
        identity = self.known.get(digest)
        if identity is None:
            generation = self.generation
            identity = self._read(secret)
            # Remembered only if no revocation was seen during the read (unknown secrets
            # never are); one that commits after it bumps the counter again, and the
            # memory is dropped then.
            if identity is not None and self.generation == generation:
                self.known[digest] = identity
        return identity

    def _apply_generation(self, raw: bytes | None) -> None:
        generation = int(raw or 0)
        if generation != self.generation:
            self.known, self.generation = {}, generation

    def start_flusher(self) -> None:
        if self.flusher_pid == os.getpid():
            return
        import gevent

        self.flusher_pid = os.getpid()
        self.process_id = f"{socket.gethostname()}:{os.getpid()} {self.database}".rstrip()
        self.pending, self.totals, self.fresh_until = Counter(), {}, 0.0
        gevent.spawn(self._flush_forever)

    def _flush_forever(self) -> None:
        import gevent

        while True:
            self.counted.clear()
            busy = bool(self.pending)
            try:
                self.flush()
            except RedisError as exc:
                log.warning("cannot flush key counts and revocations to Redis: %s", exc)
                self.known.clear()
                self.fresh_until = 0.0  # each request checks for itself until a flush works
                gevent.sleep(STALE_SECONDS)
            # Idle, a process flushes less often (a revocation then waits a little longer),
            # but a request counted meanwhile brings the next flush forward: counts stay
            # shared within FLUSH_SECONDS whether requests come in a stream or one by one.
            if not busy:
                self.counted.wait(IDLE_FLUSH_SECONDS)
            gevent.sleep(FLUSH_SECONDS)

    def flush(self) -> None:
        """One pipeline: the revocation counter, this process's acknowledgement and
        liveness, and the requests counted since the last flush."""
        started = time.monotonic()
        pending, self.pending = self.pending, Counter()
        pipe = self.redis.pipeline(transaction=False)
        pipe.get(REVOCATIONS_KEY)
        pipe.hset(ACKNOWLEDGED_KEY, self.process_id, self.generation)
        pipe.zadd(FLUSHERS_KEY, {self.process_id: time.time()})
        pipe.set(REGISTRY_SINCE_KEY, time.time(), nx=True)
        pipe.zremrangebyscore(FLUSHERS_KEY, "-inf", time.time() - 3600)  # long gone
        for counter, count in pending.items():
            pipe.incrby(counter, count)
            pipe.expire(counter, 2)
        results = pipe.execute()
        self._apply_generation(results[0])
        current = f":{int(time.time())}"
        totals = {key: n for key, n in self.totals.items() if key.endswith(current)}
        for index, counter in enumerate(pending):
            totals[counter] = int(results[5 + 2 * index])
        self.totals = totals
        # Measured from before the pipeline: a revoker that sees this flush's time in
        # FLUSHERS_KEY counts on this process trusting it for no longer than STALE_SECONDS.
        self.fresh_until = started + STALE_SECONDS

    def revocations_changed(self) -> int:
        """Called around a revocation; returns the counter's new value. Raises RedisError
        if the change cannot be announced (the revocation is then refused rather than left
        unseen by other processes).

        A counter lost with Redis's data starts again from the time in microseconds, above
        any value it had before: a process that remembers keys under an earlier value
        would otherwise take a restarted count that reached that value for no change.
        """
        return int(self.bump(keys=[REVOCATIONS_KEY], args=[time.time_ns() // 1000]))

    def wait_until_applied(self, generation: int) -> bool:
        """Until every process that flushed in the last STALE_SECONDS has applied
        `generation` (a process that has not flushed for that long checks every request
        with a round trip); at most about STALE_SECONDS. False if some had not by then.

        The list of processes is as old as REGISTRY_SINCE_KEY: if Redis lost its data
        lately, a process that flushed before may be missing from it, so the wait lasts
        until that process can no longer trust what it flushed then.
        """
        import gevent

        self.redis.set(REGISTRY_SINCE_KEY, time.time(), nx=True)
        deadline = time.monotonic() + 2 * STALE_SECONDS
        while time.monotonic() < deadline:
            now = time.time()
            since = float(self.redis.get(REGISTRY_SINCE_KEY) or now)
            live = self.live_processes()
            if now >= since + STALE_SECONDS and all(p.applied >= generation for p in live):
                return True
            gevent.sleep(FLUSH_SECONDS)
        return False

    def live_processes(self) -> list[Registration]:
        """The web processes that flushed in the last STALE_SECONDS (and so may trust what
        they remember), with the revocation each has applied."""
        live = self.redis.zrangebyscore(FLUSHERS_KEY, time.time() - STALE_SECONDS, "+inf")
        applied = self.redis.hmget(ACKNOWLEDGED_KEY, live) if live else []
        registrations = []
        for member, value in zip(live, applied, strict=True):
            process, _, database = member.decode().partition(" ")
            registrations.append(Registration(process, database, int(value or -1)))
        return registrations
