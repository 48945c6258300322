"""An apply transaction reads the due holds only when its look saw one due: a read (and on
PostgreSQL a round trip) fewer for nearly every apply, with holds still expired on time."""

from __future__ import annotations

import time

import pytest
from sqlalchemy import select

from shared.accepting.operations import Operation, new_id, record_operation
from shared.ledger import applying
from shared.ledger.accounts import open_account
from shared.ledger.applying import apply_pending
from shared.store.db import Database
from shared.store.models import Account, Hold

NUMBER = "4400"


def _apply(database: Database, type_: str, cents: int, details: str | None = None) -> None:
    with database.writing() as session:
        record_operation(session, Operation(new_id(), NUMBER, type_, cents, details=details), 1)
    with database.writing() as session:
        assert apply_pending(session, [0], 100, "test").count == 1


def test_the_due_holds_are_read_only_when_the_look_saw_one_due(
    database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    reads: list[dict] = []
    read_due_holds = applying._DUE_HOLDS.execute

    def noted(session, parameters):  # type: ignore[no-untyped-def]
        reads.append(parameters)
        return read_due_holds(session, parameters)

    monkeypatch.setattr(applying._DUE_HOLDS, "execute", noted)
    with database.writing() as session:
        open_account(session, NUMBER, 5_000)
    _apply(database, "hold", 3_000, '{"expires_in": 1}')
    _apply(database, "deposit", 100)
    assert reads == []  # a hold was placed, none was due
    time.sleep(1.2)
    _apply(database, "deposit", 100)
    assert len(reads) == 1
    with database.read.begin() as session:
        assert session.scalars(select(Hold.status)).all() == ["expired"]
        account = session.get_one(Account, NUMBER)
        assert (account.balance, account.held) == (5_200, 0)
