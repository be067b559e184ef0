"""The text of a summary: the one-line form (debugger hovers, the CLI) and the sparkline of a
``TensorSummary``; and, from a summary's JSON form (``TensorSummary.to_dict()``), the short
line, the aligned statistics table and the Unicode histogram that hit messages and terminal
reports print. Imports no torch.

``tensor[32, 256] f32 n=8192 x∈[-0.81, 0.93] μ=0.002 σ=0.26 ▁▂▅█▅▂▁`` — dense, under 120
characters, and loud about what a debugging user must not miss: ``NaN!×12 +Inf!×3``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from tensorpeek.common.numbers import format_number

if TYPE_CHECKING:
    from tensorpeek.summary.tensor_summary import TensorSummary

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
    if s.note is not None and s.nan is None:  # no values read: the note says why
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
            body.append(f"{var}={format_number(s.min)}")
        else:
            body.append(f"{var}∈[{format_number(s.min)}, {format_number(s.max)}]")
            body.append(f"μ{approx}{format_number(s.mean)}")
            body.append(f"σ{approx}{format_number(s.std)}")
        if s.zeros and s.numel and s.zeros * 10 >= s.numel:
            body.append(f"zeros={100 * s.zeros / s.numel:.0f}%")
    elif not loud:
        body.append("no finite values")
    spark = sparkline(s.hist.counts, SPARK_WIDTH) if s.hist and len(s.hist.counts) > 1 else ""
    line = " ".join([*head, *body, *loud] + ([spark] if spark.strip() else []))
    if len(line) > MAX_LINE:
        line = " ".join([*head, *body, *loud])
    return line[:MAX_LINE]


BAR_WIDTH = 40
HIST_ROWS = 12
_EIGHTHS = " ▏▎▍▌▋▊▉█"
STAT_ROWS: tuple[tuple[str, ...], ...] = (
    ("shape", "dtype", "device", "numel"),
    ("nan", "posinf", "neginf", "zeros", "finite"),
    ("min", "max", "mean", "std"),
    ("norm", "absmean", "absmax", "saturated"),
)


def summary_line(summary: dict[str, Any] | None) -> str:
    """``float32[4×8] nan=3 min=-1.2 max=0.5 mean=0.01 std=0.3 norm=2.1`` from a summary dict."""
    if not summary:
        return "(no summary)"
    shape = "×".join(str(d) for d in summary.get("shape", []))
    parts = [f"{summary.get('dtype')}[{shape}]"]
    for key in ("nan", "posinf", "neginf"):
        if summary.get(key):
            parts.append(f"{key}={summary[key]}")
    for key in ("min", "max", "mean", "std", "norm"):
        v = summary.get(key)
        if isinstance(v, (int, float)) and not isinstance(v, bool):
            parts.append(f"{key}={format_number(v, 4)}")
    return " ".join(parts)


def stats_table(summary: dict[str, Any]) -> list[str]:
    """Four aligned rows of ``name value`` pairs (absent names are skipped)."""
    lines = []
    for row in STAT_ROWS:
        cells = []
        for key in row:
            if key not in summary or (key == "saturated" and summary.get(key) is None):
                continue
            value = summary[key]
            if key == "shape":
                text = "×".join(str(d) for d in value)
            elif isinstance(value, (int, float)) or value is None:
                text = format_number(value, 6, missing="—", grouping=True)
            else:
                text = str(value)
            cells.append(f"{key:>8} {text:<14}")
        if cells:
            lines.append("  " + " ".join(cells).rstrip())
    return lines


def _bar(count: float, peak: float) -> str:
    if peak <= 0 or count <= 0:
        return ""
    eighths = max(1, round(count / peak * BAR_WIDTH * 8))
    full, rest = divmod(eighths, 8)
    return "█" * full + (_EIGHTHS[rest] if rest else "")


def _merge(
    edges: Sequence[float], counts: Sequence[int], rows: int
) -> list[tuple[float, float, int]]:
    n = len(counts)
    if n == 0:
        return []
    group = max(1, -(-n // rows))  # ceil
    out = []
    for i in range(0, n, group):
        j = min(i + group, n)
        out.append((edges[i], edges[j], sum(counts[i:j])))
    return out


def histogram_lines(summary: dict[str, Any], rows: int = HIST_ROWS) -> list[str]:
    """A horizontal-bar histogram of the finite values, then the non-finite counts as bars of
    their own so NaN/Inf are never hidden."""
    hist = summary.get("hist") or {}
    bins = _merge(hist.get("edges") or [], hist.get("counts") or [], rows)
    special = [
        (label, summary.get(key) or 0)
        for key, label in (("nan", "NaN"), ("posinf", "+Inf"), ("neginf", "-Inf"))
    ]
    peak = max([c for _, _, c in bins] + [c for _, c in special] + [0])
    lines = []
    for lo, hi, c in bins:
        lo_text, hi_text = format_number(lo, 4), format_number(hi, 4)
        lines.append(f"  [{lo_text:>11}, {hi_text:>11}) {c:>9,} {_bar(c, peak)}")
    for label, c in special:
        if c:
            lines.append(f"  {label:>26} {c:>9,} {_bar(c, peak)}")
    if hist.get("sampled"):
        lines.append(f"  (histogram from a sample of {hist.get('sample_size'):,} values)")
    if not lines:
        lines.append("  (no values)")
    return lines
