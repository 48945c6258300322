"""Each account remembers the time of its last ledger entry.

An account's entries must have non-decreasing `created_at` in `transaction_id` order (the
contract's Part three: a balance at a moment is then the `balance_after` of one entry, found
through the ledger's index by account). The applier stamps a chunk's entries with a time
no earlier than the last entry of every account it touches, read here under the accounts'
locks: a worker whose clock runs behind another's, or a clock stepped back, cannot write an
entry dated before its account's previous one. Null for an account untouched since the
upgrade: its entries were all written by one clock in the order of the write lock.

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


def downgrade() -> None:
    # Not batch mode: on SQLite that copies the table, which the ledger's foreign key to
    # it refuses. Both databases drop a plain column in place (SQLite since 3.35).
    op.execute("ALTER TABLE accounts DROP COLUMN last_entry_at")
