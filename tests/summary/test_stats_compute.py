"""``stats.compute(x, names)``: exactly the named statistics, equal to ``summarize``'s, for
breakpoint conditions; and quick mode's exactness promises."""

from __future__ import annotations

import math

import pytest
import torch
from summary_oracle import close, oracle
from test_inputs import CASES

from tensorpeek import summarize
from tensorpeek.summary.names import STAT_NAMES
from tensorpeek.summary.stats import compute


@pytest.mark.parametrize(
    "case", ["float32", "bfloat16", "float16", "int32", "bool", "complex64", "expanded_nan",
             "all_nan", "sparse_coo", "stepped_slice", "many_blocks_with_nan", "zero_dim"],
)  # fmt: skip
def test_compute_agrees_with_summarize_and_oracle(case: str) -> None:
    x = CASES[case]()
    s = summarize(x)
    o = oracle(x)
    for name in STAT_NAMES:
        got = compute(x, [name])
        assert list(got) == [name]
        value = got[name]
        if name == "nonfinite":
            assert value == o["nan"] + o["posinf"] + o["neginf"]
        elif name == "zeros_frac":
            assert value == o["zeros"] / x_count(x)  # sparse: a fraction of the stored values
        elif name == "numel":
            assert value == x.numel()
        elif name in ("saturated", "subnormal"):
            assert value == getattr(s, name)
        elif name == "absmax":
            assert value == o.get("absmax")
        else:
            assert close(value, o[name]), (name, value, o[name])


def x_count(x: torch.Tensor) -> int:
    if x.layout == torch.sparse_coo:
        return x._nnz()
    return x.numel()


def test_compute_several_names_at_once() -> None:
    x = torch.tensor([0.0, -3.0, float("nan"), 2.0])
    got = compute(x, ["absmax", "nan", "zeros_frac", "std"])
    assert got == {
        "absmax": 3.0,
        "nan": 1,
        "zeros_frac": 0.25,
        "std": pytest.approx(math.sqrt(38 / 9)),
    }


def test_compute_on_meta_and_empty() -> None:
    assert compute(torch.empty(3, device="meta"), ["nan", "std", "numel"]) == {
        "nan": None, "std": None, "numel": 3,
    }  # fmt: skip
    assert compute(torch.empty(0), ["nan", "std"]) == {"nan": 0, "std": None}


def test_compute_rejects_unknown_names_listing_valid_ones() -> None:
    with pytest.raises(ValueError, match="absmax"):
        compute(torch.ones(2), ["stdev"])


def test_quick_mode_is_exact_up_to_2_20_elements() -> None:
    x = torch.randn(1 << 20)
    x[5] = float("nan")
    q, f = summarize(x, mode="quick"), summarize(x)
    assert q.quick and q.estimated == ("hist",)
    assert q.hist is not None and q.hist.sampled and (1 << 16) - 1 <= q.hist.sample_size <= 1 << 16
    assert summarize(torch.randn(1000), mode="quick").estimated == ()
    assert (q.min, q.max, q.mean, q.std, q.zeros, q.nan) == (
        f.min,
        f.max,
        f.mean,
        f.std,
        f.zeros,
        f.nan,
    )


def test_quick_mode_large_tensor_keeps_counts_and_range_exact() -> None:
    g = torch.Generator().manual_seed(5)
    x = torch.randn(3_000_000, generator=g) * 2 + 1
    x[::1000] = float("nan")
    x[7] = float("inf")
    q = summarize(x, mode="quick")
    o = oracle(x)
    assert q.quick
    assert (q.nan, q.posinf, q.neginf, q.finite) == (o["nan"], 1, 0, o["finite"])
    assert (q.min, q.max) == (o["min"], o["max"])
    assert q.hist is not None and q.hist.sampled and q.hist.edges[0] == o["min"]
    # estimates from a 2^16 sample: within a few standard errors
    assert abs(q.mean - o["mean"]) < 5 * o["std"] / 2**8
    assert abs(q.std - o["std"]) < 0.05 * o["std"]
