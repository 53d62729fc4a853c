"""What a starter puts into a run: input merged, TEMPORAL_* defaults stamped."""

from __future__ import annotations

import pytest

from flov7.config import TemporalSettings
from flov7.engine.driver import ActivityPolicy
from flov7.spec import parse_workflow
from flov7.temporal.executions import new_execution_id, prepare_document

DOC = {
    "id": "wf",
    "input": {"a": 1, "b": 2},
    "nodes": [{"id": "n", "type": "delay", "data": {"delay_seconds": 0}}],
}


def test_run_input_is_merged_over_the_documents() -> None:
    prepared = prepare_document(DOC, TemporalSettings(), run_input={"b": 3, "c": 4})
    assert prepared["input"] == {"a": 1, "b": 3, "c": 4}
    assert DOC["input"] == {"a": 1, "b": 2}  # the caller's document is untouched


def test_temporal_settings_become_the_runs_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TEMPORAL_ACTIVITY_TIMEOUT_MINUTES", "2")
    monkeypatch.setenv("TEMPORAL_NODE_TIMEOUT_MINUTES", "7")
    monkeypatch.setenv("TEMPORAL_ACTIVITY_MAX_RETRIES", "4")
    monkeypatch.setenv("TEMPORAL_WORKFLOW_INITIAL_INTERVAL_SECONDS", "0.5")
    monkeypatch.setenv("TEMPORAL_WORKFLOW_BACKOFF_COEFFICIENT", "3")
    defaults = parse_workflow(prepare_document(DOC, TemporalSettings())).defaults
    assert defaults.activity_timeout_seconds == 120
    assert defaults.node_timeout_seconds == 420
    assert defaults.retry.max_attempts == 4
    assert defaults.retry.initial_interval_seconds == 0.5
    assert defaults.retry.backoff_coefficient == 3


def test_a_documents_own_defaults_are_kept() -> None:
    own = {**DOC, "defaults": {"activity_timeout_seconds": 9}}
    assert prepare_document(own, TemporalSettings())["defaults"] == {"activity_timeout_seconds": 9}


def test_node_overrides_win_over_defaults_field_by_field() -> None:
    spec = parse_workflow(
        {
            "nodes": [
                {
                    "id": "n",
                    "type": "api_call",
                    "timeout_seconds": 12,
                    "retry": {"max_attempts": 7},
                    "data": {"url": "https://x"},
                },
                {
                    "id": "long",
                    "type": "api_call",
                    "timeout_seconds": 900,
                    "data": {"url": "https://x"},
                },
            ],
            "defaults": {
                "node_timeout_seconds": 600,
                "retry": {
                    "max_attempts": 2,
                    "initial_interval_seconds": 3,
                    "backoff_coefficient": 1.5,
                    "max_interval_seconds": 8,
                },
            },
        }
    )
    policy = ActivityPolicy.for_node(spec.nodes[0], spec.defaults)
    assert policy.start_to_close_seconds == 12
    assert policy.max_attempts == 7
    assert policy.initial_interval_seconds == 3 and policy.backoff_coefficient == 1.5
    long = ActivityPolicy.for_node(spec.nodes[1], spec.defaults)
    # The overall budget never cuts a single attempt short.
    assert long.schedule_to_close_seconds == 900


def test_execution_ids_are_unique_and_readable() -> None:
    first, second = new_execution_id("orders"), new_execution_id("orders")
    assert first != second and first.startswith("orders-")
