"""Label values of flov7_* metrics stay bounded, whatever runs and requests come in."""

from __future__ import annotations

import pytest

from flov7.observability import metrics


def sample(name: str, **labels: str) -> float:
    value = metrics.REGISTRY.get_sample_value(name, labels)
    return value or 0.0


def test_workflow_ids_past_the_cap_are_counted_as_other(monkeypatch: pytest.MonkeyPatch) -> None:
    full = {f"wf-{index}" for index in range(metrics.MAX_WORKFLOW_LABELS)}
    monkeypatch.setattr(metrics, "_workflow_labels", full)
    before = sample("flov7_runs_started_total", workflow_id=metrics.OTHER, trigger="api")
    metrics.record_run_started("one-too-many", "api")
    after = sample("flov7_runs_started_total", workflow_id=metrics.OTHER, trigger="api")
    assert after - before == 1
    assert sample("flov7_runs_started_total", workflow_id="one-too-many", trigger="api") == 0
    known = sample("flov7_runs_started_total", workflow_id="wf-1", trigger="cli")
    metrics.record_run_started("wf-1", "cli")  # a known id keeps its own label
    assert sample("flov7_runs_started_total", workflow_id="wf-1", trigger="cli") == known + 1


def test_unknown_label_values_fall_into_fixed_sets() -> None:
    before = sample("flov7_runs_started_total", workflow_id="wf-x", trigger="other")
    metrics.record_run_started("wf-x", "a-made-up-trigger")
    assert sample("flov7_runs_started_total", workflow_id="wf-x", trigger="other") == before + 1
    before = sample("flov7_http_requests_total", route="/r", method="other", status="200")
    metrics.record_http_request("/r", "BREW", 200, 0.01)
    assert (
        sample("flov7_http_requests_total", route="/r", method="other", status="200") == before + 1
    )
