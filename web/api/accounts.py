"""The accounts resource: views, opening, controls, history, withdraw, deposit, holds."""

from __future__ import annotations

import json

from flask import Blueprint, Response
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from shared.accepting.idempotency import StoredResponse
from shared.accepting.operations import new_id
from shared.errors import AccountExists, InvalidParameter
from shared.ledger.accounts import (
    MAX_HISTORY_PAGE,
    get_account,
    list_transactions,
    open_account,
    validate_account_number,
)
from shared.ledger.chunk import account_view
from shared.ledger.holds import HeldAmount
from shared.ledger.money import parse_amount, to_json_number
from shared.store.models import (
    ACCOUNT_STATUSES,
    ACTIVE,
    DEPOSIT,
    HOLD,
    LEDGER_TYPES,
    UPDATE_ACCOUNT,
    WITHDRAW,
)
from shared.views import ledger_entry_view
from web.http.auth import operate, require_account
from web.http.idempotency import create_once, idempotency_claim, replayed
from web.http.parsing import json_object_body, query_choice, query_int, query_reference
from web.http.responses import success
from web.serving.services import current_services
from web.serving.submission import submit_job, submit_operation

accounts = Blueprint("accounts", __name__)
DEFAULT_HOLD_SECONDS = 600
MAX_HOLD_SECONDS = 604_800  # 7 days
# A daily limit is a setting, not an amount moved: any value a balance column holds.
MAX_DAILY_LIMIT_CENTS = 2**62


@accounts.get("/accounts/<account_number>/balance")
def get_balance(account_number: str) -> Response:
    require_account(account_number)
    account = current_services().reading(get_account, account_number)
    return success(
        {
            "account_number": account.account_number,
            "balance": to_json_number(account.balance),
            "available_balance": to_json_number(account.available_balance),
        }
    )


@accounts.get("/accounts/<account_number>")
def get_account_view(account_number: str) -> Response:
    require_account(account_number)
    account = current_services().reading(get_account, account_number)
    return success(
        account_view(
            account.account_number,
            account.balance,
            account.held or 0,
            account.status or ACTIVE,
            account.daily_withdrawal_limit,
            account.created_at,
        )
    )


@accounts.patch("/accounts/<account_number>")
def update_account(account_number: str) -> Response:
    """Freeze, unfreeze, close, or set the daily limit: a job in the account's order."""
    body = json_object_body()
    unknown = sorted(set(body) - {"status", "daily_withdrawal_limit"})
    if unknown:
        raise InvalidParameter(f"unknown field(s): {', '.join(unknown)}")
    changes: dict[str, object] = {}
    if "status" in body:
        if body["status"] not in ACCOUNT_STATUSES:
            raise InvalidParameter(f"status must be one of {', '.join(ACCOUNT_STATUSES)}")
        changes["status"] = body["status"]
    if "daily_withdrawal_limit" in body:
        changes["daily_withdrawal_limit"] = parse_daily_limit(body["daily_withdrawal_limit"])
    return submit_job(
        body, account_number, UPDATE_ACCOUNT, 0, details=json.dumps(changes, separators=(",", ":"))
    )


@accounts.post("/accounts/<account_number>/holds")
@operate
def place_hold(account_number: str) -> Response:
    settings = current_services().settings
    body = json_object_body()
    amount = parse_amount(body.get("amount"), max_cents=settings.max_amount_cents)
    expires_in = body.get("expires_in", DEFAULT_HOLD_SECONDS)
    if (
        isinstance(expires_in, bool)
        or not isinstance(expires_in, int)
        or not 1 <= expires_in <= MAX_HOLD_SECONDS
    ):
        raise InvalidParameter(f"expires_in must be whole seconds from 1 to {MAX_HOLD_SECONDS}")
    hold_id = new_id()
    # Its capture or void will need its account and amount; remember them now.
    current_services().holds.remember(hold_id, HeldAmount(account_number, amount))
    return submit_job(
        body,
        account_number,
        HOLD,
        amount,
        target_id=hold_id,
        details=json.dumps({"expires_in": expires_in}),
    )


def parse_daily_limit(value: object) -> int | None:
    """A daily withdrawal limit: money above zero, or null for none."""
    if value is None:
        return None
    return parse_amount(value, max_cents=MAX_DAILY_LIMIT_CENTS)


@accounts.post("/accounts")
def create_account() -> Response:
    services = current_services()
    body = json_object_body(allow_empty=True)
    claim = idempotency_claim(body)
    number = body.get("account_number")
    number = None if number is None else validate_account_number(number)
    opening = parse_amount(
        body.get("initial_balance", 0),
        max_cents=services.settings.max_amount_cents,
        allow_zero=True,
    )
    daily_limit = parse_daily_limit(body.get("daily_withdrawal_limit"))

    def create(session: Session) -> StoredResponse:
        account = open_account(session, number, opening, daily_limit)
        data = {
            "account_number": account.account_number,
            "balance": to_json_number(account.balance),
        }
        location = f"/accounts/{account.account_number}/balance"
        return StoredResponse(201, data, {"Location": location})

    try:
        response, was_replayed = create_once(services, claim, create)
    except IntegrityError as exc:  # a concurrent create of the same number won the race
        raise AccountExists(f"account {number} already exists") from exc
    if was_replayed:
        return replayed(response)
    return success(response.data, status=response.status, headers=response.headers)


@accounts.get("/accounts/<account_number>/transactions")
def list_account_transactions(account_number: str) -> Response:
    require_account(account_number)
    limit = query_int("limit", 50, minimum=1, maximum=MAX_HISTORY_PAGE)
    before = query_int("before", None, minimum=1)
    entry_type = query_choice("type", LEDGER_TYPES)
    reference = query_reference("reference")
    entries, next_before = current_services().reading(
        list_transactions,
        account_number,
        limit or 50,
        before,
        entry_type=entry_type,
        reference=reference,
    )
    return success(
        {
            "account_number": account_number,
            "transactions": [ledger_entry_view(entry) for entry in entries],
            "next_before": next_before,
        }
    )


@accounts.post("/accounts/<account_number>/withdraw")
@operate
def withdraw(account_number: str) -> Response:
    return submit_operation(account_number, WITHDRAW)


@accounts.post("/accounts/<account_number>/deposit")
@operate
def deposit(account_number: str) -> Response:
    return submit_operation(account_number, DEPOSIT)
