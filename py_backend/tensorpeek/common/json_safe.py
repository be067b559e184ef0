"""JSON without NaN/Inf: every wire format (summaries, reports, snapshots) serialises with
``allow_nan=False``, so non-finite floats travel as the strings ``"nan"``, ``"inf"``, ``"-inf"``.
Torch-free, so modules that must not import torch early (the CLI's report) can use it."""

from __future__ import annotations

import math
from typing import Any


def json_safe(value: Any) -> Any:
    """``value`` with every non-finite float replaced by its string name, recursively."""
    if isinstance(value, float):
        if math.isfinite(value):
            return value
        return "nan" if math.isnan(value) else ("inf" if value > 0 else "-inf")
    if isinstance(value, dict):
        return {k: json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    return value
