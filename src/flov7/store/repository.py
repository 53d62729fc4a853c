"""The repository: everything the API and the CLI read from or write to the store.

Routes never touch SQLAlchemy: they call these methods and get plain frozen records
back (no lazy loading, no session to keep open). Each method is one short transaction
of its own, so a request that waits 60 s for a run holds no database connection.

Stored workflows are versioned: creating one makes version 1, every update appends
version ``current + 1``; versions are never modified, so a run can always say exactly
which document it executed. Deleting a workflow hides it (soft delete) and keeps its
versions for the runs that point at them; creating it again continues its numbering.

Runs have one record each. For Temporal runs it says what they executed (Temporal keeps
the rest); for local runs, which no engine remembers, it also keeps how they ended
(:meth:`Repository.finish_execution`) and is marked ``interrupted`` when their process
died (:meth:`Repository.interrupt_executions`).
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, cast

from sqlalchemy import (
    Executable,
    Table,
    and_,
    bindparam,
    exists,
    or_,
    select,
    update,
)
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import undefer

from flov7.errors import Flov7Error
from flov7.store.database import Database, StoreError
from flov7.store.models import ApiKeyRow, ExecutionRow, WorkflowRow, WorkflowVersionRow

__all__ = [
    "ApiKeyRecord",
    "ExecutionRecord",
    "Repository",
    "RepositoryError",
    "StoredWorkflow",
    "VersionConflictError",
    "WorkflowExistsError",
    "WorkflowNotFoundError",
    "WorkflowVersion",
]


class RepositoryError(Flov7Error):
    """Base of the repository's errors."""


class WorkflowNotFoundError(RepositoryError):
    """No stored workflow (or version) has that id (deleted ones included)."""


class WorkflowExistsError(RepositoryError):
    """A stored workflow with that id already exists."""


class VersionConflictError(RepositoryError):
    """The workflow's current version is not the one the update expected."""

    def __init__(self, message: str, *, current_version: int) -> None:
        super().__init__(message)
        self.current_version = current_version


@dataclass(frozen=True, slots=True)
class StoredWorkflow:
    """A stored workflow; ``document`` is its current version's (None in listings)."""

    id: str
    name: str
    description: str
    current_version: int
    created_at: datetime
    updated_at: datetime
    document: dict[str, Any] | None = None


@dataclass(frozen=True, slots=True)
class WorkflowVersion:
    """One immutable version; ``document`` is None in listings."""

    workflow_id: str
    version: int
    created_at: datetime
    document: dict[str, Any] | None = None


@dataclass(frozen=True, slots=True)
class ExecutionRecord:
    """What the store knows of a run: what it executed, on which engine.

    Local runs also keep how they ended (``finished_at``, ``error``, and, when read with
    ``with_outcome=True``, the ``result`` document and the runtime's ``events``).
    """

    execution_id: str
    workflow_id: str
    version: int | None
    engine: str
    created_at: datetime
    run_id: str | None = None
    status: str | None = None
    finished_at: datetime | None = None
    error: dict[str, Any] | None = None
    result: dict[str, Any] | None = None
    events: list[dict[str, Any]] | None = None
    fingerprint: str | None = None
    """Digest of the document and input the run executes (a reused id is checked on it)."""
    owner: str | None = None
    """``host:pid`` of the process running a local run (None for Temporal runs)."""
    trigger: dict[str, Any] | None = None
    """What started the run when not a caller (``{"type": "webhook", "hook_id"}``)."""
    rerun_of: str | None = None
    """For a rerun: the execution id of the run it reruns."""


@dataclass(frozen=True, slots=True)
class ApiKeyRecord:
    """An API key's public part (never the key, never its hash)."""

    id: str
    name: str
    created_at: datetime
    last_used_at: datetime | None = None


_OPEN_STATUSES = ("pending", "running")


def _now() -> datetime:
    return datetime.now(UTC)


class Repository:
    """Store operations over an open :class:`~flov7.store.database.Database`."""

    def __init__(self, database: Database) -> None:
        self.database = database

    # -- stored workflows ---------------------------------------------------------------

    async def create_workflow(
        self,
        workflow_id: str,
        document: dict[str, Any],
        *,
        name: str = "",
        description: str = "",
    ) -> StoredWorkflow:
        """Store a new workflow as version 1 (or the next version of a deleted one).

        Raises :class:`WorkflowExistsError` when a live workflow has that id.
        """
        now = _now()
        try:
            async with self.database.session() as session:
                row = await session.get(WorkflowRow, workflow_id, with_for_update=True)
                if row is not None and not row.deleted:
                    raise WorkflowExistsError(f"A workflow with id '{workflow_id}' exists")
                if row is None:
                    row = WorkflowRow(
                        id=workflow_id,
                        name=name,
                        description=description,
                        current_version=1,
                        created_at=now,
                        updated_at=now,
                        deleted=False,
                    )
                    session.add(row)
                else:
                    # Re-created after a delete: its old versions stay, numbering goes on.
                    row.deleted = False
                    row.name, row.description = name, description
                    row.current_version += 1
                    row.updated_at = now
                session.add(
                    WorkflowVersionRow(
                        workflow_id=workflow_id,
                        version=row.current_version,
                        document=document,
                        created_at=now,
                    )
                )
                await session.flush()
                return _workflow(row, document)
        except IntegrityError as exc:  # created concurrently by another request
            raise WorkflowExistsError(f"A workflow with id '{workflow_id}' exists") from exc

    async def get_workflow(self, workflow_id: str) -> StoredWorkflow:
        """The workflow with its current document; :class:`WorkflowNotFoundError` if none."""
        async with self.database.reading() as session:
            row = await session.get(WorkflowRow, workflow_id)
            if row is None or row.deleted:
                raise WorkflowNotFoundError(f"No workflow with id '{workflow_id}'")
            version = await session.get(WorkflowVersionRow, (workflow_id, row.current_version))
            assert version is not None, "a workflow always has its current version"
            return _workflow(row, version.document)

    async def list_workflows(
        self, *, after: str | None = None, limit: int = 50
    ) -> list[StoredWorkflow]:
        """Live workflows ordered by id, starting after ``after`` (keyset pagination)."""
        query = select(WorkflowRow).where(WorkflowRow.deleted.is_(False))
        if after is not None:
            query = query.where(WorkflowRow.id > after)
        query = query.order_by(WorkflowRow.id).limit(limit)
        async with self.database.reading() as session:
            rows = (await session.scalars(query)).all()
            return [_workflow(row, None) for row in rows]

    async def update_workflow(
        self,
        workflow_id: str,
        document: dict[str, Any],
        *,
        name: str | None = None,
        description: str | None = None,
        expected_version: int | None = None,
    ) -> StoredWorkflow:
        """Append a new version; the workflow's current version becomes it.

        ``expected_version`` (optimistic concurrency): fail with
        :class:`VersionConflictError` unless the current version is that one, so that
        two editors cannot silently overwrite each other.
        """
        now = _now()
        values: dict[str, Any] = {
            "current_version": WorkflowRow.current_version + 1,
            "updated_at": now,
        }
        if name is not None:
            values["name"] = name
        if description is not None:
            values["description"] = description
        # One UPDATE ... RETURNING: the row lock serialises concurrent updates, so two
        # of them can never both create the same version number.
        statement = (
            update(WorkflowRow)
            .where(WorkflowRow.id == workflow_id, WorkflowRow.deleted.is_(False))
            .values(**values)
            .returning(WorkflowRow)
        )
        if expected_version is not None:
            statement = statement.where(WorkflowRow.current_version == expected_version)
        async with self.database.session() as session:
            row = (await session.scalars(statement)).one_or_none()
            if row is None:
                current = await session.get(WorkflowRow, workflow_id)
                if current is None or current.deleted:
                    raise WorkflowNotFoundError(f"No workflow with id '{workflow_id}'")
                raise VersionConflictError(
                    f"Workflow '{workflow_id}' is at version {current.current_version}, "
                    f"not {expected_version}: reload it and apply the change again",
                    current_version=current.current_version,
                )
            session.add(
                WorkflowVersionRow(
                    workflow_id=workflow_id,
                    version=row.current_version,
                    document=document,
                    created_at=now,
                )
            )
            return _workflow(row, document)

    async def delete_workflow(self, workflow_id: str) -> None:
        """Hide the workflow (its versions stay for past runs)."""
        statement = (
            update(WorkflowRow)
            .where(WorkflowRow.id == workflow_id, WorkflowRow.deleted.is_(False))
            .values(deleted=True, updated_at=_now())
            .returning(WorkflowRow.id)
        )
        async with self.database.session() as session:
            if (await session.scalars(statement)).one_or_none() is None:
                raise WorkflowNotFoundError(f"No workflow with id '{workflow_id}'")

    async def get_version(self, workflow_id: str, version: int) -> WorkflowVersion:
        """One version of a live workflow, with its document."""
        async with self.database.reading() as session:
            await self._live(session, workflow_id)
            row = await session.get(WorkflowVersionRow, (workflow_id, version))
            if row is None:
                raise WorkflowNotFoundError(f"Workflow '{workflow_id}' has no version {version}")
            return _version(row, with_document=True)

    async def list_versions(
        self, workflow_id: str, *, after: int | None = None, limit: int = 50
    ) -> list[WorkflowVersion]:
        """Versions of a live workflow, oldest first, without their documents."""
        query = select(WorkflowVersionRow).where(WorkflowVersionRow.workflow_id == workflow_id)
        if after is not None:
            query = query.where(WorkflowVersionRow.version > after)
        query = query.order_by(WorkflowVersionRow.version).limit(limit)
        async with self.database.reading() as session:
            await self._live(session, workflow_id)
            rows = (await session.scalars(query)).all()
            return [_version(row, with_document=False) for row in rows]

    async def _live(self, session: AsyncSession, workflow_id: str) -> WorkflowRow:
        row = await session.get(WorkflowRow, workflow_id)
        if row is None or row.deleted:
            raise WorkflowNotFoundError(f"No workflow with id '{workflow_id}'")
        return row

    # -- executions ---------------------------------------------------------------------

    async def record_execution(self, record: ExecutionRecord) -> ExecutionRecord:
        """Record a run; if its id is already recorded, keep and return the first record.

        Runs are started idempotently, so the same execution id can be recorded twice
        (a retried request): the first record, the one that started the run, wins.
        """
        # One INSERT that skips a duplicate (ON CONFLICT DO NOTHING, on SQLite and
        # PostgreSQL alike): every API start records its run, so no read before it. A
        # Core statement built once: the ORM's per-call statement building cost more
        # than the write.
        statement = _record_statement(self.database.dialect)
        values = {
            "execution_id": record.execution_id,
            "workflow_id": record.workflow_id,
            "version": record.version,
            "engine": record.engine,
            "run_id": record.run_id,
            "status": record.status,
            "created_at": record.created_at,
            "finished_at": record.finished_at,
            "error": record.error,
            "result": record.result,
            "events": record.events,
            "fingerprint": record.fingerprint,
            "owner": record.owner,
            "trigger": record.trigger,
            "rerun_of": record.rerun_of,
        }
        if await self.database.batched_writes.execute(statement, values) == 1:
            return record
        existing = await self.get_execution(record.execution_id)
        if existing is None:  # records are never deleted: the store changed under us
            raise StoreError(f"Run {record.execution_id} was recorded, then vanished")
        return existing

    async def get_execution(
        self, execution_id: str, *, with_outcome: bool = False
    ) -> ExecutionRecord | None:
        """The record of a run, or None (runs not started through the API have none).

        ``with_outcome``: also read the ``result`` document and ``events`` (large).
        """
        query = select(ExecutionRow).where(ExecutionRow.execution_id == execution_id)
        if with_outcome:
            query = query.options(undefer(ExecutionRow.result), undefer(ExecutionRow.events))
        async with self.database.reading() as session:
            row = await session.scalar(query)
            return _execution(row, with_outcome=with_outcome) if row is not None else None

    async def finish_execution(
        self,
        execution_id: str,
        *,
        status: str,
        finished_at: datetime,
        error: dict[str, Any] | None = None,
        result: dict[str, Any] | None = None,
        events: list[dict[str, Any]] | None = None,
    ) -> bool:
        """Record how a run ended; False when no run has that id."""
        statement = (
            update(ExecutionRow)
            .where(ExecutionRow.execution_id == execution_id)
            .values(
                status=status,
                finished_at=finished_at,
                error=error,
                result=result,
                events=events,
            )
            .returning(ExecutionRow.execution_id)
        )
        async with self.database.session() as session:
            return (await session.scalars(statement)).one_or_none() is not None

    async def interrupt_executions(
        self,
        engine: str,
        *,
        error: dict[str, Any],
        when: datetime | None = None,
        owner_alive: Callable[[str | None], bool] | None = None,
    ) -> list[str]:
        """Mark the runs of ``engine`` still recorded as running ``interrupted``.

        For engines whose runs die with their process (the local runtime): called at
        start, before any run of this process exists. ``owner_alive(owner)`` keeps the
        runs of processes still running (another ``flov7`` on the same store); None
        interrupts every open run. Returns the ids marked.
        """
        open_runs = (
            select(ExecutionRow.execution_id, ExecutionRow.owner)
            .where(
                ExecutionRow.engine == engine,
                or_(ExecutionRow.status.is_(None), ExecutionRow.status.in_(_OPEN_STATUSES)),
            )
            .order_by(ExecutionRow.execution_id)
        )
        async with self.database.session() as session:
            rows = (await session.execute(open_runs)).all()
            gone = [
                execution_id
                for execution_id, owner in rows
                if owner_alive is None or not owner_alive(owner)
            ]
            if gone:
                await session.execute(
                    update(ExecutionRow)
                    .where(
                        ExecutionRow.execution_id.in_(gone),
                        or_(
                            ExecutionRow.status.is_(None),
                            ExecutionRow.status.in_(_OPEN_STATUSES),
                        ),
                    )
                    .values(status="interrupted", finished_at=when or _now(), error=error)
                )
            return gone

    async def find_executions(
        self,
        engine: str,
        *,
        workflow_id: str | None = None,
        statuses: Collection[str] | None = None,
        started_after: datetime | None = None,
        started_before: datetime | None = None,
        before: tuple[datetime, str] | None = None,
        limit: int = 50,
        id_prefix: str | None = None,
    ) -> list[ExecutionRecord]:
        """Runs of ``engine``, newest first (``created_at``, then id, descending).

        ``id_prefix``: only execution ids starting with it (a local schedule's runs).

        ``before``: the ``(created_at, execution_id)`` of the last run of the previous
        page (keyset pagination: stable while new runs start). None filters match all.
        """
        query = select(ExecutionRow).where(ExecutionRow.engine == engine)
        if workflow_id is not None:
            query = query.where(ExecutionRow.workflow_id == workflow_id)
        if id_prefix is not None:
            query = query.where(ExecutionRow.execution_id.startswith(id_prefix, autoescape=True))
        if statuses is not None:
            query = query.where(ExecutionRow.status.in_(list(statuses)))
        if started_after is not None:
            query = query.where(ExecutionRow.created_at >= started_after)
        if started_before is not None:
            query = query.where(ExecutionRow.created_at <= started_before)
        if before is not None:
            created, execution_id = before
            query = query.where(
                or_(
                    ExecutionRow.created_at < created,
                    and_(
                        ExecutionRow.created_at == created,
                        ExecutionRow.execution_id < execution_id,
                    ),
                )
            )
        query = query.order_by(
            ExecutionRow.created_at.desc(), ExecutionRow.execution_id.desc()
        ).limit(limit)
        async with self.database.reading() as session:
            return [_execution(row) for row in (await session.scalars(query)).all()]

    async def set_rerun_of(self, execution_id: str, rerun_of: str) -> None:
        """Mark a recorded run as a rerun of ``rerun_of`` (no-op for unknown ids)."""
        statement = (
            update(ExecutionRow)
            .where(ExecutionRow.execution_id == execution_id)
            .values(rerun_of=rerun_of)
        )
        async with self.database.session() as session:
            await session.execute(statement)

    async def find_reruns(self, execution_id: str, *, limit: int = 100) -> list[str]:
        """Execution ids of the recorded reruns of a run, oldest first."""
        async with self.database.reading() as session:
            found = await session.execute(_RERUNS, {"id": execution_id, "limit": limit})
            return [str(row[0]) for row in found]

    async def close_execution(self, execution_id: str, status: str) -> list[str]:
        """Cache a closed run's final ``status`` on its record (no-op for unknown ids) and
        return its reruns, oldest first: what the API's answer for a run that just closed
        needs from the store, in one transaction."""
        async with self.database.session() as session:
            await session.execute(_SET_STATUS, {"id": execution_id, "status": status})
            found = await session.execute(_RERUNS, {"id": execution_id, "limit": 100})
            return [str(row[0]) for row in found]

    async def set_execution_status(self, execution_id: str, status: str) -> None:
        """Update the cached status of a recorded run (no-op for unknown ids)."""
        await self.database.batched_writes.execute(
            _SET_STATUS, {"id": execution_id, "status": status}
        )

    async def list_executions(
        self, workflow_id: str, *, limit: int = 50
    ) -> Sequence[ExecutionRecord]:
        """The most recent recorded runs of a workflow, newest first."""
        query = (
            select(ExecutionRow)
            .where(ExecutionRow.workflow_id == workflow_id)
            .order_by(ExecutionRow.created_at.desc(), ExecutionRow.execution_id)
            .limit(limit)
        )
        async with self.database.reading() as session:
            return [_execution(row) for row in (await session.scalars(query)).all()]

    # -- API keys -------------------------------------------------------------------------

    async def add_api_key(self, key_id: str, name: str, key_hash: str) -> ApiKeyRecord:
        """Store a key's hash under a public id."""
        row = ApiKeyRow(id=key_id, name=name, key_hash=key_hash, created_at=_now())
        async with self.database.session() as session:
            session.add(row)
        return _api_key(row)

    async def find_api_key(self, key_hash: str) -> ApiKeyRecord | None:
        """The key whose hash this is, or None."""
        async with self.database.reading() as session:
            row = await session.scalar(select(ApiKeyRow).where(ApiKeyRow.key_hash == key_hash))
            return _api_key(row) if row is not None else None

    async def touch_api_key(self, key_id: str, when: datetime | None = None) -> None:
        """Record that a key was just used."""
        statement = (
            update(ApiKeyRow).where(ApiKeyRow.id == key_id).values(last_used_at=when or _now())
        )
        async with self.database.session() as session:
            await session.execute(statement)

    async def list_api_keys(self) -> list[ApiKeyRecord]:
        """Every stored key, oldest first."""
        query = select(ApiKeyRow).order_by(ApiKeyRow.created_at, ApiKeyRow.id)
        async with self.database.reading() as session:
            return [_api_key(row) for row in (await session.scalars(query)).all()]

    async def delete_api_key(self, key_id: str) -> bool:
        """Revoke a key; False when there was no such key."""
        async with self.database.session() as session:
            row = await session.get(ApiKeyRow, key_id)
            if row is None:
                return False
            await session.delete(row)
            return True

    async def has_api_keys(self) -> bool:
        """True when at least one key is stored."""
        async with self.database.reading() as session:
            return bool(await session.scalar(select(exists().where(ApiKeyRow.id.is_not(None)))))


_EXECUTIONS = cast(Table, ExecutionRow.__table__)  # declared with __tablename__: a Table
_SET_STATUS = (
    _EXECUTIONS.update()
    .where(_EXECUTIONS.c.execution_id == bindparam("id"))
    .values(status=bindparam("status"))
)
_RERUNS = (
    select(_EXECUTIONS.c.execution_id)
    .where(_EXECUTIONS.c.rerun_of == bindparam("id"))
    .order_by(_EXECUTIONS.c.created_at, _EXECUTIONS.c.execution_id)
    .limit(bindparam("limit"))
)
_record_statements: dict[str, Executable] = {}


def _record_statement(dialect: str) -> Executable:
    """INSERT of an execution row that skips an id already recorded (values as
    parameters), built once per dialect."""
    statement = _record_statements.get(dialect)
    if statement is None:
        if dialect == "postgresql":
            from sqlalchemy.dialects.postgresql import insert
        else:
            from sqlalchemy.dialects.sqlite import insert  # type: ignore[assignment]
        statement = insert(_EXECUTIONS).on_conflict_do_nothing(
            index_elements=[_EXECUTIONS.c.execution_id]
        )
        _record_statements[dialect] = statement
    return statement


def _workflow(row: WorkflowRow, document: dict[str, Any] | None) -> StoredWorkflow:
    return StoredWorkflow(
        id=row.id,
        name=row.name,
        description=row.description,
        current_version=row.current_version,
        created_at=row.created_at,
        updated_at=row.updated_at,
        document=document,
    )


def _version(row: WorkflowVersionRow, *, with_document: bool) -> WorkflowVersion:
    return WorkflowVersion(
        workflow_id=row.workflow_id,
        version=row.version,
        created_at=row.created_at,
        document=row.document if with_document else None,
    )


def _execution(row: ExecutionRow, *, with_outcome: bool = False) -> ExecutionRecord:
    # Deferred columns are read only when loaded: touching them otherwise would try a
    # lazy load, which an async session refuses.
    return ExecutionRecord(
        execution_id=row.execution_id,
        workflow_id=row.workflow_id,
        version=row.version,
        engine=row.engine,
        created_at=row.created_at,
        run_id=row.run_id,
        status=row.status,
        finished_at=row.finished_at,
        error=row.error,
        result=row.result if with_outcome else None,
        events=row.events if with_outcome else None,
        fingerprint=row.fingerprint,
        owner=row.owner,
        trigger=row.trigger,
        rerun_of=row.rerun_of,
    )


def _api_key(row: ApiKeyRow) -> ApiKeyRecord:
    return ApiKeyRecord(
        id=row.id, name=row.name, created_at=row.created_at, last_used_at=row.last_used_at
    )
