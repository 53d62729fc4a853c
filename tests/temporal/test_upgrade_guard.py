"""The upgrade guard: every fixture workflow has a recorded history that CI replays.

``test_durability.py`` replays every history in ``tests/fixtures/histories`` under the
current code (a change that would break runs in flight fails there). This test keeps
that set complete: a new fixture workflow without a recorded history fails here, so
no workflow shape escapes the replay check (docs/operations.md, "Safe upgrades").
"""

from __future__ import annotations

from pathlib import Path

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"


def test_every_fixture_workflow_has_a_recorded_history() -> None:
    workflows = sorted(path.stem for path in (FIXTURES / "workflows").glob("*.json"))
    histories = [path.stem for path in (FIXTURES / "histories").glob("*.json")]
    assert workflows, "no fixture workflows found"
    missing = [
        name
        for name in workflows
        if not any(history == name or history.startswith(f"{name}-") for history in histories)
    ]
    assert missing == [], f"record histories for {missing}: tests/fixtures/histories/record.py"
