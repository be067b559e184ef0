"""The one-line text and the JSON form: dense, under 120 characters, loud about NaN/Inf,
and strictly JSON (no NaN or Infinity literals) for every input."""

from __future__ import annotations

import json
import math
import re

import pytest
import torch
from test_inputs import CASES

from tensorpeek import summarize
from tensorpeek.summary.tensor_summary import sparkline

DESIGN_KEYS = {
    "shape", "dtype", "device", "numel", "nbytes", "requires_grad", "nan", "posinf",
    "neginf", "zeros", "finite", "min", "max", "mean", "std", "norm", "absmean", "hist",
}  # fmt: skip


@pytest.mark.parametrize("case", list(CASES))
def test_every_case_gives_strict_json_and_a_short_line(case: str) -> None:
    s = summarize(CASES[case]())
    d = s.to_dict()
    assert d.keys() >= DESIGN_KEYS
    text = json.dumps(d, allow_nan=False)  # raises on NaN/Inf floats
    assert json.loads(text) == d
    line = str(s)
    assert "\n" not in line and len(line) < 120


def test_line_format_example() -> None:
    x = torch.randn(32, 256, generator=torch.Generator().manual_seed(0)) * 0.26
    line = str(summarize(x))
    pattern = r"tensor\[32, 256\] f32 n=8192 x∈\[-?[\d.]+, [\d.]+\] μ=-?[\d.e-]+ σ=0\.26\d? "
    assert re.fullmatch(pattern + r"[▁▂▃▄▅▆▇█ ]{8}", line), line


def test_nonfinite_markers_are_loud() -> None:
    x = torch.randn(1000)
    x[:12] = math.nan
    x[20:23] = math.inf
    x[30] = -math.inf
    line = str(summarize(x))
    assert "NaN!×12" in line and "+Inf!×3" in line and "-Inf!×1" in line


def test_nonfinite_values_become_strings_in_json() -> None:
    # the norm itself is beyond float64 (1.7e308 * sqrt(2)), not just the sum of squares
    d = summarize(torch.tensor([1.7e308, 1.7e308], dtype=torch.float64)).to_dict()
    assert d["norm"] == "inf" and d["mean"] == 1.7e308
    json.dumps(d, allow_nan=False)


def test_narrow_float_extras_in_dict_and_line() -> None:
    x = torch.tensor([70000.0, -1e6, 1e-6, 0.0, 1.0]).half()  # 2 saturate to inf, 1 subnormal
    s = summarize(x)
    assert s.posinf == 1 and s.neginf == 1 and s.saturated == 2 and s.subnormal == 1
    assert "sat!×2" in str(s)
    x = torch.tensor([448.0, -448.0, 1.0, 0.001]).to(torch.float8_e4m3fn)
    s = summarize(x)
    assert s.saturated == 2 and s.subnormal == 1


def test_quick_mode_is_flagged_in_dict() -> None:
    x = torch.randn(2_000_000)
    d = summarize(x, mode="quick").to_dict()
    assert d["quick"] is True and "mean" in d["estimated"] and "hist" in d["estimated"]
    assert "min" not in d["estimated"] and "nan" not in d["estimated"]
    assert "≈" in str(summarize(x, mode="quick"))


def test_sparkline() -> None:
    assert sparkline([0, 1, 2, 4, 8]) == " ▁▂▄█"
    assert sparkline([1, 1, 1, 1]) == "████"
    assert sparkline([0, 0]) == "  "
    assert sparkline([1, 0, 0, 3], width=2) == "▃█"
    assert sparkline([]) == ""
