"""Stored workflows and their immutable versions."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from flov7.api.schemas.common import (
    EXECUTION_ID_MAX_LENGTH,
    EXECUTION_ID_PATTERN,
    WORKFLOW_ID_MAX_LENGTH,
    WORKFLOW_ID_PATTERN,
)
from flov7.api.schemas.executions import EXAMPLE_DOCUMENT

__all__ = [
    "StoredExecuteRequest",
    "VersionList",
    "VersionOut",
    "WorkflowCreate",
    "WorkflowList",
    "WorkflowOut",
    "WorkflowSummary",
    "WorkflowUpdate",
]


class WorkflowCreate(BaseModel):
    """Store a workflow (version 1). The id defaults to the document's `id`."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"document": EXAMPLE_DOCUMENT, "name": "Orders"}]},
    )

    id: str | None = Field(
        default=None,
        max_length=WORKFLOW_ID_MAX_LENGTH,
        pattern=WORKFLOW_ID_PATTERN,
        description="Workflow id (default: the document's `id`).",
    )
    name: str | None = Field(default=None, max_length=200, description="Default: document's.")
    description: str | None = Field(default=None, max_length=5000)
    document: dict[str, Any] = Field(description="The workflow document; it must validate.")


class WorkflowUpdate(BaseModel):
    """A new version of the document (versions are immutable: this appends one)."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"document": EXAMPLE_DOCUMENT, "expected_version": 1}]},
    )

    document: dict[str, Any]
    name: str | None = Field(default=None, max_length=200)
    description: str | None = Field(default=None, max_length=5000)
    expected_version: int | None = Field(
        default=None,
        ge=1,
        description="Optimistic concurrency: 409 unless this is still the current version.",
    )


class WorkflowSummary(BaseModel):
    """A stored workflow without its document."""

    id: str
    name: str
    description: str
    current_version: int
    created_at: datetime
    updated_at: datetime


class WorkflowOut(WorkflowSummary):
    """A stored workflow with a version's document."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "id": "orders",
                    "name": "Orders",
                    "description": "",
                    "current_version": 2,
                    "version": 2,
                    "created_at": "2026-06-01T10:00:00Z",
                    "updated_at": "2026-06-02T09:30:00Z",
                    "document": EXAMPLE_DOCUMENT,
                }
            ]
        }
    )

    version: int = Field(description="The version `document` is.")
    document: dict[str, Any]


class WorkflowList(BaseModel):
    """One page of stored workflows, by id."""

    workflows: list[WorkflowSummary]
    next_page_token: str | None = None


class VersionOut(BaseModel):
    """One version (`document` only when asked for one version)."""

    workflow_id: str
    version: int
    created_at: datetime
    document: dict[str, Any] | None = None


class VersionList(BaseModel):
    """One page of versions, oldest first."""

    versions: list[VersionOut]
    next_page_token: str | None = None


class StoredExecuteRequest(BaseModel):
    """Run a stored workflow (its current version unless `version` is given)."""

    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"input": {"amount": 250}}]}
    )

    input: dict[str, Any] = Field(default_factory=dict)
    version: int | None = Field(default=None, ge=1)
    execution_id: str | None = Field(
        default=None,
        max_length=EXECUTION_ID_MAX_LENGTH,
        pattern=EXECUTION_ID_PATTERN,
        description="Idempotency key and id of the run (see POST /workflow/execute).",
    )
