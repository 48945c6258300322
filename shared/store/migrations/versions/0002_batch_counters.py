"""Batches keep their failed count and completion time, for batches written once.

A batch's operations now wait in one queued row per partition (shared.accepting.batch_queue) and
become job rows only when applied, so its progress can no longer be counted from its jobs
alone; the apply transactions count it in the batch row instead. Batches accepted before
keep null here and are still counted from their jobs, which they all have.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Adding a nullable column rewrites nothing on either database (no batch mode needed).
    # A column already there is left alone: a database whose revision record was lost is
    # brought to head by replaying every revision.
    present = {c["name"] for c in sa.inspect(op.get_bind()).get_columns("batches")}
    for column in (
        sa.Column("failed", sa.Integer()),
        sa.Column("completed_at", sa.DateTime(timezone=True)),
    ):
        if column.name not in present:
            op.add_column("batches", column)


def downgrade() -> None:
    # The previous release cannot apply a batch part: refuse while any is queued.
    parts = op.get_bind().scalar(sa.text("SELECT COUNT(*) FROM jobs WHERE type = 'batch_part'"))
    if parts:
        raise RuntimeError(
            f"{parts} batch part(s) are still queued: let the workers apply them before "
            "downgrading (the previous release cannot apply them)"
        )
    with op.batch_alter_table("batches") as batch:
        batch.drop_column("completed_at")
        batch.drop_column("failed")
