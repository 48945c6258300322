"""The events feed: `event_log`, one row per apply transaction that made events true,
with its position in commit order (shared.events.feed); and `webhook_events.event_ids`,
the feed's id of each event an outbox row lists, which its deliveries carry.

A new table and a nullable column: nothing existing is rewritten. Events of transactions
before the upgrade are not in the feed; their outbox rows, if any, keep the event ids of
before (derived from the event's type and subject).

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-05
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

_UNSEQUENCED = sa.text("position IS NULL")


def upgrade() -> None:
    inspector = sa.inspect(op.get_bind())
    if "event_ids" not in {c["name"] for c in inspector.get_columns("webhook_events")}:
        op.add_column("webhook_events", sa.Column("event_ids", sa.Text()))
    if "event_log" in inspector.get_table_names():
        return
    op.create_table(
        "event_log",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True),
        sa.Column("position", sa.BigInteger()),
        sa.Column("steps", sa.Text(), nullable=False),
        sa.Column("holds", sa.Text(), nullable=False),
        sa.Column("batches", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ux_event_log_position", "event_log", ["position"], unique=True)
    op.create_index(
        "ix_event_log_unsequenced",
        "event_log",
        ["id"],
        sqlite_where=_UNSEQUENCED,
        postgresql_where=_UNSEQUENCED,
    )


def downgrade() -> None:
    op.drop_table("event_log")
    op.execute("ALTER TABLE webhook_events DROP COLUMN event_ids")
