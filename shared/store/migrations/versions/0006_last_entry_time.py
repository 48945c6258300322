"""Each account remembers the time of its last ledger entry.

An account's entries must have non-decreasing `created_at` in `transaction_id` order (the
contract's Part three: a balance at a moment is then the `balance_after` of one entry, found
through the ledger's index by account). The applier stamps a chunk's entries with a time
no earlier than the last entry of every account it touches, read here under the accounts'
locks: a worker whose clock runs behind another's, or a clock stepped back, cannot write an
entry dated before its account's previous one. The upgrade sets it to the latest date among
each account's entries, so the first chunk after it is ordered after them too.

Entries written before this revision are in date order on SQLite (one writer dated them in
the order of its write lock, on one clock). On PostgreSQL the applier took a chunk's time
before locking its accounts, so two workers racing on one account (a transfer between
partitions) may have left its entries a few milliseconds out of order: a balance at a
moment inside such a pair can then be the balance of either side of it.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # A nullable column rewrites nothing on either database; one already there (a database
    # whose revision record was lost, brought to head again) is left alone.
    present = {c["name"] for c in sa.inspect(op.get_bind()).get_columns("accounts")}
    if "last_entry_at" not in present:
        op.add_column("accounts", sa.Column("last_entry_at", sa.DateTime(timezone=True)))
    # Both databases store the two columns alike (text of one width on SQLite), so the
    # latest entry's value is copied as it is. One pass over the ledger, by its index.
    op.execute(
        "UPDATE accounts SET last_entry_at = (SELECT MAX(t.created_at) FROM transactions t "
        "WHERE t.account_number = accounts.account_number) WHERE last_entry_at IS NULL"
    )


def downgrade() -> None:
    # Not batch mode: on SQLite that copies the table, which the ledger's foreign key to
    # it refuses. Both databases drop a plain column in place (SQLite since 3.35).
    op.execute("ALTER TABLE accounts DROP COLUMN last_entry_at")
