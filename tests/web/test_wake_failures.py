"""A wake-up that cannot be sent after the job is committed is reported, never raised."""

from __future__ import annotations

from pathlib import Path

from shared import messaging
from shared.config.settings import load_settings
from shared.store.db import Database, init_database
from tests.stack import free_port
from web.serving.dispatch import PartitionDispatcher
from web.serving.intake import JobIntake
from web.serving.offload import DatabaseThreads


def test_a_redis_that_cannot_be_reached_leaves_the_job_to_the_sweep(tmp_path: Path) -> None:
    settings = load_settings({"DATABASE_URL": f"sqlite:///{tmp_path / 'atm.db'}"})
    database = Database(settings)
    init_database(database)
    # The doorbells and the broker are one Redis: nothing answers there.
    client = messaging.connect(f"redis://127.0.0.1:{free_port()}/0")
    intake = JobIntake(
        database, DatabaseThreads(1), settings.partitions, PartitionDispatcher(client), 60
    )
    assert intake.wake({0, 3, 5}) is False
