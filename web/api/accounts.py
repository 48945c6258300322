"""The accounts resource: views, opening, controls, history, withdraw, deposit, holds."""

from __future__ import annotations

import json

from flask import Blueprint, Response
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from shared.accepting.idempotency import StoredResponse
from shared.accepting.operations import new_id
from shared.errors import AccountExists
from shared.ledger.accounts import get_account, list_accounts, list_transactions, open_account
from shared.ledger.chunk import account_view
from shared.ledger.holds import HeldAmount
from shared.ledger.moments import balance_at
from shared.ledger.money import to_json_number
from shared.shapes.requests import (
    AccountChangesBody,
    AccountsQuery,
    BalanceQuery,
    HoldBody,
    NewAccountBody,
    TransactionsQuery,
)
from shared.shapes.validating import validated
from shared.store.models import ACTIVE, DEPOSIT, HOLD, UPDATE_ACCOUNT, WITHDRAW, Account
from shared.timestamps import iso
from shared.views import ledger_entry_view
from web.http.auth import admin, operate, require_account
from web.http.idempotency import create_once, idempotency_claim, replayed
from web.http.parsing import checked_query, json_object_body
from web.http.responses import success
from web.serving.services import current_services
from web.serving.submission import submit_job, submit_operation

accounts = Blueprint("accounts", __name__)


@accounts.get("/accounts/<account_number>/balance")
def get_balance(account_number: str) -> Response:
    """The balance now, or with `at` the balance at that moment (shared.ledger.moments)."""
    require_account(account_number)
    services = current_services()
    at = checked_query(BalanceQuery, services.settings).at
    if at is not None:
        balance = services.reading(balance_at, account_number, at)
        return success(
            {"account_number": account_number, "balance": to_json_number(balance), "at": iso(at)}
        )
    account = services.reading(get_account, account_number)
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
    return success(stored_account_view(current_services().reading(get_account, account_number)))


def stored_account_view(account: Account) -> dict[str, object]:
    """The account view of a row as stored (a column older rows may lack: its default)."""
    return account_view(
        account.account_number,
        account.balance,
        account.held or 0,
        account.status or ACTIVE,
        account.daily_withdrawal_limit,
        account.created_at,
        account.overdraft_limit or 0,
    )


@accounts.patch("/accounts/<account_number>")
def update_account(account_number: str) -> Response:
    """Freeze, unfreeze, close, or set the daily limit: a job in the account's order."""
    body = json_object_body()
    changes = validated(AccountChangesBody, body, current_services().settings)
    details = json.dumps(changes.model_dump(exclude_unset=True), separators=(",", ":"))
    return submit_job(body, account_number, UPDATE_ACCOUNT, 0, details=details)


@accounts.post("/accounts/<account_number>/holds")
@operate
def place_hold(account_number: str) -> Response:
    body = json_object_body()
    hold = validated(HoldBody, body, current_services().settings)
    hold_id = new_id()
    # Its capture or void will need its account and amount; remember them now.
    current_services().holds.remember(hold_id, HeldAmount(account_number, hold.amount))
    return submit_job(
        body,
        account_number,
        HOLD,
        hold.amount,
        target_id=hold_id,
        details=json.dumps({"expires_in": hold.expires_in}),
    )


@accounts.get("/accounts")
@admin
def list_all_accounts() -> Response:
    """Every account, a page at a time in the byte order of their numbers."""
    services = current_services()
    query = checked_query(AccountsQuery, services.settings)
    page, next_after = services.reading(list_accounts, query.limit, query.after)
    views = [stored_account_view(account) for account in page]
    return success({"accounts": views, "next_after": next_after})


@accounts.post("/accounts")
def create_account() -> Response:
    services = current_services()
    body = json_object_body(allow_empty=True)
    claim = idempotency_claim(body)
    new = validated(NewAccountBody, body, services.settings)
    number = new.account_number

    def create(session: Session) -> StoredResponse:
        account = open_account(
            session,
            number,
            new.initial_balance,
            new.daily_withdrawal_limit,
            overdraft_limit=new.overdraft_limit,
        )
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
    services = current_services()
    query = checked_query(TransactionsQuery, services.settings)
    entries, next_before = services.reading(
        list_transactions,
        account_number,
        query.limit,
        query.before,
        entry_type=query.type,
        reference=query.reference,
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
