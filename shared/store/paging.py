"""One page of an ordered list, and where the next begins."""

from __future__ import annotations

from typing import Any, TypeVar

from sqlalchemy import Select
from sqlalchemy.orm import Session

T = TypeVar("T")


def first_page(session: Session, query: Select[tuple[T]], limit: int) -> tuple[list[T], T | None]:
    """The first `limit` rows of `query` (in its order) and, when more follow, the last of
    them, which the next page's cursor names; None when nothing follows. One row more than
    the page is read, so the cursor is given only when there is a next page."""
    rows: list[Any] = list(session.scalars(query.limit(limit + 1)))
    page = rows[:limit]
    return page, page[-1] if len(rows) > limit else None
