"""`keys revoke` succeeds only when the web processes of its database heard it, in its Redis."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from flask.testing import FlaskCliRunner

from shared.access.api_keys import identify
from shared.config.settings import load_settings
from shared.labels import database_label
from tests.conftest import ADMIN_SECRET, Api
from tests.stack import RedisServer, Stack, free_port
from web import create_app
from web.http.key_directory import FLUSHERS_KEY, KeyDirectory

OTHER_DATABASE = "sqlite:////elsewhere/atm.db"


def cli(database_url: str, redis_url: str) -> FlaskCliRunner:
    """The admin CLI with this database and Redis, as a shell with these variables runs it."""
    settings = load_settings({"DATABASE_URL": database_url, "REDIS_URL": redis_url})
    return create_app(settings).test_cli_runner()


def new_key(runner: FlaskCliRunner) -> str:
    return new_key_and_secret(runner)[0]


def new_key_and_secret(runner: FlaskCliRunner) -> tuple[str, str]:
    result = runner.invoke(args=["keys", "create", "--name", "n", "--scope", "read"])
    return (
        result.output.split("key_id: ", 1)[1].split()[0],
        result.output.split("secret: ", 1)[1].split()[0],
    )


def revoked(runner: FlaskCliRunner, key_id: str) -> bool:
    listed = runner.invoke(args=["keys", "list"]).output
    return any(key_id in line and " revoked " in line for line in listed.splitlines())


@pytest.fixture
def idle(tmp_path: Path, redis_server: RedisServer) -> Iterator[tuple[FlaskCliRunner, redis.Redis]]:
    """The CLI on a database of its own and an empty Redis (database 15) where no web
    process runs; the Redis is emptied again afterwards."""
    database_url = f"sqlite:///{tmp_path / 'atm.db'}"
    registry = redis.Redis.from_url(redis_server.url.replace("/0", "/15"))
    registry.flushdb()
    runner = cli(database_url, redis_server.url.replace("/0", "/15"))
    assert runner.invoke(args=["init-db"]).exit_code == 0
    try:
        yield runner, registry
    finally:
        registry.flushdb()


def register(registry: redis.Redis, runner: FlaskCliRunner, process: str) -> None:
    """A live web process of the CLI's database that never acknowledges anything."""
    database = database_label(runner.app.extensions["atm"].settings.database_url)
    registry.zadd(FLUSHERS_KEY, {f"{process} {database}": time.time() + 600})


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
    # The first remedy is the service's Redis; --offline is for a stopped service only.
    assert result.output.index("set REDIS_URL to the service's Redis") < result.output.index(
        "--offline"
    )
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
    idle: tuple[FlaskCliRunner, redis.Redis],
) -> None:
    runner, registry = idle

    # Nothing registered (the service is stopped): refused, unless --offline says so.
    first = new_key(runner)
    result = runner.invoke(args=["keys", "revoke", first])
    assert result.exit_code == 1 and "--offline" in result.output, result.output
    assert not revoked(runner, first)
    result = runner.invoke(args=["keys", "revoke", "--offline", first])
    assert result.exit_code == 0, result.output
    assert revoked(runner, first)

    # A live process of this database that never acknowledges.
    register(registry, runner, "stuck:1")
    second = new_key(runner)
    result = runner.invoke(args=["keys", "revoke", "--offline", second])
    assert result.exit_code == 1, result.output
    assert "--offline, but 1 live web process(es) of this database" in result.output
    assert not revoked(runner, second)
    result = runner.invoke(args=["keys", "revoke", second])
    assert result.exit_code == 3, result.output
    assert "not every live web process acknowledged in time" in result.output
    assert "stuck:1" in result.output
    assert revoked(runner, second)


def test_redis_failing_after_the_commit_is_reported_as_revoked_but_not_confirmed(
    idle: tuple[FlaskCliRunner, redis.Redis], monkeypatch: pytest.MonkeyPatch
) -> None:
    runner, registry = idle
    register(registry, runner, "web:1")
    directory = runner.app.extensions["atm"].keys
    announce = directory.revocations_changed
    calls = 0

    def second_fails() -> int:  # before the commit it works, after it Redis is gone
        nonlocal calls
        calls += 1
        if calls % 2 == 0:
            raise redis.ConnectionError("Redis went away")
        return announce()

    monkeypatch.setattr(directory, "revocations_changed", second_fails)

    key_id = new_key(runner)
    result = runner.invoke(args=["keys", "revoke", key_id])
    assert result.exit_code == 3, result.output
    assert f"revoked {key_id} in the database, but Redis failed to announce it" in result.output
    assert "Redis went away" in result.output and "nothing" not in result.output
    assert revoked(runner, key_id)

    key_id = new_key(runner)
    response = runner.app.test_client().delete(f"/api-keys/{key_id}")
    assert response.status_code == 503, response.text
    assert response.headers["Retry-After"] == "1"
    error = response.json["error"]
    assert error["type"] == "service_unavailable" and error["revoked"] is True
    assert f"API key {key_id} is revoked in the database" in error["message"]
    assert "nothing" not in error["message"]
    assert revoked(runner, key_id)

    monkeypatch.setattr(directory, "revocations_changed", announce)  # Redis is back
    response = runner.app.test_client().delete(f"/api-keys/{key_id}")
    assert response.status_code == 200, response.text
    assert response.json["data"] == {"key_id": key_id, "revoked": True}


def test_offline_looks_as_long_as_a_revocation_does_and_still_tells_redis(
    idle: tuple[FlaskCliRunner, redis.Redis],
) -> None:
    runner, registry = idle
    services = runner.app.extensions["atm"]

    # A busy web process whose registration shows only a second late is still seen.
    late = threading.Timer(1.0, register, (registry, runner, "busy:1"))
    late.start()
    key_id = new_key(runner)
    result = runner.invoke(args=["keys", "revoke", "--offline", key_id])
    late.join()
    assert result.exit_code == 1, result.output
    assert "--offline, but 1 live web process(es) of this database" in result.output
    assert not revoked(runner, key_id)
    registry.delete(FLUSHERS_KEY)

    # A process that runs unseen (not registered: it does not flush) and remembers the key.
    key_id, secret = new_key_and_secret(runner)
    unseen = KeyDirectory(services.redis, lambda secret: services.reading(identify, secret))
    assert unseen.admit(secret).identity is not None
    result = runner.invoke(args=["keys", "revoke", "--offline", key_id])
    assert result.exit_code == 0, result.output
    assert f"revoked {key_id} in the database, and announced in this Redis" in result.output
    assert revoked(runner, key_id)
    assert unseen.admit(secret).identity is None  # it heard, and forgot the key


def test_offline_without_redis_revokes_in_the_database_and_says_who_may_not_know(
    tmp_path: Path,
) -> None:
    unreachable = f"redis://127.0.0.1:{free_port()}/0"
    runner = cli(f"sqlite:///{tmp_path / 'atm.db'}", unreachable)
    assert runner.invoke(args=["init-db"]).exit_code == 0
    key_id = new_key(runner)

    result = runner.invoke(args=["keys", "revoke", key_id])
    assert result.exit_code == 1 and "nothing was revoked" in result.output, result.output
    assert not revoked(runner, key_id)

    result = runner.invoke(args=["keys", "revoke", "--offline", key_id])
    assert result.exit_code == 3, result.output
    assert f"revoked {key_id} in the database, but Redis cannot be reached" in result.output
    assert "read keys from the database on every request" in result.output
    assert "goes on accepting the key it remembers" in result.output
    assert "service is stopped" not in result.output
    assert revoked(runner, key_id)
