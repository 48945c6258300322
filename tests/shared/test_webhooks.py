"""Webhook pieces without a stack: address checks, signatures, backoff, and the outbox."""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
from datetime import timedelta

import pytest
from sqlalchemy import select

from shared.accounts import open_account
from shared.applying import apply_pending
from shared.batches import record_batch
from shared.db import Database
from shared.errors import InvalidWebhookUrl
from shared.models import WebhookDelivery
from shared.operations import Operation, new_id
from shared.settings import load_settings
from shared.webhook_targets import is_public, resolve
from shared.webhooks import create_webhook, delete_webhook, signature
from worker.delivery import _backoff


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
    ],
)
def test_only_public_unicast_addresses_are_public(address: str, public: bool) -> None:
    assert is_public(ipaddress.ip_address(address)) is public


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


def _deliveries(database: Database) -> list[tuple[str, str, str]]:
    with database.read.begin() as session:
        rows = session.execute(
            select(WebhookDelivery.webhook_id, WebhookDelivery.type, WebhookDelivery.subject_id)
        )
        return sorted(tuple(row) for row in rows)


def test_events_are_written_by_the_transaction_that_makes_them_true(database: Database) -> None:
    with database.writing() as session:
        open_account(session, "501", 1000)
        jobs_hook = create_webhook(session, "http://x.test/", ["job.succeeded"], "s" * 16)
        batch_hook = create_webhook(session, "http://y.test/", ["batch.completed"], "s" * 16)
        gone_hook = create_webhook(session, "http://z.test/", ["job.succeeded"], "s" * 16)
        delete_webhook(session, gone_hook.webhook_id)
        batch_id = new_id()
        operations = [
            Operation(new_id(), "501", "withdraw", 100, batch_id, index) for index in range(3)
        ]
        record_batch(session, batch_id, operations, 1)

    class Abort(Exception):
        pass

    with pytest.raises(Abort), database.writing() as session:
        assert apply_pending(session, [0], 2, "test").events == 2
        raise Abort  # rolled back: the money did not move, so no event either
    assert _deliveries(database) == []

    with database.writing() as session:
        applied = apply_pending(session, [0], 2, "test")
    assert applied.events == 2  # two jobs; the batch is not complete yet
    with database.writing() as session:
        applied = apply_pending(session, [0], 2, "test")
    assert applied.events == 2  # the last job, and now the batch
    expected = [(jobs_hook.webhook_id, "job.succeeded", op.job_id) for op in operations]
    expected.append((batch_hook.webhook_id, "batch.completed", batch_id))
    assert _deliveries(database) == sorted(expected)
