"""Local run records: how a run of the local runtime ended.

Adds ``finished_at``, ``error``, ``result`` and ``events`` to ``executions`` (empty for
Temporal runs, which Temporal keeps), and an index for listing one engine's runs
newest first.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from flov7.store.models import UtcDateTime

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

_COLUMNS = ("finished_at", "error", "result", "events")


def upgrade() -> None:
    """Add the outcome columns and the listing index."""
    with op.batch_alter_table("executions") as batch:
        batch.add_column(sa.Column("finished_at", UtcDateTime(), nullable=True))
        # JSON, not JSONB: JSONB would reorder the node results' keys.
        batch.add_column(sa.Column("error", sa.JSON(), nullable=True))
        batch.add_column(sa.Column("result", sa.JSON(), nullable=True))
        batch.add_column(sa.Column("events", sa.JSON(), nullable=True))
    op.create_index("ix_executions_engine_created_at", "executions", ["engine", "created_at"])


def downgrade() -> None:
    """Drop them (local runs' outcomes go with them)."""
    op.drop_index("ix_executions_engine_created_at", table_name="executions")
    with op.batch_alter_table("executions") as batch:
        for column in _COLUMNS:
            batch.drop_column(column)
