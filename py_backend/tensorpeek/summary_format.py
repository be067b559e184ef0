"""The one-line text of a summary (debugger hovers, the CLI) and the sparkline.

``tensor[32, 256] f32 n=8192 x∈[-0.81, 0.93] μ=0.002 σ=0.26 ▁▂▅█▅▂▁`` — dense, under 120
characters, and loud about what a debugging user must not miss: ``NaN!×12 +Inf!×3``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from tensorpeek.summary import TensorSummary

MAX_LINE = 119
SPARK_WIDTH = 8
_BARS = "▁▂▃▄▅▆▇█"
_PREFIX = {"tensor": "tensor", "parameter": "param", "ndarray": "array"}


def sparkline(counts: Sequence[int | float], width: int | None = None) -> str:
    """One bar per bin (or per group of bins when ``width`` is smaller than ``len(counts)``),
    height proportional to the count; empty bins are blank so that gaps stay visible."""
    values = [float(c) for c in counts]
    if width is not None and 0 < width < len(values):
        n = len(values)
        values = [sum(values[i * n // width : (i + 1) * n // width]) for i in range(width)]
    top = max(values, default=0.0)
    if top <= 0:
        return " " * len(values)
    levels = len(_BARS)
    return "".join(
        " " if v <= 0 else _BARS[min(levels - 1, math.ceil(v / top * levels) - 1)] for v in values
    )


def fmt(value: float | int | None) -> str:
    """Three significant digits, exponent without padding: 0.002, -0.81, 1.23e5, 4e-30."""
    if value is None:
        return "?"
    if isinstance(value, bool):
        return str(int(value))
    if isinstance(value, int):
        return str(value) if abs(value) < 10**6 else _exp(float(value))
    if not math.isfinite(value):
        return str(value)
    if value == 0:
        return "0"
    if 1e-3 <= abs(value) < 1e5:
        return f"{value:.3g}"
    return _exp(value)


def _exp(value: float) -> str:
    mantissa, exponent = f"{value:.2e}".split("e")
    mantissa = mantissa.rstrip("0").rstrip(".")
    return f"{mantissa}e{int(exponent)}"


def _shape(shape: Sequence[int]) -> str:
    text = "[" + ", ".join(str(d) for d in shape) + "]"
    if len(text) > 32:
        text = "[" + ", ".join(str(d) for d in shape[:3]) + ", …]"
    return text


def format_line(s: TensorSummary) -> str:
    """The one-line form of ``s`` (see the module docstring)."""
    head = [_PREFIX.get(s.container, "tensor") + _shape(s.shape), s.dtype_short]
    if s.device != "cpu":
        head.append(s.device)
    if s.layout != "strided":
        head.append(s.layout)
    if s.nnz is not None:
        head.append(f"nnz={s.nnz}")
    head.append(f"n={s.numel}")
    if s.requires_grad:
        head.append("grad")
    if s.note is not None:
        return " ".join([*head, s.note])[:MAX_LINE]
    if s.numel == 0 or (s.nnz == 0):
        return " ".join([*head, "empty"])
    loud = []
    for label, count in (("NaN!", s.nan), ("+Inf!", s.posinf), ("-Inf!", s.neginf)):
        if count:
            loud.append(f"{label}×{count}")
    if s.saturated:
        loud.append(f"sat!×{s.saturated}")
    body = []
    if s.finite:
        approx = "≈" if "mean" in s.estimated else "="
        var = "|x|" if s.real_range is not None or s.dtype_short.startswith("c") else "x"
        if s.min == s.max:
            body.append(f"{var}={fmt(s.min)}")
        else:
            body.append(f"{var}∈[{fmt(s.min)}, {fmt(s.max)}]")
            body.append(f"μ{approx}{fmt(s.mean)}")
            body.append(f"σ{approx}{fmt(s.std)}")
        if s.zeros and s.numel and s.zeros * 10 >= s.numel:
            body.append(f"zeros={100 * s.zeros / s.numel:.0f}%")
    elif not loud:
        body.append("no finite values")
    spark = sparkline(s.hist.counts, SPARK_WIDTH) if s.hist and len(s.hist.counts) > 1 else ""
    line = " ".join([*head, *body, *loud] + ([spark] if spark.strip() else []))
    if len(line) > MAX_LINE:
        line = " ".join([*head, *body, *loud])
    return line[:MAX_LINE]
