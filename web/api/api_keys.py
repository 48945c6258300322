"""The API keys resource: create (the secret is shown once), list, revoke. Admin only."""

from __future__ import annotations

from flask import Blueprint, Response
from sqlalchemy.orm import Session

from shared.access.api_keys import create_key, key_view, list_keys, revoke_key
from shared.shapes.requests import NewApiKeyBody
from shared.shapes.validating import validated
from web.http.auth import admin, require_unlimited
from web.http.parsing import json_object_body
from web.http.responses import success
from web.serving.revocations import revoke_everywhere
from web.serving.services import current_services

api_keys = Blueprint("api_keys", __name__)


@api_keys.post("/api-keys")
@admin
def create_api_key() -> Response:
    require_unlimited()  # a key limited to some accounts may not mint wider ones
    new = validated(NewApiKeyBody, json_object_body(), current_services().settings)

    def create(session: Session) -> dict[str, object]:
        created = create_key(session, new.name, new.scopes, new.accounts)
        return {**key_view(created.record), "secret": created.secret}

    data = current_services().writing(create)
    return success(data, status=201, headers={"Location": f"/api-keys/{data['key_id']}"})


@api_keys.get("/api-keys")
@admin
def list_api_keys() -> Response:
    require_unlimited()
    keys = current_services().reading(list_keys)
    return success({"api_keys": [key_view(key) for key in keys]})


@api_keys.delete("/api-keys/<key_id>")
@admin
def revoke_api_key(key_id: str) -> Response:
    """Refused from the next request on, in every web process (see KeyDirectory)."""
    require_unlimited()
    revoke_everywhere(key_id, lambda: current_services().writing(revoke_key, key_id))
    return success({"key_id": key_id, "revoked": True})
