"""Issue 14: ``summarize`` answers for every dtype and layout torch has, and never raises
into the user's program. Sub-byte and raw-bits dtypes and mkldnn tensors give metadata and
a note saying why; nested tensors (jagged and strided) give exact statistics over their
``values()`` buffer when it holds exactly their elements; uncoalesced sparse tensors are
summarized over their coalesced values. And the numbers that used to come out wrong."""

from __future__ import annotations

import math
import warnings

import pytest
import torch
from summary_oracle import close, oracle

import tensorpeek
from tensorpeek.summary import stats

_BITS = ["bits1x8", "bits2x4", "bits4x2", "bits8", "bits16"]
_SUB_BYTE_INTS = [f"{kind}{b}" for kind in ("int", "uint") for b in range(1, 8)]
SUB_BYTE = [getattr(torch, n) for n in _BITS + _SUB_BYTE_INTS if hasattr(torch, n)]


def _gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


@pytest.mark.parametrize("dtype", SUB_BYTE, ids=str)
def test_sub_byte_and_bits_dtypes_give_metadata_and_a_note(dtype: torch.dtype) -> None:
    x = torch.empty(6, 4, dtype=dtype)
    s = tensorpeek.summarize(x)
    assert s.shape == (6, 4) and s.numel == 24 and s.dtype == str(dtype).removeprefix("torch.")
    assert s.nan is None and s.min is None and s.hist is None
    assert s.note is not None and "cannot be read" in s.note
    assert s.note in str(s)
    assert stats.compute(x, ["nan", "absmax", "numel"]) == {"nan": None, "absmax": None,
                                                            "numel": 24}  # fmt: skip
    s.to_dict()


def test_mkldnn_tensor_gives_metadata_and_a_note() -> None:
    x = torch.randn(3, 5, generator=_gen(1)).to_mkldnn()
    s = tensorpeek.summarize(x)
    assert (s.shape, s.numel, s.layout, s.nbytes) == ((3, 5), 15, "mkldnn", 60)
    assert s.nan is None and s.note is not None and "mkldnn" in s.note
    assert stats.compute(x, ["nan"]) == {"nan": None}


def _components() -> list[torch.Tensor]:
    x = [torch.randn(n, 4, generator=_gen(n)) for n in (3, 5, 1)]
    x[1][2, 3] = math.nan
    x[2][0, 0] = -math.inf
    return x


def _check_against(s: tensorpeek.TensorSummary, values: torch.Tensor) -> None:
    want = oracle(values)
    for key in ("nan", "posinf", "neginf", "zeros", "finite", "min", "max"):
        assert getattr(s, key) == want[key], key
    for key in ("mean", "std", "norm", "absmean"):
        assert close(getattr(s, key), want[key], scale=want["absmean"]), key


def test_jagged_nested_tensor_is_summarized_over_its_values() -> None:
    parts = _components()
    nt = torch.nested.nested_tensor(parts, layout=torch.jagged)
    s = tensorpeek.summarize(nt)
    assert s.layout == "jagged" and s.shape == (3, -1, 4) and s.numel == 36
    assert s.nbytes == 36 * 4 and s.nnz is None
    assert s.note is not None and "jagged" in s.note
    _check_against(s, torch.cat(parts))
    assert "jagged" in str(s) and "NaN!×1" in str(s)
    assert stats.compute(nt, ["nan", "neginf", "absmax"])["nan"] == 1
    s.to_dict()


def test_strided_nested_tensor_is_summarized_over_its_values() -> None:
    parts = _components()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # "nested tensors are a prototype"
        nt = torch.nested.nested_tensor(parts, layout=torch.strided)
    s = tensorpeek.summarize(nt)
    assert s.layout == "nested_strided" and s.shape == (3, -1, 4) and s.numel == 36
    assert s.note is not None and "nested_strided" in s.note
    _check_against(s, torch.cat(parts))
    s.to_dict()


def test_non_contiguous_jagged_tensor_gives_metadata_and_a_note() -> None:
    """A narrowed jagged tensor's buffer holds values outside it: nothing is read."""
    base = torch.randn(3, 10, generator=_gen(3))
    nt = torch.nested.narrow(
        base, 1, torch.tensor([0, 1, 2]), torch.tensor([3, 4, 5]), layout=torch.jagged
    )
    s = tensorpeek.summarize(nt)
    assert s.layout == "jagged" and s.nan is None
    assert s.note is not None and "non-contiguous" in s.note


def _uncoalesced(values: list[float]) -> torch.Tensor:
    index = torch.tensor([[0, 0, 1, 1, 2], [0, 0, 0, 0, 1]])
    return torch.sparse_coo_tensor(index, torch.tensor(values), (3, 3), check_invariants=False)


def test_uncoalesced_sparse_is_summarized_over_coalesced_values() -> None:
    """Duplicates add up: 5 + 2 at (0, 0) is the value 7; +Inf + -Inf at (1, 0) is NaN."""
    x = _uncoalesced([5.0, 2.0, math.inf, -math.inf, -1.0])
    assert not x.is_coalesced()
    s = tensorpeek.summarize(x)
    assert (s.max, s.min, s.nnz) == (7.0, -1.0, 3)
    assert (s.nan, s.posinf, s.neginf, s.finite) == (1, 0, 0, 2)
    assert s.note is not None and "coalesced" in s.note
    assert not x.is_coalesced()  # the user's tensor is left as it was
    assert stats.compute(x, ["max", "nan", "posinf"]) == {"max": 7.0, "nan": 1, "posinf": 0}
    assert "NaN!×1" in str(s)  # the statistics line is shown despite the note


def test_constant_huge_float64_norm_is_finite() -> None:
    s = tensorpeek.summarize(torch.tensor([1e200, 1e200], dtype=torch.float64))
    assert s.norm is not None and math.isclose(s.norm, math.sqrt(2) * 1e200, rel_tol=1e-15)
    assert (s.mean, s.std, s.absmean) == (1e200, 0.0, 1e200)
    norm = stats.compute(torch.full((3,), -1e200, dtype=torch.float64), ["norm"])["norm"]
    assert norm is not None and math.isclose(norm, math.sqrt(3) * 1e200, rel_tol=1e-15)


def test_huge_float64_norm_and_moments_when_the_squares_overflow() -> None:
    x = torch.tensor([1e200, 3e200, -2e200, 1e200], dtype=torch.float64)
    s = tensorpeek.summarize(x)
    want = oracle(x)
    for key in ("mean", "std", "norm", "absmean"):
        assert close(getattr(s, key), want[key], rel=1e-12), key


def test_uint64_extremes_beyond_two_to_the_63_are_exact_integers() -> None:
    x = torch.tensor([2**63 + 1, 2**64 - 1, 5, 2**63], dtype=torch.uint64)
    s = tensorpeek.summarize(x)
    assert (s.min, s.max, s.absmax) == (5, 2**64 - 1, 2**64 - 1)
    assert isinstance(s.min, int) and isinstance(s.max, int)
    strided = torch.tensor([[2**64 - 2, 0], [2**63 + 7, 0]], dtype=torch.uint64)[:, 0]
    s = tensorpeek.summarize(strided)
    assert (s.min, s.max) == (2**63 + 7, 2**64 - 2)
    assert stats.compute(x, ["min", "max"]) == {"min": 5, "max": 2**64 - 1}


def test_both_paths_give_the_same_absmean() -> None:
    """docs/architecture.md: the torch path gives the kernel's numbers. Every sum is in
    float64 on both, so they agree to float64 rounding (a float32 sum of |x| on the torch
    path was ~1e-8 relative off)."""
    x = torch.randn(3_000_000, generator=_gen(4))
    s = tensorpeek.summarize(x)
    exact = float(x.double().abs().sum()) / x.numel()
    assert abs(s.absmean - exact) <= 1e-13 * exact
    with_nan = x.clone()
    with_nan[::1000] = math.nan
    s = tensorpeek.summarize(with_nan)
    fin = with_nan[torch.isfinite(with_nan)].double()
    exact = float(fin.abs().sum()) / fin.numel()
    assert abs(s.absmean - exact) <= 1e-13 * exact
