"""The one list of statistic names: what ``stats.compute(x, names)`` can compute and what a
breakpoint condition may read. Imports no torch (the spec parser checks names against it)."""

from __future__ import annotations

STAT_NAMES: tuple[str, ...] = (
    "nan", "posinf", "neginf", "nonfinite", "finite", "zeros", "zeros_frac", "min", "max",
    "absmax", "mean", "std", "std_sample", "norm", "absmean", "saturated", "subnormal", "numel",
)  # fmt: skip
