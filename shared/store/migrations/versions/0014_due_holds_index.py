"""Holds due to expire, found by their time alone: `ix_holds_due`.

An apply transaction used to read the due holds of every partition its worker owns, one
index range per partition (`ix_holds_active`: partition, then time). Its cost followed the
partitions held, not the holds due. It now asks which partitions have anything to do at
all, and for holds that is the active ones whose time has come, across every partition:
an index on the expiry time of active holds alone answers that in a range that is empty
when nothing is due. `ix_holds_active` stays for the expiry of a busy partition's holds.
Nothing is rewritten; PostgreSQL holds back writes to `holds` while it builds the index
(brief unless there are millions of holds).

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None

IS_ACTIVE = sa.text("status = 'active'")


def upgrade() -> None:
    op.create_index(
        "ix_holds_due",
        "holds",
        ["expires_at"],
        sqlite_where=IS_ACTIVE,
        postgresql_where=IS_ACTIVE,
        if_not_exists=True,
    )


def downgrade() -> None:
    op.drop_index("ix_holds_due", table_name="holds")
