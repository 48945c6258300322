"""Reading holds; placing and ending them are jobs (see shared.rules)."""

from __future__ import annotations

from sqlalchemy.orm import Session

from shared.errors import HoldNotFound
from shared.models import Hold


def get_hold(session: Session, hold_id: str) -> Hold:
    hold = session.get(Hold, hold_id) if len(hold_id) <= 36 else None
    if hold is None:
        raise HoldNotFound(f"hold {hold_id} not found")
    return hold
