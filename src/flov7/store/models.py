"""The service's tables (SQLAlchemy 2 declarative models).

The schema is owned by the Alembic migrations in :mod:`flov7.store.migrations`; these
models must match them (``tests/store`` compares the two). Change both together: edit
the model, then add a migration.

Only :mod:`flov7.store.repository` uses these classes; the rest of Flov7 sees the
plain records the repository returns.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator

# JSONB on PostgreSQL (binary, compact), JSON text elsewhere.
DocumentJSON = JSON().with_variant(JSONB(), "postgresql")
# JSON text everywhere: PostgreSQL's JSONB reorders object keys, and a run's node
# results must come back in document order (the order people read a workflow in).
# None is SQL NULL, not the JSON ``null``: "no result" reads the same on every backend.
OrderedJSON = JSON(none_as_null=True)


class UtcDateTime(TypeDecorator[datetime]):
    """A timezone-aware UTC timestamp on every backend.

    SQLite has no timezone-aware type and hands back naive datetimes; this puts UTC
    back, so that records compare and serialise the same on SQLite and PostgreSQL.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("UtcDateTime needs a timezone-aware datetime")
        return value.astimezone(UTC)

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        assert isinstance(value, datetime)
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    """Declarative base of the store's models."""


class WorkflowRow(Base):
    """A stored workflow: its identity and which version is current."""

    __tablename__ = "workflows"

    id: Mapped[str] = mapped_column(String(128), primary_key=True)
    name: Mapped[str] = mapped_column(String(200), default="")
    description: Mapped[str] = mapped_column(Text, default="")
    current_version: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime())
    deleted: Mapped[bool] = mapped_column(Boolean, default=False)
    """Soft delete: versions stay, so that past runs keep pointing at what they ran."""


class WorkflowVersionRow(Base):
    """One immutable version of a stored workflow's document."""

    __tablename__ = "workflow_versions"

    workflow_id: Mapped[str] = mapped_column(
        String(128), ForeignKey("workflows.id", ondelete="CASCADE"), primary_key=True
    )
    version: Mapped[int] = mapped_column(Integer, primary_key=True)
    document: Mapped[dict[str, Any]] = mapped_column(DocumentJSON)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())


class ExecutionRow(Base):
    """A run started through the API: what it ran (workflow, version) and where.

    Runs of the local runtime (``engine = "local"``) have no engine to ask afterwards:
    their record is the only trace, so it also keeps how they ended (``finished_at``,
    ``error``, the ``result`` document and the runtime's attempt ``events``). Temporal
    runs leave those empty: Temporal keeps them.
    """

    __tablename__ = "executions"
    __table_args__ = (Index("ix_executions_engine_created_at", "engine", "created_at"),)

    execution_id: Mapped[str] = mapped_column(String(255), primary_key=True)
    workflow_id: Mapped[str] = mapped_column(String(200), index=True)
    """The stored workflow's id, or the ad-hoc document's ``id`` (not a foreign key)."""
    version: Mapped[int | None] = mapped_column(Integer, nullable=True)
    """The stored workflow version; None for an ad-hoc document."""
    engine: Mapped[str] = mapped_column(String(32))
    run_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    status: Mapped[str | None] = mapped_column(String(32), nullable=True)
    """Last status seen: a cache for Temporal runs, the truth for local runs."""
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), index=True)
    """When the run started (local runs) or was recorded (Temporal runs)."""
    finished_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), nullable=True)
    error: Mapped[dict[str, Any] | None] = mapped_column(OrderedJSON, nullable=True)
    # Deferred: a status or a listing needs neither, and a result can weigh 1.5 MB.
    result: Mapped[dict[str, Any] | None] = mapped_column(OrderedJSON, nullable=True, deferred=True)
    events: Mapped[list[dict[str, Any]] | None] = mapped_column(
        OrderedJSON, nullable=True, deferred=True
    )
    fingerprint: Mapped[str | None] = mapped_column(String(64), nullable=True)
    """Digest of the document and input (a reused execution id is checked against it)."""
    owner: Mapped[str | None] = mapped_column(String(255), nullable=True)
    """``host:pid`` of the process running a local run: its runs are only interrupted
    by a later start once that process is gone."""
    trigger: Mapped[dict[str, Any] | None] = mapped_column(OrderedJSON, nullable=True)
    """What started the run when not a caller (``{"type": "webhook", "hook_id"}``)."""
    rerun_of: Mapped[str | None] = mapped_column(String(1000), nullable=True, index=True)
    """For a rerun: the execution id of the run it reruns."""


class ApiKeyRow(Base):
    """An API key made with ``flov7 api-key create``: only its SHA-256 is kept."""

    __tablename__ = "api_keys"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    last_used_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), nullable=True)


class HookRow(Base):
    """An inbound webhook of a stored workflow (``POST /hooks/{id}`` starts a run).

    A ``token`` hook keeps the SHA-256 of its token only; an ``hmac`` hook keeps no
    secret at all (its secret is derived from the service's signing key and the id).
    """

    __tablename__ = "hooks"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    workflow_id: Mapped[str] = mapped_column(String(200), index=True)
    version: Mapped[int | None] = mapped_column(Integer, nullable=True)
    """None: the workflow's current version when a request comes."""
    mode: Mapped[str] = mapped_column(String(16))
    auth: Mapped[str] = mapped_column(String(16))
    token_hash: Mapped[str | None] = mapped_column(String(64), nullable=True)
    timeout_seconds: Mapped[float | None] = mapped_column(Float, nullable=True)
    rate_per_minute: Mapped[int | None] = mapped_column(Integer, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())


class ScheduleRow(Base):
    """A schedule of the local engine (Temporal keeps its own: Temporal Schedules)."""

    __tablename__ = "schedules"

    id: Mapped[str] = mapped_column(String(200), primary_key=True)
    workflow_id: Mapped[str] = mapped_column(String(200), index=True)
    fields: Mapped[dict[str, Any]] = mapped_column(OrderedJSON)
    """cron, interval_seconds, timezone, input, overlap, catchup and jitter, note."""
    target: Mapped[dict[str, Any]] = mapped_column(OrderedJSON)
    """The document it runs, with its workflow id and versions."""
    paused: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    last_fire_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), nullable=True)
    fired: Mapped[int] = mapped_column(Integer, default=0)
