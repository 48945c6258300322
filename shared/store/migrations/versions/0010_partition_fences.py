"""Partition fences: each partition's `epoch`, raised by every worker that takes the
partition, and its `owner`; a worker's apply transaction applies a partition only while its
epoch is the one the worker took (shared.ledger.fences).

Both columns are added in place on either database (a constant default rewrites nothing);
existing partitions start at epoch 0, which no worker holds: the first worker to take one
after the upgrade raises it to 1. An applier of the previous release passes no fence and is
not stopped by one, so stop it before the upgrade, as for revision 0009.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-05
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    present = {c["name"] for c in sa.inspect(op.get_bind()).get_columns("partitions")}
    if "epoch" not in present:
        op.add_column(
            "partitions",
            sa.Column("epoch", sa.BigInteger(), nullable=False, server_default=sa.text("0")),
        )
    if "owner" not in present:
        op.add_column("partitions", sa.Column("owner", sa.String(128)))


def downgrade() -> None:
    op.execute("ALTER TABLE partitions DROP COLUMN owner")
    op.execute("ALTER TABLE partitions DROP COLUMN epoch")
