"""The variables once read straight from the environment now come from the settings."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from shared.config.settings import PROJECT_ROOT, get_settings


@pytest.fixture
def environment(monkeypatch: pytest.MonkeyPatch) -> Iterator[pytest.MonkeyPatch]:
    """The process environment, with the cached settings built again from it."""
    for name in ("ATM_URL", "PORT", "ACCESS_LOG", "ATM_LOG_LEVEL", "HOST"):
        monkeypatch.delenv(name, raising=False)
    get_settings.cache_clear()
    yield monkeypatch
    monkeypatch.undo()
    get_settings.cache_clear()


def gunicorn_config() -> dict[str, object]:
    namespace: dict[str, object] = {}
    source = (PROJECT_ROOT / "gunicorn.conf.py").read_text()
    exec(compile(source, "gunicorn.conf.py", "exec"), namespace)
    return namespace


def test_the_submitter_url_is_atm_url_else_the_local_port(
    environment: pytest.MonkeyPatch,
) -> None:
    from web.cli.commands import default_api_url

    assert default_api_url() == "http://127.0.0.1:5000"
    environment.setenv("PORT", "5001")
    assert default_api_url() == "http://127.0.0.1:5001"  # read when the command runs
    environment.setenv("ATM_URL", "http://api.example:8080")
    assert default_api_url() == "http://api.example:8080"


def test_access_log_turns_on_gunicorns_access_lines(environment: pytest.MonkeyPatch) -> None:
    config = gunicorn_config()
    assert config["accesslog"] is None
    assert config["logconfig_dict"]["loggers"]["gunicorn.access"]["level"] == "WARNING"  # type: ignore[index]
    environment.setenv("ACCESS_LOG", "-")
    get_settings.cache_clear()
    config = gunicorn_config()
    assert config["accesslog"] == "-"
    assert config["logconfig_dict"]["loggers"]["gunicorn.access"]["level"] == "INFO"  # type: ignore[index]


def test_the_worker_log_level_is_passed_to_celery(environment: pytest.MonkeyPatch) -> None:
    from worker import app

    given: list[list[str]] = []
    environment.setattr(app.celery_app, "worker_main", given.append)
    environment.setattr(app.sys, "argv", ["worker"])
    app.run_worker(app.CONTROL_QUEUE, "worker")
    assert "--loglevel=INFO" in given[-1]
    environment.setenv("ATM_LOG_LEVEL", "debug")
    get_settings.cache_clear()
    app.run_worker(app.CONTROL_QUEUE, "worker")
    assert "--loglevel=DEBUG" in given[-1]
