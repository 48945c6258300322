"""Sending, the part that waits on receivers: signed POSTs on threads, one pool per address."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from functools import cache

import urllib3

from shared.config.settings import Settings
from shared.errors import InvalidWebhookUrl
from shared.events.targets import Target, resolve
from shared.events.webhooks import signature
from worker.runtime import WorkerRuntime
from worker.webhooks.bodies import event_bodies, live_webhooks
from worker.webhooks.due import Due, Result

MAX_RESPONSE_BYTES = 64 * 1024  # a receiver's answer is read this far, then dropped
USER_AGENT = "atm-webhooks/1"


class Sender:
    """The HTTP side: a thread pool, and a connection pool per checked address."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.threads = ThreadPoolExecutor(settings.webhook_concurrency, "webhook")
        self.pools: dict[tuple[str, str, int, str], urllib3.HTTPConnectionPool] = {}
        self.timeout = urllib3.Timeout(total=settings.webhook_timeout_seconds)

    def send(self, runtime: WorkerRuntime, due: list[Due]) -> list[Result]:
        with runtime.database.read.begin() as session:
            webhooks = live_webhooks(session, {d.webhook_id for d in due})
            bodies = event_bodies(session, due)
        targets: dict[str, Target | str] = {}  # webhook id -> target, or why there is none
        for webhook_id, webhook in webhooks.items():
            try:
                targets[webhook_id] = resolve(
                    webhook.url, allow_private=self.settings.webhook_allow_private
                )
            except InvalidWebhookUrl as exc:
                targets[webhook_id] = exc.message
        failed_receivers: set[str] = set()

        def send_one(item: Due) -> Result:
            webhook = webhooks.get(item.webhook_id)
            if webhook is None:
                return Result(item, error="webhook deleted", gone=True)
            if item.webhook_id in failed_receivers:
                return Result(item, deferred=True)
            target = targets[item.webhook_id]
            if isinstance(target, str):
                return Result(item, error=target)
            result = self.post(target, webhook.secret, item, bodies[item.event_id])
            if not result.delivered:
                failed_receivers.add(item.webhook_id)
            return result

        return list(self.threads.map(send_one, due))

    def post(self, target: Target, secret: str, item: Due, body: bytes) -> Result:
        headers = {
            "Host": target.host if target.port in (80, 443) else f"{target.host}:{target.port}",
            "Content-Type": "application/json",
            "User-Agent": USER_AGENT,
            "ATM-Event-Id": item.event_id,
            "ATM-Signature": signature(secret, int(time.time()), body),
        }
        try:
            response = self._pool(target).urlopen(
                "POST",
                target.path,
                body=body,
                headers=headers,
                redirect=False,  # a redirect could lead anywhere, private addresses included
                retries=False,
                preload_content=False,
                timeout=self.timeout,
            )
        except urllib3.exceptions.HTTPError as exc:
            return Result(item, error=_describe(exc))
        try:
            response.read(MAX_RESPONSE_BYTES)
        except urllib3.exceptions.HTTPError:
            pass  # the status is what counts
        finally:
            if response.length_remaining == 0:
                response.release_conn()
            else:
                response.close()
        return Result(item, status_code=response.status)

    def _pool(self, target: Target) -> urllib3.HTTPConnectionPool:
        key = (target.scheme, target.address, target.port, target.host)
        pool = self.pools.get(key)
        if pool is None:
            size = self.settings.webhook_concurrency
            if target.scheme == "https":
                pool = urllib3.HTTPSConnectionPool(
                    target.address,
                    target.port,
                    maxsize=size,
                    server_hostname=target.host,
                    assert_hostname=target.host,
                    cert_reqs="CERT_REQUIRED",
                )
            else:
                pool = urllib3.HTTPConnectionPool(target.address, target.port, maxsize=size)
            self.pools[key] = pool
        return pool


@cache
def sender(settings: Settings) -> Sender:
    return Sender(settings)


def _describe(exc: Exception) -> str:
    """What a failed send came to, as the delivery's last_error says it."""
    # urllib3 makes a connection that could not be made a ConnectTimeoutError too, though
    # nothing timed out: the operating system's error says what happened.
    if isinstance(exc, urllib3.exceptions.NewConnectionError):
        cause = exc.__cause__
        if isinstance(cause, ConnectionRefusedError):
            return "connection refused"
        reason = cause.strerror if isinstance(cause, OSError) and cause.strerror else exc
        return f"could not connect: {reason}"[:255]
    if isinstance(exc, urllib3.exceptions.TimeoutError):
        return "timed out"
    return f"{type(exc).__name__}: {exc}"[:255]
