"""Validation: every problem reported, each naming the node and the field."""

from __future__ import annotations

from typing import Any

import pytest

from flov7.engine.validate import validate_workflow

from support.cases import invalid_documents, load_cases


@pytest.mark.parametrize(("name", "document"), invalid_documents(), ids=lambda v: str(v)[:25])
def test_invalid_corpus(name: str, document: dict[str, Any]) -> None:
    report = validate_workflow(document)
    assert not report.valid
    codes = [issue.code for issue in report.issues]
    for expected in document["x-expect-issues"]:
        assert expected in codes, (expected, report.issues)
        codes.remove(expected)
    if "x-expect-message" in document:
        assert any(document["x-expect-message"] in i.message for i in report.issues)
    for field in document.get("x-expect-fields", []):
        assert field in [i.field for i in report.issues]
    for issue in report.issues:
        # Every issue says where: a node, an edge, or a document field.
        assert issue.node_id or issue.edge_id or issue.field, issue


def test_valid_corpus_is_valid() -> None:
    for case in load_cases():
        report = validate_workflow(case.document)
        assert report.valid, (case.id, report.issues)


def test_report_shape_is_the_guides() -> None:
    report = validate_workflow(
        {"nodes": [{"id": "a", "type": "delay", "data": {"delay_seconds": 1}}]}
    )
    data = report.as_dict()
    assert data["valid"] is True
    assert data["issues"] == [] and data["warnings"] == []


def test_disconnected_node_is_a_warning() -> None:
    report = validate_workflow(
        {
            "nodes": [
                {"id": "a", "type": "transform", "data": {"mapping": {"x": 1}}},
                {"id": "b", "type": "transform", "data": {"mapping": {"x": 1}}},
                {"id": "lonely", "type": "transform", "data": {"mapping": {"x": 1}}},
            ],
            "edges": [{"id": "e", "source": "a", "target": "b"}],
        }
    )
    assert report.valid
    assert [(w.code, w.node_id) for w in report.warnings] == [("disconnected_node", "lonely")]


def test_templated_field_is_checked_at_run_time_only() -> None:
    report = validate_workflow(
        {"nodes": [{"id": "w", "type": "delay", "data": {"delay_seconds": "{{ input.wait }}"}}]}
    )
    assert report.valid, report.issues


def test_react_flow_extras_are_accepted() -> None:
    report = validate_workflow(
        {
            "nodes": [
                {
                    "id": "a",
                    "type": "transform",
                    "position": {"x": 10, "y": 20},
                    "selected": True,
                    "data": {"label": "Start", "mapping": {"x": 1}},
                },
                {
                    "id": "b",
                    "type": "condition",
                    "data": {"label": "Check", "condition": "inputs.x"},
                },
                {"id": "c", "type": "delay", "data": {"delay_seconds": 0}},
            ],
            "edges": [
                {"id": "e1", "source": "a", "target": "b", "animated": True, "targetHandle": "in"},
                {"id": "e2", "source": "b", "target": "c", "sourceHandle": "true"},
            ],
            "viewport": {"zoom": 1},
        }
    )
    assert report.valid, report.issues


def test_error_edge_on_continue_node_is_a_warning() -> None:
    report = validate_workflow(
        {
            "nodes": [
                {
                    "id": "a",
                    "type": "transform",
                    "on_error": "continue",
                    "data": {"mapping": {"x": 1}},
                },
                {"id": "b", "type": "transform", "data": {"mapping": {"x": 1}}},
            ],
            "edges": [{"id": "e", "source": "a", "target": "b", "sourceHandle": "error"}],
        }
    )
    assert report.valid
    assert [w.code for w in report.warnings] == ["error_edge_ignored"]


def test_bad_retry_and_timeout_overrides_name_the_node() -> None:
    report = validate_workflow(
        {
            "nodes": [
                {
                    "id": "n",
                    "type": "delay",
                    "timeout_seconds": -1,
                    "retry": {"max_attempts": 0},
                    "data": {"delay_seconds": 1},
                }
            ]
        }
    )
    fields = [issue.field for issue in report.issues]
    assert "nodes[0] (id 'n').timeout_seconds" in fields
    assert "nodes[0] (id 'n').retry.max_attempts" in fields


def test_unknown_on_error_value_is_refused() -> None:
    report = validate_workflow(
        {
            "nodes": [
                {"id": "n", "type": "delay", "on_error": "explode", "data": {"delay_seconds": 1}}
            ]
        }
    )
    assert not report.valid
    assert "on_error" in report.issues[0].message or "on_error" in (report.issues[0].field or "")


def test_templates_in_raw_sql_are_refused() -> None:
    """Run data must never become SQL: raw queries take values through :params."""
    report = validate_workflow(
        {
            "nodes": [
                {
                    "id": "q",
                    "type": "database",
                    "data": {
                        "operation": "query",
                        "query": "SELECT * FROM users WHERE name = '{{ input.name }}'",
                    },
                }
            ]
        }
    )
    assert [(i.code, i.node_id, i.field) for i in report.issues] == [
        ("template_not_allowed", "q", "data.query")
    ]
    assert ":params" in report.issues[0].message


def test_params_may_hold_templates() -> None:
    report = validate_workflow(
        {
            "nodes": [
                {
                    "id": "q",
                    "type": "database",
                    "data": {
                        "operation": "query",
                        "query": "SELECT * FROM users WHERE name = :name",
                        "params": {"name": "{{ input.name }}"},
                    },
                }
            ]
        }
    )
    assert report.valid, report.issues


def test_continue_cannot_pick_a_branch_of_a_condition() -> None:
    report = validate_workflow(
        {
            "nodes": [
                {
                    "id": "c",
                    "type": "condition",
                    "on_error": "continue",
                    "data": {"condition": "1 / 0 == 1"},
                },
                {"id": "t", "type": "transform", "data": {"mapping": {"x": 1}}},
            ],
            "edges": [{"id": "e", "source": "c", "target": "t", "sourceHandle": "true"}],
        }
    )
    assert [(i.code, i.field) for i in report.issues] == [
        ("on_error_continue_on_branch", "on_error")
    ]
