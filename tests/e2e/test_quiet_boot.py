"""A web process starts without a warning: one at every boot teaches its readers to skip
warnings, and hides the next real one."""

from __future__ import annotations

from pathlib import Path

from tests.stack import RedisServer, Stack


def test_the_web_boots_without_a_warning(tmp_path: Path, redis_server: RedisServer) -> None:
    stack = Stack(tmp_path, redis_server.url.replace("/0", "/3"))
    try:
        stack.start_web(WEB_CONCURRENCY="1")  # answers once its one process has booted
        output = (tmp_path / "web.log").read_text(errors="replace")
    finally:
        stack.stop()
    assert "Booting worker" in output  # the log is the web's own
    assert "Warning" not in output, output
