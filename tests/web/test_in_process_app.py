"""The in-process app the request tests use: closed, it leaves no thread, no Redis connection
and no open file behind, so that each test starts from nothing another one left."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import redis

from shared.config.settings import Settings
from tests.stack import RedisServer
from tests.web.in_process import REDIS_DATABASE, running_app

BACKGROUND = {"job-intake", "completions"}


def redis_clients(server: RedisServer) -> list[dict]:
    """The connections to REDIS_DATABASE, other than the one asking."""
    client = redis.Redis.from_url(server.url)
    try:
        return [found for found in client.client_list() if found["db"] == str(REDIS_DATABASE)]
    finally:
        client.close()


def open_files_under(directory: Path) -> list[str]:
    found = []
    for descriptor in os.listdir("/proc/self/fd"):
        try:
            target = os.readlink(f"/proc/self/fd/{descriptor}")
        except OSError:
            continue  # the listing's own descriptor, closed by now
        if target.startswith(str(directory)):
            found.append(target)
    return found


def test_a_closed_app_leaves_no_thread_connection_or_open_file(
    settings: Settings, redis_server: RedisServer, tmp_path: Path
) -> None:
    with running_app(settings) as app:
        client = app.test_client()
        accepted = client.post("/accounts/10001/withdraw", json={"amount": 1})
        assert accepted.status_code == 202, accepted.get_data(as_text=True)
        assert client.get(accepted.headers["Location"]).status_code == 200
        started = [t for t in threading.enumerate() if t.name in BACKGROUND]
        assert sorted(t.name for t in started) == sorted(BACKGROUND)
        assert redis_clients(redis_server)
        assert open_files_under(tmp_path)
    assert not [t.name for t in started if t.is_alive()]
    assert redis_clients(redis_server) == []
    assert open_files_under(tmp_path) == []


def test_a_closed_app_refuses_new_work_instead_of_waiting_for_good(settings: Settings) -> None:
    with running_app(settings) as app:
        client = app.test_client()
        assert client.post("/accounts/10001/withdraw", json={"amount": 1}).status_code == 202
    answers: list[int] = []
    late = threading.Thread(
        target=lambda: answers.append(
            client.post("/accounts/10001/withdraw", json={"amount": 1}).status_code
        ),
        daemon=True,
    )
    late.start()
    late.join(5)
    assert answers == [500]
