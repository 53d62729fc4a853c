"""``for_each`` validation: the body is validated like a workflow of its own."""

from __future__ import annotations

from flov7.engine.validate import validate_workflow


def test_validation_knows_the_body() -> None:
    document = {
        "nodes": [
            {
                "id": "each",
                "type": "for_each",
                "data": {
                    "items": "inputs.orders",
                    "body": {
                        "nodes": [
                            {
                                "id": "ok",
                                "type": "transform",
                                "data": {"mapping": {"v": "item.id"}},
                            },
                            {
                                "id": "bad",
                                "type": "transform",
                                "data": {"mapping": {"v": "item.("}},
                            },
                            {"id": "odd", "type": "teleport", "data": {}},
                        ],
                        "edges": [{"id": "e", "source": "ok", "target": "missing"}],
                    },
                },
            }
        ]
    }
    report = validate_workflow(document)
    found = {(issue.code, issue.node_id, issue.field) for issue in report.issues}
    assert ("invalid_expression", "each", "data.body.nodes.bad.data.mapping.v") in found
    assert ("unknown_node_type", "each", "data.body.nodes.odd.type") in found
    assert ("missing_node", "each", "data.body.edges.e.target") in found
    assert not any(issue.field == "data.body.nodes.ok" for issue in report.issues)


def test_validation_refuses_a_bad_items_expression_and_an_empty_body() -> None:
    document = {
        "nodes": [
            {
                "id": "each",
                "type": "for_each",
                "data": {"items": "[x for x in y]", "body": {"nodes": []}},
            }
        ]
    }
    report = validate_workflow(document)
    codes = {(issue.code, issue.field) for issue in report.issues}
    assert ("invalid_expression", "data.items") in codes
    assert ("empty_workflow", "data.body.nodes") in codes
