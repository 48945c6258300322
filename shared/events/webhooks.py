"""Webhook subscriptions: create, list, delete, their deliveries; and the signature."""

from __future__ import annotations

import hashlib
import hmac
import secrets

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from shared.accepting.operations import new_id
from shared.errors import InvalidParameter, WebhookNotFound
from shared.events.outbox import event_id
from shared.store.models import (
    EVENT_TYPES,
    FAILED,
    PENDING,
    Webhook,
    WebhookDelivery,
    WebhookEvent,
    utcnow,
)
from shared.timestamps import iso

SECRET_PREFIX = "whsec_"
MIN_SECRET, MAX_SECRET = 16, 128


def parse_events(value: object) -> list[str]:
    if not isinstance(value, list) or not value or any(kind not in EVENT_TYPES for kind in value):
        raise InvalidParameter(f"events must be a non-empty list of {', '.join(EVENT_TYPES)}")
    return sorted(set(value), key=EVENT_TYPES.index)


def parse_secret(value: object) -> str:
    """The signing secret given, or a new random one (256 bits)."""
    if value is None:
        return SECRET_PREFIX + secrets.token_urlsafe(32)
    if (
        not isinstance(value, str)
        or not MIN_SECRET <= len(value) <= MAX_SECRET
        or not value.isascii()
        or not value.isprintable()
        or " " in value
    ):
        raise InvalidParameter(
            f"secret must be {MIN_SECRET} to {MAX_SECRET} printable ASCII characters without spaces"
        )
    return value


def create_webhook(session: Session, url: str, events: list[str], secret: str) -> Webhook:
    webhook = Webhook(webhook_id=new_id(), url=url, events=" ".join(events), secret=secret)
    session.add(webhook)
    session.flush()
    return webhook


def list_webhooks(session: Session) -> list[Webhook]:
    return list(
        session.scalars(
            select(Webhook).where(Webhook.deleted_at.is_(None)).order_by(Webhook.created_at)
        )
    )


def get_webhook(session: Session, webhook_id: str) -> Webhook:
    webhook = session.get(Webhook, webhook_id) if len(webhook_id) <= 36 else None
    if webhook is None or webhook.deleted_at is not None:
        raise WebhookNotFound(f"webhook {webhook_id} not found")
    return webhook


def delete_webhook(session: Session, webhook_id: str) -> None:
    """No event is recorded for it from this commit on, and what is still pending for it is
    not sent (a send already under way may finish)."""
    webhook = get_webhook(session, webhook_id)
    now = utcnow()
    webhook.deleted_at = now
    session.execute(
        update(WebhookDelivery)
        .where(WebhookDelivery.webhook_id == webhook_id, WebhookDelivery.status == PENDING)
        .values(status=FAILED, last_error="webhook deleted", completed_at=now)
    )


def recent_deliveries(session: Session, webhook_id: str, limit: int) -> list[dict[str, object]]:
    """The webhook's most recent deliveries, newest first: events still in the outbox (not
    tried yet: pending, no attempt), then those tried at least once."""
    get_webhook(session, webhook_id)
    views: list[dict[str, object]] = []
    untried = (
        select(WebhookEvent)
        .where(WebhookEvent.webhook_ids.contains(webhook_id))
        .order_by(WebhookEvent.id.desc())
    )
    for events in session.scalars(untried):
        if webhook_id not in events.webhook_ids.split():
            continue
        subjects = events.subject_ids.split()
        ids = events.event_ids.split() if events.event_ids else [None] * len(subjects)
        for subject, identifier in reversed(list(zip(subjects, ids, strict=True))):
            if len(views) == limit:
                return views
            views.append(_untried_view(events, subject, identifier))
    tried = session.scalars(
        select(WebhookDelivery)
        .where(WebhookDelivery.webhook_id == webhook_id)
        .order_by(WebhookDelivery.id.desc())
        .limit(limit - len(views))
    )
    return views + [delivery_view(delivery) for delivery in tried]


def _untried_view(
    events: WebhookEvent, subject_id: str, identifier: str | None
) -> dict[str, object]:
    return {
        "event_id": identifier or event_id(events.type, subject_id),
        "type": events.type,
        "subject_id": subject_id,
        "attempts": 0,
        "status": PENDING,
        "last_status_code": None,
        "last_error": None,
        "created_at": iso(events.created_at),
        "completed_at": None,
    }


def webhook_view(webhook: Webhook) -> dict[str, object]:
    """A webhook without its secret, which only the answer that created it shows."""
    return {
        "webhook_id": webhook.webhook_id,
        "url": webhook.url,
        "events": webhook.events.split(),
        "created_at": iso(webhook.created_at),
    }


def delivery_view(delivery: WebhookDelivery) -> dict[str, object]:
    return {
        "event_id": delivery.event_id,
        "type": delivery.type,
        "subject_id": delivery.subject_id,
        "attempts": delivery.attempts,
        "status": delivery.status,
        "last_status_code": delivery.last_status_code,
        "last_error": delivery.last_error,
        "created_at": iso(delivery.created_at),
        "completed_at": iso(delivery.completed_at),
    }


def signature(secret: str, timestamp: int, body: bytes) -> str:
    """The ATM-Signature header: `t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>">`.

    The timestamp is inside what is signed, so a receiver that refuses old timestamps is
    safe from replays of a captured delivery.
    """
    digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"t={timestamp},v1={digest.hexdigest()}"
