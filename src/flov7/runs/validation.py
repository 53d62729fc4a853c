"""Validation of the documents runs start from, remembered for documents seen before.

A service starts the same documents over and over (a stored workflow's version, a
schedule's, a webhook's, a client re-sending its document), and validating one costs
far more than hashing it. :func:`validate_for_start` keeps the reports of recent
documents by digest of their canonical JSON. Validation is a pure function of the
document and of the node types registered (it reads no settings, environment or clock),
so a remembered report is the report while the registry's generation is the same. Only
small documents are remembered, and only so many bytes of them, so that the cache stays
small (a report holds about 13 times its document's size): larger ones cost their
validation each time, which is small beside what running them costs.
"""

from __future__ import annotations

import hashlib
import json
from collections import OrderedDict
from typing import Any

from flov7.engine.validate import ValidationReport, validate_workflow
from flov7.nodes import registry

__all__ = ["CACHED_BYTES", "CACHED_DOCUMENTS", "CACHED_DOCUMENT_BYTES", "validate_for_start"]

CACHED_DOCUMENTS = 256
"""How many documents' reports are remembered (least recently used go first)."""
CACHED_DOCUMENT_BYTES = 16 * 1024
"""Documents whose canonical JSON is larger are validated every time."""
CACHED_BYTES = 1024 * 1024
"""The remembered documents' canonical JSON, in all, at most (about 13 MiB of reports)."""

_reports: OrderedDict[bytes, tuple[ValidationReport, int]] = OrderedDict()
_cached_bytes = 0
_generation = registry.generation()


def validate_for_start(document: dict[str, Any]) -> ValidationReport:
    """:func:`~flov7.engine.validate.validate_workflow` of ``document``, remembered by
    content. The report is shared between callers: read it, never change it."""
    global _cached_bytes, _generation
    if registry.generation() != _generation:  # node types added or removed: forget all
        _reports.clear()
        _cached_bytes, _generation = 0, registry.generation()
    keyed = _digest(document)
    if keyed is None:
        return validate_workflow(document)
    key, size = keyed
    remembered = _reports.get(key)
    if remembered is not None:
        _reports.move_to_end(key)
        return remembered[0]
    report = validate_workflow(document)
    _reports[key] = (report, size)
    _cached_bytes += size
    while len(_reports) > CACHED_DOCUMENTS or _cached_bytes > CACHED_BYTES:
        _, (_, dropped) = _reports.popitem(last=False)
        _cached_bytes -= dropped
    return report


def _digest(document: dict[str, Any]) -> tuple[bytes, int] | None:
    try:
        text = json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    except (TypeError, ValueError):  # not plain JSON: validation will say what is wrong
        return None
    if len(text) > CACHED_DOCUMENT_BYTES or not _str_keys(document):
        return None  # {1: x} and {"1": x} dump alike but do not validate alike
    # "surrogatepass": a lone surrogate still hashes (validation reports it).
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).digest(), len(text)


def _str_keys(value: Any) -> bool:
    if isinstance(value, dict):
        return all(isinstance(key, str) and _str_keys(item) for key, item in value.items())
    if isinstance(value, list):
        return all(_str_keys(item) for item in value)
    return True
