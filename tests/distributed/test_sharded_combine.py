"""``summary/sharded.py``: per-shard partials combined into the whole tensor's statistics,
checked against float64 torch on the full tensor (the oracle), NaN/Inf and empty shards
included; the histogram counted on shared edges equals the full tensor's exact histogram."""

from __future__ import annotations

import math
import random

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from tensorpeek.summary import sharded
from tensorpeek.summary.histogram import Binning
from tensorpeek.summary.sharded import (
    ShardPartials,
    combine,
    shard_counts,
    shard_partials,
    shared_binning,
    whole_statistics,
)
from tensorpeek.summary.tensor_summary import summarize


def oracle(full: torch.Tensor) -> dict[str, float | int | None]:
    """float64 torch over every element of the full tensor."""
    x = full.reshape(-1).to(torch.float64)
    f = x[torch.isfinite(x)]
    n = f.numel()
    out: dict[str, float | int | None] = {
        "nan": int(torch.isnan(x).sum()),
        "posinf": int((x == math.inf).sum()),
        "neginf": int((x == -math.inf).sum()),
        "zeros": int((f == 0).sum()),
        "finite": n,
    }
    if n:
        out.update(
            min=float(f.min()),
            max=float(f.max()),
            mean=math.fsum(f.tolist()) / n,
            std=float(torch.var(f, correction=0).sqrt()),
            norm=math.sqrt(math.fsum((f * f).tolist())),
            absmean=math.fsum(f.abs().tolist()) / n,
        )
    return out


def split(full: torch.Tensor, sizes: list[int]) -> list[torch.Tensor]:
    flat = full.reshape(-1)
    assert sum(sizes) == flat.numel()
    return list(torch.split(flat, sizes))


def check(full: torch.Tensor, shards: list[torch.Tensor], bins: int = 32) -> None:
    total = combine([shard_partials(s) for s in shards])
    stats = whole_statistics(total)
    want = oracle(full)
    assert total.numel == full.numel()
    for key in ("nan", "posinf", "neginf", "zeros", "finite"):
        assert stats[key] == want[key], key
    if want["finite"]:
        assert stats["min"] == want["min"] and stats["max"] == want["max"]  # exact
        for key in ("mean", "std", "norm", "absmean"):
            assert stats[key] == pytest.approx(want[key], rel=1e-12, abs=1e-300), key
    else:
        assert stats["min"] is None and stats["mean"] is None
    binning = shared_binning(total, bins)
    if binning is None:
        assert want["finite"] == 0
        return
    counts = [sum(c) for c in zip(*(shard_counts(s, binning) for s in shards), strict=True)]
    assert counts == [int(c) for c in binning.count(full.reshape(-1)).tolist()]
    assert sum(counts) == want["finite"]
    one = summarize(full, bins=bins)  # the summary of the full tensor on one process
    assert one.hist is not None and not one.hist.sampled
    assert list(binning.edges()) == list(one.hist.edges)
    assert counts == list(one.hist.counts)
    if one.std_sample is None:  # a single finite value
        assert stats["std_sample"] is None
    else:
        assert stats["std_sample"] == pytest.approx(one.std_sample, rel=1e-12)
    assert stats["absmax"] == one.absmax


def planted(n: int, seed: int, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    x = (torch.randn(n, generator=g, dtype=torch.float64) * 3 + 1).to(dtype)
    idx = torch.randperm(n, generator=g)
    x[idx[:5]] = float("nan")
    x[idx[5:8]] = float("inf")
    x[idx[8:10]] = float("-inf")
    x[idx[10:30]] = 0.0
    return x


def test_uneven_shards_with_nan_inf_and_empty_ones_combine_to_the_full_tensor():
    full = planted(1000, 1)
    check(full, split(full, [400, 0, 337, 263, 0]))


def test_float64_values_of_very_different_scales():
    g = torch.Generator().manual_seed(2)
    full = torch.cat([torch.randn(300, generator=g, dtype=torch.float64) * 1e6 + 1e9,
                      torch.randn(200, generator=g, dtype=torch.float64) * 1e-6])  # fmt: skip
    check(full, split(full, [300, 200]))  # one shard of large values, one of tiny ones


def test_a_shard_with_only_nonfinite_values_and_a_constant_rest():
    full = torch.tensor([float("nan"), float("inf"), 2.5, 2.5, 2.5, 2.5])
    check(full, split(full, [2, 1, 3]))
    assert whole_statistics(combine([shard_partials(s) for s in split(full, [2, 4])]))["std"] == 0


def test_nothing_finite_anywhere():
    full = torch.tensor([float("nan"), float("-inf"), float("inf")])
    check(full, split(full, [1, 0, 2]))


def test_every_shard_empty():
    total = combine([shard_partials(torch.empty(0)), shard_partials(torch.empty(0, 3))])
    assert total == ShardPartials()
    assert whole_statistics(total)["finite"] == 0 and shared_binning(total, 8) is None


def test_chunks_inside_a_shard_combine_like_shards(monkeypatch):
    """A shard larger than ``CHUNK`` is read chunk by chunk: the same rule, inside a shard."""
    full = planted(5000, 3)
    monkeypatch.setattr(sharded, "CHUNK", 128)
    check(full, split(full, [2500, 1, 2499]))


def test_a_two_dimensional_parameter_sharded_on_rows_like_fsdp():
    g = torch.Generator().manual_seed(4)
    w = torch.randn(7, 5, generator=g)  # fully_shard on 2 ranks: rows 0-3 and 4-6
    check(w, [w[:4], w[4:]])


def test_reading_a_shard_changes_nothing():
    x = planted(300, 5)
    before, version = x.clone(), x._version
    shard_partials(x)
    shard_counts(x, Binning(-1.0, 1.0, 8))
    assert x._version == version and torch.equal(x.nan_to_num(), before.nan_to_num())
    assert torch.equal(torch.isnan(x), torch.isnan(before))


@settings(max_examples=40, derandomize=True, deadline=None)
@given(
    n=st.integers(0, 400),
    cuts=st.lists(st.floats(0, 1), max_size=4),
    seed=st.integers(0, 2**16),
    bins=st.integers(1, 40),
)
def test_any_split_of_any_tensor_combines_to_the_full_tensor(n, cuts, seed, bins):
    full = (
        planted(n, seed)
        if n >= 30
        else torch.randn(n, generator=torch.Generator().manual_seed(seed))
    )
    points = sorted(int(c * n) for c in cuts)
    sizes = [b - a for a, b in zip([0, *points], [*points, n], strict=True)]
    random.Random(seed).shuffle(sizes)
    check(full, split(full, sizes), bins)


def test_summarize_whole_refuses_a_plain_tensor_and_changes_nothing():
    from tensorpeek.summary.sharded_whole import summarize_whole

    x = torch.ones(3)
    with pytest.raises(ValueError, match="expects a DTensor"):
        summarize_whole(x)
    assert x._version == 0 and not sharded.is_sharded(x)
