"""Inbound hooks in the store: :class:`HookRecord` and :class:`HookRepository`."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import select

from flov7.store.database import Database
from flov7.store.models import HookRow

__all__ = ["HookRecord", "HookRepository"]


@dataclass(frozen=True, slots=True)
class HookRecord:
    """One inbound hook (never its secret)."""

    id: str
    workflow_id: str
    version: int | None
    mode: str
    auth: str
    token_hash: str | None
    timeout_seconds: float | None
    rate_per_minute: int | None
    created_at: datetime


class HookRepository:
    """Hook rows over an open :class:`~flov7.store.database.Database`."""

    def __init__(self, database: Database) -> None:
        self.database = database

    async def add(self, record: HookRecord) -> None:
        """Store a new hook."""
        async with self.database.session() as session:
            session.add(
                HookRow(
                    id=record.id,
                    workflow_id=record.workflow_id,
                    version=record.version,
                    mode=record.mode,
                    auth=record.auth,
                    token_hash=record.token_hash,
                    timeout_seconds=record.timeout_seconds,
                    rate_per_minute=record.rate_per_minute,
                    created_at=record.created_at or datetime.now(UTC),
                )
            )

    async def get(self, hook_id: str) -> HookRecord | None:
        """The hook, or None."""
        async with self.database.reading() as session:
            row = await session.get(HookRow, hook_id)
            return _record(row) if row is not None else None

    async def list_for(self, workflow_id: str) -> list[HookRecord]:
        """The workflow's hooks, oldest first."""
        query = (
            select(HookRow)
            .where(HookRow.workflow_id == workflow_id)
            .order_by(HookRow.created_at, HookRow.id)
        )
        async with self.database.reading() as session:
            return [_record(row) for row in (await session.scalars(query)).all()]

    async def delete(self, workflow_id: str, hook_id: str) -> bool:
        """Delete one of the workflow's hooks; False when it has none of that id."""
        async with self.database.session() as session:
            row = await session.get(HookRow, hook_id)
            if row is None or row.workflow_id != workflow_id:
                return False
            await session.delete(row)
            return True


def _record(row: HookRow) -> HookRecord:
    return HookRecord(
        id=row.id,
        workflow_id=row.workflow_id,
        version=row.version,
        mode=row.mode,
        auth=row.auth,
        token_hash=row.token_hash,
        timeout_seconds=row.timeout_seconds,
        rate_per_minute=row.rate_per_minute,
        created_at=row.created_at,
    )
