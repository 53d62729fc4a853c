"""Honest mistakes, table-driven: each is caught before a run, where it was made, with
the fix it most likely needs (tests/fixtures/mistakes/corpus.json)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from flov7.engine.validate import Issue, validate_workflow

CORPUS = Path(__file__).parent.parent / "fixtures" / "mistakes" / "corpus.json"
CASES: list[dict[str, Any]] = json.loads(CORPUS.read_text())


def document(case: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": "mistake",
        **case.get("workflow", {}),
        "nodes": case["nodes"],
        "edges": case["edges"],
    }


def test_the_corpus_is_large_enough() -> None:
    assert len(CASES) >= 40
    assert len({case["mistake"] for case in CASES}) == len(CASES)


@pytest.mark.parametrize("case", CASES, ids=[case["mistake"] for case in CASES])
def test_mistake_is_reported_with_its_fix(case: dict[str, Any]) -> None:
    expect = case["expect"]
    report = validate_workflow(document(case))
    found: list[Issue] = report.issues if expect["severity"] == "issue" else report.warnings
    matching = [
        item
        for item in found
        if item.code == expect["code"]
        and item.node_id == expect["node"]
        and item.field == expect["field"]
    ]
    assert len(matching) == 1, (expect, report.as_dict())
    assert matching[0].suggestion == expect["suggestion"], matching[0]
    if expect["severity"] == "issue":
        assert not report.valid
    if expect["code"] in ("unknown_field", "misplaced_field"):
        # The message names the field as written, so it reads on its own in a terminal.
        assert f"'{expect['field'].rsplit('.', 1)[-1]}'" in matching[0].message


def test_the_same_documents_without_the_mistake_are_clean() -> None:
    """The fix the suggestion names is right: applying it removes the finding."""
    fixed = 0
    for case in CASES:
        expect = case["expect"]
        suggestion = expect["suggestion"]
        if expect["code"] != "unknown_field" or expect["node"] is None or suggestion is None:
            continue
        node = next(n for n in case["nodes"] if n["id"] == expect["node"])
        field, target = expect["field"], suggestion
        if field.startswith("data.") and target.startswith("data.") and "." not in field[5:]:
            node["data"][target[5:]] = node["data"].pop(field[5:])
        elif "." not in field and "." not in target:
            node[target] = node.pop(field)
        else:
            continue
        report = validate_workflow(document(case))
        assert not [i for i in report.issues if i.code == "unknown_field"], (case, report.issues)
        fixed += 1
    assert fixed >= 15


def test_replays_of_older_runs_skip_the_strict_checks() -> None:
    """strict=False (a replay of a run started before these checks) accepts what the
    validator accepted then: the workflow must decide as it first did."""
    strict_codes = (
        "unknown_field",
        "misplaced_field",
        "unknown_name",
        "unknown_node_reference",
        "not_upstream",
        "unknown_node_field",
        "invalid_url",
        "unknown_output_field",
        "inputs_overlap",
        "http_timeout_not_shorter",
        "execution_ignored",
    )
    strict_only = [case for case in CASES if case["expect"]["code"] in strict_codes]
    assert len(strict_only) >= 30
    for case in strict_only:
        relaxed = validate_workflow(document(case), strict=False)
        found = [i.code for i in (*relaxed.issues, *relaxed.warnings) if i.code in strict_codes]
        assert found == [], (case["mistake"], found)
    # The rest of the checks still run.
    typo = next(case for case in CASES if case["mistake"] == "method GTE")
    assert not validate_workflow(document(typo), strict=False).valid
