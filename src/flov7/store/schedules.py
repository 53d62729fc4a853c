"""The local engine's schedules in the store (Temporal keeps its own)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select

from flov7.store.database import Database
from flov7.store.models import ScheduleRow

__all__ = ["ScheduleRecord", "ScheduleRepository"]


@dataclass(frozen=True, slots=True)
class ScheduleRecord:
    """One local schedule."""

    id: str
    workflow_id: str
    fields: dict[str, Any]
    target: dict[str, Any]
    paused: bool
    created_at: datetime
    last_fire_at: datetime | None = None
    fired: int = 0


class ScheduleRepository:
    """Schedule rows over an open :class:`~flov7.store.database.Database`."""

    def __init__(self, database: Database) -> None:
        self.database = database

    async def add(self, record: ScheduleRecord) -> bool:
        """Store a new schedule; False when the id is taken."""
        async with self.database.session() as session:
            if await session.get(ScheduleRow, record.id) is not None:
                return False
            session.add(
                ScheduleRow(
                    id=record.id,
                    workflow_id=record.workflow_id,
                    fields=record.fields,
                    target=record.target,
                    paused=record.paused,
                    created_at=record.created_at,
                    last_fire_at=record.last_fire_at,
                    fired=record.fired,
                )
            )
            return True

    async def get(self, schedule_id: str) -> ScheduleRecord | None:
        """The schedule, or None."""
        async with self.database.reading() as session:
            row = await session.get(ScheduleRow, schedule_id)
            return _record(row) if row is not None else None

    async def all(self) -> list[ScheduleRecord]:
        """Every schedule, by id."""
        async with self.database.reading() as session:
            rows = (await session.scalars(select(ScheduleRow).order_by(ScheduleRow.id))).all()
            return [_record(row) for row in rows]

    async def page(self, after: str | None, limit: int) -> list[ScheduleRecord]:
        """Schedules by id, after ``after``."""
        query = select(ScheduleRow).order_by(ScheduleRow.id).limit(limit)
        if after is not None:
            query = query.where(ScheduleRow.id > after)
        async with self.database.reading() as session:
            return [_record(row) for row in (await session.scalars(query)).all()]

    async def save(self, record: ScheduleRecord) -> None:
        """Write back fields, target, paused state and the fire count."""
        async with self.database.session() as session:
            row = await session.get(ScheduleRow, record.id)
            if row is None:
                return
            row.fields = record.fields
            row.target = record.target
            row.paused = record.paused
            row.last_fire_at = record.last_fire_at
            row.fired = record.fired

    async def delete(self, schedule_id: str) -> bool:
        """Delete it; False when there was none."""
        async with self.database.session() as session:
            row = await session.get(ScheduleRow, schedule_id)
            if row is None:
                return False
            await session.delete(row)
            return True


def _record(row: ScheduleRow) -> ScheduleRecord:
    return ScheduleRecord(
        id=row.id,
        workflow_id=row.workflow_id,
        fields=dict(row.fields),
        target=dict(row.target),
        paused=row.paused,
        created_at=row.created_at,
        last_fire_at=row.last_fire_at,
        fired=row.fired,
    )
