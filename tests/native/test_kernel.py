"""The fused C kernel row by row against a float64 oracle: lane and chunk boundaries, thread
splits, NaN/Inf in the vectorized body and in the scalar tail, signed zeros, narrow-float
saturation and subnormals, sums around a center; and the kernel's absence."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

import tensorpeek
from support.native_values import DTYPES, SIZES
from support.native_values import values as _values
from tensorpeek.summary import native
from tensorpeek.summary.dtypes import dtype_info
from tensorpeek.summary.histogram import Binning
from tensorpeek.summary.reductions import FIELDS

pytestmark = pytest.mark.usefixtures("kernel")


def oracle_row(t: torch.Tensor, center: float = 0.0) -> dict[str, float]:
    v = t.to(torch.float64).reshape(-1)
    fin = v[torch.isfinite(v)]
    d = fin - center
    info = dtype_info(t.dtype)
    a = fin.abs()
    narrow = t.dtype in (torch.bfloat16, torch.float16)
    out = {
        "finite": fin.numel(),
        "nan": int(torch.isnan(v).sum()),
        "posinf": int((v == math.inf).sum()),
        "neginf": int((v == -math.inf).sum()),
        "zeros": int((fin == 0).sum()),
        "sum": float(d.sum()),
        "sumsq": float((d * d).sum()),
        "abssum": float(d.abs().sum()),
        "min": float(fin.min()) if fin.numel() else math.inf,
        "max": float(fin.max()) if fin.numel() else -math.inf,
        "absmin": float(a.min()) if fin.numel() else math.inf,
        "absmax": float(a.max()) if fin.numel() else 0.0,
        "saturated": 0,
        "subnormal": 0,
    }
    if narrow:
        assert info.max_finite is not None and info.smallest_normal is not None
        inf = int(torch.isinf(v).sum())
        out["saturated"] = int((a >= info.max_finite).sum()) + inf
        out["subnormal"] = int(((a > 0) & (a < info.smallest_normal)).sum())
    return out


def assert_row_matches(t: torch.Tensor, center: float = 0.0) -> None:
    row = native.reduce_row(t.reshape(-1), dtype_info(t.dtype), center)
    got = dict(zip(FIELDS, row, strict=True))
    want = oracle_row(t, center)
    for name in ("finite", "nan", "posinf", "neginf", "zeros", "saturated", "subnormal"):
        assert got[name] == want[name], (name, got[name], want[name])
    for name in ("min", "max", "absmin", "absmax"):
        assert got[name] == want[name], (name, got[name], want[name])
    scale = want["abssum"] + abs(center) * want["finite"]
    for name in ("sum", "sumsq", "abssum"):
        allowance = 1e-13 * (scale if name == "sum" else abs(want[name]))
        assert abs(got[name] - want[name]) <= allowance, (name, got[name], want[name])


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@pytest.mark.parametrize("n", SIZES)
def test_random_values_at_lane_chunk_and_thread_boundaries(n: int, dtype: torch.dtype) -> None:
    assert_row_matches(_values(n, dtype, n))


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@pytest.mark.parametrize("n", [17, 4097, (1 << 18) + 3])
def test_nan_and_inf_in_the_body_and_in_the_tail(n: int, dtype: torch.dtype) -> None:
    t = _values(n, dtype, 7)
    # first element (a vectorized lane), last (the scalar tail), and one chunk in
    for i, value in ((0, math.nan), (n - 1, math.inf), (n // 2, -math.inf), (n // 3, math.nan)):
        t[i] = value
    assert_row_matches(t)


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
def test_all_nan_all_inf_and_signed_zeros(dtype: torch.dtype) -> None:
    assert_row_matches(torch.full((4100,), math.nan, dtype=dtype))
    assert_row_matches(torch.full((4100,), -math.inf, dtype=dtype))
    zeros = torch.zeros(4100, dtype=dtype)
    zeros[::2] = -0.0
    assert_row_matches(zeros)


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16], ids=str)
def test_narrow_saturation_and_subnormals(dtype: torch.dtype) -> None:
    info = torch.finfo(dtype)
    t = _values(9000, dtype, 3)
    t[::7] = info.max
    t[1::7] = -info.max
    t[2::11] = info.smallest_normal / 4  # subnormal
    t[3::13] = -info.tiny / 2
    t[5] = math.inf
    assert_row_matches(t)


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
def test_sums_around_a_center(dtype: torch.dtype) -> None:
    t = (_values(5000, torch.float64, 11) + 1000).to(dtype)
    assert_row_matches(t, center=float(t.double().mean()))


def test_float64_sums_that_overflow_fall_back_to_the_careful_loop() -> None:
    t = _values(5000, torch.float64, 5) * 1e300  # squares overflow: sum of squares is inf
    got = dict(zip(FIELDS, native.reduce_row(t, dtype_info(t.dtype)), strict=True))
    want = oracle_row(t)
    assert got["finite"] == 5000 and got["sumsq"] == math.inf == want["sumsq"]
    assert got["min"] == want["min"] and got["max"] == want["max"]
    summary = tensorpeek.summarize(t)  # the rescaled second pass still gets it right
    k = float(t.abs().max())
    assert math.isclose(summary.std, k * float((t / k).std(correction=0)), rel_tol=1e-9)


def test_views_with_an_offset_are_read_from_their_first_element() -> None:
    base = _values(10_000, torch.float32, 2)
    assert_row_matches(base[1234:5678])


def test_other_dtypes_and_devices_are_not_taken() -> None:
    assert not native.can_read(torch.zeros(3, dtype=torch.int32))
    assert not native.can_read(torch.zeros(3, device="meta"))
    assert native.can_read(torch.zeros(3))
    with pytest.raises(ValueError, match="cannot read"):
        native.reduce_row(torch.zeros(3, dtype=torch.int64), dtype_info(torch.int64))
    with pytest.raises(ValueError, match="cannot read"):
        native.reduce_row(torch.zeros(4)[::2], dtype_info(torch.float32))


def test_thread_count_is_left_alone() -> None:
    before = torch.get_num_threads()
    native.reduce_row(_values(1 << 20, torch.float32, 1), dtype_info(torch.float32))
    assert torch.get_num_threads() == before


_SUBPROCESS = """
import json, torch, tensorpeek
from tensorpeek.summary import native
g = torch.Generator().manual_seed(0)
x = torch.randn(17_000_000, generator=g) + 0.5  # above both exact-histogram limits
x[::1000] = float('nan')
s = tensorpeek.summarize(x).to_dict()
print(json.dumps({"status": native.status(), "summary": s}))
"""


def _summary_in_subprocess(env_extra: dict[str, str]) -> dict:
    env = {**os.environ, **env_extra}
    out = subprocess.run(
        [sys.executable, "-c", _SUBPROCESS], capture_output=True, text=True, env=env,
        check=True, timeout=120,
    )  # fmt: skip
    return json.loads(out.stdout)


def test_without_the_kernel_the_same_summary_comes_from_torch() -> None:
    fused = _summary_in_subprocess({})
    plain = _summary_in_subprocess({"TENSORPEEK_NO_NATIVE": "1"})
    assert "loaded" in fused["status"]
    assert "disabled by TENSORPEEK_NO_NATIVE=1" in plain["status"]
    a, b = fused["summary"], plain["summary"]
    # the same sample is drawn on both paths: identical histograms and counts
    assert a["hist"]["sampled"] and a["hist"] == b["hist"]
    for key in ("nan", "posinf", "neginf", "zeros", "finite", "min", "max"):
        assert a[key] == b[key], key
    for key in ("mean", "std", "std_sample", "norm"):  # float64 sums on both paths
        assert math.isclose(a[key], b[key], rel_tol=1e-9), key
    # the torch path sums |x| in float32 (cascade; see reductions.py), the kernel in float64
    assert math.isclose(a["absmean"], b["absmean"], rel_tol=1e-7)


def test_a_missing_or_stale_library_is_reported_not_used(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("TENSORPEEK_NO_NATIVE", raising=False)
    monkeypatch.setattr(native, "__file__", str(tmp_path / "native.py"))
    lib, why = native._open()
    assert lib is None and why.startswith("not built (_reduce.so missing")
    source = tmp_path / "old.c"
    source.write_text("int tp_abi(void) { return 1; }\n")
    cc = ["cc", "-shared", "-fPIC", "-o", str(tmp_path / "_reduce.so"), str(source)]
    subprocess.run(cc, check=True, timeout=60)
    lib, why = native._open()
    assert lib is None
    assert why == f"stale build (ABI 1, expected {native.ABI}): reinstall tensorpeek"
    other = tmp_path / "other"  # (a path dlopen has not seen: it caches by path)
    other.mkdir()
    monkeypatch.setattr(native, "__file__", str(other / "native.py"))
    source.write_text(f"int tp_abi(void) {{ return {native.ABI}; }}\n")  # no functions
    cc[4] = str(other / "_reduce.so")
    subprocess.run(cc, check=True, timeout=60)
    lib, why = native._open()
    assert lib is None and why.startswith("is not tensorpeek's kernel (")
    monkeypatch.setattr(native, "__file__", str(tmp_path / "junk" / "native.py"))
    (tmp_path / "junk").mkdir()
    (tmp_path / "junk" / "_reduce.so").write_bytes(b"not a library")
    lib, why = native._open()
    assert lib is None and why.startswith("cannot be loaded: ")


def _torch_counts(binning: Binning, values: torch.Tensor) -> list[int]:
    can_read = native.can_read
    try:
        native.can_read = lambda t: False  # type: ignore[assignment]
        return binning.count(values).tolist()
    finally:
        native.can_read = can_read  # type: ignore[assignment]


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@pytest.mark.parametrize("n", [1, 17, 4097, (1 << 18) + 3])
def test_bin_counts_equal_the_torch_binning(n: int, dtype: torch.dtype) -> None:
    t = _values(n, dtype, 13)
    lo, hi = float(t.double().min()), float(t.double().max())
    if n > 2:
        t[0], t[-1] = math.nan, math.inf  # not binned
    for bins in (1, 7, 32):
        binning = Binning(lo, hi, bins) if lo < hi else Binning(lo, lo, bins)
        kernel = binning.count(t).tolist()
        assert kernel == _torch_counts(binning, t)
        assert sum(kernel) == int(torch.isfinite(t).sum())


def test_values_on_bin_edges_fall_where_the_torch_binning_puts_them() -> None:
    binning = Binning(-1.0, 1.0, 32)
    edges = torch.tensor(binning.edges(), dtype=torch.float64)
    up, down = torch.nextafter(edges, edges + 1), torch.nextafter(edges, edges - 1)
    nudged = torch.cat([edges, up, down])
    values = nudged.clamp(-1.0, 1.0)
    for dtype in (torch.float64, torch.float32):
        v = values.to(dtype)
        assert binning.count(v).tolist() == _torch_counts(binning, v)


def test_binning_across_the_whole_float64_range() -> None:
    info = torch.finfo(torch.float64)
    t = torch.tensor([-info.max, -1.0, 0.0, info.tiny, 1e300, info.max], dtype=torch.float64)
    binning = Binning(-info.max, info.max, 16)
    assert binning.count(t).tolist() == _torch_counts(binning, t)


def test_conditions_on_extremes_only_do_not_run_the_kernel(monkeypatch: pytest.MonkeyPatch) -> None:
    from tensorpeek.summary import stats

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("the kernel ran for a min/max/NaN condition")

    x = _values(1 << 19, torch.float32, 4)
    x[5] = math.nan
    monkeypatch.setattr(native, "reduce_row", refuse)
    got = stats.compute(x, ["nonfinite", "absmax", "max"])
    finite = x[torch.isfinite(x)]
    assert got == {"nonfinite": 1, "absmax": float(finite.abs().max()), "max": float(finite.max())}
    with pytest.raises(AssertionError, match="the kernel ran"):
        stats.compute(x, ["norm"])  # a sum of squares is the kernel's job


def test_every_float16_bit_pattern_is_read_exactly() -> None:
    # subnormals, both zeros, Inf and every NaN payload: the kernel converts float16 with
    # integer operations, which must agree with torch's conversion on all 65536 of them
    t = torch.arange(-(1 << 15), 1 << 15, dtype=torch.int32).to(torch.int16).view(torch.float16)
    assert_row_matches(t)
    finite = t[torch.isfinite(t)]
    lo, hi = float(finite.min()), float(finite.max())
    binning = Binning(lo, hi, 32)
    assert binning.count(t).tolist() == _torch_counts(binning, t)


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
def test_scattered_nan_in_every_chunk_takes_the_masked_loop(dtype: torch.dtype) -> None:
    t = _values(3 * 4096 + 40, dtype, 21)
    t[::97] = math.nan
    t[5::211] = math.inf
    t[7::389] = -math.inf
    t[11::50] = 0.0
    assert_row_matches(t)
    assert_row_matches(t, center=0.25)


def _bits(t: torch.Tensor) -> torch.Tensor:
    """The stored bits of ``t`` (so that NaN compares equal to itself)."""
    return t.contiguous().view({2: torch.int16, 4: torch.int32, 8: torch.int64}[t.element_size()])


def _strided_row(view: torch.Tensor, into: torch.Tensor | None = None) -> dict[str, float]:
    row = native.reduce_strided(view, dtype_info(view.dtype), 0.0, into)
    assert row is not None
    return dict(zip(FIELDS, row, strict=True))


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@pytest.mark.parametrize(
    ("rows", "total_cols", "cols", "step"),
    [(7, 40, 1, 1), (5, 40, 15, 1), (300, 33, 16, 1), (3, 9000, 4097, 1), (2000, 300, 17, 3),
     (1, 30_000, 9000, 3), (700, 800, 777, 1)],
    ids=["one_column", "under_a_lane", "one_lane", "over_a_chunk", "stepped", "one_row",
         "threads"],
)  # fmt: skip
def test_strided_views_are_read_in_place_like_their_contiguous_copy(
    rows: int, total_cols: int, cols: int, step: int, dtype: torch.dtype
) -> None:
    """Column and stepped slices, read by tp_reduce_strided at lane, chunk, row and thread
    boundaries, with NaN/Inf planted: the same row as the oracle, and the values left in
    ``into`` row-major (what the sampler reads)."""
    base = _values(rows * total_cols, dtype, rows + cols).view(rows, total_cols)
    base[0, 0], base[-1, (cols - 1) * step] = math.nan, -math.inf
    base[rows // 2, 0] = math.inf
    view = base[:, 1 : 1 + cols * step : step] if cols > 1 else base[:, :1]
    assert not view.is_contiguous()
    want = oracle_row(view)
    into = torch.full((view.numel() + 5,), 9.0, dtype=dtype)
    for buffer in (None, into):
        got = _strided_row(view, buffer)
        for name in ("finite", "nan", "posinf", "neginf", "zeros", "saturated", "subnormal",
                     "min", "max", "absmin", "absmax"):  # fmt: skip
            assert got[name] == want[name], (name, got[name], want[name])
        for name in ("sum", "sumsq", "abssum"):
            allowance = 1e-13 * (want["abssum"] if name == "sum" else abs(want[name]))
            assert abs(got[name] - want[name]) <= allowance, (name, got[name], want[name])
    assert torch.equal(_bits(into[: view.numel()]), _bits(view).reshape(-1))  # NaN included
    assert torch.equal(into[view.numel() :], torch.full((5,), 9.0, dtype=dtype))


def test_views_of_more_than_two_dimensions_are_left_to_the_caller() -> None:
    base = torch.randn(6, 7, 8)
    assert native.reduce_strided(base[:, ::2, ::3], dtype_info(base.dtype)) is None
    # mergeable dimensions are merged: a 3-D slice of whole rows is a 2-D view
    merged = base[:, :, :5]
    row = native.reduce_strided(merged.transpose(0, 0), dtype_info(base.dtype))
    assert row is not None and row[0] == merged.numel()
