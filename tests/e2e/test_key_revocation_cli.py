"""`keys revoke` succeeds only when the web processes of its database heard it, in its Redis."""

from __future__ import annotations

import time
from pathlib import Path

import redis
from flask.testing import FlaskCliRunner

from shared.labels import database_label
from shared.settings import load_settings
from tests.conftest import ADMIN_SECRET, Api
from tests.stack import RedisServer, Stack
from web import create_app
from web.auth import FLUSHERS_KEY

OTHER_DATABASE = "sqlite:////elsewhere/atm.db"


def cli(database_url: str, redis_url: str) -> FlaskCliRunner:
    """The admin CLI with this database and Redis, as a shell with these variables runs it."""
    settings = load_settings({"DATABASE_URL": database_url, "REDIS_URL": redis_url})
    return create_app(settings).test_cli_runner()


def reader_key(stack: Stack) -> tuple[str, Api]:
    admin = Api(stack.base_url, ADMIN_SECRET)
    response = admin.post("/api-keys", json={"name": "reader", "scopes": ["read"]})
    assert response.status_code == 201, response.text
    data = response.json()["data"]
    return data["key_id"], Api(stack.base_url, data["secret"])


def statuses(client: Api) -> set[int]:
    """What a dozen requests on fresh connections (so both web processes) answer."""
    return {
        client.get("/accounts/10001/balance", headers={"Connection": "close"}).status_code
        for _ in range(12)
    }


def test_a_revocation_told_to_another_redis_is_refused_and_the_key_still_works(
    keyed_stack: Stack, redis_server: RedisServer
) -> None:
    key_id, reader = reader_key(keyed_stack)
    assert statuses(reader) == {200}
    wrong = redis_server.url.replace("/0", "/15")
    other = redis.Redis.from_url(wrong)
    other.flushdb()
    other.zadd(FLUSHERS_KEY, {f"elsewhere:1 {OTHER_DATABASE}": time.time() + 600})
    try:
        result = cli(keyed_stack.env["DATABASE_URL"], wrong).invoke(args=["keys", "revoke", key_id])
    finally:
        other.flushdb()
    assert result.exit_code == 1, result.output
    assert f"Redis: {wrong}" in result.output
    assert "no live web process of this database is registered in this Redis" in result.output
    assert f"1 live web process(es) of another database: {OTHER_DATABASE}" in result.output
    assert "nothing was revoked" in result.output
    assert statuses(reader) == {200}


def test_a_revocation_told_to_the_services_redis_is_acknowledged_and_holds(
    keyed_stack: Stack,
) -> None:
    key_id, reader = reader_key(keyed_stack)
    assert statuses(reader) == {200}  # both processes now remember the key
    redis_url = keyed_stack.env["REDIS_URL"]
    result = cli(keyed_stack.env["DATABASE_URL"], redis_url).invoke(args=["keys", "revoke", key_id])
    assert result.exit_code == 0, result.output
    assert f"Redis: {redis_url}" in result.output
    assert f"revoked {key_id}: 2 live web process(es) of this database acknowledged" in (
        result.output
    )
    assert statuses(reader) == {401}


def test_a_process_that_does_not_acknowledge_fails_it_and_offline_is_for_a_stopped_service(
    tmp_path: Path, redis_server: RedisServer
) -> None:
    database_url = f"sqlite:///{tmp_path / 'atm.db'}"
    redis_url = redis_server.url.replace("/0", "/15")
    registry = redis.Redis.from_url(redis_url)
    registry.flushdb()
    runner = cli(database_url, redis_url)
    assert runner.invoke(args=["init-db"]).exit_code == 0

    def new_key() -> str:
        result = runner.invoke(args=["keys", "create", "--name", "n", "--scope", "read"])
        return result.output.split("key_id: ", 1)[1].split()[0]

    def revoked(key_id: str) -> bool:
        listed = runner.invoke(args=["keys", "list"]).output
        return any(key_id in line and " revoked " in line for line in listed.splitlines())

    # Nothing registered (the service is stopped): refused, unless --offline says so.
    first = new_key()
    result = runner.invoke(args=["keys", "revoke", first])
    assert result.exit_code == 1 and "--offline" in result.output, result.output
    assert not revoked(first)
    result = runner.invoke(args=["keys", "revoke", "--offline", first])
    assert result.exit_code == 0, result.output
    assert revoked(first)

    # A live process of this database that never acknowledges.
    silent = f"stuck:1 {database_label(database_url)}"
    registry.zadd(FLUSHERS_KEY, {silent: time.time() + 600})
    try:
        second = new_key()
        result = runner.invoke(args=["keys", "revoke", "--offline", second])
        assert result.exit_code == 1, result.output
        assert "--offline, but 1 live web process(es) of this database" in result.output
        assert not revoked(second)
        result = runner.invoke(args=["keys", "revoke", second])
        assert result.exit_code == 3, result.output
        assert "not every live web process acknowledged in time" in result.output
        assert "stuck:1" in result.output
        assert revoked(second)
    finally:
        registry.flushdb()
