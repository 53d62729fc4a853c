"""``{{ expr }}`` templates in strings: scanning, rendering and compile-time checks."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from flov7.engine.expressions.limits import Budget
from flov7.engine.expressions.parser import CompiledExpression, compile_expression
from flov7.engine.expressions.values import short, to_text
from flov7.errors import ExpressionError

MAX_RENDERED_LENGTH = 1_000_000
"""Longest string a template with text around its ``{{ }}`` may render to (a node's whole
rendered config must stay under Temporal's payload limit anyway)."""


@dataclass(frozen=True)
class _Template:
    raw: str  # the whole '{{ ... }}', quoted in error messages
    source: str  # the expression between the braces


def _find_close(text: str, start: int) -> int:
    """Index of the '}}' closing a template whose body starts at ``start``, or -1.

    Skips braces inside string literals and nested dict literals, so
    ``{{ {"a": {"b": 1}} }}`` and ``{{ "}}" }}`` work. If that scan fails (say an
    unbalanced quote), fall back to the first '}}' and let the compiler report the error.
    """
    depth = 0
    quote = ""
    index = start
    length = len(text)
    while index < length:
        char = text[index]
        if quote:
            if char == "\\":
                index += 1
            elif char == quote:
                quote = ""
        elif char in "\"'":
            quote = char
        elif char == "{":
            depth += 1
        elif char == "}":
            if depth == 0 and text.startswith("}}", index):
                return index
            depth = max(depth - 1, 0)
        index += 1
    return text.find("}}", start)


def _split_template(text: str) -> list[str | _Template]:
    """Split text into literal strings and templates; raise on an unclosed '{{'."""
    parts: list[str | _Template] = []
    position = 0
    while True:
        opening = text.find("{{", position)
        if opening < 0:
            break
        closing = _find_close(text, opening + 2)
        if closing < 0:
            raise ExpressionError(
                f"Unclosed '{{{{' in template '{short(text[opening:])}'; add the closing '}}}}'"
            )
        if opening > position:
            parts.append(text[position:opening])
        parts.append(_Template(text[opening : closing + 2], text[opening + 2 : closing].strip()))
        position = closing + 2
    if position < len(text):
        parts.append(text[position:])
    return parts


def _template_error(template: _Template, exc: ExpressionError) -> ExpressionError:
    return ExpressionError(f"In template '{short(template.raw, 80)}': {exc}")


def _compile_template(template: _Template) -> CompiledExpression:
    try:
        return compile_expression(template.source)
    except ExpressionError as exc:
        raise _template_error(template, exc) from None


def _eval_template(template: _Template, scope: Mapping[str, Any]) -> Any:
    compiled = _compile_template(template)
    try:
        return compiled.evaluate(scope)
    except ExpressionError as exc:
        raise _template_error(template, exc) from None


def has_template(text: str) -> bool:
    """True if ``text`` is a string containing a ``{{ ... }}``."""
    if not isinstance(text, str):
        return False
    opening = text.find("{{")
    return opening >= 0 and text.find("}}", opening + 2) >= 0


def render_template(text: str, scope: Mapping[str, Any]) -> Any:
    """Render the ``{{ expr }}`` templates in ``text``.

    If ``text`` (ignoring surrounding whitespace) is exactly one template, the raw value is
    returned, so ``"{{ inputs.items }}"`` stays a list. Otherwise every template is replaced
    by text: strings as-is, None as "", booleans as true/false, lists and dicts as compact
    JSON. Raises :class:`ExpressionError` naming the failing template.
    """
    # type() before isinstance: this runs in workflow code, where the sandbox wraps
    # isinstance in Python (see flov7.engine.json_check).
    if not (type(text) is str or isinstance(text, str)) or "{{" not in text:
        return text
    parts = _split_template(text)
    templates = [part for part in parts if isinstance(part, _Template)]
    literals = [part for part in parts if isinstance(part, str)]
    if len(templates) == 1 and all(not literal.strip() for literal in literals):
        return _eval_template(templates[0], scope)
    # Converting and joining the pieces is charged to the node's budget and bounded.
    budget = Budget()
    pieces: list[str] = []
    total = 0
    for part in parts:
        piece = part if isinstance(part, str) else _eval_template(part, scope)
        if isinstance(part, _Template):
            try:
                piece = to_text(piece, budget, MAX_RENDERED_LENGTH - total)
            except ExpressionError as exc:
                raise _template_error(part, exc) from None
        total += len(piece)
        if total > MAX_RENDERED_LENGTH:
            raise ExpressionError(
                f"Template renders to more than {MAX_RENDERED_LENGTH} characters: "
                f"'{short(text, 80)}'"
            )
        pieces.append(piece)
    budget.charge_chars(total)
    return "".join(pieces)


def render_value(value: Any, scope: Mapping[str, Any]) -> Any:
    """Render templates in every string of ``value``, recursing into dict values and list
    items. Dict keys and non-string leaves are left alone; the input is not modified."""
    if type(value) is str or isinstance(value, str):
        return render_template(value, scope)
    if isinstance(value, Mapping):
        return {key: render_value(item, scope) for key, item in value.items()}
    if isinstance(value, list):
        return [render_value(item, scope) for item in value]
    if isinstance(value, tuple):
        return tuple(render_value(item, scope) for item in value)
    return value


def template_errors(value: Any, path: str = "") -> list[tuple[str, str]]:
    """List ``(path, message)`` for every template in ``value`` that does not compile.

    Paths look like ``headers.Authorization`` or ``body.items[2]``; recursion follows
    :func:`render_value`. Unclosed ``{{`` is reported too. Nothing is evaluated.
    """
    errors: list[tuple[str, str]] = []
    if type(value) is str or isinstance(value, str):
        if "{{" not in value:
            return errors
        try:
            parts = _split_template(value)
        except ExpressionError as exc:
            return [(path, str(exc))]
        for part in parts:
            if isinstance(part, _Template):
                try:
                    _compile_template(part)
                except ExpressionError as exc:
                    errors.append((path, str(exc)))
    elif isinstance(value, Mapping):
        for key, item in value.items():
            errors.extend(template_errors(item, f"{path}.{key}" if path else str(key)))
    elif isinstance(value, list | tuple):
        for index, item in enumerate(value):
            errors.extend(template_errors(item, f"{path}[{index}]"))
    return errors


def template_sources(text: str) -> list[tuple[str, str]]:
    """``(raw, source)`` of every ``{{ }}`` in ``text`` (``("{{ a.b }}", "a.b")``).

    For static checks that read what a template refers to; an unclosed ``{{`` gives an
    empty list (:func:`template_errors` reports it).
    """
    if not isinstance(text, str) or "{{" not in text:
        return []
    try:
        parts = _split_template(text)
    except ExpressionError:
        return []
    return [(part.raw, part.source) for part in parts if isinstance(part, _Template)]
