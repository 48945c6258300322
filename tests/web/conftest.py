"""In-process fixtures: the Flask app and its test client over a SQLite file of the test's
own, Redis database 5 of the session's redis-server, and the sample accounts; no gunicorn
and no worker, so every accepted operation stays queued."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient

from shared.config.settings import Settings
from tests.stack import RedisServer
from tests.web.in_process import in_process_settings, running_app


@pytest.fixture
def settings(tmp_path: Path, redis_server: RedisServer) -> Settings:
    return in_process_settings(tmp_path / "atm.db", redis_server.url)


@pytest.fixture
def app(settings: Settings) -> Iterator[Flask]:
    with running_app(settings) as running:
        yield running


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()
