"""Batches listed by the API key that submitted them (GET /batches for a key that is not
admin), newest first, through an index instead of a read of every batch.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    present = {index["name"] for index in sa.inspect(op.get_bind()).get_indexes("batches")}
    if "ix_batches_submitted_by" not in present:
        op.create_index("ix_batches_submitted_by", "batches", ["submitted_by", "batch_id"])


def downgrade() -> None:
    op.drop_index("ix_batches_submitted_by", table_name="batches")
