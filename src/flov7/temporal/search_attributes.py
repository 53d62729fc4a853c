"""Flov7's custom search attributes: what lets ``GET /workflow/executions`` filter runs.

Temporal visibility only knows Temporal's own view of a run (``ExecutionStatus``,
``StartTime``...). A Flov7 run that *failed* still ends as Temporal ``Completed`` (it
returns a result whose status is ``failed``), and the stored workflow a run belongs to
is not a Temporal notion at all, so Flov7 adds three attributes:

- ``Flov7WorkflowId`` (Keyword): the workflow document / stored workflow id, set at start.
- ``Flov7Version`` (Int): the stored workflow version the run executes, set at start.
- ``Flov7Status`` (Keyword): ``running``, set at start by the starter (runs started
  by earlier releases, or by other clients without it, upsert it from the workflow),
  then ``completed`` / ``failed`` / ``cancelled``, upserted by the workflow itself.

A search attribute must be registered on the namespace before anyone sets it: an
unregistered one makes the start call fail, and an upsert from workflow code fail the
workflow task (the run hangs). So the starter checks :func:`missing_search_attributes`
and only then sets them (and tells the workflow, via ``defaults.search_attributes``,
to upsert). The embedded dev server registers them at start; an external cluster
needs ``flov7 setup-search-attributes`` (:func:`register_search_attributes`) once.

This module is imported by workflow code: keep its top level free of side effects.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from typing import TYPE_CHECKING

from temporalio.common import (
    SearchAttributeKey,
    SearchAttributePair,
    SearchAttributeUpdate,
    TypedSearchAttributes,
)

if TYPE_CHECKING:
    from temporalio.client import Client

__all__ = [
    "SEARCH_ATTRIBUTES",
    "STATUS",
    "VERSION",
    "WORKFLOW_ID",
    "missing_search_attributes",
    "register_search_attributes",
    "start_attributes",
    "status_set_at_start",
    "status_update",
]

WORKFLOW_ID = SearchAttributeKey.for_keyword("Flov7WorkflowId")
"""The workflow id (stored workflow or document id) a run executes."""
STATUS = SearchAttributeKey.for_keyword("Flov7Status")
"""The Flov7 run status: running, completed, failed or cancelled."""
VERSION = SearchAttributeKey.for_int("Flov7Version")
"""The stored workflow version a run executes (absent for ad-hoc documents)."""

RUNNING = "running"
"""``Flov7Status`` of a run that has not finished."""

SEARCH_ATTRIBUTES: tuple[tuple[str, str], ...] = (
    (WORKFLOW_ID.name, "Keyword"),
    (STATUS.name, "Keyword"),
    (VERSION.name, "Int"),
)
"""``(name, type)`` pairs, as :class:`~flov7.temporal.devserver.EmbeddedDevServer` takes them."""

_RPC_TIMEOUT = timedelta(seconds=10)


def start_attributes(workflow_id: str, version: int | None) -> TypedSearchAttributes:
    """The attributes a run gets at start, its ``running`` status included.

    Setting the status here spares the workflow an upsert (a history event and a
    command) per run: :func:`status_set_at_start` tells it the starter did.
    """
    pairs: list[SearchAttributePair[str] | SearchAttributePair[int]] = [
        SearchAttributePair(WORKFLOW_ID, workflow_id),
        SearchAttributePair(STATUS, RUNNING),
    ]
    if version is not None:
        pairs.append(SearchAttributePair(VERSION, version))
    return TypedSearchAttributes(pairs)


def status_set_at_start(attributes: TypedSearchAttributes, attempt: int, continued: bool) -> bool:
    """Whether a run's ``running`` status came with its start request (no upsert needed).

    Workflow code, replay-safe: ``attributes`` are those of the run's start event (read
    before the workflow upserts anything). Only a first attempt that is no continuation
    counts: a retry or a continue-as-new run inherits the attributes of the run before
    it, which earlier releases started without the status and then upserted ``running``
    into, and their recorded histories must replay with that upsert.
    """
    return attempt == 1 and not continued and attributes.get(STATUS) == RUNNING


def status_update(status: str) -> Sequence[SearchAttributeUpdate[str]]:
    """The upsert a workflow makes when its Flov7 status changes."""
    return [STATUS.value_set(status)]


async def missing_search_attributes(client: Client) -> list[str]:
    """Names of the Flov7 attributes not registered on the client's namespace."""
    from temporalio.api.operatorservice.v1 import ListSearchAttributesRequest

    response = await client.operator_service.list_search_attributes(
        ListSearchAttributesRequest(namespace=client.namespace), timeout=_RPC_TIMEOUT
    )
    known = set(response.custom_attributes) | set(response.system_attributes)
    return [name for name, _ in SEARCH_ATTRIBUTES if name not in known]


async def register_search_attributes(client: Client) -> list[str]:
    """Register the missing Flov7 attributes on the client's namespace; return their names.

    Idempotent: attributes already there are left alone. Needs operator permissions on
    the cluster (Temporal Cloud manages search attributes through its own API instead).
    """
    from temporalio.api.enums.v1 import IndexedValueType
    from temporalio.api.operatorservice.v1 import AddSearchAttributesRequest

    missing = await missing_search_attributes(client)
    if not missing:
        return []
    types = dict(SEARCH_ATTRIBUTES)
    indexed = {
        "Keyword": IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD,
        "Int": IndexedValueType.INDEXED_VALUE_TYPE_INT,
    }
    await client.operator_service.add_search_attributes(
        AddSearchAttributesRequest(
            namespace=client.namespace,
            search_attributes={name: indexed[types[name]] for name in missing},
        ),
        timeout=_RPC_TIMEOUT,
    )
    return missing
