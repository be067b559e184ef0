"""Breakpoint conditions: presets and Python expressions over summary names, compiled once.

Evaluating a condition computes only the statistics it names: ``nonfinite`` is one
``x.sum()`` (a sum is finite only if every element is; the exact count runs only when that
screen trips), and ``absmax > 1e4 or std < 1e-6`` asks ``tensorpeek.summary.stats.compute`` for
exactly ``absmax`` and ``std``. Expressions are checked against a whitelist of AST nodes and
names when the breakpoint is set, so a typo fails at once with the list of valid names.
"""

from __future__ import annotations

import ast
import bisect
import functools
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from tensorpeek.common.vocabulary import NONFINITE_CONDITIONS
from tensorpeek.summary.names import STAT_NAMES as SUMMARY_STAT_NAMES

if TYPE_CHECKING:
    import torch

CONTEXT_NAMES: tuple[str, ...] = ("step", "numel")
# the statistics a condition may read: every one ``stats.compute`` knows (numel is context)
STAT_NAMES: tuple[str, ...] = tuple(n for n in SUMMARY_STAT_NAMES if n not in CONTEXT_NAMES)
FUNCTIONS: dict[str, Callable[..., Any]] = {
    "abs": abs, "min": min, "max": max, "sqrt": math.sqrt, "log": math.log, "log10": math.log10,
}  # fmt: skip
PRESETS: tuple[str, ...] = (
    "nonfinite",
    "nan",
    "inf",
    "exploding",
    "vanishing",
    "dead",
    "saturated",
)

EXPLODING_ABSMAX = 1e4  # |x|max above this is "exploding" for activations and gradients alike
EXPLODING_JUMP = 10.0  # ... or a norm more than this many times its running median
EXPLODING_WINDOW = 20  # events kept per (module, site) for the running median
EXPLODING_MIN_EVENTS = 5  # no jump verdict before this many events
VANISHING_NORM = 1e-7
DEAD_ZEROS_FRAC = 0.99

_ALLOWED_NODES = (
    ast.Expression, ast.BoolOp, ast.And, ast.Or, ast.UnaryOp, ast.Not, ast.USub, ast.UAdd,
    ast.BinOp, ast.Add, ast.Sub, ast.Mult, ast.Div, ast.Pow, ast.Mod, ast.FloorDiv,
    ast.Compare, ast.Lt, ast.LtE, ast.Gt, ast.GtE, ast.Eq, ast.NotEq, ast.Name, ast.Load,
    ast.Constant, ast.Call, ast.IfExp,
)  # fmt: skip


class ConditionError(ValueError):
    """A condition that cannot be compiled; the message names the valid presets and names."""


@dataclass
class EvalContext:
    """What a condition may need besides the tensor: the step, where the tensor comes from,
    and the breakpoint's own running state (``exploding`` keeps a window of recent norms)."""

    step: int
    site: str
    module: Any = None
    key: str = ""
    state: dict[str, list[float]] = field(default_factory=dict)


@dataclass(frozen=True)
class Condition:
    """A compiled condition. ``names`` are the statistics it reads (``step`` included)."""

    text: str
    kind: str  # a preset name, or "expr"
    names: frozenset[str]
    code: Any = None

    @property
    def nonfinite_family(self) -> bool:
        return self.kind in NONFINITE_CONDITIONS

    def evaluate(self, x: torch.Tensor, ctx: EvalContext) -> tuple[bool, dict[str, Any]]:
        """Whether the condition holds for ``x``, and the statistics computed to decide it."""
        if self.kind in NONFINITE_CONDITIONS:
            return check_nonfinite(x, self.kind)
        values = _compute(x, self.names - set(CONTEXT_NAMES))
        values["step"] = ctx.step
        values["numel"] = x.numel()
        if self.kind == "expr":
            if any(values.get(n) is None for n in self.names):
                return False, values  # e.g. max of a tensor without finite values: no verdict
            return bool(eval(self.code, {"__builtins__": {}}, {**FUNCTIONS, **values})), values
        return _PRESET_VERDICTS[self.kind](x, values, ctx), values


def _compute(x: torch.Tensor, names: set[str] | frozenset[str]) -> dict[str, Any]:
    from tensorpeek.summary import stats

    return dict(stats.compute(x, sorted(names))) if names else {}


def is_checkable(x: Any) -> bool:
    """Dense float/complex tensors with real storage: the only ones values can go bad in."""
    import torch

    return (
        isinstance(x, torch.Tensor)
        and x.layout == torch.strided
        and not x.is_meta
        and (x.is_floating_point() or x.is_complex())
        and x.numel() > 0
    )


def nonfinite_screen(x: torch.Tensor) -> tuple[torch.Tensor, bool]:
    """A 0-dim tensor on ``x``'s device that is finite whenever every element of ``x`` is, and
    whether it is the squared L2 norm (then the history gets the norm for free).

    One non-allocating reduction: ``dot(x, x)`` for contiguous float32/float64 (as cheap as a
    sum), else ``x.sum()``. It may also trip on overflow, which is why a tripped screen is
    confirmed by an exact test.
    """
    import torch

    with torch.no_grad():
        x = x.detach()
        if x.dtype in (torch.float32, torch.float64) and x.is_contiguous():
            flat = x.view(-1)
            return torch.dot(flat, flat), True
        return x.sum(), False


def _exact_nonfinite(x: torch.Tensor, kind: str) -> bool:
    import torch

    with torch.no_grad():
        if kind == "nan":
            return bool(torch.isnan(x).any())
        if kind == "inf":
            return bool(torch.isinf(x).any())
        return not bool(torch.isfinite(x).all())


def check_nonfinite(x: torch.Tensor, kind: str = "nonfinite") -> tuple[bool, dict[str, Any]]:
    """Exact answer for ``nonfinite`` / ``nan`` / ``inf`` (one cheap reduction and one host
    read when clean) and what was learnt on the way: ``norm`` when the screen was a norm,
    the exact ``nonfinite`` count when values went bad."""
    import torch

    if not is_checkable(x):
        return False, {}
    screen, squared = nonfinite_screen(x)
    value = float(screen.real if screen.is_complex() else screen)
    if math.isfinite(value):
        return False, ({"norm": math.sqrt(value)} if squared else {})
    x = x.detach()
    if not _exact_nonfinite(x, kind):
        return False, {}
    with torch.no_grad():
        return True, {"nonfinite": int((~torch.isfinite(x)).sum())}


def has_nonfinite(x: torch.Tensor, kind: str = "nonfinite") -> bool:
    """``check_nonfinite`` without the by-products."""
    return check_nonfinite(x, kind)[0]


def _exploding(x: torch.Tensor, v: dict[str, Any], ctx: EvalContext) -> bool:
    absmax, norm = v.get("absmax"), v.get("norm")
    if absmax is not None and absmax > EXPLODING_ABSMAX:
        return True
    if norm is None:
        return False
    window = ctx.state.setdefault(ctx.key, [])  # kept sorted, for the median
    jumped = (
        len(window) >= EXPLODING_MIN_EVENTS
        and window[len(window) // 2] > 0
        and norm > EXPLODING_JUMP * window[len(window) // 2]
    )
    bisect.insort(window, norm)
    if len(window) > EXPLODING_WINDOW:
        window.pop(0 if len(window) % 2 else -1)  # trim from alternating ends, stays centred
    return jumped


def _vanishing(x: torch.Tensor, v: dict[str, Any], ctx: EvalContext) -> bool:
    norm = v.get("norm")
    return norm is not None and norm < VANISHING_NORM


def _dead(x: torch.Tensor, v: dict[str, Any], ctx: EvalContext) -> bool:
    if ctx.site == "output" and ctx.module is not None and not is_activation(ctx.module):
        return False
    frac = v.get("zeros_frac")
    return frac is not None and frac >= DEAD_ZEROS_FRAC


def _saturated(x: torch.Tensor, v: dict[str, Any], ctx: EvalContext) -> bool:
    import torch

    if x.is_complex() or x.element_size() > 2:  # only fp16/bf16/fp8 saturate in practice
        return False
    absmax = v.get("absmax")
    return absmax is not None and absmax >= torch.finfo(x.dtype).max


_PRESET_VERDICTS: dict[str, Callable[[Any, dict[str, Any], EvalContext], bool]] = {
    "exploding": _exploding,
    "vanishing": _vanishing,
    "dead": _dead,
    "saturated": _saturated,
}
_PRESET_NAMES: dict[str, frozenset[str]] = {
    "nonfinite": frozenset({"nonfinite"}),
    "nan": frozenset({"nan"}),
    "inf": frozenset({"posinf", "neginf"}),
    "exploding": frozenset({"absmax", "norm"}),
    "vanishing": frozenset({"norm"}),
    "dead": frozenset({"zeros_frac"}),
    "saturated": frozenset({"absmax"}),
}


def is_activation(module: Any) -> bool:
    """True for the modules ``torch.nn.modules.activation`` defines (ReLU, GELU, ...)."""
    return type(module).__module__ == "torch.nn.modules.activation"


def _valid_names_message() -> str:
    return (
        f"presets: {', '.join(PRESETS)}; names: {', '.join(STAT_NAMES + CONTEXT_NAMES)}; "
        f"functions: {', '.join(FUNCTIONS)}"
    )


@functools.lru_cache(maxsize=256)
def compile_condition(text: str) -> Condition:
    """Compile a preset name or an expression; raise ``ConditionError`` naming what is valid."""
    text = text.strip()
    if text in PRESETS:
        return Condition(text, text, _PRESET_NAMES[text])
    if not text:
        raise ConditionError(f"empty condition; valid {_valid_names_message()}")
    try:
        tree = ast.parse(text, mode="eval")
    except SyntaxError as e:
        raise ConditionError(
            f"condition {text!r} is not a valid expression ({e.msg}); "
            f"valid {_valid_names_message()}"
        ) from None
    names: set[str] = set()
    for node in ast.walk(tree):
        if not isinstance(node, _ALLOWED_NODES):
            raise ConditionError(
                f"condition {text!r} uses {type(node).__name__}, which is not allowed; "
                f"use comparisons, arithmetic, and/or/not over {_valid_names_message()}"
            )
        if isinstance(node, ast.Call):
            if (
                not isinstance(node.func, ast.Name)
                or node.func.id not in FUNCTIONS
                or node.keywords
            ):
                raise ConditionError(
                    f"condition {text!r} makes a call that is not allowed; "
                    f"valid {_valid_names_message()}"
                )
        elif isinstance(node, ast.Name) and node.id not in FUNCTIONS:
            if node.id not in STAT_NAMES and node.id not in CONTEXT_NAMES:
                raise ConditionError(
                    f"unknown name {node.id!r} in condition {text!r}; "
                    f"valid {_valid_names_message()}"
                )
            names.add(node.id)
        elif isinstance(node, ast.Constant) and not isinstance(node.value, (int, float, bool)):
            raise ConditionError(
                f"condition {text!r} may only use numbers as constants, not {node.value!r}"
            )
    if not names:
        raise ConditionError(
            f"condition {text!r} reads no statistic; valid {_valid_names_message()}"
        )
    return Condition(text, "expr", frozenset(names), compile(tree, f"<condition {text}>", "eval"))
