"""The API keys resource: create (the secret is shown once), list, revoke. Admin only."""

from __future__ import annotations

from collections.abc import Callable

from flask import Blueprint, Response
from redis.exceptions import RedisError
from sqlalchemy.orm import Session

from shared.access.api_keys import create_key, key_view, list_keys, revoke_key
from shared.errors import RevocationNotAnnounced, ServiceUnavailable
from shared.shapes.requests import NewApiKeyBody
from shared.shapes.validating import validated
from web.http.auth import admin, require_unlimited
from web.http.parsing import json_object_body
from web.http.responses import success
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


def revoke_everywhere(key_id: str, revoke: Callable[[], object]) -> bool:
    """Revoke, telling every web process to forget the keys it remembers before and after
    the commit, and answer once they all have (False: some had not by the deadline).

    If Redis cannot carry the first notice, nothing is revoked (503). If it fails after the
    commit, the key is revoked in the database but not announced: RevocationNotAnnounced
    (503 too, saying so), and revoking it again announces it.
    """
    directory = current_services().keys
    try:
        directory.revocations_changed()
    except RedisError as exc:
        raise ServiceUnavailable(
            f"cannot announce the revocation of {key_id}: {exc}; nothing is revoked",
            revoked=False,
        ) from exc
    revoke()
    try:
        return directory.wait_until_applied(directory.revocations_changed())
    except RedisError as exc:
        raise RevocationNotAnnounced(
            f"API key {key_id} is revoked in the database, but Redis failed to announce it "
            f"to the web processes ({exc}): one that remembers the key may accept it until "
            "a revocation is announced; revoke it again to announce it",
            revoked=True,
        ) from exc
