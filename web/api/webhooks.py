"""The webhooks resource: subscribe a URL to events, list, delete, see its deliveries.

Admin only, and only for keys not limited to some accounts: a webhook hears of every
account's events.
"""

from __future__ import annotations

from flask import Blueprint, Response
from sqlalchemy.orm import Session

from shared.events.webhooks import (
    create_webhook,
    delete_webhook,
    list_webhooks,
    recent_deliveries,
    webhook_view,
)
from shared.shapes.requests import DeliveriesQuery, NewWebhookBody
from shared.shapes.validating import validated
from web.http.auth import admin, require_unlimited
from web.http.parsing import checked_query, json_object_body
from web.http.responses import success
from web.serving.services import current_services

webhooks = Blueprint("webhooks", __name__)


@webhooks.post("/webhooks")
@admin
def subscribe() -> Response:
    require_unlimited()
    services = current_services()
    new = validated(NewWebhookBody, json_object_body(), services.settings)  # resolves the url

    def create(session: Session) -> dict[str, object]:
        webhook = create_webhook(session, new.url, new.events, new.secret)
        return {**webhook_view(webhook), "secret": new.secret}

    data = services.writing(create)
    return success(data, status=201, headers={"Location": f"/webhooks/{data['webhook_id']}"})


@webhooks.get("/webhooks")
@admin
def list_subscriptions() -> Response:
    require_unlimited()
    found = current_services().reading(list_webhooks)
    return success({"webhooks": [webhook_view(webhook) for webhook in found]})


@webhooks.delete("/webhooks/<webhook_id>")
@admin
def unsubscribe(webhook_id: str) -> Response:
    require_unlimited()
    current_services().writing(delete_webhook, webhook_id)
    return success({"webhook_id": webhook_id, "deleted": True})


@webhooks.get("/webhooks/<webhook_id>/deliveries")
@admin
def deliveries(webhook_id: str) -> Response:
    """The most recent first."""
    require_unlimited()
    services = current_services()
    limit = checked_query(DeliveriesQuery, services.settings).limit
    return success({"deliveries": services.reading(recent_deliveries, webhook_id, limit)})
