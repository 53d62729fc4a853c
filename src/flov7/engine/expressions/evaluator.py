"""The tree walker: evaluates one validated syntax tree against one scope.

Trees come from :mod:`.parser`, which has already refused every node type and name this
module does not expect; the checks here are the run-time half (types, sizes, budget).
"""

from __future__ import annotations

import ast
from collections.abc import Mapping
from typing import Any

from flov7.engine.expressions.functions import FUNCTIONS, call_guarded, check_arity
from flov7.engine.expressions.limits import (
    FLOAT_OVERFLOW,
    MAX_EXPONENT,
    MAX_INT_BITS,
    Budget,
    check_items,
    check_number,
    check_str_len,
)
from flov7.engine.expressions.methods import methods_for
from flov7.engine.expressions.names import NAME_ALIASES, lookup_key
from flov7.engine.expressions.values import contains, hashable_key, is_number, type_name
from flov7.errors import ExpressionError

OPERATOR_SYMBOLS: dict[type[ast.AST], str] = {
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


class Evaluator(Budget):
    """Evaluates one validated tree against one scope; is the evaluation's step budget."""

    __slots__ = ("scope",)

    def __init__(self, scope: Mapping[str, Any]) -> None:
        super().__init__()
        self.scope = scope

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
                key = hashable_key(self.visit(key_node), "Dict key")
                result[key] = self.visit(value_node)
            return result
        # Unreachable for validated trees; kept so a whitelist mistake fails closed.
        raise ExpressionError(f"Unsupported syntax: {type(node).__name__}")

    # --- names and access -------------------------------------------------------------------

    def eval_name(self, name: str) -> Any:
        if name in NAME_ALIASES:
            return NAME_ALIASES[name]
        if name in self.scope:
            return self.scope[name]
        if name in FUNCTIONS:
            raise ExpressionError(f"'{name}' is a function; call it like {name}(...)")
        available = ", ".join(
            key for key in self.scope if isinstance(key, str) and not key.startswith("_")
        )
        raise ExpressionError(f"Unknown name '{name}'; available: {available or '(none)'}")

    def eval_attribute(self, obj: Any, name: str) -> Any:
        # 'a.b' is a dict-key lookup and nothing else: no getattr, on any type (names.py).
        if obj is None:
            return None
        if isinstance(obj, Mapping):
            return lookup_key(obj, name)
        if name in methods_for(obj):
            raise ExpressionError(f"'.{name}' is a method; call it like .{name}()")
        raise ExpressionError(
            f"Cannot read '.{name}' of a {type_name(obj)}; only dicts have fields"
        )

    def eval_subscript(self, node: ast.Subscript) -> Any:
        obj = self.visit(node.value)
        if isinstance(node.slice, ast.Slice):
            return self.eval_slice(obj, node.slice)
        key = self.visit(node.slice)
        if obj is None:
            return None
        if isinstance(obj, Mapping):
            return lookup_key(obj, key)
        if isinstance(obj, list | tuple | str):
            if not isinstance(key, int):
                raise ExpressionError(
                    f"A {type_name(obj)} index must be an integer, got {type_name(key)}"
                )
            if -len(obj) <= key < len(obj):
                return obj[key]
            return None
        raise ExpressionError(f"Cannot index a {type_name(obj)}")

    def eval_slice(self, obj: Any, node: ast.Slice) -> Any:
        bounds = []
        for part in (node.lower, node.upper, node.step):
            value = None if part is None else self.visit(part)
            if value is not None and not isinstance(value, int):
                raise ExpressionError(f"Slice bounds must be integers, got {type_name(value)}")
            bounds.append(value)
        if bounds[2] == 0:
            raise ExpressionError("Slice step cannot be zero")
        if obj is None:
            return None
        if not isinstance(obj, list | tuple | str):
            raise ExpressionError(f"Cannot slice a {type_name(obj)}")
        try:
            # The result's length, known before the copy is made.
            size = len(range(*slice(*bounds).indices(len(obj))))
        except OverflowError:  # slice bounds wider than the platform's ssize_t
            raise ExpressionError("Slice bounds are too large") from None
        if isinstance(obj, str):
            check_str_len(size)
            self.charge_chars(size)
        else:
            self.charge_items(size)
        return obj[slice(*bounds)]

    # --- operators --------------------------------------------------------------------------

    def eval_binop(self, op: ast.operator, left: Any, right: Any) -> Any:
        op_type = type(op)
        if op_type is ast.Add:
            return self.add(left, right)
        if op_type is ast.Mult:
            return self.multiply(left, right)
        if op_type is ast.Mod and isinstance(left, str):
            raise ExpressionError("'%' string formatting is not allowed; use + or a template")
        symbol = OPERATOR_SYMBOLS[op_type]
        if not (is_number(left) and is_number(right)):
            raise ExpressionError(
                f"Cannot apply '{symbol}' to {type_name(left)} and {type_name(right)}"
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
            raise ExpressionError(FLOAT_OVERFLOW) from None
        return check_number(result)

    def add(self, left: Any, right: Any) -> Any:
        if isinstance(left, str) and isinstance(right, str):
            check_str_len(len(left) + len(right))  # checked before the copy is made
            self.charge_chars(len(left) + len(right))
            return left + right
        if isinstance(left, list | tuple) and isinstance(right, list | tuple):
            self.charge_items(len(left) + len(right))
            if isinstance(left, tuple) and isinstance(right, tuple):
                return left + right
            return [*left, *right]
        if is_number(left) and is_number(right):
            try:
                return check_number(left + right)
            except OverflowError:
                raise ExpressionError(FLOAT_OVERFLOW) from None
        hint = (
            "; convert with str() first" if isinstance(left, str) or isinstance(right, str) else ""
        )
        raise ExpressionError(f"Cannot apply '+' to {type_name(left)} and {type_name(right)}{hint}")

    def multiply(self, left: Any, right: Any) -> Any:
        if isinstance(right, str | list | tuple) and isinstance(left, int):
            left, right = right, left
        if isinstance(left, str) and isinstance(right, int):
            check_str_len(len(left) * max(right, 0))  # before building the string
            self.charge_chars(len(left) * max(right, 0))
            return left * right
        if isinstance(left, list | tuple) and isinstance(right, int):
            count = max(right, 0)
            if count and left:
                items, chars = self.weight(left)
                check_items(items * count)
                check_str_len(chars * count)
            self.charge(len(left) * count)
            return list(left) * count if isinstance(left, list) else left * count
        if is_number(left) and is_number(right):
            try:
                return check_number(left * right)
            except OverflowError:
                raise ExpressionError(FLOAT_OVERFLOW) from None
        raise ExpressionError(f"Cannot apply '*' to {type_name(left)} and {type_name(right)}")

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
            raise ExpressionError(FLOAT_OVERFLOW) from None
        return check_number(result)

    def eval_unary(self, op: ast.unaryop, operand: Any) -> Any:
        if isinstance(op, ast.Not):
            return not operand
        if not is_number(operand):
            symbol = "-" if isinstance(op, ast.USub) else "+"
            raise ExpressionError(f"Cannot apply unary '{symbol}' to {type_name(operand)}")
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

    def charge_comparison(self, left: Any, right: Any) -> None:
        """Charge comparing two values by what the comparison walks (at most the smaller)."""
        if isinstance(left, str) and isinstance(right, str):
            self.charge_chars(min(len(left), len(right)))
        elif isinstance(left, list | tuple | Mapping) and isinstance(right, list | tuple | Mapping):
            left_items, left_chars = self.weight(left)
            right_items, right_chars = self.weight(right)
            self.charge(min(left_items, right_items))
            self.charge_chars(min(left_chars, right_chars))

    def compare(self, op: ast.cmpop, left: Any, right: Any) -> bool:
        if not isinstance(op, ast.Is | ast.IsNot | ast.In | ast.NotIn):
            self.charge_comparison(left, right)
        if isinstance(op, ast.Eq):
            return bool(left == right)
        if isinstance(op, ast.NotEq):
            return bool(left != right)
        if isinstance(op, ast.Is):  # only ever against None (checked at compile time)
            return left is right
        if isinstance(op, ast.IsNot):
            return left is not right
        if isinstance(op, ast.In):
            return contains(self, right, left, "in")
        if isinstance(op, ast.NotIn):
            return not contains(self, right, left, "not in")
        symbol = OPERATOR_SYMBOLS[type(op)]
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
                f"Cannot compare {type_name(left)} and {type_name(right)} with '{symbol}'"
            ) from None

    # --- calls ------------------------------------------------------------------------------

    def eval_call(self, node: ast.Call) -> Any:
        func = node.func
        if isinstance(func, ast.Name):
            name = func.id
            implementation, min_args, max_args = FUNCTIONS[name]
            label = f"{name}()"
            args = [self.visit(arg) for arg in node.args]
            check_arity(label, len(args), min_args, max_args)
            return call_guarded(label, implementation, self, args)
        assert isinstance(func, ast.Attribute)  # guaranteed by the compile-time check
        receiver = self.visit(func.value)
        name = func.attr
        label = f".{name}()"
        methods = methods_for(receiver)
        if name not in methods:
            if receiver is None:
                raise ExpressionError(
                    f"Cannot call {label} on null (a missing value?); use default() first"
                )
            allowed = ", ".join(sorted(methods)) or "none"
            raise ExpressionError(
                f"{label} is not a {type_name(receiver)} method; allowed: {allowed}"
            )
        implementation, min_args, max_args = methods[name]
        args = [self.visit(arg) for arg in node.args]
        check_arity(label, len(args), min_args, max_args)
        return call_guarded(label, implementation, self, [receiver, *args])
