"""Stored workflows as a :class:`~flov7.engine.sub_workflow.WorkflowSource`.

``workflow`` nodes run stored workflows: the runtime resolves the document here, by id
and version, when the node starts (on Temporal inside an activity, so workflow code
never touches the database).

Every Temporal worker holds a :class:`StoreWorkflowSource`, most never resolve a
workflow: SQLAlchemy and the store's models are imported when the first one is (activity
code), not with this module, so a worker or ``flov7 run`` without ``workflow`` nodes
never loads the database stack.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

from flov7.engine.sub_workflow import WorkflowNotFound

if TYPE_CHECKING:
    from flov7.store.database import Database
    from flov7.store.repository import Repository

__all__ = ["RepositoryWorkflowSource", "StoreWorkflowSource"]


class RepositoryWorkflowSource:
    """Reads workflows through an open :class:`Repository`."""

    def __init__(self, repository: Repository) -> None:
        self.repository = repository

    async def document(self, workflow_id: str, version: int | None) -> tuple[int, dict[str, Any]]:
        """``(version, document)``; :class:`WorkflowNotFound` for an unknown id or version."""
        from flov7.store.repository import WorkflowNotFoundError

        try:
            if version is None:
                stored = await self.repository.get_workflow(workflow_id)
                assert stored.document is not None
                return stored.current_version, stored.document
            found = await self.repository.get_version(workflow_id, version)
            assert found.document is not None
            return found.version, found.document
        except WorkflowNotFoundError as exc:
            raise WorkflowNotFound(str(exc)) from exc


class StoreWorkflowSource:
    """Opens the store at ``url`` the first time a workflow is resolved.

    A Temporal worker gets one: most workers never run a ``workflow`` node, and those
    must not open (or create) a database for nothing. :meth:`aclose` closes it.
    """

    def __init__(self, url: str) -> None:
        self.url = url
        self._database: Database | None = None
        self._lock = asyncio.Lock()

    async def document(self, workflow_id: str, version: int | None) -> tuple[int, dict[str, Any]]:
        """See :meth:`RepositoryWorkflowSource.document`."""
        # Imported at the first resolution (see the module docstring).
        from flov7.store.database import Database
        from flov7.store.repository import Repository

        async with self._lock:
            if self._database is None:
                self._database = await Database.connect(self.url)
        return await RepositoryWorkflowSource(Repository(self._database)).document(
            workflow_id, version
        )

    async def aclose(self) -> None:
        """Close the store if it was opened."""
        if self._database is not None:
            await self._database.close()
            self._database = None
