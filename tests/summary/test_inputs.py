"""Every input case of issue 2 against the float64 oracle: counts exact, extremes exact,
moments within 1e-6 relative, histogram counts summing to the finite count."""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable

import numpy as np
import pytest
import torch
from summary_oracle import close, oracle

import tensorpeek.summary.stats as stats_module
from tensorpeek import summarize

NAN, INF = math.nan, math.inf
G = torch.Generator().manual_seed(1234)


def randn(*shape: int, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """Normal samples, the same for a given shape whatever tests ran before."""
    gen = torch.Generator().manual_seed(sum(shape) * 7919 + len(shape))
    return torch.randn(*shape, generator=gen, dtype=torch.float64).to(dtype)


def with_specials(t: torch.Tensor, n: int = 7) -> torch.Tensor:
    """``t`` with NaN, +Inf, -Inf and zeros planted at fixed places."""
    t = t.clone()
    flat = t.view(-1)
    flat[3] = NAN
    flat[n] = INF
    flat[2 * n] = -INF
    flat[5 * n] = 0.0
    flat[-2] = NAN
    return t


def sparse_source() -> torch.Tensor:
    """A 40x50 matrix with about 20% non-zeros."""
    keep = torch.rand(40, 50, generator=torch.Generator().manual_seed(2)) > 0.8
    return torch.where(keep, randn(40, 50), 0.0)


def to_csr(t: torch.Tensor) -> torch.Tensor:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # "CSR support is in beta"
        return t.to_sparse_csr()


class Subclassed(torch.Tensor):
    """A trivial tensor subclass (as libraries define them)."""


def quantized() -> torch.Tensor:
    """A per-tensor qint8 tensor (torch warns that quantized creation is deprecated)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        return torch.quantize_per_tensor(randn(64, 33), 0.05, 3, torch.qint8)


FLOAT8 = [getattr(torch, n) for n in dir(torch) if n.startswith("float8_")]

CASES: dict[str, Callable[[], torch.Tensor]] = {
    "float64": lambda: randn(1000, dtype=torch.float64),
    "float32": lambda: randn(64, 257),
    "float16": lambda: with_specials(randn(3000).to(torch.float16)),
    "bfloat16": lambda: with_specials(randn(3000).to(torch.bfloat16)),
    **{f"{str(d).removeprefix('torch.')}": (lambda d=d: (randn(2000) * 3).to(d)) for d in FLOAT8},
    "int8": lambda: torch.randint(-128, 128, (5000,), generator=G, dtype=torch.int8),
    "int16": lambda: torch.randint(-30000, 30000, (5000,), generator=G, dtype=torch.int16),
    "int32": lambda: torch.randint(-(2**31), 2**31 - 1, (5000,), generator=G, dtype=torch.int32),
    "int64": lambda: torch.randint(-(2**40), 2**40, (5000,), generator=G, dtype=torch.int64),
    "uint8": lambda: torch.randint(0, 256, (5000,), generator=G, dtype=torch.uint8),
    "bool": lambda: torch.rand(5000, generator=G) > 0.3,
    "complex64": lambda: torch.complex(randn(500), randn(500)),
    "complex128": lambda: torch.complex(
        randn(500, dtype=torch.float64), randn(500, dtype=torch.float64)
    ),
    "quantized": quantized,
    "sparse_coo": lambda: sparse_source().to_sparse(),
    "sparse_csr": lambda: to_csr(sparse_source()),
    "transposed": lambda: randn(300, 170).t(),
    "stepped_slice": lambda: randn(200, 300)[::3, 1::7],
    "stepped_slice_bf16": lambda: with_specials(randn(1500, 1400).bfloat16())[::2, 1::3],
    "stepped_slice_f64_nan": lambda: with_specials(randn(1500, 1400, dtype=torch.float64))[
        ::2, 1::3
    ],
    "transposed_f16": lambda: with_specials(randn(900, 1300).half()).t(),
    "expanded": lambda: randn(5, 1, 70).expand(5, 9000, 70),
    "expanded_nan": lambda: with_specials(randn(5, 1, 70)).expand(5, 300, 70),
    "permuted_3d": lambda: randn(7, 11, 13).permute(2, 0, 1),
    "zero_dim": lambda: torch.tensor(2.5),
    "subclass": lambda: randn(30, 30).as_subclass(Subclassed),
    "parameter": lambda: torch.nn.Parameter(randn(20, 20)),
    "all_nan": lambda: torch.full((100,), NAN),
    "all_posinf": lambda: torch.full((100,), INF),
    "all_inf_mixed": lambda: torch.tensor([INF, -INF, INF]),
    "constant": lambda: torch.full((1000,), 0.1),
    "constant_large_mean": lambda: torch.full((100_000,), 12345.678),
    "range_1e-30_1e30": lambda: (
        torch.logspace(-30, 30, 4001) * torch.tensor([1.0, -1.0]).repeat(2001)[:4001]
    ),
    "tiny_only": lambda: randn(5000) * 1e-30,
    "huge_only_f32": lambda: randn(5000) * 1e37,
    "huge_f32_with_nan": lambda: with_specials(randn(5001) * 1e37),
    "tiny_f32_with_inf": lambda: with_specials(randn(5001) * 1e-30),
    "huge_f64": lambda: randn(5000, dtype=torch.float64) * 1e300,
    "tiny_f64": lambda: with_specials(randn(5001, dtype=torch.float64) * 1e-300),
    "large_mean_small_var": lambda: 1e4 + randn(200_000) * 1e-3,
    "requires_grad": lambda: randn(50, 50).requires_grad_(),
    "non_leaf": lambda: randn(50, 50).requires_grad_() * 2,
    "many_blocks_with_nan": lambda: with_specials(randn(2_500_000), n=450_001),
    # blocks of one sign take their sums in float32 (no cancellation inside them) ...
    "relu_many_blocks": lambda: torch.relu(randn(2_500_000)),
    "negative_many_blocks_bf16": lambda: -torch.relu(randn(2_500_000)).bfloat16() - 0.5,
    # ... unless blocks of opposite signs cancel, as in a sorted tensor: float64 again
    "sorted_many_blocks": lambda: randn(3_000_000).sort().values,
    "sorted_f16_many_blocks": lambda: randn(3_000_000).sort().values.half(),
    # zeros counted by sign(): a subnormal float32 is not a zero, though its square is
    "zeros_and_subnormals": lambda: torch.cat(
        [randn(1_500_000), torch.zeros(1000), torch.full((1000,), 1e-40), -randn(600_000).abs()]
    ),
}


def _check(t: torch.Tensor) -> None:
    s = summarize(t)
    o = oracle(t)
    for key in ("nan", "posinf", "neginf", "zeros", "finite"):
        assert getattr(s, key) == o[key], (key, getattr(s, key), o[key])
    if o["finite"] == 0:
        assert s.min is None and s.mean is None and s.std is None and s.norm is None
        assert s.hist is not None and s.hist.counts == ()
        return
    assert s.min == o["min"] and s.max == o["max"]
    assert close(s.mean, o["mean"]), (s.mean, o["mean"])
    for key in ("std", "std_sample", "norm", "absmean"):
        assert close(getattr(s, key), o[key]), (key, getattr(s, key), o[key])
    assert s.hist is not None and sum(s.hist.counts) == o["finite"]
    assert s.hist.edges[0] == o["min"] and s.hist.edges[-1] == o["max"]


@pytest.mark.parametrize("case", list(CASES))
def test_summary_matches_float64_oracle(case: str) -> None:
    _check(CASES[case]())


@pytest.mark.parametrize(
    "case", ["float32", "bfloat16", "int64", "complex64", "expanded_nan", "stepped_slice",
             "many_blocks_with_nan", "large_mean_small_var", "all_nan", "quantized",
             "huge_f32_with_nan", "tiny_f32_with_inf", "float8_e4m3fn", "bool", "huge_f64",
             "tiny_f64"],
)  # fmt: skip
def test_device_code_path_matches_oracle(case: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """The branch-free path used on accelerators, run on the CPU."""
    monkeypatch.setattr(stats_module, "BRANCHLESS_ON_CPU", True)
    _check(CASES[case]())


def test_sorted_mirror_cancels_exactly_across_blocks_of_one_sign() -> None:
    """A sorted tensor and its mirror: every block but the middle one has one sign, so their
    float32 sums (fine inside a block) would leave ~1e-7 of sum|x| after cancelling across
    blocks; they must be summed again in float64, giving the float64 oracle's exact zero."""
    half = randn(2_000_001).abs().sort().values
    x = torch.cat([-half.flip(0), half])
    assert float(x.double().sum()) == 0.0
    s = summarize(x)
    assert abs(s.mean) <= 1e-12 * s.absmean
    o = oracle(x)
    for key in ("std", "norm", "absmean"):
        assert close(getattr(s, key), o[key]), key


def test_mean_that_cancels_is_summed_in_float64() -> None:
    """Signed sums are accumulated in float64: a float32 cascade is off by up to ~2e-7 of
    sum|x| on repetitive data, which a cancelling mean would turn into a large error."""
    half = randn(3_000_001)
    x = torch.cat([half, -half.flip(0)])
    s = summarize(x)
    assert float(x.double().sum()) == 0.0
    assert abs(s.mean) <= 1e-12 * s.absmean
    pattern = torch.tensor([1.1, -1.0]).repeat(1_500_000)  # mean 0.05 of values ~1
    _check(pattern)
    _check(pattern.bfloat16())


def test_int64_extremes_are_exact_integers() -> None:
    s = summarize(torch.tensor([-(2**63), 2**63 - 1, 0, 5], dtype=torch.int64))
    assert s.min == -(2**63) and s.max == 2**63 - 1
    assert isinstance(s.min, int)


def test_complex_reports_real_and_imag_ranges() -> None:
    z = torch.complex(randn(300), randn(300) * 5)
    z[7] = complex(NAN, 1.0)
    s = summarize(z)
    finite_re = z.real[torch.isfinite(z.real)]
    assert s.real_range == (float(finite_re.min()), float(finite_re.max()))
    assert s.imag_range == (float(z.imag.min()), float(z.imag.max()))
    assert s.nan == 1


def test_expanded_tensor_is_not_materialised_but_counted_in_full() -> None:
    base = randn(4, 1)
    big = base.expand(4, 50_000_000)  # 200M logical elements, 4 stored
    s = summarize(big)
    assert s.finite == 200_000_000
    assert s.min == float(base.min()) and s.hist is not None and not s.hist.sampled
    assert sum(s.hist.counts) == 200_000_000


def test_sparse_reports_nnz_and_stored_value_stats() -> None:
    dense = torch.zeros(100, 100)
    dense[3, 4], dense[50, 7] = 2.0, -1.0
    s = summarize(dense.to_sparse())
    assert s.nnz == 2 and s.numel == 10_000 and s.layout == "sparse_coo"
    assert s.min == -1.0 and s.max == 2.0 and s.mean == 0.5


def test_meta_tensor_gives_metadata_only() -> None:
    s = summarize(torch.empty(3, 4, device="meta", dtype=torch.bfloat16))
    assert s.shape == (3, 4) and s.dtype == "bfloat16" and s.device == "meta"
    assert s.numel == 12 and s.nbytes == 24
    assert s.nan is None and s.min is None and s.hist is None and s.note


def test_empty_tensor() -> None:
    s = summarize(torch.empty(0, 5))
    assert (s.numel, s.finite, s.nan, s.min, s.mean) == (0, 0, 0, None, None)


def test_constant_tensor_has_one_bin() -> None:
    s = summarize(torch.full((10, 10), 3.0))
    assert s.hist is not None and s.hist.edges == (3.0, 3.0) and s.hist.counts == (100,)
    assert s.std == 0.0


def test_metadata_fields() -> None:
    w = torch.nn.Parameter(torch.ones(3, 2))
    s = summarize(w)
    assert (s.is_parameter, s.requires_grad, s.is_leaf, s.grad_fn) == (True, True, True, None)
    y = w * 2
    s = summarize(y)
    assert (s.is_parameter, s.is_leaf, s.grad_fn) == (False, False, "MulBackward0")
    assert s.nbytes == 24 and s.layout == "strided" and s.device == "cpu"


@pytest.mark.parametrize(
    "array",
    [
        np.random.default_rng(0).standard_normal((30, 40)).astype(np.float32),
        np.random.default_rng(1).standard_normal((30, 40))[::-1, ::2],
        np.arange(100, dtype=np.int16),
        np.array([1.0, np.nan, np.inf], dtype=np.float16),
    ],
)
def test_numpy_arrays(array: np.ndarray) -> None:
    s = summarize(array)
    v = array.astype(np.float64).ravel()
    fin = v[np.isfinite(v)]
    assert s.container == "ndarray" and s.shape == array.shape
    assert s.nan == int(np.isnan(v).sum()) and s.finite == fin.size
    assert s.min == fin.min() and s.max == fin.max()
    assert close(s.mean, float(fin.mean()))
    assert close(s.std, float(fin.std()))
    assert str(s).startswith("array[")


def test_bad_input_is_rejected_clearly() -> None:
    with pytest.raises(TypeError, match=r"torch\.Tensor or numpy\.ndarray"):
        summarize([1.0, 2.0])
    with pytest.raises(ValueError, match="bins"):
        summarize(torch.ones(3), bins=0)
    with pytest.raises(ValueError, match="mode"):
        summarize(torch.ones(3), mode="fast")  # type: ignore[arg-type]


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16, *FLOAT8], ids=str)
def test_narrow_float_saturation_and_subnormals_match_oracle(dtype: torch.dtype) -> None:
    """Magnitudes spread from below the smallest subnormal to beyond the largest finite
    value, with the exact boundary values planted, over several float64 slices: counts of
    saturated (|x| >= max), subnormal (0 < |x| < smallest normal) and zero values equal the
    float64 comparisons."""
    info = torch.finfo(dtype)
    gen = torch.Generator().manual_seed(99)
    n = 700_001
    lo, hi = math.log(info.smallest_normal * 1e-3), math.log(info.max * 2)
    mags = torch.exp(lo + (hi - lo) * torch.rand(n, generator=gen, dtype=torch.float64))
    signs = torch.where(torch.rand(n, generator=gen) < 0.5, -1.0, 1.0).double()
    x = mags * signs
    x[::97] = 0.0
    planted = [info.max, -info.max, info.smallest_normal, -info.smallest_normal, 0.0]
    x[: len(planted)] = torch.tensor(planted, dtype=torch.float64)
    x = x.to(dtype)
    s = summarize(x)
    v = x.double()
    a = v.abs()
    assert s.saturated == int((a >= info.max).sum())
    assert s.subnormal == int(((a > 0) & (a < info.smallest_normal)).sum())
    assert s.zeros == int((v == 0).sum())
    assert s.saturated > 0
    assert s.subnormal > 0 or dtype == getattr(torch, "float8_e8m0fnu", None)  # (exponents only)
    o = oracle(x)
    for key in ("nan", "posinf", "neginf", "finite"):
        assert getattr(s, key) == o[key], key


def scattered_nonfinite(x: torch.Tensor, share: float = 0.1, seed: int = 4) -> torch.Tensor:
    """``x`` with NaN, +Inf and -Inf at random places (``share`` of the elements)."""
    gen = torch.Generator().manual_seed(seed)
    x = x.clone()
    where = torch.rand(x.shape, generator=gen) < share
    kind = torch.randint(0, 3, x.shape, generator=gen)
    values = torch.tensor([NAN, INF, -INF], dtype=x.dtype)[kind]
    return torch.where(where, values, x)


@pytest.mark.parametrize(
    "make",
    [
        lambda: scattered_nonfinite(randn(2_300_000)),
        lambda: scattered_nonfinite(randn(2_300_000).abs() + 0.5),  # finite all positive
        lambda: scattered_nonfinite(-randn(2_300_000).abs() - 0.5),  # all negative
        lambda: scattered_nonfinite(torch.relu(randn(2_300_000))),  # with zeros
        lambda: scattered_nonfinite(randn(2_300_000), share=0.999),  # a few finite left
        lambda: scattered_nonfinite(randn(700_000).bfloat16()),
        lambda: scattered_nonfinite((randn(700_000) * 3e4).half()),  # saturated, subnormal
        lambda: scattered_nonfinite(randn(700_000, dtype=torch.float64) * 1e300),
        lambda: scattered_nonfinite(randn(2_300_000) * 1e35),  # |sum| would overflow f32
    ],
    ids=["f32", "f32_positive", "f32_negative", "f32_relu", "f32_mostly_nonfinite", "bf16",
         "f16_saturating", "f64_huge", "f32_huge"],
)  # fmt: skip
def test_scattered_nan_and_inf_match_oracle(make: Callable[[], torch.Tensor]) -> None:
    """What a user inspects after a NaN breakpoint: non-finite values everywhere. Counts,
    extremes of the finite values and moments against the oracle; narrow extras against
    float64 comparisons (saturation counts +-Inf too)."""
    x = make()
    _check(x)
    s = summarize(x)
    if x.dtype in (torch.float16, torch.bfloat16):
        info = torch.finfo(x.dtype)
        a = x.double().abs()
        assert s.saturated == int((a >= info.max).sum())
        assert s.subnormal == int(((a > 0) & (a < info.smallest_normal)).sum())
