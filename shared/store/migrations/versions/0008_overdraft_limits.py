"""Overdraft limits: how far below zero an account's debits may take it, and, on each ledger
entry and hold that left its account's available balance below zero, the limit that
allowed it.

`accounts.overdraft_limit` is null on accounts of before (read as 0: no overdraft).
`transactions.overdraft_limit` and `holds.overdraft_limit` are set only where the available
balance went below zero (the applier writes only the columns a row has, so other entries
cost nothing more): the audit checks every debit against the limit of its own moment, which
a later change of the account's limit does not rewrite.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Nullable columns rewrite nothing on either database; one already there (a database
    # whose revision record was lost, brought to head again) is left alone.
    for table in ("accounts", "transactions", "holds"):
        present = {c["name"] for c in sa.inspect(op.get_bind()).get_columns(table)}
        if "overdraft_limit" not in present:
            op.add_column(table, sa.Column("overdraft_limit", sa.BigInteger()))


def downgrade() -> None:
    # In place (SQLite since 3.35): batch mode would copy the tables, which their foreign
    # keys refuse.
    op.execute("ALTER TABLE holds DROP COLUMN overdraft_limit")
    op.execute("ALTER TABLE transactions DROP COLUMN overdraft_limit")
    op.execute("ALTER TABLE accounts DROP COLUMN overdraft_limit")
