"""Atomic batches: `batches.atomic`, true for a batch whose operations are applied all in
one transaction or not at all (shared.ledger.atomic).

A column with a constant default: nothing existing is rewritten, and every batch accepted
before the upgrade is a plain one. An atomic batch's parts are marked in the rows they
already have (`jobs.target_id` names the batch, see shared.accepting.batch_queue), so the
queue's reads need no new column. An applier of the previous release would take such a
part for a plain one and apply it operation by operation: stop the workers of the previous
release before the upgrade (as for revision 0009), and do not go back past this revision
with atomic batches queued.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    if "atomic" not in {c["name"] for c in sa.inspect(op.get_bind()).get_columns("batches")}:
        op.add_column(
            "batches",
            sa.Column("atomic", sa.Boolean(), nullable=False, server_default=sa.false()),
        )


def downgrade() -> None:
    op.execute("ALTER TABLE batches DROP COLUMN atomic")
