"""The index of jobs by batch holds parts and the operations of earlier batches only.

An operation of a batch written once has a UUIDv8 job id made of its batch's id and its
index (shared.accepting.batch_queue), so the unique index of job ids already holds a batch's
operations in index order, and its results are read as a range of it. An entry in
`ix_jobs_batch` for each of them (and a null entry for every single job) cost each apply
an index insert for nothing: about 7% of a batch's apply on SQLite. The parts, and the
operations of batches accepted before revision 0002 (random ids), keep theirs.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

IN_BATCH_INDEX = sa.text("batch_id IS NOT NULL AND substr(job_id, 15, 1) <> '8'")


def upgrade() -> None:
    # if_exists: a database whose revision record was lost replays every revision.
    op.drop_index("ix_jobs_batch", table_name="jobs", if_exists=True)
    op.create_index(
        "ix_jobs_batch",
        "jobs",
        ["batch_id", "batch_index"],
        sqlite_where=IN_BATCH_INDEX,
        postgresql_where=IN_BATCH_INDEX,
    )


def downgrade() -> None:
    op.drop_index("ix_jobs_batch", table_name="jobs")
    op.create_index("ix_jobs_batch", "jobs", ["batch_id", "batch_index"])
