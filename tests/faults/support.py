"""What the fault tests check after the fault: counts, the audit, the order of a batch."""

from __future__ import annotations

from decimal import Decimal

from sqlalchemy import create_engine, text

from shared.config.settings import load_settings
from shared.ledger.audit import run_audit
from shared.store.db import Database
from tests.conftest import Api
from tests.e2e.test_batches import all_results, random_operations, submit
from tests.stack import Stack, wait_until


def counts(stack: Stack) -> dict[str, int]:
    """Accepted operations by status: single jobs by their rows, a batch's operations by
    its counters (applied, failed) and what waits in its queued parts."""
    engine = create_engine(stack.env["DATABASE_URL"])
    with engine.connect() as connection:
        rows = connection.execute(
            text("SELECT status, COUNT(*) FROM jobs WHERE batch_id IS NULL GROUP BY status")
        )
        result = {status: count for status, count in rows}
        applied, failed = connection.execute(
            text("SELECT COALESCE(SUM(applied), 0), COALESCE(SUM(failed), 0) FROM batches")
        ).one()
        waiting = connection.execute(
            text(
                "SELECT COALESCE(SUM(amount - batch_index), 0) FROM jobs"
                " WHERE type = 'batch_part' AND status = 'queued'"
            )
        ).scalar_one()
    engine.dispose()
    for status, count in (("succeeded", applied - failed), ("failed", failed), ("queued", waiting)):
        if count:
            result[status] = result.get(status, 0) + int(count)
    return result


def assert_audit_clean(stack: Stack) -> None:
    database = Database(load_settings({"DATABASE_URL": stack.env["DATABASE_URL"]}))
    with database.read.begin() as session:
        report = run_audit(session, stale_after_seconds=3600)
    database.engine.dispose()
    assert report.clean, report.findings


def assert_applied_in_array_order(
    client: Api, batch_id: str, operations: list[dict], opening: Decimal
) -> None:
    results = all_results(client, batch_id)
    balances = {op["account_number"]: opening for op in operations}
    for sent, result in zip(operations, results, strict=True):
        amount = Decimal(sent["amount"])
        number = sent["account_number"]
        if sent["type"] == "withdraw" and balances[number] < amount:
            assert result["error"]["type"] == "insufficient_funds", result
            continue
        balances[number] += amount if sent["type"] == "deposit" else -amount
        assert Decimal(str(result["new_balance"])) == balances[number], result
    for number, balance in balances.items():
        assert Decimal(str(client.balance(number))) == balance


def batch_in_progress(
    stack: Stack, seed: int, applied_first: int = 300
) -> tuple[Api, list[dict], str]:
    """One worker applying a 10,000-operation batch over 30 accounts, `applied_first` done.

    Returns the client, the operations and the batch id, for the test to break things.
    """
    client = Api(stack.start_service("first"))
    wait_until(lambda: len(stack.lease_owners()) == 4, 20, "the worker to own every partition")
    numbers = [client.open_account("100.00") for _ in range(30)]
    operations = random_operations(numbers, 10_000, seed=seed, largest=30)
    batch_id = submit(client, operations)
    wait_until(lambda: counts(stack).get("succeeded", 0) >= applied_first, 30, "the batch to start")
    return client, operations, batch_id
