"""A wake-up that cannot be sent after the job is committed is reported, never raised."""

from __future__ import annotations

from pathlib import Path

from shared import messaging
from shared.db import Database, init_database
from shared.settings import load_settings
from tests.stack import RedisServer, free_port
from web.dispatch import PartitionDispatcher
from web.intake import JobIntake
from web.offload import DatabaseThreads


def test_a_broker_that_cannot_be_reached_leaves_the_job_to_the_sweep(
    tmp_path: Path, redis_server: RedisServer
) -> None:
    doorbells = redis_server.url.replace("/0", "/5")
    settings = load_settings({"DATABASE_URL": f"sqlite:///{tmp_path / 'atm.db'}"})
    database = Database(settings)
    init_database(database)
    # Doorbells answer; the broker (where the Celery message goes) does not.
    dead_broker = load_settings({"REDIS_URL": f"redis://127.0.0.1:{free_port()}/0"})
    client = messaging.connect(doorbells)
    client.flushdb()
    dispatcher = PartitionDispatcher(dead_broker, client)
    intake = JobIntake(database, DatabaseThreads(1), settings.partitions, dispatcher, 60)
    assert intake.wake({0, 3, 5}) is False
    assert sorted(int(key.split(b":")[-1]) for key in client.keys("atm:doorbell:*")) == [0, 3, 5]
