"""The webhooks resource: subscribe a URL to events, list, delete, see its deliveries.

Admin only, and only for keys not limited to some accounts: a webhook hears of every
account's events.
"""

from __future__ import annotations

from flask import Blueprint, Response
from sqlalchemy.orm import Session

from shared.events.targets import resolve
from shared.events.webhooks import (
    create_webhook,
    delete_webhook,
    list_webhooks,
    parse_events,
    parse_secret,
    recent_deliveries,
    webhook_view,
)
from web.http.auth import admin, require_unlimited
from web.http.parsing import json_object_body, query_int
from web.http.responses import success
from web.serving.services import current_services

webhooks = Blueprint("webhooks", __name__)
MAX_DELIVERIES_PAGE = 1000


@webhooks.post("/webhooks")
@admin
def subscribe() -> Response:
    require_unlimited()
    services = current_services()
    body = json_object_body()
    url = body.get("url")
    resolve(url, allow_private=services.settings.webhook_allow_private)  # refuses with a 400
    events = parse_events(body.get("events"))
    secret = parse_secret(body.get("secret"))

    def create(session: Session) -> dict[str, object]:
        return {**webhook_view(create_webhook(session, str(url), events, secret)), "secret": secret}

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
    limit = query_int("limit", 50, minimum=1, maximum=MAX_DELIVERIES_PAGE) or 50
    return success({"deliveries": current_services().reading(recent_deliveries, webhook_id, limit)})
