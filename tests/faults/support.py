"""What the fault tests check after the fault: counts, the audit, the order of a batch."""

from __future__ import annotations

from decimal import Decimal

from sqlalchemy import create_engine, text

from shared.audit import run_audit
from shared.db import Database
from shared.settings import load_settings
from tests.conftest import Api
from tests.e2e.test_batches import all_results
from tests.stack import Stack


def counts(stack: Stack) -> dict[str, int]:
    engine = create_engine(stack.env["DATABASE_URL"])
    with engine.connect() as connection:
        rows = connection.execute(text("SELECT status, COUNT(*) FROM jobs GROUP BY status"))
        result = {status: count for status, count in rows}
    engine.dispose()
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
