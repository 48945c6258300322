"""Account rules: numbers, opening an account, reading balances and history."""

from __future__ import annotations

import re
import secrets

from sqlalchemy import select
from sqlalchemy.orm import Session

from shared.errors import AccountExists, AccountNotFound, InvalidAccountNumber, InvalidParameter
from shared.store.models import ACTIVE, OPENING, Account, LedgerEntry, utcnow
from shared.store.paging import first_page

_ACCOUNT_NUMBER = re.compile(r"[0-9]{1,34}")  # used with fullmatch: "$" would allow a newline
MAX_HISTORY_PAGE = 500


def validate_account_number(value: object) -> str:
    """Return `value` if it is a string of 1 to 34 ASCII digits, kept exactly as given."""
    if not isinstance(value, str) or not _ACCOUNT_NUMBER.fullmatch(value):
        raise InvalidAccountNumber("account_number must be a string of 1 to 34 digits")
    return value


def is_account_number(value: str) -> bool:
    return bool(_ACCOUNT_NUMBER.fullmatch(value))


def open_account(
    session: Session,
    account_number: str | None,
    opening_cents: int,
    daily_withdrawal_limit: int | None = None,
    *,
    overdraft_limit: int = 0,
) -> Account:
    """Create an account (assigning a number when none is given) and its opening entry."""
    if account_number is None:
        account_number = _unused_number(session)
    elif session.get(Account, account_number) is not None:
        raise AccountExists(f"account {account_number} already exists")
    now = utcnow()
    account = Account(
        account_number=account_number,
        balance=opening_cents,
        opening_balance=opening_cents,
        status=ACTIVE,
        held=0,
        daily_withdrawal_limit=daily_withdrawal_limit,
        withdrawn_on_limit_day=0,
        overdraft_limit=overdraft_limit,
        created_at=now,
        last_entry_at=now if opening_cents else None,
    )
    session.add(account)
    session.flush()
    if opening_cents:
        session.add(
            LedgerEntry(
                account_number=account_number,
                type=OPENING,
                amount=opening_cents,
                balance_after=opening_cents,
                created_at=now,
            )
        )
        session.flush()
    return account


def _unused_number(session: Session) -> str:
    while True:
        candidate = str(secrets.randbelow(9 * 10**11) + 10**11)  # 12 digits, no leading zero
        if session.get(Account, candidate) is None:
            return candidate


def get_account(session: Session, account_number: str) -> Account:
    account = session.get(Account, account_number) if is_account_number(account_number) else None
    if account is None:
        raise AccountNotFound(f"account {account_number} not found")
    return account


def list_transactions(
    session: Session,
    account_number: str,
    limit: int,
    before: int | None,
    *,
    entry_type: str | None = None,
    reference: str | None = None,
) -> tuple[list[LedgerEntry], int | None]:
    """A page of the account's ledger, newest first (only entries of `entry_type` and with
    `reference`, when given), and the cursor for the next page."""
    get_account(session, account_number)
    query = select(LedgerEntry).where(LedgerEntry.account_number == account_number)
    if before is not None:
        query = query.where(LedgerEntry.id < before)
    if entry_type is not None:
        query = query.where(LedgerEntry.type == entry_type)
    if reference is not None:
        query = query.where(LedgerEntry.reference == reference)
    page, last = first_page(session, query.order_by(LedgerEntry.id.desc()), limit)
    return page, None if last is None else last.id


def list_accounts(
    session: Session, limit: int, after: str | None
) -> tuple[list[Account], str | None]:
    """A page of accounts in the byte order of their numbers, after `after` (which must be
    an account), and the cursor for the next page (None: nothing follows)."""
    query = select(Account)
    if after is not None:
        if session.get(Account, after) is None:
            raise InvalidParameter(f"after: no account {after} to page from")
        query = query.where(Account.account_number > after)
    page, last = first_page(session, query.order_by(Account.account_number), limit)
    return page, None if last is None else last.account_number
