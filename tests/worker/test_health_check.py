"""`python -m worker.health`, the workers' container health check, against real workers."""

from __future__ import annotations

import subprocess
import sys

from shared.config.settings import PROJECT_ROOT
from tests.stack import RedisServer, Stack, free_port


def health(redis_url: str, *kind: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "worker.health", *kind],
        cwd=PROJECT_ROOT,
        env={"REDIS_URL": redis_url, "PATH": ""},
        capture_output=True,
        text=True,
        timeout=30,
    )


def test_healthy_while_a_worker_on_this_host_is_alive(stack: Stack) -> None:
    assert health(stack.env["REDIS_URL"]).returncode == 0


def test_a_sender_is_not_a_worker(stack: Stack) -> None:
    """The shared stack runs workers and no webhook sender (see test_webhooks for one)."""
    result = health(stack.env["REDIS_URL"], "sender")
    assert result.returncode == 1
    assert "no live sender" in result.stdout


def test_unhealthy_with_no_worker_registered(redis_server: RedisServer) -> None:
    result = health(redis_server.url.replace("/0", "/6"))
    assert result.returncode == 1
    assert "no live worker" in result.stdout


def test_unhealthy_when_redis_does_not_answer() -> None:
    result = health(f"redis://127.0.0.1:{free_port()}/0")
    assert result.returncode == 1
    assert "Redis does not answer" in result.stdout
