"""A small, safe, Python-like expression language and ``{{ }}`` templates.

Workflow documents carry user-written expressions such as ``inputs.status_code == 200`` or
``"big" if inputs.total > 100 else "small"``. They are evaluated inside Temporal workflow
code, so this module is built around three constraints:

* **Safe.** Nothing is ever handed to Python's ``eval``/``exec``/``compile``. The source is
  parsed with ``ast.parse(mode="eval")``, every node is checked against a whitelist, and a
  small interpreter walks the tree. There is no real attribute access: ``a.b`` is a dict
  key lookup, and only a fixed list of functions and string/dict/list methods can be called,
  so no path leads to Python objects such as ``__class__`` or ``__globals__``.
* **Bounded.** Every source, tree, string, list, integer and JSON document is size-limited,
  and growth (``"a" * n``, ``2 ** n``, ``replace``...) is estimated *before* the work is
  done. Evaluation also has a step budget; there are no wall-clock timeouts because those
  would break replay determinism.
* **Deterministic.** No time, randomness, I/O or hash-ordered iteration (set literals are
  refused because string hashing is randomised per process). Only the stdlib is used, and
  importing the module has no side effects.
"""

from __future__ import annotations

import ast
import functools
import json
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from flov7.errors import ExpressionError

__all__ = [
    "MAX_AST_NODES",
    "MAX_COLLECTION_ITEMS",
    "MAX_DEPTH",
    "MAX_EXPONENT",
    "MAX_INT_BITS",
    "MAX_JSON_DEPTH",
    "MAX_NUMBER_TEXT",
    "MAX_SOURCE_LENGTH",
    "MAX_STEPS",
    "MAX_STR_LENGTH",
    "CompiledExpression",
    "check_expression",
    "compile_expression",
    "evaluate",
    "has_template",
    "render_template",
    "render_value",
    "template_errors",
]

# --- limits -------------------------------------------------------------------------------

MAX_SOURCE_LENGTH = 4096
"""Longest accepted expression source, in characters."""
MAX_AST_NODES = 400
"""Most expression nodes (``ast.expr``) one expression may contain."""
MAX_DEPTH = 40
"""Deepest nesting of the syntax tree; keeps the recursive interpreter far from the C stack."""
MAX_STEPS = 100_000
"""Work budget per evaluation: one step per node visited plus one per collection item a
function walks (``sorted``, ``sum``, ``range``, ...). Counting work, not time, keeps replay
deterministic."""
MAX_STR_LENGTH = 100_000
"""Longest string an expression may build."""
MAX_COLLECTION_ITEMS = 10_000
"""Most items in a list or dict an expression may build (nested items count for ``*``)."""
MAX_EXPONENT = 1000
"""Largest absolute exponent for ``**`` and digits for ``round``."""
MAX_INT_BITS = 4096
"""Largest integer an expression may produce, in bits."""
MAX_NUMBER_TEXT = 1300
"""Longest text ``int()``/``float()``/``json_decode`` will parse as one number (about
``MAX_INT_BITS`` in decimal digits)."""
MAX_JSON_DEPTH = 64
"""Deepest ``[``/``{`` nesting ``json_decode`` accepts."""

_NAME_ALIASES: dict[str, Any] = {"true": True, "false": False, "null": None}

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

_OPERATOR_SYMBOLS: dict[type[ast.AST], str] = {
    ast.Add: "+",
    ast.Sub: "-",
    ast.Mult: "*",
    ast.Div: "/",
    ast.FloorDiv: "//",
    ast.Mod: "%",
    ast.Pow: "**",
    ast.Lt: "<",
    ast.LtE: "<=",
    ast.Gt: ">",
    ast.GtE: ">=",
}


# --- small helpers ------------------------------------------------------------------------


def _short(text: str, limit: int = 60) -> str:
    """Clip user text quoted in error messages so messages stay short."""
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _type_name(value: Any) -> str:
    """User-facing type name; never a repr, so no Python internals leak into messages."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "int"
    if isinstance(value, float):
        return "float"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list | tuple):
        return "list"
    if isinstance(value, Mapping):
        return "dict"
    return "object"


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float)


def _check_number(value: Any) -> Any:
    """Refuse integers over ``MAX_INT_BITS`` and non-finite floats (overflow / NaN)."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int):
        if value.bit_length() > MAX_INT_BITS:
            raise ExpressionError(f"Integer too large (more than {MAX_INT_BITS} bits)")
    elif isinstance(value, float):
        if not math.isfinite(value):
            raise ExpressionError("Number too large (float overflow)")
    elif isinstance(value, complex):
        raise ExpressionError("Result is a complex number, which is not supported")
    return value


def _check_str_len(length: int) -> None:
    if length > MAX_STR_LENGTH:
        raise ExpressionError(f"String too long (more than {MAX_STR_LENGTH} characters)")


def _check_items(length: int) -> None:
    if length > MAX_COLLECTION_ITEMS:
        raise ExpressionError(f"Too many items (more than {MAX_COLLECTION_ITEMS})")


def _json_default(value: Any) -> Any:
    # Mappings that are not dicts (e.g. MappingProxyType) still encode as objects; anything
    # else becomes its str() so rendering never crashes on a non-JSON value in the scope.
    if isinstance(value, Mapping):
        return dict(value)
    return str(value)


def _to_json(value: Any) -> str:
    try:
        return json.dumps(value, separators=(",", ":"), ensure_ascii=False, default=_json_default)
    except (TypeError, ValueError, RecursionError) as exc:
        raise ExpressionError(f"Value cannot be converted to JSON: {_short(str(exc))}") from None


def _to_text(value: Any) -> str:
    """Text form used by templates and ``str()``: JSON-flavoured, never a Python repr."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return value
    if isinstance(value, int | float):
        try:
            return str(value)
        except ValueError:  # int with more digits than Python will print
            raise ExpressionError("Integer too large to convert to text") from None
    if isinstance(value, list | tuple | Mapping):
        return _to_json(value)
    return str(value)


def _hashable_key(value: Any, what: str) -> Any:
    if isinstance(value, str | int | float | bool) or value is None:
        return value
    raise ExpressionError(f"{what} must be a string or number, got {_type_name(value)}")


def _refuse_private(name: str) -> None:
    if name.startswith("_"):
        raise ExpressionError(
            f"Invalid name '{_short(name)}': names starting with '_' are not allowed"
        )


def _lookup_key(obj: Mapping[Any, Any], key: Any) -> Any:
    """Dict lookup: missing keys give None (lenient, like JS optional chaining)."""
    if isinstance(key, str):
        _refuse_private(key)
    key = _hashable_key(key, "Dict key")
    try:
        return obj[key]
    except KeyError:
        return None


# --- the interpreter ----------------------------------------------------------------------


class _Evaluator:
    """Evaluates one validated tree against one scope; carries the step budget."""

    __slots__ = ("scope", "steps")

    def __init__(self, scope: Mapping[str, Any]) -> None:
        self.scope = scope
        self.steps = 0

    def charge(self, amount: int) -> None:
        self.steps += amount
        if self.steps > MAX_STEPS:
            raise ExpressionError(
                f"Expression is too expensive (more than {MAX_STEPS} steps); simplify it"
            )

    def weight(self, value: Any) -> tuple[int, int]:
        """(nested items, characters) in a value, counted iteratively and capped.

        Repetition (``[x] * n``) shares references, so the *rendered* size is n times the
        nested size of x; this is what must be bounded, not just the outer length.
        """
        items = chars = 0
        stack = [value]
        while stack:
            current = stack.pop()
            if isinstance(current, str):
                chars += len(current)
            elif isinstance(current, int) and not isinstance(current, bool):
                chars += current.bit_length() // 3
            elif isinstance(current, list | tuple | Mapping):
                items += len(current)
                if items > MAX_COLLECTION_ITEMS:
                    break
                stack.extend(current.values() if isinstance(current, Mapping) else current)
            if chars > MAX_STR_LENGTH:
                break
        self.charge(items)
        return items, chars

    # The dispatcher. Depth is bounded at compile time, so plain recursion is safe.
    def visit(self, node: ast.expr) -> Any:
        self.charge(1)
        if isinstance(node, ast.Constant):
            return node.value
        if isinstance(node, ast.Name):
            return self.eval_name(node.id)
        if isinstance(node, ast.Attribute):
            return self.eval_attribute(self.visit(node.value), node.attr)
        if isinstance(node, ast.Subscript):
            return self.eval_subscript(node)
        if isinstance(node, ast.BinOp):
            return self.eval_binop(node.op, self.visit(node.left), self.visit(node.right))
        if isinstance(node, ast.UnaryOp):
            return self.eval_unary(node.op, self.visit(node.operand))
        if isinstance(node, ast.BoolOp):
            return self.eval_boolop(node)
        if isinstance(node, ast.Compare):
            return self.eval_compare(node)
        if isinstance(node, ast.IfExp):
            return self.visit(node.body) if self.visit(node.test) else self.visit(node.orelse)
        if isinstance(node, ast.Call):
            return self.eval_call(node)
        if isinstance(node, ast.List):
            return [self.visit(item) for item in node.elts]
        if isinstance(node, ast.Tuple):
            return tuple(self.visit(item) for item in node.elts)
        if isinstance(node, ast.Dict):
            result: dict[Any, Any] = {}
            for key_node, value_node in zip(node.keys, node.values, strict=True):
                assert key_node is not None  # '**' unpacking is refused at compile time
                key = _hashable_key(self.visit(key_node), "Dict key")
                result[key] = self.visit(value_node)
            return result
        # Unreachable for validated trees; kept so a whitelist mistake fails closed.
        raise ExpressionError(f"Unsupported syntax: {type(node).__name__}")

    def eval_name(self, name: str) -> Any:
        if name in _NAME_ALIASES:
            return _NAME_ALIASES[name]
        if name in self.scope:
            return self.scope[name]
        if name in _FUNCTIONS:
            raise ExpressionError(f"'{name}' is a function; call it like {name}(...)")
        available = ", ".join(
            key for key in self.scope if isinstance(key, str) and not key.startswith("_")
        )
        raise ExpressionError(f"Unknown name '{name}'; available: {available or '(none)'}")

    def eval_attribute(self, obj: Any, name: str) -> Any:
        if obj is None:
            return None
        if isinstance(obj, Mapping):
            return _lookup_key(obj, name)
        if name in _methods_for(obj):
            raise ExpressionError(f"'.{name}' is a method; call it like .{name}()")
        raise ExpressionError(
            f"Cannot read '.{name}' of a {_type_name(obj)}; only dicts have fields"
        )

    def eval_subscript(self, node: ast.Subscript) -> Any:
        obj = self.visit(node.value)
        if isinstance(node.slice, ast.Slice):
            return self.eval_slice(obj, node.slice)
        key = self.visit(node.slice)
        if obj is None:
            return None
        if isinstance(obj, Mapping):
            return _lookup_key(obj, key)
        if isinstance(obj, list | tuple | str):
            if not isinstance(key, int):
                raise ExpressionError(
                    f"A {_type_name(obj)} index must be an integer, got {_type_name(key)}"
                )
            if -len(obj) <= key < len(obj):
                return obj[key]
            return None
        raise ExpressionError(f"Cannot index a {_type_name(obj)}")

    def eval_slice(self, obj: Any, node: ast.Slice) -> Any:
        bounds = []
        for part in (node.lower, node.upper, node.step):
            value = None if part is None else self.visit(part)
            if value is not None and not isinstance(value, int):
                raise ExpressionError(f"Slice bounds must be integers, got {_type_name(value)}")
            bounds.append(value)
        if bounds[2] == 0:
            raise ExpressionError("Slice step cannot be zero")
        if obj is None:
            return None
        if not isinstance(obj, list | tuple | str):
            raise ExpressionError(f"Cannot slice a {_type_name(obj)}")
        try:
            result = obj[slice(*bounds)]
        except OverflowError:  # slice bounds wider than the platform's ssize_t
            raise ExpressionError("Slice bounds are too large") from None
        if isinstance(result, str):
            _check_str_len(len(result))
        else:
            _check_items(len(result))
            self.charge(len(result))
        return result

    # --- operators --------------------------------------------------------------------------

    def eval_binop(self, op: ast.operator, left: Any, right: Any) -> Any:
        op_type = type(op)
        if op_type is ast.Add:
            return self.add(left, right)
        if op_type is ast.Mult:
            return self.multiply(left, right)
        if op_type is ast.Mod and isinstance(left, str):
            raise ExpressionError("'%' string formatting is not allowed; use + or a template")
        symbol = _OPERATOR_SYMBOLS[op_type]
        if not (_is_number(left) and _is_number(right)):
            raise ExpressionError(
                f"Cannot apply '{symbol}' to {_type_name(left)} and {_type_name(right)}"
            )
        if op_type is ast.Pow:
            return self.power(left, right)
        try:
            if op_type is ast.Sub:
                result = left - right
            elif op_type is ast.Div:
                result = left / right
            elif op_type is ast.FloorDiv:
                result = left // right
            else:  # ast.Mod
                result = left % right
        except ZeroDivisionError:
            raise ExpressionError("division by zero") from None
        except OverflowError:
            raise ExpressionError("Number too large (float overflow)") from None
        return _check_number(result)

    def add(self, left: Any, right: Any) -> Any:
        if isinstance(left, str) and isinstance(right, str):
            _check_str_len(len(left) + len(right))  # checked before the copy is made
            return left + right
        if isinstance(left, list | tuple) and isinstance(right, list | tuple):
            _check_items(len(left) + len(right))
            self.charge(len(left) + len(right))
            if isinstance(left, tuple) and isinstance(right, tuple):
                return left + right
            return [*left, *right]
        if _is_number(left) and _is_number(right):
            try:
                return _check_number(left + right)
            except OverflowError:
                raise ExpressionError("Number too large (float overflow)") from None
        hint = (
            "; convert with str() first" if isinstance(left, str) or isinstance(right, str) else ""
        )
        raise ExpressionError(
            f"Cannot apply '+' to {_type_name(left)} and {_type_name(right)}{hint}"
        )

    def multiply(self, left: Any, right: Any) -> Any:
        if isinstance(right, str | list | tuple) and isinstance(left, int):
            left, right = right, left
        if isinstance(left, str) and isinstance(right, int):
            _check_str_len(len(left) * max(right, 0))  # before building the string
            return left * right
        if isinstance(left, list | tuple) and isinstance(right, int):
            count = max(right, 0)
            if count and left:
                items, chars = self.weight(left)
                _check_items(items * count)
                _check_str_len(chars * count)
            self.charge(len(left) * count)
            return list(left) * count if isinstance(left, list) else left * count
        if _is_number(left) and _is_number(right):
            try:
                return _check_number(left * right)
            except OverflowError:
                raise ExpressionError("Number too large (float overflow)") from None
        raise ExpressionError(f"Cannot apply '*' to {_type_name(left)} and {_type_name(right)}")

    def power(self, base: Any, exponent: Any) -> Any:
        if abs(exponent) > MAX_EXPONENT:
            raise ExpressionError(f"Exponent too large (the limit is {MAX_EXPONENT})")
        if (
            isinstance(base, int)
            and isinstance(exponent, int)
            and exponent > 0
            and abs(base).bit_length() * exponent > MAX_INT_BITS + exponent
        ):
            # Estimated before computing: |b|**e has at least (bit_length(b) - 1) * e bits, so
            # anything refused here is surely too big; borderline results (at most
            # MAX_INT_BITS + MAX_EXPONENT bits, cheap to compute) get the exact check below.
            raise ExpressionError(f"Integer too large (more than {MAX_INT_BITS} bits)")
        try:
            result = base**exponent
        except ZeroDivisionError:
            raise ExpressionError("division by zero") from None
        except OverflowError:
            raise ExpressionError("Number too large (float overflow)") from None
        return _check_number(result)

    def eval_unary(self, op: ast.unaryop, operand: Any) -> Any:
        if isinstance(op, ast.Not):
            return not operand
        if not _is_number(operand):
            symbol = "-" if isinstance(op, ast.USub) else "+"
            raise ExpressionError(f"Cannot apply unary '{symbol}' to {_type_name(operand)}")
        return -operand if isinstance(op, ast.USub) else +operand

    def eval_boolop(self, node: ast.BoolOp) -> Any:
        # Short-circuits and returns the deciding operand, like Python.
        is_and = isinstance(node.op, ast.And)
        value: Any = None
        for operand in node.values:
            value = self.visit(operand)
            if bool(value) != is_and:
                return value
        return value

    def eval_compare(self, node: ast.Compare) -> bool:
        left = self.visit(node.left)
        for op, right_node in zip(node.ops, node.comparators, strict=True):
            right = self.visit(right_node)
            if not self.compare(op, left, right):
                return False
            left = right
        return True

    def compare(self, op: ast.cmpop, left: Any, right: Any) -> bool:
        if isinstance(op, ast.Eq):
            return bool(left == right)
        if isinstance(op, ast.NotEq):
            return bool(left != right)
        if isinstance(op, ast.Is):  # only ever against None (checked at compile time)
            return left is right
        if isinstance(op, ast.IsNot):
            return left is not right
        if isinstance(op, ast.In):
            return self.contains(right, left, "in")
        if isinstance(op, ast.NotIn):
            return not self.contains(right, left, "not in")
        symbol = _OPERATOR_SYMBOLS[type(op)]
        try:
            if isinstance(op, ast.Lt):
                return bool(left < right)
            if isinstance(op, ast.LtE):
                return bool(left <= right)
            if isinstance(op, ast.Gt):
                return bool(left > right)
            return bool(left >= right)
        except TypeError:
            raise ExpressionError(
                f"Cannot compare {_type_name(left)} and {_type_name(right)} with '{symbol}'"
            ) from None

    def contains(self, container: Any, item: Any, what: str) -> bool:
        if container is None:  # a missing list/dict contains nothing
            return False
        if isinstance(container, str):
            if not isinstance(item, str):
                raise ExpressionError(
                    f"'{what}' on a string needs a string on the left, got {_type_name(item)}"
                )
            return item in container
        if isinstance(container, list | tuple):
            self.charge(len(container))
            return item in container
        if isinstance(container, Mapping):
            return _hashable_key(item, "Dict key") in container
        raise ExpressionError(f"Cannot use '{what}' with a {_type_name(container)}")

    # --- calls ------------------------------------------------------------------------------

    def eval_call(self, node: ast.Call) -> Any:
        func = node.func
        if isinstance(func, ast.Name):
            name = func.id
            implementation, min_args, max_args = _FUNCTIONS[name]
            label = f"{name}()"
            args = [self.visit(arg) for arg in node.args]
            _check_arity(label, len(args), min_args, max_args)
            return _call_guarded(label, implementation, self, args)
        assert isinstance(func, ast.Attribute)  # guaranteed by the compile-time check
        receiver = self.visit(func.value)
        name = func.attr
        label = f".{name}()"
        methods = _methods_for(receiver)
        if name not in methods:
            if receiver is None:
                raise ExpressionError(
                    f"Cannot call {label} on null (a missing value?); use default() first"
                )
            allowed = ", ".join(sorted(methods)) or "none"
            raise ExpressionError(
                f"{label} is not a {_type_name(receiver)} method; allowed: {allowed}"
            )
        implementation, min_args, max_args = methods[name]
        args = [self.visit(arg) for arg in node.args]
        _check_arity(label, len(args), min_args, max_args)
        return _call_guarded(label, implementation, self, [receiver, *args])


def _check_arity(label: str, count: int, min_args: int, max_args: int | None) -> None:
    if count < min_args or (max_args is not None and count > max_args):
        if max_args is None:
            expected = f"at least {min_args}"
        elif min_args == max_args:
            expected = str(min_args)
        else:
            expected = f"{min_args} to {max_args}"
        plural = "" if expected == "1" else "s"
        raise ExpressionError(f"{label} takes {expected} argument{plural}, got {count}")


def _call_guarded(
    label: str, implementation: Callable[..., Any], evaluator: _Evaluator, args: list[Any]
) -> Any:
    # The implementations validate their arguments and raise ExpressionError themselves;
    # this is the safety net that keeps a stray Python exception from escaping as a crash.
    try:
        return implementation(evaluator, *args)
    except ExpressionError:
        raise
    except ZeroDivisionError:
        raise ExpressionError(f"{label}: division by zero") from None
    except OverflowError:
        raise ExpressionError(f"{label}: number too large") from None
    except (TypeError, ValueError) as exc:
        raise ExpressionError(f"{label}: {_short(str(exc), 120)}") from None


# --- functions ----------------------------------------------------------------------------


def _need_str(label: str, value: Any, what: str = "a string") -> str:
    if not isinstance(value, str):
        raise ExpressionError(f"{label} needs {what}, got {_type_name(value)}")
    return value


def _need_list(label: str, value: Any) -> list[Any] | tuple[Any, ...]:
    if not isinstance(value, list | tuple):
        raise ExpressionError(f"{label} needs a list, got {_type_name(value)}")
    return value


def _need_number(label: str, value: Any) -> int | float:
    if not _is_number(value):
        raise ExpressionError(f"{label} needs a number, got {_type_name(value)}")
    return value  # type: ignore[no-any-return]


def _need_dict(label: str, value: Any) -> Mapping[Any, Any]:
    if not isinstance(value, Mapping):
        raise ExpressionError(f"{label} needs a dict, got {_type_name(value)}")
    return value


def _fn_len(ev: _Evaluator, value: Any) -> int:
    if isinstance(value, str | list | tuple | Mapping):
        return len(value)
    raise ExpressionError(f"len() needs a string, list or dict, got {_type_name(value)}")


def _fn_str(ev: _Evaluator, value: Any) -> str:
    text = _to_text(value)
    _check_str_len(len(text))
    return text


def _number_text(label: str, text: str) -> str:
    text = text.strip()
    if len(text) > MAX_NUMBER_TEXT:
        raise ExpressionError(f"{label} text is too long (more than {MAX_NUMBER_TEXT} characters)")
    return text


def _fn_int(ev: _Evaluator, value: Any) -> int:
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return int(_check_number(value))
    if isinstance(value, str):
        text = _number_text("int()", value)
        try:
            result = int(text)
        except ValueError:
            raise ExpressionError(f"int() cannot parse '{_short(text)}' as an integer") from None
        return int(_check_number(result))
    raise ExpressionError(f"int() needs a number or string, got {_type_name(value)}")


def _fn_float(ev: _Evaluator, value: Any) -> float:
    if isinstance(value, str):
        text = _number_text("float()", value)
        try:
            result = float(text)
        except ValueError:
            raise ExpressionError(f"float() cannot parse '{_short(text)}' as a number") from None
    elif _is_number(value):
        result = float(value)  # OverflowError for huge ints is turned into a message
    else:
        raise ExpressionError(f"float() needs a number or string, got {_type_name(value)}")
    if not math.isfinite(result):
        raise ExpressionError("float() result is not a finite number")
    return result


def _fn_bool(ev: _Evaluator, value: Any) -> bool:
    return bool(value)


def _fn_abs(ev: _Evaluator, value: Any) -> int | float:
    return abs(_need_number("abs()", value))


def _min_max_values(ev: _Evaluator, label: str, args: tuple[Any, ...]) -> list[Any]:
    values = list(_need_list(label, args[0])) if len(args) == 1 else list(args)
    ev.charge(len(values))
    if not values:
        raise ExpressionError(f"{label} of an empty list")
    return values


def _fn_min(ev: _Evaluator, *args: Any) -> Any:
    values = _min_max_values(ev, "min()", args)
    try:
        return min(values)
    except TypeError:
        raise ExpressionError("min() needs values of one comparable type") from None


def _fn_max(ev: _Evaluator, *args: Any) -> Any:
    values = _min_max_values(ev, "max()", args)
    try:
        return max(values)
    except TypeError:
        raise ExpressionError("max() needs values of one comparable type") from None


def _fn_sum(ev: _Evaluator, values: Any) -> int | float:
    items = _need_list("sum()", values)
    ev.charge(len(items))
    # Numbers only: summing strings or lists would be quadratic and is what join/+ are for.
    for item in items:
        _need_number("sum()", item)
    return _check_number(sum(items))  # type: ignore[no-any-return]


def _fn_round(ev: _Evaluator, value: Any, digits: Any = None) -> int | float:
    number = _need_number("round()", value)
    if digits is None:
        return _check_number(round(number))  # type: ignore[no-any-return]
    if not isinstance(digits, int):
        raise ExpressionError(f"round() digits must be an integer, got {_type_name(digits)}")
    if abs(digits) > MAX_EXPONENT:  # int rounding computes 10**-digits
        raise ExpressionError(f"round() digits out of range (the limit is {MAX_EXPONENT})")
    return _check_number(round(number, digits))  # type: ignore[no-any-return]


def _fn_sorted(ev: _Evaluator, values: Any) -> list[Any]:
    items = _need_list("sorted()", values)
    _check_items(len(items))
    ev.charge(len(items))
    try:
        return sorted(items)
    except TypeError:
        raise ExpressionError(
            "sorted() needs items of one comparable type (all numbers or all strings)"
        ) from None


def _fn_reversed(ev: _Evaluator, values: Any) -> list[Any]:
    items = values if isinstance(values, str) else _need_list("reversed()", values)
    _check_items(len(items))
    ev.charge(len(items))
    return list(reversed(items))


def _fn_list(ev: _Evaluator, value: Any) -> list[Any]:
    if isinstance(value, str | list | tuple | Mapping):
        _check_items(len(value))
        ev.charge(len(value))
        return list(value)
    raise ExpressionError(f"list() needs a list, string or dict, got {_type_name(value)}")


def _fn_dict(ev: _Evaluator, value: Any = None) -> dict[Any, Any]:
    if value is None:
        return {}
    if isinstance(value, Mapping):
        _check_items(len(value))
        ev.charge(len(value))
        return dict(value)
    pairs = _need_list("dict()", value)
    _check_items(len(pairs))
    ev.charge(len(pairs))
    result: dict[Any, Any] = {}
    for pair in pairs:
        if not isinstance(pair, list | tuple) or len(pair) != 2:
            raise ExpressionError("dict() needs a dict or a list of [key, value] pairs")
        result[_hashable_key(pair[0], "Dict key")] = pair[1]
    return result


def _fn_keys(ev: _Evaluator, value: Any) -> list[Any]:
    mapping = _need_dict("keys()", value)
    _check_items(len(mapping))
    ev.charge(len(mapping))
    return list(mapping.keys())


def _fn_values(ev: _Evaluator, value: Any) -> list[Any]:
    mapping = _need_dict("values()", value)
    _check_items(len(mapping))
    ev.charge(len(mapping))
    return list(mapping.values())


def _fn_items(ev: _Evaluator, value: Any) -> list[list[Any]]:
    mapping = _need_dict("items()", value)
    _check_items(len(mapping))
    ev.charge(len(mapping))
    # Pairs are lists, not tuples, so they render as the same JSON as they print.
    return [[key, item] for key, item in mapping.items()]


def _fn_lower(ev: _Evaluator, value: Any) -> str:
    return _need_str("lower()", value).lower()


def _fn_upper(ev: _Evaluator, value: Any) -> str:
    # Case mapping can grow a string (e.g. 'ß' -> 'SS'), so re-check the length.
    result = _need_str("upper()", value).upper()
    _check_str_len(len(result))
    return result


def _fn_trim(ev: _Evaluator, value: Any) -> str:
    return _need_str("trim()", value).strip()


def _fn_contains(ev: _Evaluator, container: Any, item: Any) -> bool:
    return ev.contains(container, item, "contains()")


def _fn_startswith(ev: _Evaluator, text: Any, prefix: Any) -> bool:
    if text is None:
        return False
    return _need_str("startswith()", text).startswith(_need_str("startswith()", prefix))


def _fn_endswith(ev: _Evaluator, text: Any, suffix: Any) -> bool:
    if text is None:
        return False
    return _need_str("endswith()", text).endswith(_need_str("endswith()", suffix))


def _join(ev: _Evaluator, label: str, separator: Any, values: Any) -> str:
    sep = _need_str(label, separator, "a string separator")
    items = _need_list(label, values)
    ev.charge(len(items))
    parts: list[str] = []
    total = 0
    for item in items:
        text = _to_text(item)
        total += len(text) + (len(sep) if parts else 0)
        _check_str_len(total)  # stops as soon as the result would be too long
        parts.append(text)
    return sep.join(parts)


def _fn_join(ev: _Evaluator, separator: Any, values: Any) -> str:
    return _join(ev, "join()", separator, values)


def _split(ev: _Evaluator, label: str, text: Any, sep: Any = None, maxsplit: Any = -1) -> list[str]:
    source = _need_str(label, text)
    if sep is not None:
        sep = _need_str(label, sep, "a string separator")
        if not sep:
            raise ExpressionError(f"{label} separator cannot be empty")
    if not isinstance(maxsplit, int) or isinstance(maxsplit, bool):
        raise ExpressionError(f"{label} maxsplit must be an integer")
    # Capping maxsplit bounds the work even on a huge string from the scope.
    limit = MAX_COLLECTION_ITEMS if maxsplit < 0 else min(maxsplit, MAX_COLLECTION_ITEMS)
    parts = source.split(sep, limit)
    _check_items(len(parts))
    ev.charge(len(parts))
    return parts


def _fn_split(ev: _Evaluator, text: Any, sep: Any = None) -> list[str]:
    return _split(ev, "split()", text, sep)


def _replace(ev: _Evaluator, label: str, text: Any, old: Any, new: Any, count: Any = -1) -> str:
    source = _need_str(label, text)
    old_text = _need_str(label, old)
    new_text = _need_str(label, new)
    if not isinstance(count, int) or isinstance(count, bool):
        raise ExpressionError(f"{label} count must be an integer")
    # Estimate the result size first: replace('a'*n, 'a', 'a'*n) would otherwise be n**2.
    hits = source.count(old_text) if old_text else len(source) + 1
    if count >= 0:
        hits = min(hits, count)
    _check_str_len(len(source) + hits * (len(new_text) - len(old_text)))
    return source.replace(old_text, new_text, count)


def _fn_replace(ev: _Evaluator, text: Any, old: Any, new: Any) -> str:
    return _replace(ev, "replace()", text, old, new)


def _fn_default(ev: _Evaluator, value: Any, fallback: Any) -> Any:
    return fallback if value is None else value


def _fn_coalesce(ev: _Evaluator, *values: Any) -> Any:
    return next((value for value in values if value is not None), None)


def _fn_json_encode(ev: _Evaluator, value: Any) -> str:
    text = _to_json(value)
    _check_str_len(len(text))
    return text


def _json_number(text: str) -> str:
    if len(text) > MAX_NUMBER_TEXT:
        raise ExpressionError(f"json_decode(): number longer than {MAX_NUMBER_TEXT} digits")
    return text


def _json_int(text: str) -> int:
    return int(_check_number(int(_json_number(text))))


def _json_float(text: str) -> float:
    value = float(_json_number(text))
    if not math.isfinite(value):
        raise ExpressionError("json_decode(): number too large")
    return value


def _json_constant(name: str) -> Any:
    raise ExpressionError(f"json_decode(): {name} is not valid JSON")


def _check_json_depth(text: str) -> None:
    """Refuse nesting deeper than MAX_JSON_DEPTH before the (recursive) decoder sees it."""
    if text.count("[") + text.count("{") <= MAX_JSON_DEPTH:
        return  # cannot be too deep; skips the character loop for ordinary documents
    depth = 0
    in_string = escaped = False
    for char in text:
        if in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        elif char in "[{":
            depth += 1
            if depth > MAX_JSON_DEPTH:
                raise ExpressionError(f"json_decode(): nested deeper than {MAX_JSON_DEPTH} levels")
        elif char in "]}":
            depth -= 1


def _fn_json_decode(ev: _Evaluator, value: Any) -> Any:
    text = _need_str("json_decode()", value)
    _check_str_len(len(text))
    ev.charge(len(text) // 100)
    _check_json_depth(text)
    try:
        return json.loads(
            text, parse_int=_json_int, parse_float=_json_float, parse_constant=_json_constant
        )
    except json.JSONDecodeError as exc:
        raise ExpressionError(
            f"json_decode(): invalid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}"
        ) from None
    except RecursionError:  # belt and braces; the depth check should make this unreachable
        raise ExpressionError(
            f"json_decode(): nested deeper than {MAX_JSON_DEPTH} levels"
        ) from None


def _fn_range(ev: _Evaluator, *args: Any) -> list[int]:
    for arg in args:
        if not isinstance(arg, int) or isinstance(arg, bool):
            raise ExpressionError(f"range() needs integers, got {_type_name(arg)}")
    if len(args) == 3 and args[2] == 0:
        raise ExpressionError("range() step cannot be zero")
    numbers = range(*args)
    try:
        size = len(numbers)
    except OverflowError:
        raise ExpressionError(f"Too many items (more than {MAX_COLLECTION_ITEMS})") from None
    _check_items(size)  # before materialising the list
    ev.charge(size)
    return list(numbers)


def _fn_any(ev: _Evaluator, values: Any) -> bool:
    items = _need_list("any()", values)
    ev.charge(len(items))
    return any(items)


def _fn_all(ev: _Evaluator, values: Any) -> bool:
    items = _need_list("all()", values)
    ev.charge(len(items))
    return all(items)


def _fn_floor(ev: _Evaluator, value: Any) -> int:
    return math.floor(_need_number("floor()", value))


def _fn_ceil(ev: _Evaluator, value: Any) -> int:
    return math.ceil(_need_number("ceil()", value))


def _fn_get(ev: _Evaluator, obj: Any, key: Any, fallback: Any = None) -> Any:
    if obj is None:
        return fallback
    if isinstance(obj, Mapping):
        if isinstance(key, str):
            _refuse_private(key)
        return obj.get(_hashable_key(key, "get() key"), fallback)
    if isinstance(obj, list | tuple):
        if not isinstance(key, int):
            raise ExpressionError(f"get() on a list needs an integer index, got {_type_name(key)}")
        return obj[key] if -len(obj) <= key < len(obj) else fallback
    raise ExpressionError(f"get() needs a dict or list, got {_type_name(obj)}")


# name -> (implementation, min args, max args or None for variadic)
_Table = dict[str, tuple[Callable[..., Any], int, int | None]]

_FUNCTIONS: _Table = {
    "len": (_fn_len, 1, 1),
    "str": (_fn_str, 1, 1),
    "int": (_fn_int, 1, 1),
    "float": (_fn_float, 1, 1),
    "bool": (_fn_bool, 1, 1),
    "abs": (_fn_abs, 1, 1),
    "min": (_fn_min, 1, None),
    "max": (_fn_max, 1, None),
    "sum": (_fn_sum, 1, 1),
    "round": (_fn_round, 1, 2),
    "sorted": (_fn_sorted, 1, 1),
    "reversed": (_fn_reversed, 1, 1),
    "list": (_fn_list, 1, 1),
    "dict": (_fn_dict, 0, 1),
    "keys": (_fn_keys, 1, 1),
    "values": (_fn_values, 1, 1),
    "items": (_fn_items, 1, 1),
    "lower": (_fn_lower, 1, 1),
    "upper": (_fn_upper, 1, 1),
    "trim": (_fn_trim, 1, 1),
    "contains": (_fn_contains, 2, 2),
    "startswith": (_fn_startswith, 2, 2),
    "endswith": (_fn_endswith, 2, 2),
    "join": (_fn_join, 2, 2),
    "split": (_fn_split, 1, 2),
    "replace": (_fn_replace, 3, 3),
    "default": (_fn_default, 2, 2),
    "coalesce": (_fn_coalesce, 0, None),
    "json_encode": (_fn_json_encode, 1, 1),
    "json_decode": (_fn_json_decode, 1, 1),
    "range": (_fn_range, 1, 3),
    "any": (_fn_any, 1, 1),
    "all": (_fn_all, 1, 1),
    "floor": (_fn_floor, 1, 1),
    "ceil": (_fn_ceil, 1, 1),
    "get": (_fn_get, 2, 3),
}


# --- methods (receiver is the first argument after the evaluator) --------------------------


def _str_method(name: str) -> Callable[..., Any]:
    """Wrap a no-argument str method, re-checking length (case mapping can grow text)."""

    def method(ev: _Evaluator, text: str) -> str:
        result: str = getattr(text, name)()
        _check_str_len(len(result))
        return result

    return method


def _strip_method(name: str) -> Callable[..., Any]:
    def method(ev: _Evaluator, text: str, chars: Any = None) -> str:
        if chars is not None:
            _need_str(f".{name}()", chars)
        result: str = getattr(text, name)(chars)
        return result

    return method


def _m_affix(name: str) -> Callable[..., Any]:
    def method(ev: _Evaluator, text: str, affix: Any) -> bool:
        label = f".{name}()"
        if isinstance(affix, list | tuple):
            affixes = tuple(_need_str(label, item) for item in affix)
            result: bool = getattr(text, name)(affixes)
            return result
        result = getattr(text, name)(_need_str(label, affix))
        return result

    return method


def _m_replace(ev: _Evaluator, text: str, old: Any, new: Any, count: Any = -1) -> str:
    return _replace(ev, ".replace()", text, old, new, count)


def _m_split(ev: _Evaluator, text: str, sep: Any = None, maxsplit: Any = -1) -> list[str]:
    return _split(ev, ".split()", text, sep, maxsplit)


def _m_join(ev: _Evaluator, sep: str, values: Any) -> str:
    return _join(ev, ".join()", sep, values)


def _m_count(ev: _Evaluator, text: str, sub: Any) -> int:
    return text.count(_need_str(".count()", sub))


def _m_find(ev: _Evaluator, text: str, sub: Any) -> int:
    return text.find(_need_str(".find()", sub))


def _m_dict_get(ev: _Evaluator, obj: Mapping[Any, Any], key: Any, fallback: Any = None) -> Any:
    return _fn_get(ev, obj, key, fallback)


def _m_list_count(ev: _Evaluator, items: list[Any] | tuple[Any, ...], value: Any) -> int:
    ev.charge(len(items))
    return items.count(value)


def _m_list_index(ev: _Evaluator, items: list[Any] | tuple[Any, ...], value: Any) -> int:
    ev.charge(len(items))
    try:
        return items.index(value)
    except ValueError:
        raise ExpressionError(".index(): value is not in the list") from None


_STR_METHODS: _Table = {
    "lower": (_str_method("lower"), 0, 0),
    "upper": (_str_method("upper"), 0, 0),
    "title": (_str_method("title"), 0, 0),
    "capitalize": (_str_method("capitalize"), 0, 0),
    "strip": (_strip_method("strip"), 0, 1),
    "lstrip": (_strip_method("lstrip"), 0, 1),
    "rstrip": (_strip_method("rstrip"), 0, 1),
    "startswith": (_m_affix("startswith"), 1, 1),
    "endswith": (_m_affix("endswith"), 1, 1),
    "replace": (_m_replace, 2, 3),
    "split": (_m_split, 0, 2),
    "join": (_m_join, 1, 1),
    "count": (_m_count, 1, 1),
    "find": (_m_find, 1, 1),
}

_DICT_METHODS: _Table = {
    "get": (_m_dict_get, 1, 2),
    "keys": (_fn_keys, 0, 0),
    "values": (_fn_values, 0, 0),
    "items": (_fn_items, 0, 0),
}

_LIST_METHODS: _Table = {
    "count": (_m_list_count, 1, 1),
    "index": (_m_list_index, 1, 1),
}

_ALL_METHODS = frozenset(_STR_METHODS) | frozenset(_DICT_METHODS) | frozenset(_LIST_METHODS)
_NO_METHODS: _Table = {}


def _methods_for(receiver: Any) -> _Table:
    if isinstance(receiver, str):
        return _STR_METHODS
    if isinstance(receiver, Mapping):
        return _DICT_METHODS
    if isinstance(receiver, list | tuple):
        return _LIST_METHODS
    return _NO_METHODS


# --- compilation --------------------------------------------------------------------------


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
            return _Evaluator(scope).visit(self.tree.body)
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
    return ExpressionError(f"Invalid expression '{_short(source)}': {message} at {where}")


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
        raise ExpressionError(f"Expression '{_short(source)}' is nested too deeply") from None
    except ValueError as exc:  # e.g. NUL bytes in the source (Python 3.11)
        raise ExpressionError(f"Invalid expression: {_short(str(exc))}") from None


def _collect(tree: ast.Expression) -> list[ast.AST]:
    """Iteratively list every node, enforcing size, depth and the node-type whitelist."""
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
        _refuse_private(node.id)
    elif isinstance(node, ast.Attribute):
        _refuse_private(node.attr)
    elif isinstance(node, ast.Constant):
        value = node.value
        if isinstance(value, bytes):
            raise ExpressionError("Bytes literals are not allowed")
        if value is Ellipsis:
            raise ExpressionError("'...' (Ellipsis) is not allowed")
        if not (value is None or isinstance(value, str | int | float)):
            raise ExpressionError(f"Literals of type {type(value).__name__} are not allowed")
        _check_number(value)  # a 5000-digit literal or 1e999 is refused up front
    elif isinstance(node, ast.Subscript):
        key = node.slice
        if isinstance(key, ast.Constant) and isinstance(key.value, str):
            _refuse_private(key.value)
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
        if func.id not in _FUNCTIONS:
            _refuse_private(func.id)
            raise ExpressionError(
                f"Function '{func.id}' is not allowed; available: {', '.join(sorted(_FUNCTIONS))}"
            )
    elif isinstance(func, ast.Attribute):
        _refuse_private(func.attr)
        if func.attr not in _ALL_METHODS:
            raise ExpressionError(
                f"Method '.{func.attr}()' is not allowed; "
                f"allowed: {', '.join(sorted(_ALL_METHODS))}"
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
    comprehensions, f-strings, ``_``-names, non-whitelisted calls, ...) and oversized input.
    """
    if not isinstance(source, str):
        raise ExpressionError(f"An expression must be a string, got {_type_name(source)}")
    return _compile_cached(source)


def check_expression(source: str) -> None:
    """Raise :class:`ExpressionError` if ``source`` does not compile; otherwise do nothing."""
    compile_expression(source)


def evaluate(source: str, scope: Mapping[str, Any]) -> Any:
    """Compile (cached) and evaluate ``source`` against ``scope``."""
    return compile_expression(source).evaluate(scope)


# --- templates ----------------------------------------------------------------------------


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
                f"Unclosed '{{{{' in template '{_short(text[opening:])}'; add the closing '}}}}'"
            )
        if opening > position:
            parts.append(text[position:opening])
        parts.append(_Template(text[opening : closing + 2], text[opening + 2 : closing].strip()))
        position = closing + 2
    if position < len(text):
        parts.append(text[position:])
    return parts


def _template_error(template: _Template, exc: ExpressionError) -> ExpressionError:
    return ExpressionError(f"In template '{_short(template.raw, 80)}': {exc}")


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
    if not isinstance(text, str) or "{{" not in text:
        return text
    parts = _split_template(text)
    templates = [part for part in parts if isinstance(part, _Template)]
    literals = [part for part in parts if isinstance(part, str)]
    if len(templates) == 1 and all(not literal.strip() for literal in literals):
        return _eval_template(templates[0], scope)
    pieces = [
        part if isinstance(part, str) else _to_text(_eval_template(part, scope)) for part in parts
    ]
    return "".join(pieces)


def render_value(value: Any, scope: Mapping[str, Any]) -> Any:
    """Render templates in every string of ``value``, recursing into dict values and list
    items. Dict keys and non-string leaves are left alone; the input is not modified."""
    if isinstance(value, str):
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
    if isinstance(value, str):
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
