"""Rerun links.

Adds ``rerun_of`` (the execution id of the run a rerun reruns, indexed: a run lists its
reruns) to ``executions``.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Add the column (empty for runs recorded before) and its index."""
    with op.batch_alter_table("executions") as batch:
        batch.add_column(sa.Column("rerun_of", sa.String(1000), nullable=True))
        batch.create_index("ix_executions_rerun_of", ["rerun_of"])


def downgrade() -> None:
    """Drop them."""
    with op.batch_alter_table("executions") as batch:
        batch.drop_index("ix_executions_rerun_of")
        batch.drop_column("rerun_of")
