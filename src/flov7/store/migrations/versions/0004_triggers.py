"""Inbound hooks, local schedules, and what started a run.

Adds ``hooks`` (one row per inbound webhook of a stored workflow: how it runs and
authenticates; a token hook keeps only the SHA-256 of its token), ``schedules`` (the
local engine's; Temporal keeps its own) and ``trigger`` on ``executions`` (``{"type":
"webhook", "hook_id": ...}`` for runs a hook started, ``schedule`` for a schedule's).

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from flov7.store.models import OrderedJSON, UtcDateTime

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Create ``hooks`` and ``schedules``; add ``executions.trigger`` (empty before)."""
    op.create_table(
        "hooks",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("workflow_id", sa.String(200), nullable=False, index=True),
        sa.Column("version", sa.Integer(), nullable=True),
        sa.Column("mode", sa.String(16), nullable=False),
        sa.Column("auth", sa.String(16), nullable=False),
        sa.Column("token_hash", sa.String(64), nullable=True),
        sa.Column("timeout_seconds", sa.Float(), nullable=True),
        sa.Column("rate_per_minute", sa.Integer(), nullable=True),
        sa.Column("created_at", UtcDateTime(), nullable=False),
    )
    op.create_table(
        "schedules",
        sa.Column("id", sa.String(200), primary_key=True),
        sa.Column("workflow_id", sa.String(200), nullable=False, index=True),
        sa.Column("fields", OrderedJSON, nullable=False),
        sa.Column("target", OrderedJSON, nullable=False),
        sa.Column("paused", sa.Boolean(), nullable=False),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.Column("last_fire_at", UtcDateTime(), nullable=True),
        sa.Column("fired", sa.Integer(), nullable=False),
    )
    with op.batch_alter_table("executions") as batch:
        batch.add_column(sa.Column("trigger", OrderedJSON, nullable=True))


def downgrade() -> None:
    """Drop them."""
    with op.batch_alter_table("executions") as batch:
        batch.drop_column("trigger")
    op.drop_table("schedules")
    op.drop_table("hooks")
