"""An account's past: its balance at a moment (GET /accounts/{n}/balance?at=) and its
statement for a period, as JSON or CSV."""

from __future__ import annotations

import csv
import io

from flask import Blueprint, Response, request

from shared.ledger.moments import Statement, statement
from shared.ledger.money import format_cents, to_json_number
from shared.shapes.requests import StatementQuery
from shared.timestamps import iso
from shared.views import ledger_entry_view
from web.http.auth import require_account
from web.http.parsing import checked_query
from web.http.responses import success
from web.serving.services import current_services

statements = Blueprint("statements", __name__)

CSV = "text/csv"
CSV_COLUMNS = (
    "transaction_id",
    "created_at",
    "type",
    "amount",
    "balance_after",
    "job_id",
    "reference",
)


@statements.get("/accounts/<account_number>/statement")
def get_statement(account_number: str) -> Response:
    require_account(account_number)
    services = current_services()
    query = checked_query(StatementQuery, services.settings)
    period = services.reading(statement, account_number, query.start, query.end)
    if request.accept_mimetypes.best_match(["application/json", CSV]) == CSV:
        return Response(statement_csv(period), mimetype=CSV)
    return success(
        {
            "account_number": period.account_number,
            "from": iso(period.start),
            "to": iso(period.end),
            "opening_balance": to_json_number(period.opening_balance),
            "closing_balance": to_json_number(period.closing_balance),
            "credits": to_json_number(period.credits),
            "debits": to_json_number(period.debits),
            "count": len(period.entries),
            "entries": [ledger_entry_view(entry) for entry in period.entries],
        }
    )


def statement_csv(period: Statement) -> str:
    """The statement's entries as RFC 4180 CSV (CRLF line ends, quoted where needed),
    amounts with two decimals, empty cells for what an entry lacks."""
    text = io.StringIO()
    writer = csv.writer(text, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    for entry in period.entries:
        writer.writerow(
            (
                entry.id,
                iso(entry.created_at),
                entry.type,
                format_cents(entry.amount),
                format_cents(entry.balance_after),
                entry.job_id or "",
                entry.reference or "",
            )
        )
    return text.getvalue()
