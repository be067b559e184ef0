"""The expression language of breakpoint conditions: checked once, evaluated in bounded time.

An expression (``absmax > 1e4 or std < 1e-6``, ``max > 100``, ``norm / numel > 3``) is parsed
with ``ast`` and every node is checked against a whitelist when the breakpoint is set. It is
never handed to ``eval``: ``Expression.evaluate`` walks the checked tree itself, in floats, so
no operation can take unbounded time or memory (``step ** 10 ** 10`` is a float power, ``inf``
when it overflows, never a huge integer), nothing outside the whitelist can run, and a
division by zero or a ``log`` of zero gives IEEE's ``inf``/``nan`` instead of an exception in
the middle of training. The text is bounded (``MAX_CHARS``) and so is its nesting
(``MAX_DEPTH``), so neither the parser nor the evaluator can run out of stack.

Names: a bare ``min``/``max`` is the statistic; ``min(a, b)``/``max(a, b)`` is the function.
"""

from __future__ import annotations

import ast
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass

MAX_CHARS = 500  # longer conditions are refused (the longest useful one is ~100 characters)
MAX_DEPTH = 32  # nesting of the expression tree, e.g. 32 nested "-" or parentheses


class ConditionError(ValueError):
    """A condition that cannot be compiled; the message names the valid presets and names."""


def _log(x: float) -> float:
    if x == 0:
        return -math.inf
    return math.log(x) if x > 0 else math.nan


def _log10(x: float) -> float:
    if x == 0:
        return -math.inf
    return math.log10(x) if x > 0 else math.nan


def _sqrt(x: float) -> float:
    return math.sqrt(x) if x >= 0 else math.nan


# name -> (function over floats, fewest arguments, most arguments)
FUNCTIONS: dict[str, tuple[Callable[..., float], int, int]] = {
    "abs": (abs, 1, 1),
    "min": (min, 2, 8),
    "max": (max, 2, 8),
    "sqrt": (_sqrt, 1, 1),
    "log": (_log, 1, 1),
    "log10": (_log10, 1, 1),
}

_NODES = (
    ast.Expression, ast.BoolOp, ast.And, ast.Or, ast.UnaryOp, ast.Not, ast.USub, ast.UAdd,
    ast.BinOp, ast.Add, ast.Sub, ast.Mult, ast.Div, ast.Pow, ast.Mod, ast.FloorDiv,
    ast.Compare, ast.Lt, ast.LtE, ast.Gt, ast.GtE, ast.Eq, ast.NotEq, ast.Name, ast.Load,
    ast.Constant, ast.Call, ast.IfExp,
)  # fmt: skip


def _div(a: float, b: float) -> float:
    if b == 0:
        return math.nan if a == 0 or a != a else math.copysign(math.inf, a)
    return a / b


def _floordiv(a: float, b: float) -> float:
    if b == 0 or math.isinf(a) or math.isnan(a):
        return _div(a, b)
    return a // b


def _mod(a: float, b: float) -> float:
    if b == 0 or math.isinf(a) or math.isnan(a) or math.isnan(b):
        return math.nan
    return a % b


def _pow(a: float, b: float) -> float:
    try:
        return math.pow(a, b)
    except OverflowError:
        odd = a < 0 and b.is_integer() and b % 2 == 1
        return -math.inf if odd else math.inf
    except ValueError:  # a negative number to a fractional power, or 0 ** negative
        return math.inf if a == 0 else math.nan


_BINARY: dict[type[ast.operator], Callable[[float, float], float]] = {
    ast.Add: lambda a, b: a + b,
    ast.Sub: lambda a, b: a - b,
    ast.Mult: lambda a, b: a * b,
    ast.Div: _div,
    ast.FloorDiv: _floordiv,
    ast.Mod: _mod,
    ast.Pow: _pow,
}
_COMPARE: dict[type[ast.cmpop], Callable[[float, float], bool]] = {
    ast.Lt: lambda a, b: a < b,
    ast.LtE: lambda a, b: a <= b,
    ast.Gt: lambda a, b: a > b,
    ast.GtE: lambda a, b: a >= b,
    ast.Eq: lambda a, b: a == b,
    ast.NotEq: lambda a, b: a != b,
}


def _float(value: object) -> float:
    """A number as a float (an int too large for one is infinite, as in float arithmetic)."""
    if isinstance(value, float):
        return value
    try:
        return float(value)  # type: ignore[arg-type]
    except OverflowError:
        return math.inf if value > 0 else -math.inf  # type: ignore[operator]


@dataclass(frozen=True)
class Expression:
    """A checked expression; ``names`` are the statistics and context names it reads."""

    text: str
    tree: ast.expr
    names: frozenset[str]

    def evaluate(self, values: Mapping[str, float]) -> bool:
        """Its truth for ``values`` (every name in ``names``, as numbers)."""
        return bool(_eval(self.tree, values))


def _eval(node: ast.expr, values: Mapping[str, float]) -> float | bool:
    # depth is bounded by MAX_DEPTH, so this recursion is too
    if isinstance(node, ast.Constant):
        return _float(node.value)
    if isinstance(node, ast.Name):
        return _float(values[node.id])
    if isinstance(node, ast.BinOp):
        a, b = _float(_eval(node.left, values)), _float(_eval(node.right, values))
        return _BINARY[type(node.op)](a, b)
    if isinstance(node, ast.UnaryOp):
        v = _eval(node.operand, values)
        if isinstance(node.op, ast.Not):
            return not v
        return -_float(v) if isinstance(node.op, ast.USub) else _float(v)
    if isinstance(node, ast.BoolOp):
        result: float | bool = False
        for operand in node.values:
            result = _eval(operand, values)
            if isinstance(node.op, ast.And) != bool(result):
                return result  # and: the first false operand; or: the first true one
        return result
    if isinstance(node, ast.Compare):
        left = _float(_eval(node.left, values))
        for op, comparator in zip(node.ops, node.comparators, strict=True):
            right = _float(_eval(comparator, values))
            if not _COMPARE[type(op)](left, right):
                return False
            left = right
        return True
    if isinstance(node, ast.IfExp):
        chosen = node.body if _eval(node.test, values) else node.orelse
        return _eval(chosen, values)
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
        fn = FUNCTIONS[node.func.id][0]
        return _float(fn(*(_float(_eval(a, values)) for a in node.args)))
    raise ConditionError(f"cannot evaluate {type(node).__name__}")  # refused by the check


def _depth(tree: ast.AST) -> int:
    deepest, stack = 0, [(tree, 1)]
    while stack:
        node, depth = stack.pop()
        deepest = max(deepest, depth)
        stack.extend((child, depth + 1) for child in ast.iter_child_nodes(node))
    return deepest


def compile_expression(text: str, variables: tuple[str, ...], valid: str) -> Expression:
    """Check ``text`` against the whitelist over ``variables``; ``valid`` (what the message
    lists as valid) ends every error message. Raises ``ConditionError``."""
    if len(text) > MAX_CHARS:
        raise ConditionError(
            f"condition is {len(text)} characters long; at most {MAX_CHARS} are allowed"
        )
    try:
        tree = ast.parse(text, mode="eval")
    except SyntaxError as e:
        raise ConditionError(
            f"condition {text!r} is not a valid expression ({e.msg}); valid {valid}"
        ) from None
    except (ValueError, RecursionError, MemoryError) as e:  # null bytes, parser limits
        raise ConditionError(
            f"condition {text!r} is not a valid expression ({type(e).__name__}); valid {valid}"
        ) from None
    if _depth(tree) > MAX_DEPTH:
        raise ConditionError(
            f"condition {text!r} is nested more than {MAX_DEPTH} levels deep; "
            "write it with fewer parentheses or operators"
        )
    names: set[str] = set()
    called: set[int] = set()  # id() of the Name nodes that are called
    for node in ast.walk(tree):
        if not isinstance(node, _NODES):
            raise ConditionError(
                f"condition {text!r} uses {type(node).__name__}, which is not allowed; "
                f"use comparisons, arithmetic, and/or/not over {valid}"
            )
        if isinstance(node, ast.Call):
            func = node.func
            if not isinstance(func, ast.Name) or func.id not in FUNCTIONS or node.keywords:
                raise ConditionError(
                    f"condition {text!r} makes a call that is not allowed; valid {valid}"
                )
            _fn, fewest, most = FUNCTIONS[func.id]
            if not fewest <= len(node.args) <= most:
                count = str(fewest) if fewest == most else f"{fewest} to {most}"
                raise ConditionError(
                    f"{func.id}() in condition {text!r} takes {count} argument(s), "
                    f"not {len(node.args)}"
                )
            called.add(id(func))
        elif isinstance(node, ast.Name) and id(node) not in called:
            if node.id not in variables:
                hint = (
                    f"{node.id!r} is a function: call it, e.g. {node.id}(norm)"
                    if node.id in FUNCTIONS
                    else f"unknown name {node.id!r}"
                )
                raise ConditionError(f"{hint} in condition {text!r}; valid {valid}")
            names.add(node.id)
        elif isinstance(node, ast.Constant) and (
            not isinstance(node.value, (int, float, bool)) or isinstance(node.value, complex)
        ):
            raise ConditionError(
                f"condition {text!r} may only use numbers as constants, not {node.value!r}"
            )
    if not names:
        raise ConditionError(f"condition {text!r} reads no statistic; valid {valid}")
    return Expression(text, tree.body, frozenset(names))
