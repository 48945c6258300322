"""Revoking a key everywhere: every web process told to forget the keys it remembers, for
the API (DELETE /api-keys/{id}) and the admin CLI alike."""

from __future__ import annotations

from collections.abc import Callable

from redis.exceptions import RedisError

from shared.errors import RevocationNotAnnounced, ServiceUnavailable
from web.serving.services import current_services


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
