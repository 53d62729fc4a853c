""" "Did you mean ...?": the closest known name to a mistyped one, by edit distance.

Pure and deterministic (it runs inside Temporal workflow code through the validator):
candidates are compared in the order given and ties keep the first one.
"""

from __future__ import annotations

from collections.abc import Iterable


def edit_distance(a: str, b: str) -> int:
    """Damerau-Levenshtein distance (optimal string alignment) between ``a`` and ``b``.

    A swap of two neighbouring letters (``methdo`` for ``method``) counts as one edit,
    the commonest typo after a missing or extra letter.
    """
    if a == b:
        return 0
    previous2: list[int] = []
    previous = list(range(len(b) + 1))
    for i, char_a in enumerate(a, start=1):
        current = [i] + [0] * len(b)
        for j, char_b in enumerate(b, start=1):
            cost = 0 if char_a == char_b else 1
            current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + cost)
            if i > 1 and j > 1 and char_a == b[j - 2] and a[i - 2] == char_b:
                current[j] = min(current[j], previous2[j - 2] + 1)
        previous2, previous = previous, current
    return previous[len(b)]


def closest(word: str, candidates: Iterable[str]) -> str | None:
    """The candidate ``word`` was most likely meant to be, or None when none is close.

    Case and ``-``/``_`` differences are ignored first (``Timeout_Seconds``,
    ``on-error``). Otherwise a candidate is close when at most about a third of its
    letters differ (at least one, at most three), so ``url`` never suggests ``ok``;
    failing that, a candidate that starts with ``word`` (four letters or more).
    """
    options = list(dict.fromkeys(candidates))
    folded = _fold(word)
    for option in options:
        if _fold(option) == folded and option != word:
            return option
    singular = _singular(folded)
    for option in options:
        if singular != folded and _fold(option) == singular:
            return option  # 'retries' for 'retry', 'params' for 'param' is below.
    best: str | None = None
    best_rank = (0, 0)
    for option in options:
        if option == word:
            return None
        distance = edit_distance(folded, _fold(option))
        limit = min(3, max(1, len(option) // 3))
        # Ties go to a candidate with the same first letter ('tabel' is 'table', not
        # 'label'), then to the earlier one.
        rank = (distance, 0 if _fold(option)[:1] == folded[:1] else 1)
        if distance <= limit and (best is None or rank < best_rank):
            best, best_rank = option, rank
    if best is None and len(folded) >= 4:
        # A cut-short name: ``timeout`` for ``timeout_seconds``, ``header`` for ``headers``.
        best = next((option for option in options if _fold(option).startswith(folded)), None)
    return best


def did_you_mean(word: str, candidates: Iterable[str]) -> tuple[str, str | None]:
    """``("; did you mean 'x'?", "x")`` for the closest candidate, or ``("", None)``."""
    suggestion = closest(word, candidates)
    if suggestion is None:
        return "", None
    return f"; did you mean '{suggestion}'?", suggestion


def _singular(name: str) -> str:
    if name.endswith("ies") and len(name) > 4:
        return name[:-3] + "y"
    return name


def _fold(name: str) -> str:
    return name.casefold().replace("-", "_")
