"""Settings fail fast naming the variable; partitions are stable across processes."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from shared.partitioning import partition_of, queue_name
from shared.settings import PROJECT_ROOT, SettingsError, load_settings


def test_defaults_are_the_embedded_ones() -> None:
    settings = load_settings({})
    assert settings.database_url.startswith("sqlite:///") and settings.database_url.endswith(
        "atm.db"
    )
    assert settings.partitions == 8
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
    assert queue_name(3) == "atm.partition.3"
