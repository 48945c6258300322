"""The seed's plain synchronous design, kept as a fixed yardstick for bench/side_by_side.sh.

Rates differ up to 2x between machines and by 30% between runs on one machine, so the
performance page compares this service with a yardstick that does not change as the service does,
both measured in one run on one machine, and reports the ratios. The yardstick is the
original ATM service's design made as durable as this one: one Flask process, one lock
around every write, one sqlite3 transaction and commit per request (WAL, synchronous=FULL,
as the project's SQLite), each operation writing its balance, a ledger row and a job row.
No queue, no worker, no ORM. It answers the seed's three endpoints in the seed's envelope,
and what the load needs besides: POST /accounts, POST /batches (applied inside the request,
in its one transaction) and GET /batches/<batch_id>, with the project's request shapes.

    BASELINE_DB_PATH=/tmp/baseline.db .venv/bin/gunicorn -k gthread -w 1 --threads 16 \
        -b 127.0.0.1:5401 --chdir bench 'seed_style_baseline:create_app()'
"""

from __future__ import annotations

import json
import os
import re
import secrets
import sqlite3
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from decimal import Decimal

from flask import Flask, Response, request
from werkzeug.exceptions import HTTPException

MAX_CENTS = 100_000_000  # 1,000,000.00, the project's default maximum amount
MAX_BATCH = 10_000
KINDS = ("withdraw", "deposit")
SAMPLE_ACCOUNTS = (("10001", 500_000), ("10002", 300_000), ("10003", 100_000))
ACCOUNT_NUMBER = re.compile(r"[0-9]{1,34}")
PLAIN_DECIMAL = re.compile(r"[0-9]+(\.[0-9]+)?")
SCHEMA = """
CREATE TABLE IF NOT EXISTS accounts (account_number TEXT PRIMARY KEY, balance INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS ledger (transaction_id INTEGER PRIMARY KEY, account_number TEXT
    NOT NULL, job_id TEXT NOT NULL, type TEXT NOT NULL, amount INTEGER NOT NULL,
    balance_after INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS jobs (job_id TEXT PRIMARY KEY, batch_id TEXT, account_number TEXT
    NOT NULL, type TEXT NOT NULL, amount INTEGER NOT NULL, status TEXT NOT NULL,
    new_balance INTEGER, error TEXT);
CREATE INDEX IF NOT EXISTS jobs_by_batch ON jobs (batch_id);
CREATE TABLE IF NOT EXISTS batches (batch_id TEXT PRIMARY KEY, total INTEGER NOT NULL,
    succeeded INTEGER NOT NULL, created_at TEXT NOT NULL, completed_at TEXT NOT NULL);
"""


class Refused(Exception):
    """A request answered with an error envelope."""

    def __init__(self, status: int, kind: str, message: str, details: list | None = None):
        super().__init__(message)
        self.status, self.kind, self.message, self.details = status, kind, message, details


class Store:
    """One sqlite3 connection per thread; one lock so that writers queue in Python, not in
    SQLite's busy handler, which sleeps."""

    def __init__(self, path: str) -> None:
        self.path, self.lock, self.local = path, threading.Lock(), threading.local()

    def connection(self) -> sqlite3.Connection:
        connection = getattr(self.local, "connection", None)
        if connection is None:
            connection = sqlite3.connect(self.path, isolation_level=None, timeout=30)
            connection.execute("PRAGMA journal_mode=WAL")
            connection.execute("PRAGMA synchronous=FULL")
            self.local.connection = connection
        return connection

    @contextmanager
    def write(self) -> Iterator[sqlite3.Connection]:
        """One transaction, committed (fsync'd) before the caller answers."""
        connection = self.connection()
        with self.lock:
            connection.execute("BEGIN IMMEDIATE")
            try:
                yield connection
            except BaseException:
                connection.execute("ROLLBACK")
                raise
            connection.execute("COMMIT")


def envelope(status: int, data: dict | None = None, error: Refused | None = None) -> Response:
    body: dict = {"success": error is None, "code": status}
    if error is None:
        body["data"] = data
    else:
        body["error"] = {"type": error.kind, "message": error.message}
        if error.details is not None:
            body["error"]["details"] = error.details
    return Response(json.dumps(body), status=status, mimetype="application/json")


def read_body() -> dict:
    if request.mimetype != "application/json":
        raise Refused(415, "unsupported_media_type", "the body must be application/json")
    try:
        body = json.loads(request.get_data(), parse_float=Decimal)
    except ValueError as exc:
        raise Refused(400, "invalid_json", "the body is not valid JSON") from exc
    if not isinstance(body, dict):
        raise Refused(400, "invalid_json", "the body must be a JSON object")
    return body


def cents(value: object, allow_zero: bool = False) -> int:
    """A JSON number or plain decimal string, > 0 (or >= 0), at most 2 places, as cents."""
    if isinstance(value, str) and PLAIN_DECIMAL.fullmatch(value):
        value = Decimal(value)
    if isinstance(value, int) and not isinstance(value, bool):
        value = Decimal(value)
    if (
        isinstance(value, Decimal)
        and value.is_finite()
        and (value > 0 or (allow_zero and value == 0))
        and value * 100 <= MAX_CENTS
        and value == value.quantize(Decimal("0.01"))
    ):
        return int(value * 100)
    raise Refused(400, "invalid_amount", "amount must be > 0 with at most 2 decimal places")


def apply(
    connection: sqlite3.Connection, number: str, kind: str, amount: int, batch_id: str | None
) -> dict:
    """Apply one withdrawal or deposit and record its job, in the caller's transaction."""
    job_id, error, balance, transaction_id = uuid.uuid4().hex, None, None, None
    row = connection.execute(
        "SELECT balance FROM accounts WHERE account_number = ?", (number,)
    ).fetchone()
    if row is None:
        error = Refused(404, "account_not_found", f"account {number} does not exist")
    elif kind == "withdraw" and row[0] < amount:
        error = Refused(400, "insufficient_funds", "the balance does not cover the amount")
    else:
        balance = row[0] - amount if kind == "withdraw" else row[0] + amount
        connection.execute(
            "UPDATE accounts SET balance = ? WHERE account_number = ?", (balance, number)
        )
        transaction_id = connection.execute(
            "INSERT INTO ledger (account_number, job_id, type, amount, balance_after)"
            " VALUES (?, ?, ?, ?, ?)",
            (number, job_id, kind, amount, balance),
        ).lastrowid
    status, reason = ("failed", error.kind) if error else ("succeeded", None)
    connection.execute(
        "INSERT INTO jobs VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        (job_id, batch_id, number, kind, amount, status, balance, reason),
    )
    return {"job_id": job_id, "transaction_id": transaction_id, "balance": balance, "error": error}


def checked_operations(body: dict) -> list[tuple[str, str, int]]:
    """A batch's operations, or 400 invalid_batch naming every bad one."""
    operations = body.get("operations")
    if not isinstance(operations, list) or not 1 <= len(operations) <= MAX_BATCH:
        raise Refused(400, "invalid_batch", f"operations must be a list of 1 to {MAX_BATCH}")
    checked, details = [], []
    for index, operation in enumerate(operations):
        try:
            if not isinstance(operation, dict) or operation.get("type") not in KINDS:
                raise Refused(400, "invalid_operation", "type must be withdraw or deposit")
            number = operation.get("account_number")
            if not isinstance(number, str) or not ACCOUNT_NUMBER.fullmatch(number):
                raise Refused(400, "invalid_account_number", "1 to 34 digits, as a string")
            checked.append((number, operation["type"], cents(operation.get("amount"))))
        except Refused as bad:
            details.append({"index": index, "type": bad.kind, "message": bad.message})
    if details:
        raise Refused(400, "invalid_batch", "some operations are malformed", details)
    return checked


def create_app() -> Flask:
    """The yardstick on the SQLite file named by BASELINE_DB_PATH (created when missing)."""
    path = os.environ.get("BASELINE_DB_PATH")
    if not path:
        raise SystemExit("BASELINE_DB_PATH must name the baseline's SQLite file")
    store, app = Store(path), Flask(__name__)
    store.connection().executescript(SCHEMA)
    store.connection().executemany("INSERT OR IGNORE INTO accounts VALUES (?, ?)", SAMPLE_ACCOUNTS)

    @app.get("/accounts/<number>/balance")
    def get_balance(number: str) -> Response:
        row = (
            store.connection()
            .execute("SELECT balance FROM accounts WHERE account_number = ?", (number,))
            .fetchone()
        )
        if row is None:
            raise Refused(404, "account_not_found", f"account {number} does not exist")
        return envelope(200, {"account_number": number, "balance": row[0] / 100})

    @app.post("/accounts/<number>/<any(withdraw, deposit):kind>")
    def operate(number: str, kind: str) -> Response:
        amount = cents(read_body().get("amount"))
        with store.write() as connection:
            outcome = apply(connection, number, kind, amount, None)
        if outcome["error"]:
            raise outcome["error"]
        data = {"account_number": number, "new_balance": outcome["balance"] / 100}
        data |= {"amount": amount / 100, "type": kind, "job_id": outcome["job_id"]}
        return envelope(200, data | {"transaction_id": outcome["transaction_id"]})

    @app.post("/accounts")
    def create_account() -> Response:
        body = read_body()
        number = body.get("account_number") or str(secrets.randbelow(10**12)).zfill(12)
        if not isinstance(number, str) or not ACCOUNT_NUMBER.fullmatch(number):
            raise Refused(400, "invalid_account_number", "1 to 34 digits, as a string")
        opening = cents(body.get("initial_balance", 0), allow_zero=True)
        try:
            with store.write() as connection:
                connection.execute("INSERT INTO accounts VALUES (?, ?)", (number, opening))
        except sqlite3.IntegrityError as exc:
            raise Refused(409, "account_exists", f"account {number} exists") from exc
        return envelope(201, {"account_number": number, "balance": opening / 100})

    @app.post("/batches")
    def create_batch() -> Response:
        operations = checked_operations(read_body())
        batch_id, started = uuid.uuid4().hex, datetime.now(UTC).isoformat()
        with store.write() as connection:
            succeeded = sum(
                apply(connection, *operation, batch_id)["error"] is None for operation in operations
            )
            connection.execute(
                "INSERT INTO batches VALUES (?, ?, ?, ?, ?)",
                (batch_id, len(operations), succeeded, started, datetime.now(UTC).isoformat()),
            )
        response = envelope(
            202,
            {"batch_id": batch_id, "total": len(operations), "status_url": f"/batches/{batch_id}"},
        )
        response.headers["Location"] = f"/batches/{batch_id}"
        return response

    @app.get("/batches/<batch_id>")
    def get_batch(batch_id: str) -> Response:
        row = (
            store.connection()
            .execute("SELECT * FROM batches WHERE batch_id = ?", (batch_id,))
            .fetchone()
        )
        if row is None:
            raise Refused(404, "batch_not_found", f"batch {batch_id} does not exist")
        _, total, succeeded, created_at, completed_at = row
        data = {"batch_id": batch_id, "total": total, "queued": 0, "processing": 0}
        data |= {"succeeded": succeeded, "failed": total - succeeded, "status": "completed"}
        return envelope(200, data | {"created_at": created_at, "completed_at": completed_at})

    @app.errorhandler(Refused)
    def refused(error: Refused) -> Response:
        return envelope(error.status, error=error)

    @app.errorhandler(HTTPException)
    def protocol_error(error: HTTPException) -> Response:
        kind = (error.name or "error").lower().replace(" ", "_")
        status = error.code or 500
        return envelope(status, error=Refused(status, kind, error.description or kind))

    @app.errorhandler(Exception)
    def unexpected(error: Exception) -> Response:
        app.logger.exception("unexpected failure")
        return envelope(500, error=Refused(500, "internal_error", "unexpected failure"))

    return app
