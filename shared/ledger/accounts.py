"""Account rules: numbers, opening an account, reading balances and history."""

from __future__ import annotations

import re
import secrets

from sqlalchemy import select
from sqlalchemy.orm import Session

from shared.errors import AccountExists, AccountNotFound, InvalidAccountNumber, InvalidParameter
from shared.ledger import chain
from shared.store.models import ACTIVE, OPENING, Account, LedgerEntry, utcnow
from shared.store.paging import first_page

_ACCOUNT_NUMBER = re.compile(r"[0-9]{1,34}")  # used with fullmatch: "$" would allow a newline
MAX_HISTORY_PAGE = 500
# Entries a filtered history read walks a round trip.
FILTER_WINDOW = 1000


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
        entry = LedgerEntry(
            account_number=account_number,
            type=OPENING,
            amount=opening_cents,
            balance_after=opening_cents,
            created_at=now,
            seq=1,
        )
        session.add(entry)
        session.flush()
        account.last_entry_id, account.entry_count = entry.id, 1
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
    `reference`, when given), and the cursor for the next page.

    Walks the account's chain (shared.ledger.chain) from its newest entry, or from the last
    one before the cursor, a window at a time; a filter that matches few entries reads as
    many as the account has, as an index by account would have too.
    """
    account = get_account(session, account_number)
    if before is None:
        start = account.last_entry_id
    else:
        below = chain.last_where(session, account_number, lambda link: link.id < before)
        start = None if below is None else below.id
    wanted = limit + 1  # one more than the page: a next page only when something follows
    window = wanted if entry_type is None and reference is None else max(wanted, FILTER_WINDOW)
    found: list[int] = []
    # Never more steps than the account has entries: a damaged chain (which the audit
    # reports) ends a read instead of looping.
    steps_left = account.entry_count or 0
    while start is not None and len(found) < wanted and steps_left > 0:
        links = chain.walk(session, start, min(window, steps_left))
        found.extend(
            link.id
            for link in links
            if (entry_type is None or link.type == entry_type)
            and (reference is None or link.reference == reference)
        )
        steps_left -= window
        start = links[-1].prev_id if links else None
    found = found[:wanted]
    rows = session.scalars(select(LedgerEntry).where(LedgerEntry.id.in_(found)))
    page = sorted(rows, key=lambda entry: entry.id, reverse=True)[:limit]
    return page, page[-1].id if len(found) > limit else None


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
