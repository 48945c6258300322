"""A batch operation's outcome is kept with its part: no job row per operation.

Applying a run of a part's operations writes one `batch_outcomes` row (the outcomes as a
compact list) instead of a job row per operation, and a part whose last operation is
applied is kept, marked succeeded, instead of deleted: the part holds what the operations
were, the outcome rows what became of them. Operations applied before this revision keep
their job rows, which are read first; a part queued at the upgrade goes on from its cursor.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # A table already there is left alone: a database whose revision record was lost
    # replays every revision.
    if "batch_outcomes" in sa.inspect(op.get_bind()).get_table_names():
        return
    op.create_table(
        "batch_outcomes",
        sa.Column("part_id", sa.BigInteger(), nullable=False),
        sa.Column("first_index", sa.Integer(), nullable=False),
        sa.Column("outcomes", sa.Text(), nullable=False),
        sa.Column("applied_by", sa.String(128)),
        sa.Column("completed_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("part_id", "first_index"),
    )


def downgrade() -> None:
    # The previous release reads applied operations from their job rows only.
    kept = op.get_bind().scalar(sa.text("SELECT COUNT(*) FROM batch_outcomes"))
    if kept:
        raise RuntimeError(
            f"{kept} batch outcome row(s) exist: the previous release cannot read the "
            "operations they hold"
        )
    op.drop_table("batch_outcomes")
    op.execute(sa.text("DELETE FROM jobs WHERE type = 'batch_part' AND status <> 'queued'"))
