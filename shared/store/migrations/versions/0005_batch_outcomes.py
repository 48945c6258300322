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


# A worker of the previous release deletes a part it finishes; from this revision on a part
# holds the operations its outcome rows describe, so such a delete is refused (its
# transaction rolls back and the work waits for this release's workers). Nothing of this
# release deletes a job row.
_GUARD_MESSAGE = "a batch part with outcome rows is kept: stop the previous release's workers"
_SQLITE_GUARD = f"""
CREATE TRIGGER IF NOT EXISTS keep_batch_parts BEFORE DELETE ON jobs
WHEN OLD.type = 'batch_part'
 AND EXISTS (SELECT 1 FROM batch_outcomes WHERE batch_outcomes.part_id = OLD.id)
BEGIN SELECT RAISE(ABORT, '{_GUARD_MESSAGE.replace("'", "''")}'); END
"""
_POSTGRESQL_GUARD = (
    f"""
CREATE OR REPLACE FUNCTION keep_batch_parts() RETURNS trigger AS $$
BEGIN
  IF OLD.type = 'batch_part'
     AND EXISTS (SELECT 1 FROM batch_outcomes WHERE batch_outcomes.part_id = OLD.id) THEN
    RAISE EXCEPTION '{_GUARD_MESSAGE.replace("'", "''")}';
  END IF;
  RETURN OLD;
END $$ LANGUAGE plpgsql
""",
    "DROP TRIGGER IF EXISTS keep_batch_parts ON jobs",
    "CREATE TRIGGER keep_batch_parts BEFORE DELETE ON jobs FOR EACH ROW "
    "EXECUTE FUNCTION keep_batch_parts()",
)


def upgrade() -> None:
    bind = op.get_bind()
    # A table already there is left alone: a database whose revision record was lost
    # replays every revision.
    if "batch_outcomes" not in sa.inspect(bind).get_table_names():
        op.create_table(
            "batch_outcomes",
            sa.Column("part_id", sa.BigInteger(), nullable=False),
            sa.Column("first_index", sa.Integer(), nullable=False),
            sa.Column("outcomes", sa.Text(), nullable=False),
            sa.Column("applied_by", sa.String(128)),
            sa.Column("completed_at", sa.DateTime(timezone=True), nullable=False),
            sa.PrimaryKeyConstraint("part_id", "first_index"),
        )
    guard = _POSTGRESQL_GUARD if bind.dialect.name == "postgresql" else (_SQLITE_GUARD,)
    for statement in guard:
        op.execute(sa.text(statement))


def downgrade() -> None:
    # The previous release reads applied operations from their job rows only.
    kept = op.get_bind().scalar(sa.text("SELECT COUNT(*) FROM batch_outcomes"))
    if kept:
        raise RuntimeError(
            f"{kept} batch outcome row(s) exist: the previous release cannot read the "
            "operations they hold"
        )
    if op.get_bind().dialect.name == "postgresql":
        op.execute(sa.text("DROP TRIGGER IF EXISTS keep_batch_parts ON jobs"))
        op.execute(sa.text("DROP FUNCTION IF EXISTS keep_batch_parts()"))
    else:
        op.execute(sa.text("DROP TRIGGER IF EXISTS keep_batch_parts"))
    op.drop_table("batch_outcomes")
    op.execute(sa.text("DELETE FROM jobs WHERE type = 'batch_part' AND status <> 'queued'"))
