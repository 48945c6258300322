"""The flask command reads the .env of the folder it is run from, unless FLASK_SKIP_DOTENV=1.

Run from a folder of the test's own, never the project's: a developer's .env is not the
tests' (tests/conftest.py sets FLASK_SKIP_DOTENV=1 for every process a test starts).
"""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from pathlib import Path

from shared.config.settings import PROJECT_ROOT


def partitions_made(folder: Path, database: Path, **env: str) -> int:
    """`flask --app web init-db` run in `folder`; how many partition rows it made in
    `database`."""
    result = subprocess.run(
        [sys.executable, "-m", "flask", "--app", "web", "init-db"],
        cwd=folder,
        env={"PATH": os.environ["PATH"], "PYTHONPATH": str(PROJECT_ROOT), **env},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    with sqlite3.connect(database) as connection:
        return connection.execute("SELECT count(*) FROM partitions").fetchone()[0]


def test_the_flask_command_reads_dotenv_and_flask_skip_dotenv_turns_it_off(
    tmp_path: Path,
) -> None:
    from_dotenv, from_environment = tmp_path / "dotenv.db", tmp_path / "environment.db"
    (tmp_path / ".env").write_text(f"DATABASE_URL=sqlite:///{from_dotenv}\nATM_PARTITIONS=3\n")
    assert partitions_made(tmp_path, from_dotenv) == 3
    skipped = {"DATABASE_URL": f"sqlite:///{from_environment}", "FLASK_SKIP_DOTENV": "1"}
    assert partitions_made(tmp_path, from_environment, **skipped) == 128  # the default
