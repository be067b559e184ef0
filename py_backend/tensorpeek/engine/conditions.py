"""Breakpoint conditions: presets and Python expressions over summary names, compiled once.

Evaluating a condition computes only the statistics it names: ``nonfinite`` is one
``x.sum()`` (a sum is finite only if every element is; the exact count runs only when that
screen trips), and ``absmax > 1e4 or std < 1e-6`` asks ``tensorpeek.summary.stats.compute`` for
exactly ``absmax`` and ``std``. Expressions are checked against a whitelist of AST nodes and
names when the breakpoint is set, so a typo fails at once with the list of valid names, and
evaluated in bounded time (``tensorpeek.engine.expression``).

The presets other than ``nonfinite``/``nan``/``inf`` never fire on a tensor holding NaN or Inf
(that is the non-finite presets' job, with their origin rules), and judge a tensor against
its own history (one per module, site and tensor):
- ``exploding``: ``|x|max`` above ``EXPLODING_ABSMAX``, or a norm more than
  ``EXPLODING_JUMP`` times a robust baseline on ``EXPLODING_PERSIST`` consecutive events. The
  baseline is the larger of the median of the last ``EXPLODING_WINDOW`` norms and the median
  of the medians of the windows before them (``EXPLODING_HISTORY`` windows): a warm-up or
  learning-rate decay cannot pull it down quickly, so the norm rising again afterwards (by a
  few times) is not a jump, while a norm growing geometrically is. No jump is judged before
  one whole window is seen (initialisation transients), and one outlier batch is not a jump.
- ``vanishing``: a finite norm below ``VANISHING_NORM``, except a gradient that receives no
  signal by construction, which is ``no_gradient``'s.
- ``no_gradient``: a parameter gradient that is exactly zero at every event since its first,
  or negligible (below ``NO_GRADIENT_RELATIVE`` times) beside the gradients of its module's
  other parameters at every event since its first (an attention key bias: softmax ignores a
  shift shared by all keys, so its gradient is zero up to rounding; a conv bias before
  BatchNorm). A gradient that was real and then fell to zero (a network dead after a blow-up)
  is ``vanishing``. ``doctor`` reports ``no_gradient`` as an ``info`` finding.
"""

from __future__ import annotations

import functools
import math
import statistics
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from tensorpeek.common.vocabulary import NONFINITE_CONDITIONS
from tensorpeek.engine.expression import FUNCTIONS, ConditionError, Expression, compile_expression
from tensorpeek.summary.names import STAT_NAMES as SUMMARY_STAT_NAMES

if TYPE_CHECKING:
    import torch

CONTEXT_NAMES: tuple[str, ...] = ("step", "numel")
# the statistics a condition may read: every one ``stats.compute`` knows (numel is context)
STAT_NAMES: tuple[str, ...] = tuple(n for n in SUMMARY_STAT_NAMES if n not in CONTEXT_NAMES)
PRESETS: tuple[str, ...] = (
    "nonfinite",
    "nan",
    "inf",
    "exploding",
    "vanishing",
    "no_gradient",
    "dead",
    "saturated",
)

EXPLODING_ABSMAX = 1e4  # |x|max above this is "exploding" for activations and gradients alike
EXPLODING_JUMP = 10.0  # ... or a norm more than this many times its baseline
EXPLODING_WINDOW = 20  # norms in the recent window (its median is one side of the baseline)
EXPLODING_HISTORY = 10  # earlier windows' medians kept (their median is the other side)
EXPLODING_PERSIST = 2  # consecutive events over the jump before it counts
VANISHING_NORM = 1e-7
NO_GRADIENT_RELATIVE = 1e-6  # a gradient this many times below its module's largest is none
DEAD_ZEROS_FRAC = 0.99


@dataclass
class EvalContext:
    """What a condition may need besides the tensor: the step, where the tensor comes from,
    and the breakpoint's own running state by ``key`` (``exploding`` keeps recent norms)."""

    step: int
    site: str
    module: Any = None
    key: str = ""
    state: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Condition:
    """A compiled condition. ``names`` are the statistics it reads (``step`` included)."""

    text: str
    kind: str  # a preset name, or "expr"
    names: frozenset[str]
    expression: Expression | None = None

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
            assert self.expression is not None
            return self.expression.evaluate(values), values
        if values.get("nonfinite"):
            return False, values  # NaN/Inf are the non-finite presets' (and their origin rules')
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


@dataclass
class NormBaseline:
    """One tensor's recent norms, for ``exploding`` (see the module docstring)."""

    recent: deque[float] = field(default_factory=lambda: deque(maxlen=EXPLODING_WINDOW))
    medians: deque[float] = field(default_factory=lambda: deque(maxlen=EXPLODING_HISTORY))
    seen: int = 0
    over: int = 0  # consecutive events over the jump

    def baseline(self) -> float | None:
        if self.seen < EXPLODING_WINDOW:
            return None
        current = statistics.median(self.recent)
        return max(current, statistics.median(self.medians)) if self.medians else current

    def add(self, norm: float) -> bool:
        """Take one norm in; whether it (and the ones before it) jumped over the baseline."""
        base = self.baseline()
        self.over = self.over + 1 if base is not None and norm > EXPLODING_JUMP * base else 0
        self.recent.append(norm)
        self.seen += 1
        if self.seen % EXPLODING_WINDOW == 0:
            self.medians.append(statistics.median(self.recent))
        return self.over >= EXPLODING_PERSIST


def _exploding(x: torch.Tensor, v: dict[str, Any], ctx: EvalContext) -> bool:
    absmax, norm = v.get("absmax"), v.get("norm")
    if absmax is not None and absmax > EXPLODING_ABSMAX:
        return True
    if norm is None:
        return False
    history = ctx.state.setdefault(ctx.key, NormBaseline())
    return bool(history.add(norm))


@dataclass
class GradientRecord:
    """One tensor's gradient history for ``vanishing`` and ``no_gradient``: whether it was
    exactly zero at every event so far, and its module's other gradients' last norms."""

    always_zero: bool = True
    # negligible beside its module's other gradients at every event with a verdict so far: a
    # property of the model (a key bias, a conv bias before BatchNorm), not a gradient that
    # went to zero later (a network dead after a blow-up: that is ``vanishing``)
    always_negligible: bool = True


def _gradient_verdict(
    x: torch.Tensor, v: dict[str, Any], ctx: EvalContext
) -> tuple[GradientRecord, bool | None]:
    """The gradient's record (updated with this event) and whether it is negligible beside its
    module's other gradients now (None: none of them known yet, no verdict)."""
    record = _record(v, ctx)
    negligible = _negligible(x, v["norm"], ctx)
    if negligible is False:
        record.always_negligible = False
    return record, negligible


def _sibling_scale(x: torch.Tensor, ctx: EvalContext) -> tuple[bool, float]:
    """For a parameter gradient: (whether its module has other gradients, the largest norm
    known among them: this pass's ``.grad`` or the one recorded at their last event)."""
    import torch

    module = ctx.module
    if ctx.site != "param_grad" or not isinstance(module, torch.nn.Module):
        return False, 0.0
    prefix = ctx.key.rsplit(":", 1)[0]
    norms = ctx.state.setdefault("<norms>", {})
    has_siblings, largest = False, 0.0
    for pname, p in module.named_parameters(recurse=False):
        if p.grad is x or not p.requires_grad:
            continue
        has_siblings = True
        known = norms.get(f"{prefix}:{pname}")
        if known is None and p.grad is not None and is_checkable(p.grad):
            with torch.no_grad():
                known = float(torch.linalg.vector_norm(p.grad.detach(), dtype=torch.float64))
        if known is not None and math.isfinite(known):
            largest = max(largest, known)
    return has_siblings, largest


def _record(v: dict[str, Any], ctx: EvalContext) -> GradientRecord:
    norm = v["norm"]
    record: GradientRecord = ctx.state.setdefault(ctx.key, GradientRecord())
    record.always_zero = record.always_zero and norm == 0
    if ctx.site == "param_grad":
        ctx.state.setdefault("<norms>", {})[ctx.key] = norm
    return record


def _negligible(x: torch.Tensor, norm: float, ctx: EvalContext) -> bool | None:
    """Whether a parameter gradient is negligible beside its module's other gradients (None:
    none of them is known yet, so no verdict either way)."""
    has_siblings, largest = _sibling_scale(x, ctx)
    if not has_siblings:
        return False
    if largest == 0:
        return None
    return norm < NO_GRADIENT_RELATIVE * largest


def _vanishing(x: torch.Tensor, v: dict[str, Any], ctx: EvalContext) -> bool:
    if v.get("norm") is None:
        return False
    record, negligible = _gradient_verdict(x, v, ctx)  # at every event: it keeps the record
    if record.always_zero or v["norm"] >= VANISHING_NORM or negligible is None:
        return False
    return not (negligible and record.always_negligible)  # by construction: no_gradient's


def _no_gradient(x: torch.Tensor, v: dict[str, Any], ctx: EvalContext) -> bool:
    if v.get("norm") is None:
        return False
    record, negligible = _gradient_verdict(x, v, ctx)
    if record.always_zero:
        return True
    return negligible is True and record.always_negligible


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
    "no_gradient": _no_gradient,
    "dead": _dead,
    "saturated": _saturated,
}
_PRESET_NAMES: dict[str, frozenset[str]] = {
    "nonfinite": frozenset({"nonfinite"}),
    "nan": frozenset({"nan"}),
    "inf": frozenset({"posinf", "neginf"}),
    # every other preset reads nonfinite too: it never fires on a tensor holding NaN/Inf
    "exploding": frozenset({"absmax", "norm", "nonfinite"}),
    "vanishing": frozenset({"norm", "nonfinite"}),
    "no_gradient": frozenset({"norm", "nonfinite"}),
    "dead": frozenset({"zeros_frac", "nonfinite"}),
    "saturated": frozenset({"absmax", "nonfinite"}),
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
    expression = compile_expression(text, STAT_NAMES + CONTEXT_NAMES, _valid_names_message())
    return Condition(text, "expr", expression.names, expression)
