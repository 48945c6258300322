"""Who may call: the bearer key of each request, its scope, and the accounts it may use.

With `ATM_AUTH=off` every request passes with no identity (`caller()` is None), as in the
original service. With `ATM_AUTH=required` every endpoint but the public ones needs a live
key (401 `unauthorized` otherwise) whose scopes include the endpoint's (403 `forbidden`
otherwise); GETs need `read` unless marked otherwise, and every other method `admin`
unless marked `operate`, so an endpoint nobody marked is closed, not open. A key limited
to some accounts is also kept, here, to the jobs, holds and batches within its reach.
"""

from __future__ import annotations

import hashlib
import logging
import os
import socket
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

import redis
from flask import Flask, Response, g, request
from redis.exceptions import RedisError

from shared.access.api_keys import ADMIN, OPERATE, READ, KeyIdentity, hash_secret
from shared.access.reach import OWNED, Owners, find_owners, unknown
from shared.errors import Forbidden, RateLimited, Unauthorized

log = logging.getLogger(__name__)
F = TypeVar("F", bound=Callable)
SCOPE_ATTRIBUTE = "_atm_required_scope"
PUBLIC = "public"
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


def requires(scope: str) -> Callable[[F], F]:
    """Mark a view with the scope it needs (or PUBLIC for none)."""

    def mark(view: F) -> F:
        setattr(view, SCOPE_ATTRIBUTE, scope)
        return view

    return mark


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


def register_auth(
    app: Flask,
    directory: KeyDirectory,
    required: bool,
    rate_limit: int,
    reading: Callable[..., Owners],
) -> None:
    """Check every request's key, scope, rate and reach (see the module, KeyDirectory and
    keep_within_reach); counted answers carry RateLimit-Limit, RateLimit-Remaining and
    RateLimit-Reset (the Unix time its window ends), and one past the limit is 429
    rate_limited with Retry-After. `reading` runs a read (Services.reading)."""

    @app.after_request
    def rate_limit_headers(response: Response) -> Response:
        admission = g.get("admission")
        if admission is not None and admission.count is not None:
            response.headers["RateLimit-Limit"] = str(rate_limit)
            response.headers["RateLimit-Remaining"] = str(max(0, rate_limit - admission.count))
            response.headers["RateLimit-Reset"] = str(admission.window + 1)
        return response

    @app.before_request
    def authenticate() -> None:
        g.api_key = None
        if not required or request.endpoint is None:
            return  # open, or no such route (404/405 say so)
        view = app.view_functions[request.endpoint]
        scope = getattr(view, SCOPE_ATTRIBUTE, None) or (
            READ if request.method in ("GET", "HEAD") else ADMIN
        )
        if scope == PUBLIC or request.blueprint in PUBLIC_BLUEPRINTS:
            return
        secret = bearer_secret()
        admission = directory.admit(secret) if secret else Admission(None)
        identity = admission.identity
        if identity is None:
            raise Unauthorized(
                "a valid API key is required: Authorization: Bearer <secret>"
                if secret is None
                else "this API key is unknown or revoked"
            )
        g.api_key, g.admission = identity, admission
        if admission.count is not None and admission.count > rate_limit:
            raise RateLimited(
                f"more than {rate_limit} requests in one second with this API key",
                retry_after_seconds=1,
            )
        if not identity.allows(scope):
            raise Forbidden(f"this API key does not have the {scope} scope")
        if identity.accounts is not None:
            keep_within_reach(identity, reading)


# The interactive documentation's page and assets: the document they show is public too.
PUBLIC_BLUEPRINTS = frozenset({"interactive_docs"})


def bearer_secret() -> str | None:
    header = request.headers.get("Authorization", "")
    scheme, _, secret = header.partition(" ")
    if scheme.lower() != "bearer" or not secret.strip():
        return None
    return secret.strip()


def caller() -> KeyIdentity | None:
    """The key of this request, or None with auth off."""
    return g.get("api_key")


def caller_id() -> str | None:
    identity = caller()
    return None if identity is None else identity.key_id


def require_account(account_number: str) -> None:
    """403 unless the caller may act on (or read) this account."""
    identity = caller()
    if identity is not None and not identity.may_use(account_number):
        raise Forbidden(f"this API key may not use account {account_number}")


def require_unlimited() -> None:
    """403 for a key limited to some accounts: the endpoint shows or changes every account."""
    identity = caller()
    if identity is not None and identity.accounts is not None:
        raise Forbidden("this API key is limited to some accounts; this needs one that is not")


def keep_within_reach(identity: KeyIdentity, reading: Callable[..., Owners]) -> None:
    """A job, hold or batch the path names that is beyond an account-limited key's reach
    is answered exactly as an unknown id (404), before the view runs and so before any
    wait: which ids exist on other accounts is not the key's to learn."""
    for parameter, identifier in (request.view_args or {}).items():
        if parameter in OWNED:
            owners = reading(find_owners, parameter, identifier)  # unknown: its 404
            if not within_reach(identity, owners):
                raise unknown(parameter, identifier)


def within_reach(identity: KeyIdentity, owners: Owners) -> bool:
    """A limited key reaches what belongs to one of its accounts (a transfer: either of
    them) and whatever it submitted itself."""
    return any(identity.may_use(number) for number in owners.accounts) or (
        owners.submitted_by is not None and owners.submitted_by == identity.key_id
    )


def scoped_idempotency_key(key: str) -> str:
    """Idempotency keys belong to the API key that sent them (as Stripe scopes them)."""
    identity = caller()
    if identity is None:
        return key
    return f"{identity.key_id}:{hashlib.sha256(key.encode()).hexdigest()}"


operate = requires(OPERATE)
admin = requires(ADMIN)
public = requires(PUBLIC)
