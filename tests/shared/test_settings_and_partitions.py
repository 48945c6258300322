"""Settings fail fast naming the variable; partitions are stable across processes."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from pydantic import ValidationError

from shared.config.settings import PROJECT_ROOT, Settings, SettingsError, load_settings
from shared.partitioning import owner_queue, partition_of


def test_defaults_are_the_embedded_ones() -> None:
    settings = load_settings({})
    assert settings.database_url.startswith("sqlite:///") and settings.database_url.endswith(
        "atm.db"
    )
    assert settings.partitions == 128 and not settings.partitions_given
    assert settings.sync_wait_seconds == 10
    assert settings.max_amount_cents == 100_000_000
    assert settings.max_body_bytes == 2 * 1024 * 1024
    assert settings.max_batch == 10_000


def test_the_data_directory_holds_the_default_database(tmp_path: Path) -> None:
    assert load_settings({}).data_dir == PROJECT_ROOT / "data"
    settings = load_settings({"ATM_DATA_DIR": str(tmp_path / "run")})
    assert settings.data_dir == tmp_path / "run"
    assert settings.database_url == f"sqlite:///{tmp_path / 'run' / 'atm.db'}"
    given = load_settings({"ATM_DATA_DIR": str(tmp_path), "DATABASE_URL": "sqlite:///x.db"})
    assert given.database_url == "sqlite:///x.db"


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("ATM_PARTITIONS", "0"),
        ("ATM_PARTITIONS", "many"),
        ("ATM_SYNC_WAIT_SECONDS", "-1"),
        ("ATM_MAX_AMOUNT", "0.001"),
        ("ATM_SQLITE_SYNCHRONOUS", "SOMETIMES"),
        ("DATABASE_URL", "postgres://x/y"),
        ("ATM_LEASE_SECONDS", "0"),
        ("ATM_MAX_BATCH", "65537"),  # an operation's index must fit in its id's 16 bits
        ("ATM_PARTITIONS", "65537"),
    ],
)
def test_bad_values_fail_naming_the_variable(name: str, value: str) -> None:
    with pytest.raises(SettingsError, match=name):
        load_settings({name: value})


@pytest.mark.parametrize(
    ("name", "value", "reason"),
    [
        ("PORT", "http", "must be a whole number of at least 1"),
        ("ATM_MAX_WAITERS", "-1", "must be a whole number of at least 0"),
        ("ATM_MAX_BATCH", "65537", "must be at most 65536"),
        ("ATM_BODY_TIMEOUT", "soon", "must be a number"),
        ("ATM_MAX_WAIT_SECONDS", "-0.5", "must be a number of at least 0"),
        ("ATM_MAX_REDIS_MEMORY_FRACTION", "0", "must be a number above 0"),
        ("ATM_MAX_AMOUNT", "1e999999999", "must be a positive amount with at most 2 decimals"),
        ("ATM_MAX_AMOUNT", "ten", "must be a positive amount with at most 2 decimals"),
        ("ATM_REDIS_MAXMEMORY", "lots", "must be a size such as 512mb or 2gb"),
        ("ATM_SEED_SAMPLE_ACCOUNTS", "maybe", "must be true or false"),
        ("ATM_AUTH", "Required", "must be required or off"),
        ("ATM_SQLITE_SYNCHRONOUS", "SOMETIMES", "must be OFF, NORMAL, FULL or EXTRA"),
        ("ATM_LOG_LEVEL", "loud", "must be DEBUG, INFO, WARNING, ERROR, CRITICAL or FATAL"),
        ("ATM_WORKER_PROCESSES", "0", "must be a whole number of at least 1"),
    ],
)
def test_a_bad_value_of_each_kind_names_the_variable_its_value_and_the_rule(
    name: str, value: str, reason: str
) -> None:
    with pytest.raises(SettingsError) as raised:
        load_settings({name: value})
    assert str(raised.value) == f"{name}={value!r} is not valid: {reason}"


def test_secrets_are_not_repeated_in_the_message() -> None:
    with pytest.raises(SettingsError) as raised:
        load_settings({"DATABASE_URL": "postgres://atm:db-secret@db.example/atm"})
    assert str(raised.value) == (
        "DATABASE_URL is not valid: must start with postgresql:// (not postgres://)"
    )
    with pytest.raises(SettingsError) as raised:
        load_settings({"ATM_BOOTSTRAP_ADMIN_KEY": "short secret"})
    assert "short secret" not in str(raised.value)
    assert "postgres" not in repr(load_settings({"DATABASE_URL": "postgresql://a:b@h/d"}))


def test_every_bad_value_is_reported_at_once() -> None:
    with pytest.raises(SettingsError) as raised:
        load_settings({"ATM_PARTITIONS": "x", "ATM_LEASE_SECONDS": "0", "ATM_DATA_DIR": "\0"})
    message = str(raised.value)
    assert "ATM_PARTITIONS='x'" in message and "ATM_LEASE_SECONDS='0'" in message
    assert "ATM_DATA_DIR=" in message and "DATABASE_URL" not in message  # only its default


def test_the_cross_checks_keep_their_messages() -> None:
    with pytest.raises(SettingsError, match=r"^ATM_AUTH=off would let anyone who can reach"):
        load_settings({"HOST": "192.0.2.1"})


def test_a_given_mapping_is_the_only_source(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ATM_PARTITIONS", "3")
    monkeypatch.setenv("ATM_LOG_LEVEL", "loud")  # would fail if it were read
    assert load_settings({}).partitions == 128
    monkeypatch.setenv("ATM_LOG_LEVEL", "warning")
    environment = load_settings()
    assert (environment.partitions, environment.log_level) == (3, "WARNING")


def test_values_are_stripped_and_blank_ones_take_the_default() -> None:
    settings = load_settings({"ATM_PARTITIONS": " 4 ", "PORT": "  ", "ATM_URL": "", "HOST": ""})
    assert (settings.partitions, settings.port, settings.api_url) == (4, 5000, None)
    assert settings.host == "127.0.0.1"


def test_the_variables_once_read_outside_the_settings() -> None:
    defaults = load_settings({})
    assert defaults.api_url is None and defaults.port == 5000
    assert defaults.log_level == "INFO"
    assert defaults.worker_processes is None
    assert defaults.access_log is None
    given = load_settings(
        {
            "ATM_URL": "http://api.example:8080",
            "PORT": "5001",
            "ATM_LOG_LEVEL": "debug",
            "ATM_WORKER_PROCESSES": "3",
            "ACCESS_LOG": "-",
        }
    )
    assert given.api_url == "http://api.example:8080" and given.port == 5001
    assert given.log_level == "DEBUG"  # as Celery takes it
    assert given.worker_processes == 3
    assert given.access_log == "-"


def test_amounts_are_exact_cents() -> None:
    assert load_settings({"ATM_MAX_AMOUNT": "0.29"}).max_amount_cents == 29  # 28 by float
    assert load_settings({"ATM_MAX_AMOUNT": "1e3"}).max_amount_cents == 100_000
    assert load_settings({"ATM_MAX_AMOUNT": "12345678901234567.89"}).max_amount_cents == (
        1_234_567_890_123_456_789
    )


def test_settings_are_frozen_and_described() -> None:
    settings = load_settings({})
    with pytest.raises(ValidationError, match="frozen"):
        settings.partitions = 2  # type: ignore[misc]
    for name, field in Settings.model_fields.items():
        assert field.alias and field.description, name
    aliases = [field.alias for field in Settings.model_fields.values()]
    assert len(aliases) == len(set(aliases))


def test_partition_of_is_stable_and_spread() -> None:
    numbers = [str(10000 + i) for i in range(1000)]
    here = [partition_of(n, 8) for n in numbers]
    code = (
        "from shared.partitioning import partition_of as p; "
        "print([p(str(10000 + i), 8) for i in range(1000)])"
    )
    elsewhere = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        env={"PYTHONHASHSEED": "123", "PATH": ""},
        cwd=".",
    ).stdout
    assert str(here) == elsewhere.strip()
    assert min(here.count(p) for p in range(8)) > 80
    assert owner_queue("host:12") == "atm.worker.host:12"


def test_only_the_documented_variables_are_read() -> None:
    """A field's own name (`port`, `auth`) in the environment is not its variable."""
    settings = load_settings({"port": "7000", "auth": "required", "host": "0.0.0.0"})
    assert (settings.port, settings.auth, settings.host) == (5000, "off", "127.0.0.1")


def test_celery_s_fatal_log_level_is_accepted() -> None:
    assert load_settings({"ATM_LOG_LEVEL": "fatal"}).log_level == "FATAL"
