"""Source text to :class:`CompiledExpression`: parse, then check every node.

Nothing is ever handed to Python's ``eval``/``exec``/``compile``. The source is parsed with
``ast.parse(mode="eval")`` and every node is checked against a whitelist, against the size
and depth limits and against the name rules of :mod:`.names`. Only then can the tree be
walked by the :class:`~.evaluator.Evaluator`.
"""

from __future__ import annotations

import ast
import functools
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from flov7.engine.expressions.evaluator import Evaluator
from flov7.engine.expressions.functions import FUNCTIONS
from flov7.engine.expressions.limits import (
    MAX_AST_NODES,
    MAX_DEPTH,
    MAX_SOURCE_LENGTH,
    check_number,
)
from flov7.engine.expressions.methods import ALL_METHODS
from flov7.engine.expressions.names import refuse_dunder, refuse_private
from flov7.engine.expressions.values import short, type_name
from flov7.errors import ExpressionError

# Node types the interpreter understands. Anything else is refused at compile time.
# fmt: off
_ALLOWED_NODES: frozenset[type[ast.AST]] = frozenset({
    ast.Expression, ast.Constant, ast.Name, ast.Load, ast.Attribute, ast.Subscript, ast.Slice,
    ast.List, ast.Tuple, ast.Dict, ast.BinOp, ast.UnaryOp, ast.BoolOp, ast.Compare, ast.IfExp,
    ast.Call,
    ast.keyword,  # parsed so the call check can name the function, then refused there
    ast.And, ast.Or, ast.Add, ast.Sub, ast.Mult, ast.Div, ast.FloorDiv, ast.Mod, ast.Pow,
    ast.UAdd, ast.USub, ast.Not,
    ast.Eq, ast.NotEq, ast.Lt, ast.LtE, ast.Gt, ast.GtE, ast.In, ast.NotIn, ast.Is, ast.IsNot,
})
# fmt: on

# Refused node types with a message that names the construct.
_REFUSED_NODES: dict[type[ast.AST], str] = {
    ast.Lambda: "'lambda' is not allowed",
    ast.ListComp: "Comprehensions are not allowed",
    ast.SetComp: "Comprehensions are not allowed",
    ast.DictComp: "Comprehensions are not allowed",
    ast.GeneratorExp: "Generator expressions are not allowed",
    ast.JoinedStr: "f-strings are not allowed; use a {{ }} template or + instead",
    ast.FormattedValue: "f-strings are not allowed; use a {{ }} template or + instead",
    ast.NamedExpr: "Assignment expressions (:=) are not allowed",
    ast.Starred: "Starred expressions (*x) are not allowed",
    ast.Await: "'await' is not allowed",
    ast.Yield: "'yield' is not allowed",
    ast.YieldFrom: "'yield' is not allowed",
    ast.Set: "Set literals are not allowed; use a list",
    ast.Invert: "Operator '~' is not supported",
    ast.BitAnd: "Operator '&' is not supported; use 'and'",
    ast.BitOr: "Operator '|' is not supported; use 'or'",
    ast.BitXor: "Operator '^' is not supported; use '**' for powers",
    ast.LShift: "Operator '<<' is not supported",
    ast.RShift: "Operator '>>' is not supported",
    ast.MatMult: "Operator '@' is not supported",
}


@dataclass(frozen=True)
class CompiledExpression:
    """A parsed and whitelist-checked expression, ready to evaluate many times."""

    source: str
    tree: ast.Expression = field(repr=False, compare=False)

    def evaluate(self, scope: Mapping[str, Any]) -> Any:
        """Evaluate against ``scope`` (``inputs``, ``nodes``, ...); never mutates it.

        Raises :class:`ExpressionError` for every failure, including exhausted budgets.
        """
        if not isinstance(scope, Mapping):
            raise ExpressionError("The expression scope must be a mapping of names to values")
        try:
            return Evaluator(scope).visit(self.tree.body)
        except RecursionError:
            # Only reachable through pathologically deep data in the scope (e.g. comparing
            # two 10,000-level lists); the expression itself is depth-limited.
            raise ExpressionError("Value is nested too deeply to evaluate") from None
        except MemoryError:
            raise ExpressionError("Expression needs too much memory") from None


def _syntax_error(source: str, exc: SyntaxError) -> ExpressionError:
    message = exc.msg or "invalid syntax"
    # At the end of the input Python reports offset 0/None; point just past the text.
    column = exc.offset if exc.offset and exc.offset > 0 else len(source) + 1
    where = f"line {exc.lineno} column {column}" if (exc.lineno or 1) > 1 else f"column {column}"
    return ExpressionError(f"Invalid expression '{short(source)}': {message} at {where}")


def _parse(source: str) -> ast.Expression:
    if len(source) > MAX_SOURCE_LENGTH:
        raise ExpressionError(
            f"Expression too long ({len(source)} characters; the limit is {MAX_SOURCE_LENGTH})"
        )
    if not source.strip():
        raise ExpressionError("Empty expression")
    try:
        return ast.parse(source.strip(), mode="eval")
    except SyntaxError as exc:
        raise _syntax_error(source.strip(), exc) from None
    except (RecursionError, MemoryError):
        # CPython's parser gives up on very deep nesting such as '-' * 4000 + '1'.
        raise ExpressionError(f"Expression '{short(source)}' is nested too deeply") from None
    except ValueError as exc:  # e.g. NUL bytes in the source (Python 3.11)
        raise ExpressionError(f"Invalid expression: {short(str(exc))}") from None


def _collect(tree: ast.Expression) -> list[ast.AST]:
    """Iteratively list every node, enforcing size, depth and the node-type whitelist.

    Nodes come out parent first, so a call is checked before the name it calls.
    """
    nodes: list[ast.AST] = []
    expr_count = 0
    stack: list[tuple[ast.AST, int]] = [(tree, 0)]
    while stack:
        node, depth = stack.pop()
        if depth > MAX_DEPTH:
            raise ExpressionError(f"Expression is nested too deeply (the limit is {MAX_DEPTH})")
        if isinstance(node, ast.expr):
            expr_count += 1
            if expr_count > MAX_AST_NODES:
                raise ExpressionError(
                    f"Expression is too complex (more than {MAX_AST_NODES} parts)"
                )
        node_type = type(node)
        if node_type not in _ALLOWED_NODES:
            reason = _REFUSED_NODES.get(node_type)
            if reason is None:
                reason = f"'{node_type.__name__}' syntax is not allowed"
            raise ExpressionError(reason)
        nodes.append(node)
        stack.extend((child, depth + 1) for child in ast.iter_child_nodes(node))
    return nodes


def _is_none_literal(node: ast.expr) -> bool:
    return (isinstance(node, ast.Constant) and node.value is None) or (
        isinstance(node, ast.Name) and node.id == "null"
    )


def _check_node(node: ast.AST) -> None:
    """Per-node rules that go beyond the type whitelist."""
    if isinstance(node, ast.Name):
        refuse_private(node.id)  # a scope name (or a function name, see _check_call)
    elif isinstance(node, ast.Attribute):
        refuse_dunder(node.attr)  # 'a.b' is a dict-key lookup; '._id' is data
    elif isinstance(node, ast.Constant):
        value = node.value
        if isinstance(value, bytes):
            raise ExpressionError("Bytes literals are not allowed")
        if value is Ellipsis:
            raise ExpressionError("'...' (Ellipsis) is not allowed")
        if not (value is None or isinstance(value, str | int | float)):
            raise ExpressionError(f"Literals of type {type(value).__name__} are not allowed")
        check_number(value)  # a 5000-digit literal or 1e999 is refused up front
    elif isinstance(node, ast.Subscript):
        key = node.slice
        if isinstance(key, ast.Constant) and isinstance(key.value, str):
            refuse_dunder(key.value)  # computed keys are checked at run time (lookup_key)
    elif isinstance(node, ast.Dict):
        if any(key is None for key in node.keys):
            raise ExpressionError("Dict unpacking (**) is not allowed")
    elif isinstance(node, ast.BinOp):
        if (
            isinstance(node.op, ast.Mod)
            and isinstance(node.left, ast.Constant)
            and isinstance(node.left.value, str)
        ):
            raise ExpressionError("'%' string formatting is not allowed; use + or a template")
    elif isinstance(node, ast.Compare):
        operands = [node.left, *node.comparators]
        for index, op in enumerate(node.ops):
            if isinstance(op, ast.Is | ast.IsNot) and not (
                _is_none_literal(operands[index]) or _is_none_literal(operands[index + 1])
            ):
                raise ExpressionError("'is' / 'is not' may only compare with None; use ==")
    elif isinstance(node, ast.Call):
        _check_call(node)


def _check_call(node: ast.Call) -> None:
    func = node.func
    if isinstance(func, ast.Name):
        if func.id not in FUNCTIONS:
            refuse_private(func.id)
            raise ExpressionError(
                f"Function '{func.id}' is not allowed; available: {', '.join(sorted(FUNCTIONS))}"
            )
    elif isinstance(func, ast.Attribute):
        # Method names are a whitelist; '_' names get the clearer "not allowed" message.
        refuse_private(func.attr)
        if func.attr not in ALL_METHODS:
            raise ExpressionError(
                f"Method '.{func.attr}()' is not allowed; allowed: {', '.join(sorted(ALL_METHODS))}"
            )
    else:
        raise ExpressionError(
            "Only named functions and allowed methods can be called, not the result of an "
            "expression"
        )
    if node.keywords:
        raise ExpressionError("Keyword arguments are not supported; pass arguments by position")


@functools.lru_cache(maxsize=1024)
def _compile_cached(source: str) -> CompiledExpression:
    tree = _parse(source)
    nodes = _collect(tree)
    for node in nodes:
        _check_node(node)
    return CompiledExpression(source=source, tree=tree)


def compile_expression(source: str) -> CompiledExpression:
    """Parse and validate ``source``; the result is cached per source text.

    Raises :class:`ExpressionError` for syntax errors, refused constructs (lambda,
    comprehensions, f-strings, ``_``-names, ``__``-keys, non-whitelisted calls, ...) and
    oversized input.
    """
    if not isinstance(source, str):
        raise ExpressionError(f"An expression must be a string, got {type_name(source)}")
    return _compile_cached(source)


def check_expression(source: str) -> None:
    """Raise :class:`ExpressionError` if ``source`` does not compile; otherwise do nothing."""
    compile_expression(source)


def evaluate(source: str, scope: Mapping[str, Any]) -> Any:
    """Compile (cached) and evaluate ``source`` against ``scope``."""
    return compile_expression(source).evaluate(scope)
