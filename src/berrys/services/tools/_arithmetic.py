"""A safe arithmetic evaluator: Python's parser, a whitelist of nodes, bounded numbers."""

from __future__ import annotations

import ast
import math
import operator
from collections.abc import Callable
from typing import Any

from berrys.core.errors import Unprocessable

_BINARY: dict[type[ast.operator], Callable[[Any, Any], Any]] = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
    ast.FloorDiv: operator.floordiv,
    ast.Mod: operator.mod,
    ast.Pow: operator.pow,
}
_UNARY: dict[type[ast.unaryop], Callable[[Any], Any]] = {
    ast.UAdd: operator.pos,
    ast.USub: operator.neg,
}
_FUNCTIONS: dict[str, Callable[..., Any]] = {
    "abs": abs,
    "round": round,
    "min": min,
    "max": max,
    "sqrt": math.sqrt,
    "exp": math.exp,
    "log": math.log,
    "log10": math.log10,
    "sin": math.sin,
    "cos": math.cos,
    "tan": math.tan,
    "floor": math.floor,
    "ceil": math.ceil,
}
_CONSTANTS = {"pi": math.pi, "e": math.e, "tau": math.tau}
MAX_EXPRESSION = 1000
_MAX_NODES = 200
_MAX_INT_BITS = 4096


def evaluate(expression: str) -> int | float:
    """Arithmetic only: numbers, + - * / // % **, parentheses, a few math functions."""
    if len(expression) > MAX_EXPRESSION:
        raise Unprocessable(f"expression is longer than {MAX_EXPRESSION} characters")
    try:
        tree = ast.parse(expression, mode="eval")
    except SyntaxError as exc:
        raise Unprocessable(f"not an arithmetic expression: {exc.msg}") from None
    if sum(1 for _ in ast.walk(tree)) > _MAX_NODES:
        raise Unprocessable(f"expression has more than {_MAX_NODES} parts")
    try:
        value = _eval(tree.body)
    except ZeroDivisionError:
        raise Unprocessable("division by zero") from None
    except (OverflowError, ValueError) as exc:
        raise Unprocessable(f"cannot compute: {exc}") from None
    return value


def _number(value: Any) -> int | float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise Unprocessable("only numbers are allowed")
    if isinstance(value, int) and value.bit_length() > _MAX_INT_BITS:
        raise Unprocessable("result is too large")
    if isinstance(value, float) and not math.isfinite(value):
        raise Unprocessable("result is not a finite number (too large for a float)")
    return value


def _eval(node: ast.expr) -> int | float:
    if isinstance(node, ast.Constant):
        return _number(node.value)
    if isinstance(node, ast.BinOp) and type(node.op) in _BINARY:
        left, right = _eval(node.left), _eval(node.right)
        too_big = abs(right) > 1000 or (isinstance(left, int) and abs(left) > 1 and right > 512)
        if isinstance(node.op, ast.Pow) and too_big:
            raise Unprocessable("exponent is too large")
        return _number(_BINARY[type(node.op)](left, right))
    if isinstance(node, ast.UnaryOp) and type(node.op) in _UNARY:
        return _number(_UNARY[type(node.op)](_eval(node.operand)))
    if isinstance(node, ast.Name) and node.id in _CONSTANTS:
        return _CONSTANTS[node.id]
    if (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Name)
        and node.func.id in _FUNCTIONS
        and not node.keywords
        and 0 < len(node.args) <= 10
    ):
        return _number(_FUNCTIONS[node.func.id](*(_eval(arg) for arg in node.args)))
    raise Unprocessable(f"not allowed in an arithmetic expression: {ast.unparse(node)!r}")
