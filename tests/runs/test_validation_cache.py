"""The run service's validation: remembered by content, for small documents only."""

from __future__ import annotations

import copy
from typing import Any

from flov7.engine.validate import validate_workflow
from flov7.runs import validation
from flov7.runs.validation import CACHED_DOCUMENT_BYTES, CACHED_DOCUMENTS, validate_for_start


def _document(name: str = "cached") -> dict[str, Any]:
    return {
        "id": name,
        "nodes": [
            {"id": "a", "type": "transform", "data": {"mapping": {"x": "1 + 1"}}},
            {"id": "b", "type": "transform", "data": {"mapping": {"y": "nodes.a.output.x * 2"}}},
        ],
        "edges": [{"id": "a-b", "source": "a", "target": "b"}],
    }


def test_the_same_document_is_validated_once() -> None:
    first = validate_for_start(_document("same"))
    again = validate_for_start(copy.deepcopy(_document("same")))
    assert first is again
    assert first.valid and first.spec is not None and first.spec.id == "same"


def test_key_order_does_not_matter_but_content_does() -> None:
    document = _document("order")
    reordered = dict(reversed(list(document.items())))
    assert validate_for_start(document) is validate_for_start(reordered)
    changed = _document("order")
    changed["nodes"][1]["data"]["mapping"]["y"] = "nodes.missing.output.x"
    report = validate_for_start(changed)
    assert report is not validate_for_start(document)
    assert report.issues == validate_workflow(changed).issues


def test_an_invalid_document_keeps_its_report() -> None:
    broken = {"id": "broken", "nodes": [{"id": "a", "type": "no_such_type"}], "edges": []}
    report = validate_for_start(broken)
    assert not report.valid
    assert [issue.code for issue in report.issues] == [
        issue.code for issue in validate_workflow(broken).issues
    ]


def test_large_and_non_json_documents_are_validated_each_time() -> None:
    large = _document("large")
    large["description"] = "x" * (CACHED_DOCUMENT_BYTES + 1)
    assert validate_for_start(large) is not validate_for_start(large)
    odd = _document("odd")
    odd["nodes"][0]["data"]["mapping"]["x"] = {1, 2}  # a set: not JSON
    assert validate_for_start(odd) is not validate_for_start(odd)


def test_the_least_recently_used_document_goes_first() -> None:
    oldest = validate_for_start(_document("oldest"))
    for index in range(CACHED_DOCUMENTS):
        validate_for_start(_document(f"filler-{index}"))
    assert len(validation._reports) == CACHED_DOCUMENTS
    assert validate_for_start(_document("oldest")) is not oldest


def test_registering_a_node_type_forgets_the_reports() -> None:
    from flov7.nodes.registry import get_node_type, registered

    document = _document("registry")
    document["nodes"][1]["type"] = "bench_custom"
    assert not validate_for_start(document).valid  # an unknown type
    transform = get_node_type("transform")
    assert transform is not None
    custom = type(transform)()
    custom.name = "bench_custom"  # type: ignore[misc]
    with registered(custom):
        assert validate_for_start(document).valid
    assert not validate_for_start(document).valid


def test_non_string_keys_are_not_remembered() -> None:
    document: dict[Any, Any] = _document("keys")
    document["nodes"][0]["data"]["mapping"] = {1: "2"}
    assert validate_for_start(document) is not validate_for_start(document)


def test_the_cache_holds_a_bounded_number_of_bytes() -> None:
    from flov7.runs.validation import CACHED_BYTES

    for index in range(CACHED_DOCUMENTS):
        document = _document(f"bytes-{index}")
        document["description"] = "y" * (CACHED_DOCUMENT_BYTES - 1000)
        validate_for_start(document)
    assert sum(size for _, size in validation._reports.values()) <= CACHED_BYTES
