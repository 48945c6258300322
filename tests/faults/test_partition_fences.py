"""A live worker whose partition is taken in the database behind its back (as by a worker
that got the lease while it stalled): its next apply is refused, it gives the partition
up, takes it again once free, and the job is applied once."""

from __future__ import annotations

import socket
from pathlib import Path

from sqlalchemy import select

from shared.config.settings import load_settings
from shared.ledger.fences import take_partitions
from shared.partitioning import partition_of
from shared.store.db import Database
from shared.store.models import Partition
from tests.conftest import Api
from tests.faults.support import assert_audit_clean
from tests.stack import Stack, wait_until


def _fence(database: Database, partition: int) -> tuple[int, str | None]:
    with database.read.begin() as session:
        row = session.execute(
            select(Partition.epoch, Partition.owner).where(Partition.id == partition)
        ).one()
        return row.epoch, row.owner


def test_a_worker_whose_partition_was_taken_gives_it_up_and_applies_nothing_of_it(
    fault_stack: Stack,
) -> None:
    worker = fault_stack.start_worker("owner")
    client = Api(fault_stack.start_web())
    fault_stack.wait_healthy()
    identity = f"{socket.gethostname()}:{worker.pid}"
    number = client.open_account("10.00")
    partition = partition_of(number, int(fault_stack.env["ATM_PARTITIONS"]))
    settings = load_settings({"DATABASE_URL": fault_stack.env["DATABASE_URL"]})
    database = Database(settings)
    try:
        wait_until(lambda: _fence(database, partition)[1] == identity, 30, "the worker's fence")
        with database.writing() as session:
            intruder_epoch = take_partitions(session, [partition], "intruder")[partition]
        accepted = client.post(
            f"/accounts/{number}/deposit",
            json={"amount": "2.50"},
            headers={"Prefer": "respond-async"},
        )
        assert accepted.status_code == 202, accepted.text
        job_id = accepted.json()["data"]["job_id"]

        def applied() -> bool:
            answer = client.get(f"/jobs/{job_id}", headers={"Prefer": "wait=5"})
            return answer.json()["data"]["status"] == "succeeded"

        wait_until(applied, 60, "the deposit, once the worker took its partition again")
        log = (Path(fault_stack.directory) / "owner.log").read_text(errors="replace")
        assert f"partition {partition} was taken by another worker" in log
        assert _fence(database, partition) == (intruder_epoch + 1, identity)
        assert client.balance(number) == 12.5
        assert_audit_clean(fault_stack)
    finally:
        database.close()
