"""Every example in examples/ is valid, and the ones without network access run."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from flov7.engine.validate import validate_workflow

pytestmark = pytest.mark.asyncio(loop_scope="session")

EXAMPLES = sorted((Path(__file__).resolve().parents[2] / "examples").glob("*.json"))


def _needs_network(document: dict[str, Any]) -> bool:
    # Examples that call public services are for users with internet; CI has none.
    return any(n["type"] in ("api_call", "webhook", "ai_agent") for n in document["nodes"])


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.stem)
async def test_example_is_valid_and_offline_ones_complete(path: Path, run_on_temporal: Any) -> None:
    document = json.loads(path.read_text())
    report = validate_workflow(document)
    assert report.valid, report.issues
    assert not report.warnings, report.warnings
    if not _needs_network(document):
        result = await run_on_temporal(document)
        assert result["status"] == "completed", result["error"]


async def test_there_are_examples() -> None:
    assert len(EXAMPLES) >= 2
