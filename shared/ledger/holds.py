"""Reading holds; placing and ending them are jobs (see shared.ledger.rules)."""

from __future__ import annotations

from typing import NamedTuple

from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session

from shared.errors import HoldNotFound
from shared.store.models import Hold


class HeldAmount(NamedTuple):
    account_number: str
    amount: int


def get_hold(session: Session, hold_id: str) -> Hold:
    hold = session.get(Hold, hold_id) if len(hold_id) <= 36 else None
    if hold is None:
        raise HoldNotFound(f"hold {hold_id} not found")
    return hold


def held_amount(session: Session, hold_id: str) -> HeldAmount:
    """A hold's account and amount: what a capture or void needs to be accepted (a plain
    read, cheaper than loading the whole row on the synchronous path)."""
    row = session.execute(_HELD_AMOUNT, {"hold_id": hold_id}).first()
    if row is None:
        raise HoldNotFound(f"hold {hold_id} not found")
    return HeldAmount(*row)


_HELD_AMOUNT = select(Hold.__table__.c.account_number, Hold.__table__.c.amount).where(
    Hold.__table__.c.hold_id == bindparam("hold_id")
)
