"""Property-based tests (issue 14): ``summarize`` on random shapes, strides (transposes,
stepped slices, expanded stride-0 views), dtypes and values (NaN, +-Inf, huge, tiny and
subnormal ones) against a float64 oracle computed here, independently of the package, with
``math.fsum``: counts and extremes exact, moments within 1e-9 relative. Runs on both paths
(the fused kernel and the torch path: the autouse fixture in ``conftest.py``), derandomized
so CI is deterministic; small tensors, so the suite takes seconds on two cores."""

from __future__ import annotations

import math
from dataclasses import dataclass

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import tensorpeek.summary.stats as stats_module
from tensorpeek import summarize

FLOATS = [torch.float32, torch.float64, torch.bfloat16, torch.float16]
INTS = [torch.int8, torch.int16, torch.int32, torch.int64, torch.uint8, torch.bool]
COMPLEX = [torch.complex64, torch.complex128]
# values that stress the sums: beyond float32, near float64's ends, subnormals of each
EXTREMES = [0.0, -0.0, 1.0, -1.0, 1e300, -1e300, 1.7e308, 1e-300, 5e-324, -2.5e-310, 3e38,
            -3.4e38, 1e-40, 1e-45, 65504.0, 70000.0, 6e-8, 1e-5, 1e30, 1e-30, 12345.678,
            math.nan, math.inf, -math.inf]  # fmt: skip
RELATIVE = 1e-9

PROPERTY = settings(
    max_examples=60,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


@dataclass
class Case:
    tensor: torch.Tensor
    how: str  # the view operations applied, for the failure message


@st.composite
def values(draw: st.DrawFn, n: int, extremes: bool) -> list[float]:
    finite = st.floats(-1e6, 1e6, allow_nan=False, width=64)
    pool = st.one_of(finite, st.sampled_from(EXTREMES)) if extremes else finite
    out = draw(st.lists(pool, min_size=n, max_size=n))
    if draw(st.booleans()):  # a large common offset: the mean cancels in E[x^2] - mean^2
        offset = draw(st.sampled_from([1e4, -3e6, 1e8]))
        out = [v + offset for v in out]
    return out


@st.composite
def tensors(draw: st.DrawFn, dtypes: list[torch.dtype], extremes: bool = True) -> Case:
    dtype = draw(st.sampled_from(dtypes))
    shape = draw(st.lists(st.integers(1, 9), min_size=1, max_size=3))
    n = math.prod(shape)
    if dtype in INTS:
        info = torch.iinfo(dtype) if dtype != torch.bool else None
        lo, hi = (info.min, info.max) if info is not None else (0, 1)
        ints = draw(st.lists(st.one_of(st.integers(lo, hi), st.sampled_from([lo, hi, 0])),
                             min_size=n, max_size=n))  # fmt: skip
        x = torch.tensor(ints, dtype=torch.int64).to(dtype).reshape(shape)
    elif dtype in COMPLEX:
        re = torch.tensor(draw(values(n, extremes)), dtype=torch.float64)
        im = torch.tensor(draw(values(n, extremes)), dtype=torch.float64)
        x = torch.complex(re, im).to(dtype).reshape(shape)
    else:
        x = torch.tensor(draw(values(n, extremes)), dtype=torch.float64).to(dtype).reshape(shape)
    how = [str(dtype), f"shape {shape}"]
    for _ in range(draw(st.integers(0, 2))):
        op = draw(st.sampled_from(["transpose", "step", "expand", "flip_dims"]))
        d = draw(st.integers(0, x.dim() - 1))
        if op == "transpose" and x.dim() >= 2:
            e = draw(st.integers(0, x.dim() - 1))
            x = x.transpose(d, e)
        elif op == "step":
            start = draw(st.integers(0, x.shape[d] - 1))
            step = draw(st.integers(1, 3))
            x = x.narrow(d, start, x.shape[d] - start)[
                (slice(None),) * d + (slice(None, None, step),)
            ]
        elif op == "expand":
            x = x.unsqueeze(d).expand(*x.shape[:d], draw(st.integers(1, 5)), *x.shape[d:])
        elif op == "flip_dims" and x.dim() >= 2:
            x = x.permute(*reversed(range(x.dim())))
        how.append(f"{op} -> {tuple(x.shape)} strides {x.stride()}")
    return Case(x, "; ".join(how))


def float64_oracle(x: torch.Tensor) -> dict[str, float | int | None]:
    """The obvious computation, element by element in Python: complex tensors by |z|."""
    flat = x.reshape(-1).tolist()  # (every logical element, expanded ones included)
    vals = [_magnitude(v) if x.is_complex() else float(v) for v in flat]
    fin = [v for v in vals if math.isfinite(v)]
    out: dict[str, float | int | None] = {
        "nan": sum(1 for v in vals if math.isnan(v)),
        "posinf": sum(1 for v in vals if v == math.inf),
        "neginf": sum(1 for v in vals if v == -math.inf),
        "zeros": sum(1 for v in vals if v == 0.0),
        "finite": len(fin),
    }
    if not fin:
        return out
    n = len(fin)
    k = max(abs(v) for v in fin) or 1.0  # moments of v / k: no square overflows or vanishes
    unit = [v / k for v in fin]
    mu = math.fsum(unit) / n
    var = math.fsum((u - mu) ** 2 for u in unit) / n
    exact = not (x.is_floating_point() or x.is_complex())  # ints: extremes as exact ints
    lo, hi = (min(flat), max(flat)) if exact else (min(fin), max(fin))
    out.update(
        min=int(lo) if exact else lo, max=int(hi) if exact else hi,
        mean=k * mu, std=k * math.sqrt(var),
        norm=k * math.sqrt(math.fsum(u * u for u in unit)),
        absmean=k * (math.fsum(abs(u) for u in unit) / n),
        rms=k * math.sqrt(math.fsum(u * u for u in unit) / n),
    )  # fmt: skip
    return out


def _magnitude(z: complex) -> float:
    """|z| as C99's hypot defines it: inf if a part is infinite, else NaN if a part is NaN,
    else inf where it is beyond float64 (Python raises on those instead)."""
    z = complex(z)
    if math.isinf(z.real) or math.isinf(z.imag):
        return math.inf
    if math.isnan(z.real) or math.isnan(z.imag):
        return math.nan
    try:
        return abs(z)
    except OverflowError:
        return math.inf


def _near(actual: float | None, expected: float, allowance: float = 0.0) -> bool:
    if actual is None:
        return False
    if math.isinf(expected):  # (a norm beyond float64's range)
        return actual == expected
    return abs(actual - expected) <= RELATIVE * abs(expected) + allowance


def check(case: Case) -> None:
    x = case.tensor
    s = summarize(x)
    o = float64_oracle(x)
    why = case.how
    for key in ("nan", "posinf", "neginf", "zeros", "finite"):
        assert getattr(s, key) == o[key], (key, getattr(s, key), o[key], why)
    assert s.numel == x.numel() and s.shape == tuple(x.shape), why
    if not o["finite"]:
        assert s.min is None and s.mean is None and s.norm is None, why
        return
    extremes = (s.min, s.max, o["min"], o["max"], why)
    if x.is_complex():  # |z| is itself rounded: torch's hypot and Python's may differ by an ulp
        assert math.isclose(s.min, o["min"], rel_tol=1e-15), extremes  # type: ignore[arg-type]
        assert math.isclose(s.max, o["max"], rel_tol=1e-15), extremes  # type: ignore[arg-type]
    else:
        assert s.min == o["min"] and s.max == o["max"], extremes
    if x.dtype in INTS:
        assert isinstance(s.min, int) and isinstance(s.max, int), why
    rms, absmean = float(o["rms"]), float(o["absmean"])  # type: ignore[arg-type]
    # a mean that cancels is exact to a fraction of the magnitudes; a std far below the
    # values' size to a fraction of their rms (the sums are float64, not exact)
    assert _near(s.mean, float(o["mean"]), 1e-12 * absmean), ("mean", s.mean, o["mean"], why)  # type: ignore[arg-type]
    assert _near(s.std, float(o["std"]), 1e-7 * rms), ("std", s.std, o["std"], why)  # type: ignore[arg-type]
    for key in ("norm", "absmean"):
        assert _near(getattr(s, key), float(o[key])), (key, getattr(s, key), o[key], why)  # type: ignore[arg-type]
    assert s.hist is not None and sum(s.hist.counts) == o["finite"], why
    symlog = summarize(x, scale="symlog").hist
    assert symlog is not None and sum(symlog.counts) == o["finite"], why


@PROPERTY
@given(tensors(FLOATS))
def test_float_tensors_match_the_float64_oracle(case: Case) -> None:
    check(case)


@PROPERTY
@given(tensors(INTS + COMPLEX))
def test_integer_bool_and_complex_tensors_match_the_float64_oracle(case: Case) -> None:
    check(case)


@PROPERTY
@given(tensors(FLOATS + INTS))
def test_device_code_path_matches_the_float64_oracle(case: Case) -> None:
    """The branch-free path of accelerators, run on the CPU."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(stats_module, "BRANCHLESS_ON_CPU", True)
        check(case)
