"""'Did you mean': close names are suggested, far ones are not; URLs that can never be sent."""

from __future__ import annotations

import pytest

from flov7.engine.static_checks import url_problem
from flov7.suggestions import closest, edit_distance


@pytest.mark.parametrize(
    ("a", "b", "distance"),
    [("method", "method", 0), ("methd", "method", 1), ("methdo", "method", 1), ("", "ab", 2)],
)
def test_edit_distance_counts_a_swap_as_one(a: str, b: str, distance: int) -> None:
    assert edit_distance(a, b) == distance


@pytest.mark.parametrize(
    ("word", "expected"),
    [
        ("methd", "method"),
        ("Headers", "headers"),  # case
        ("fail-on-status", "fail_on_status"),  # dashes
        ("retries", "retry"),  # plural in -ies
        ("header", "headers"),
        ("timeout", "timeout_seconds"),  # cut short
        ("tabel", "table"),  # a tie goes to the same first letter, not 'label'
        ("url", None),  # too short to be anything else
        ("zzz", None),
        ("method", None),  # already right
    ],
)
def test_closest(word: str, expected: str | None) -> None:
    candidates = ["label", "url", "method", "headers", "table", "timeout_seconds", "retry"]
    candidates += ["fail_on_status", "ok"]
    assert closest(word, candidates) == expected


@pytest.mark.parametrize(
    ("url", "refused", "suggestion"),
    [
        ("https://api.example.com/x", False, None),
        ("http://127.0.0.1:8765/orders/{{ input.id }}", False, None),
        ("{{ input.api }}/orders", False, None),
        ("https://{{ input.host }}/x", False, None),
        ("http{{ input.s }}://x", False, None),
        ("ftp://files.example.com", True, None),
        ("ftp://{{ input.host }}/x", True, None),
        ("mailto:ops@example.com", True, None),
        ("not a url", True, None),
        ("https://", True, None),
        ("https://exa mple.com/", True, None),
        ("api.example.com/x", True, "https://api.example.com/x"),
        ("localhost:8080/x", True, "https://localhost:8080/x"),
    ],
)
def test_url_problem(url: str, refused: bool, suggestion: str | None) -> None:
    problem, suggested = url_problem(url)
    assert (problem is not None) is refused, problem
    assert suggested == suggestion
