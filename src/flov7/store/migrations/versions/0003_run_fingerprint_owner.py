"""Run fingerprints and owners.

Adds ``fingerprint`` (digest of the document and input a run executes, so that a
reused execution id with another document is refused rather than joined) and
``owner`` (``host:pid`` of the process running a local run, so that a second process
on the same store does not interrupt the first one's runs) to ``executions``.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Add the two columns (empty for runs recorded before)."""
    with op.batch_alter_table("executions") as batch:
        batch.add_column(sa.Column("fingerprint", sa.String(64), nullable=True))
        batch.add_column(sa.Column("owner", sa.String(255), nullable=True))


def downgrade() -> None:
    """Drop them."""
    with op.batch_alter_table("executions") as batch:
        batch.drop_column("owner")
        batch.drop_column("fingerprint")
