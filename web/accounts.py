"""The accounts resource: balance, opening an account, history, withdraw and deposit."""

from __future__ import annotations

from flask import Blueprint, Response
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from shared.accounts import (
    MAX_HISTORY_PAGE,
    get_account,
    list_transactions,
    open_account,
    validate_account_number,
)
from shared.errors import AccountExists
from shared.idempotency import StoredResponse
from shared.models import DEPOSIT, LEDGER_TYPES, WITHDRAW
from shared.money import parse_amount, to_json_number
from web.idempotency import create_once, idempotency_claim, replayed
from web.parsing import json_object_body, query_choice, query_int, query_reference
from web.responses import success
from web.serializers import ledger_entry_view
from web.services import current_services
from web.submission import submit_operation

accounts = Blueprint("accounts", __name__)


@accounts.get("/accounts/<account_number>/balance")
def get_balance(account_number: str) -> Response:
    account = current_services().reading(get_account, account_number)
    return success(
        {"account_number": account.account_number, "balance": to_json_number(account.balance)}
    )


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

    def create(session: Session) -> StoredResponse:
        account = open_account(session, number, opening)
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
def withdraw(account_number: str) -> Response:
    return submit_operation(account_number, WITHDRAW)


@accounts.post("/accounts/<account_number>/deposit")
def deposit(account_number: str) -> Response:
    return submit_operation(account_number, DEPOSIT)
