"""Fixtures: one private Redis for the run, and running stacks (web + 2 workers) to share.

The end-to-end tests that use `client` run twice: against a stack with ATM_AUTH=off, and
against one with ATM_AUTH=required through an admin key; the behaviour must be the same.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import requests

from tests.postgres import SKIP_REASON
from tests.stack import RedisServer, Stack, logs

# A developer's .env is not the tests': neither the launcher nor the flask command reads it
# in a test run, nor in any process a test starts (they inherit this).
os.environ["FLASK_SKIP_DOTENV"] = "1"

HEADER_TIMEOUT = 2
BODY_TIMEOUT = 3
ADMIN_SECRET = "admin-secret-of-the-shared-keyed-stack-0123456789"


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """Say in one line that the PostgreSQL tests did not run, and how to run them."""
    skipped = [
        report
        for report in terminalreporter.stats.get("skipped", [])
        if SKIP_REASON in str(report.longrepr)
    ]
    if skipped:
        terminalreporter.write_line(f"{SKIP_REASON} ({len(skipped)} skipped)", yellow=True)


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    server = RedisServer(tmp_path_factory.mktemp("redis"))
    yield server
    server.stop()


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory, redis_server: RedisServer) -> Iterator[Stack]:
    """The shared open stack: its own SQLite file and Redis database 1, two workers."""
    yield from _shared_stack(tmp_path_factory.mktemp("stack"), redis_server.url.replace("/0", "/1"))


@pytest.fixture(scope="session")
def keyed_stack(
    tmp_path_factory: pytest.TempPathFactory, redis_server: RedisServer
) -> Iterator[Stack]:
    """The same with ATM_AUTH=required and an admin key (Redis database 10)."""
    yield from _shared_stack(
        tmp_path_factory.mktemp("keyed-stack"),
        redis_server.url.replace("/0", "/10"),
        ATM_AUTH="required",
        ATM_BOOTSTRAP_ADMIN_KEY=ADMIN_SECRET,
    )


def _shared_stack(directory: Path, redis_url: str, **env: str) -> Iterator[Stack]:
    # Short read timeouts, so the tests of slow clients need not wait long.
    running = Stack(
        directory,
        redis_url,
        ATM_HEADER_TIMEOUT=str(HEADER_TIMEOUT),
        ATM_BODY_TIMEOUT=str(BODY_TIMEOUT),
        **env,
    )
    running.redis.flushdb()
    try:
        running.start_service("worker-a", "worker-b")
        yield running
    except Exception:
        print(logs(directory))
        raise
    finally:
        running.stop()


class Api:
    """Small helpers over the HTTP API of a stack, sending an API key when given one."""

    def __init__(self, base_url: str, secret: str | None = None) -> None:
        self.base_url = base_url
        self.secret = secret
        self.http = requests.Session()
        if secret is not None:
            self.http.headers["Authorization"] = f"Bearer {secret}"

    def clone(self) -> Api:
        """Another client of the same stack with the same key, on connections of its own."""
        return Api(self.base_url, self.secret)

    def url(self, path: str) -> str:
        return f"{self.base_url}{path}"

    def get(self, path: str, **kwargs) -> requests.Response:  # type: ignore[no-untyped-def]
        return self.http.get(self.url(path), timeout=30, **kwargs)

    def post(self, path: str, **kwargs) -> requests.Response:  # type: ignore[no-untyped-def]
        return self.http.post(self.url(path), timeout=30, **kwargs)

    def patch(self, path: str, **kwargs) -> requests.Response:  # type: ignore[no-untyped-def]
        return self.http.patch(self.url(path), timeout=30, **kwargs)

    def post_json_text(self, path: str, text: str) -> requests.Response:
        """POST a body written out as JSON text, for what a dict cannot say (1e999, 0.1)."""
        return self.post(path, data=text, headers={"Content-Type": "application/json"})

    def open_account(self, balance: str = "0") -> str:
        number = str(secrets.randbelow(10**15) + 10**15)
        response = self.post(
            "/accounts", json={"account_number": number, "initial_balance": balance}
        )
        assert response.status_code == 201, response.text
        return number

    def balance(self, number: str) -> float:
        response = self.get(f"/accounts/{number}/balance")
        assert response.status_code == 200, response.text
        return response.json()["data"]["balance"]

    def account(self, number: str) -> dict:
        response = self.get(f"/accounts/{number}")
        assert response.status_code == 200, response.text
        return response.json()["data"]

    def limited_client(self, name: str, accounts: list[str]) -> Api:
        """A client with a new key (read and operate) limited to `accounts`: this one's
        key must be an admin's."""
        body = {"name": name, "scopes": ["read", "operate"], "accounts": accounts}
        created = self.post("/api-keys", json=body)
        assert created.status_code == 201, created.text
        return Api(self.base_url, created.json()["data"]["secret"])

    def history(self, number: str) -> list[dict]:
        response = self.get(f"/accounts/{number}/transactions", params={"limit": 500})
        assert response.status_code == 200, response.text
        return response.json()["data"]["transactions"]


@pytest.fixture(params=["auth-off", "auth-required"])
def client(request: pytest.FixtureRequest) -> Api:
    if request.param == "auth-off":
        return Api(request.getfixturevalue("stack").base_url)
    return Api(request.getfixturevalue("keyed_stack").base_url, ADMIN_SECRET)


@pytest.fixture
def open_client(stack: Stack) -> Api:
    """For tests that also talk to `stack` directly (raw sockets, its logs)."""
    return Api(stack.base_url)


@pytest.fixture
def new_account(client: Api) -> Callable[[str], str]:
    return client.open_account
