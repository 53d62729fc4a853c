"""Validation of the documents runs start from, remembered for documents seen before.

A service starts the same documents over and over (a stored workflow's version, a
schedule's, a webhook's, a client re-sending its document), and validating one costs
far more than hashing it. :func:`validate_for_start` keeps the reports of recent
documents by digest of their canonical JSON. Validation is a pure function of the
document (the node registry is fixed at import), so a remembered report is the report.
Only small documents are remembered, so that the cache stays small: large ones cost
their validation each time, which is small beside what running them costs.
"""

from __future__ import annotations

import hashlib
import json
from collections import OrderedDict
from typing import Any

from flov7.engine.validate import ValidationReport, validate_workflow

__all__ = ["CACHED_DOCUMENTS", "CACHED_DOCUMENT_BYTES", "validate_for_start"]

CACHED_DOCUMENTS = 256
"""How many documents' reports are remembered (least recently used go first)."""
CACHED_DOCUMENT_BYTES = 64 * 1024
"""Documents whose canonical JSON is larger are validated every time."""

_reports: OrderedDict[bytes, ValidationReport] = OrderedDict()


def validate_for_start(document: dict[str, Any]) -> ValidationReport:
    """:func:`~flov7.engine.validate.validate_workflow` of ``document``, remembered by
    content. The report is shared between callers: read it, never change it."""
    key = _digest(document)
    if key is None:
        return validate_workflow(document)
    report = _reports.get(key)
    if report is not None:
        _reports.move_to_end(key)
        return report
    report = validate_workflow(document)
    _reports[key] = report
    if len(_reports) > CACHED_DOCUMENTS:
        _reports.popitem(last=False)
    return report


def _digest(document: dict[str, Any]) -> bytes | None:
    try:
        text = json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    except (TypeError, ValueError):  # not plain JSON: validation will say what is wrong
        return None
    if len(text) > CACHED_DOCUMENT_BYTES:
        return None
    # "surrogatepass": a lone surrogate still hashes (validation reports it).
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).digest()
