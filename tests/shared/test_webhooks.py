"""Webhook pieces without a stack: address checks, signatures, backoff, and the outbox."""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import socket
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from shared.accepting.batch_queue import BatchOperation, new_batch_id, operation_job_id
from shared.accepting.batches import record_batch
from shared.accepting.operations import Operation, new_id, record_operations
from shared.config.settings import load_settings
from shared.errors import InvalidWebhookUrl
from shared.events.targets import Target, is_public, resolve
from shared.events.webhooks import create_webhook, delete_webhook, signature
from shared.ledger.accounts import open_account
from shared.ledger.applying import apply_pending
from shared.store.db import Database
from shared.store.models import WebhookDelivery, WebhookEvent, utcnow
from worker.webhooks.claims import CLAIM_SECONDS, claim, prepare, record
from worker.webhooks.due import Due, Result
from worker.webhooks.http import Sender
from worker.webhooks.policy import _backoff


@pytest.mark.parametrize(
    ("address", "public"),
    [
        ("93.184.216.34", True),
        ("2606:2800:220:1:248:1893:25c8:1946", True),
        ("127.0.0.1", False),
        ("10.0.0.1", False),
        ("172.16.5.4", False),
        ("192.168.1.1", False),
        ("169.254.169.254", False),
        ("100.64.0.1", False),
        ("0.0.0.0", False),
        ("255.255.255.255", False),
        ("224.0.0.251", False),
        ("::1", False),
        ("::", False),
        ("fe80::1", False),
        ("fd12:3456::1", False),
        ("::ffff:10.0.0.1", False),
        ("::ffff:93.184.216.34", True),
        ("2002:7f00:1::", False),  # 6to4 around 127.0.0.1
        ("192.0.0.8", False),  # IETF protocol assignments, which older Pythons call global
        ("192.0.0.170", False),
        ("192.0.0.9", True),  # the anycast addresses in that block are global
        ("::ffff:192.0.0.8", False),
    ],
)
def test_only_public_unicast_addresses_are_public(address: str, public: bool) -> None:
    assert is_public(ipaddress.ip_address(address)) is public


@pytest.mark.parametrize(
    ("address", "public"),
    [
        ("64:ff9b::7f00:1", False),  # NAT64 (well-known prefix) to 127.0.0.1
        ("64:ff9b::a00:1", False),  # to 10.0.0.1
        ("64:ff9b::a9fe:a9fe", False),  # to 169.254.169.254, the metadata service
        ("64:ff9b::5db8:d822", True),  # to 93.184.216.34
        ("64:ff9b:1::7f00:1", False),  # NAT64 (local-use prefix, /96) to 127.0.0.1
        ("64:ff9b:1:7f00:0:100:5db8:d822", False),  # 127.0.0.1 after a /48 prefix
        ("::127.0.0.1", False),  # IPv4-compatible
        ("::93.184.216.34", True),
        ("::ffff:0:7f00:1", False),  # IPv4-translated (SIIT)
        ("2002:5db8:d822::1", True),  # 6to4 around 93.184.216.34
        ("2001:0:4136:e378:8000:63bf:80ff:fffe", False),  # Teredo, client 127.0.0.1
        ("2001:0:4136:e378:8000:63bf:a247:27dd", True),  # Teredo, client 93.184.216.34
        ("2001:0:a00:1:8000:63bf:a247:27dd", False),  # Teredo, server 10.0.0.1
        ("::1:7f00:1", False),  # reserved (::/8), though not a form that carries IPv4
    ],
)
def test_an_address_that_carries_an_ipv4_address_is_judged_by_it(
    address: str, public: bool
) -> None:
    assert is_public(ipaddress.ip_address(address)) is public


@pytest.mark.parametrize(
    "url", ["http://[64:ff9b::7f00:1]/", "http://[::127.0.0.1]:8080/", "https://[64:ff9b::a00:1]/"]
)
def test_an_ipv4_address_behind_ipv6_is_refused_unless_private_ones_are_allowed(url: str) -> None:
    """resolve is what both the API (at subscription) and the sender (every round) call."""
    with pytest.raises(InvalidWebhookUrl, match="private"):
        resolve(url, allow_private=False)
    literal = url.split("[")[1].split("]")[0]
    target = resolve(url, allow_private=True)
    assert ipaddress.ip_address(target.address) == ipaddress.ip_address(literal)


def test_a_name_is_judged_by_the_addresses_it_resolves_to() -> None:
    with pytest.raises(InvalidWebhookUrl, match=r"127\.0\.0\.1|::1"):
        resolve("http://localhost:8080/hook", allow_private=False)
    target = resolve("http://localhost:8080/hook?x=1", allow_private=True)
    assert (target.host, target.port, target.path) == ("localhost", 8080, "/hook?x=1")
    assert not is_public(ipaddress.ip_address(target.address))
    public = resolve("https://93.184.216.34", allow_private=False)
    assert (public.scheme, public.port, public.path, public.address) == (
        "https",
        443,
        "/",
        "93.184.216.34",
    )


def test_a_refused_connection_is_recorded_as_refused_not_timed_out() -> None:
    with socket.socket() as bound:  # bound, never listening: a connection to it is refused
        bound.bind(("127.0.0.1", 0))
        port = bound.getsockname()[1]
        due = Due(None, "event", "webhook", "job.succeeded", "job", 0, utcnow())
        target = Target("http", "127.0.0.1", port, "/hook", "127.0.0.1")
        result = Sender(load_settings({})).post(target, "a-secret", due, b"{}")
    assert (result.status_code, result.error) == (None, "connection refused")


def test_the_signature_is_hmac_sha256_of_timestamp_dot_body() -> None:
    body = b'{"event_id":"e","type":"job.succeeded"}'
    expected = hmac.new(b"whsec_test", b"1700000000." + body, hashlib.sha256).hexdigest()
    assert signature("whsec_test", 1700000000, body) == f"t=1700000000,v1={expected}"
    # The same, fixed: what a receiver's own code computes for this input.
    assert expected == "cf7fa8d349c372aa9a6284937dd0338c85e6549b5ca5a3fb566f0392a7ea8919"


def test_retries_back_off_exponentially_from_the_base() -> None:
    settings = load_settings({"ATM_WEBHOOK_RETRY_BASE_SECONDS": "10"})
    assert [_backoff(settings, n).total_seconds() for n in (1, 2, 3, 4)] == [10, 20, 40, 80]
    assert _backoff(settings, 40) == timedelta(days=1)


def _events(database: Database) -> list[tuple[str, list[str], list[str]]]:
    with database.read.begin() as session:
        rows = session.execute(
            select(WebhookEvent.type, WebhookEvent.webhook_ids, WebhookEvent.subject_ids)
        )
        return sorted(
            (kind, sorted(hooks.split()), subjects.split()) for kind, hooks, subjects in rows
        )


def test_events_are_written_by_the_transaction_that_makes_them_true(database: Database) -> None:
    with database.writing() as session:
        open_account(session, "501", 1000)
        jobs_hook = create_webhook(session, "http://x.test/", ["job.succeeded"], "s" * 16)
        batch_hook = create_webhook(session, "http://y.test/", ["batch.completed"], "s" * 16)
        gone_hook = create_webhook(session, "http://z.test/", ["job.succeeded"], "s" * 16)
        both = create_webhook(
            session, "http://w.test/", ["batch.completed", "job.succeeded"], "s" * 16
        )
        delete_webhook(session, gone_hook.webhook_id)
        batch_id = new_batch_id()
        operations = [BatchOperation(i, "withdraw", "501", 100, None, None, None) for i in range(3)]
        record_batch(session, batch_id, operations, 1)

    class Abort(Exception):
        pass

    with pytest.raises(Abort), database.writing() as session:
        assert apply_pending(session, [0], 2, "test").events == 4
        raise Abort  # rolled back: the money did not move, so no event either
    assert _events(database) == []

    with database.writing() as session:
        assert apply_pending(session, [0], 2, "test").events == 4  # the batch is not complete
    with database.writing() as session:
        assert apply_pending(session, [0], 2, "test").events == 4  # the last job, and the batch
    jobs = [operation_job_id(batch_id, op.index) for op in operations]
    assert _events(database) == [
        ("batch.completed", sorted([batch_hook.webhook_id, both.webhook_id]), [batch_id]),
        ("job.succeeded", sorted([jobs_hook.webhook_id, both.webhook_id]), jobs[:2]),
        ("job.succeeded", sorted([jobs_hook.webhook_id, both.webhook_id]), jobs[2:]),
    ]


def test_the_sender_claims_events_once_and_again_after_a_crash(database: Database) -> None:
    settings = load_settings({"ATM_WEBHOOK_MAX_ATTEMPTS": "2"})
    with database.writing() as session:
        open_account(session, "502", 1000)
        first = create_webhook(session, "http://x.test/", ["job.succeeded"], "s" * 16)
        second = create_webhook(session, "http://y.test/", ["job.succeeded"], "s" * 16)
        operations = [Operation(new_id(), "502", "deposit", 1) for _ in range(2)]
        record_operations(session, operations, 1)
    with database.writing() as session:
        apply_pending(session, [0], 10, "test")
    now = utcnow()
    with database.writing() as session:
        work = claim(session, now, 500)
    assert len(work.due) == 4  # two events, each for two webhooks
    assert {(d.webhook_id, d.subject_id) for d in work.due} == {
        (hook.webhook_id, op.job_id) for hook in (first, second) for op in operations
    }
    # One event, one id, whichever webhook it goes to.
    assert len({d.event_id for d in work.due}) == 2
    with database.writing() as session:
        assert claim(session, now, 500).due == []  # claimed: nobody else takes them
    # The sender died; once its claim runs out the same events are sent again.
    later = now + timedelta(seconds=CLAIM_SECONDS + 1)
    with database.writing() as session:
        again = claim(session, later, 500)
    assert sorted(again.due) == sorted(work.due)
    results = [
        Result(due, status_code=200 if due.webhook_id == first.webhook_id else 503)
        for due in again.due
    ]
    with database.writing() as session:
        record(session, prepare(again, results, settings))
    with database.read.begin() as session:
        rows = session.execute(
            select(WebhookDelivery.webhook_id, WebhookDelivery.status, WebhookDelivery.attempts)
        ).all()
        assert session.scalar(select(func.count()).select_from(WebhookEvent)) == 0
    assert sorted(rows) == sorted(
        [(first.webhook_id, "delivered", 1)] * 2 + [(second.webhook_id, "pending", 1)] * 2
    )
    # The failed ones come back as retries after the backoff, and fail for good at the last.
    with database.writing() as session:
        retries = claim(session, utcnow() + timedelta(hours=1), 500)
    assert [d.webhook_id for d in retries.due] == [second.webhook_id] * 2
    with database.writing() as session:
        record(
            session, prepare(retries, [Result(d, error="timed out") for d in retries.due], settings)
        )
    with database.read.begin() as session:
        final = session.execute(
            select(
                WebhookDelivery.status, WebhookDelivery.attempts, WebhookDelivery.last_error
            ).where(WebhookDelivery.webhook_id == second.webhook_id)
        ).all()
    assert final == [("failed", 2, "timed out")] * 2
