"""pydantic's validation errors, reworded for people who write workflow documents.

pydantic's messages carry framework noise ("Value error, ..." before a validator's own
sentence) and, for a wrong choice ("Input should be 'GET', 'POST' or ..."), no hint of
what was probably meant. :func:`error_message` drops the noise and adds the hint;
:func:`error_suggestion` gives the hint alone for a report's ``suggestion``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from flov7.suggestions import closest

_NOISE_PREFIXES = ("Value error, ", "Assertion failed, ")
_CHOICE_TYPES = ("literal_error", "enum")
_MAX_ECHO = 60  # Never echo much of a value back: it may be long, or a secret.


def error_message(error: Mapping[str, Any]) -> str:
    """The message of one pydantic error (an item of ``ValidationError.errors()``)."""
    message = str(error.get("msg", ""))
    for prefix in _NOISE_PREFIXES:
        message = message.removeprefix(prefix)
    suggestion = error_suggestion(error)
    if suggestion is not None:
        message = f"{message}; did you mean '{suggestion}'?"
    return message


def error_suggestion(error: Mapping[str, Any]) -> str | None:
    """For a value that is not one of the allowed choices, the closest choice."""
    given = error.get("input")
    if error.get("type") not in _CHOICE_TYPES or not isinstance(given, str):
        return None
    if len(given) > _MAX_ECHO:
        return None
    context = error.get("ctx") or {}
    choices = re.findall(r"'([^']*)'", str(context.get("expected", "")))
    return closest(given, choices)


def rendered_note(error: Mapping[str, Any], written: Mapping[str, Any] | None) -> str:
    """`` (the template '{{ input.wait }}' rendered to null)`` when the failing value came
    from a template of ``written`` (the node's data as written), else ``""``.

    Only the rendered value's type is named: it is run data, and may be a secret.
    """
    if written is None:
        return ""
    current: Any = written
    for part in error.get("loc", ()):
        if isinstance(current, str):
            break
        try:
            current = current[part]
        except (KeyError, IndexError, TypeError):
            return ""
    if not isinstance(current, str) or "{{" not in current:
        return ""
    raw = current if len(current) <= _MAX_ECHO else current[: _MAX_ECHO - 3] + "..."
    return f" (the template '{raw}' rendered to {_kind(error.get('input'))})"


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "an empty string" if not value else "a string"
    if isinstance(value, list | tuple):
        return "a list"
    if isinstance(value, Mapping):
        return "an object"
    return type(value).__name__
