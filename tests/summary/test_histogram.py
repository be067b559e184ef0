"""Histogram: exact counts equal numpy's on the same edges; sampled counts come from at
least 2^20 draws of a private generator and track the exact proportions; the edges always
span the exact min and max."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch

from tensorpeek import summarize
from tensorpeek.summary.histogram import SAMPLE_SEED


def _numpy_counts(x: torch.Tensor, edges: tuple[float, ...]) -> list[int]:
    v = x.detach().double().reshape(-1).numpy()
    counts, _ = np.histogram(v[np.isfinite(v)], bins=np.asarray(edges))
    return counts.tolist()


@pytest.mark.parametrize(
    "x",
    [
        torch.randn(100_000),
        torch.rand(50_000) * 10 - 3,
        torch.randn(30_000).exp(),
        torch.tensor([1.0, float("nan"), 2.0, float("inf"), 3.0]),
        torch.randint(0, 5, (10_000,)),
    ],
)
def test_exact_histogram_equals_numpy_on_same_edges(x: torch.Tensor) -> None:
    s = summarize(x)
    assert s.hist is not None and not s.hist.sampled
    assert len(s.hist.counts) == 32 and len(s.hist.edges) == 33
    assert list(s.hist.counts) == _numpy_counts(x, s.hist.edges)


def test_bins_parameter() -> None:
    s = summarize(torch.randn(1000), bins=7)
    assert s.hist is not None and len(s.hist.counts) == 7


def test_symlog_histogram_spans_range_and_counts_everything() -> None:
    g = torch.Generator().manual_seed(3)
    x = torch.randn(200_000, generator=g) * torch.randn(200_000, generator=g).exp() ** 4
    s = summarize(x, scale="symlog")
    assert s.hist is not None and s.hist.scale == "symlog"
    edges = s.hist.edges
    assert edges[0] == float(x.min()) and edges[-1] == float(x.max())
    assert all(a < b for a, b in itertools.pairwise(edges))
    assert sum(s.hist.counts) == x.numel()
    # bins are uniform on the symlog axis: the counts numpy gets on these edges may differ
    # only for values within rounding of an edge
    diff = np.abs(np.array(s.hist.counts) - np.array(_numpy_counts(x, edges)))
    assert diff.sum() <= 4


def test_large_tensor_histogram_is_sampled_with_private_generator() -> None:
    g = torch.Generator().manual_seed(11)
    x = torch.randn(5_000_000, generator=g)
    x[123] = float("nan")
    rng = torch.get_rng_state()
    s = summarize(x, exact_hist_limit=1 << 22)  # (by default exact up to 2^24 when fused)
    assert torch.equal(torch.get_rng_state(), rng)
    h = s.hist
    assert h is not None and h.sampled and h.sample_size >= 2**20 - 1
    assert sum(h.counts) == h.sample_size
    assert h.edges[0] == float(x[torch.isfinite(x)].min())
    assert h.edges[-1] == float(x[torch.isfinite(x)].max())
    exact = np.array(_numpy_counts(x, h.edges)) / s.finite
    sampled = np.array(h.counts) / h.sample_size
    assert np.abs(exact - sampled).max() < 0.003  # ~5 sigma for 2^20 draws
    # reproducible: the same tensor gives the same sample
    assert summarize(x, exact_hist_limit=1 << 22).hist == h
    assert SAMPLE_SEED  # fixed seed, documented in tensorpeek.summary.histogram


def test_exact_histogram_limit_is_configurable() -> None:
    x = torch.randn(10_000)
    s = summarize(x, exact_hist_limit=1000, sample_size=5000)
    assert s.hist is not None and s.hist.sampled and s.hist.sample_size == 5000
    s = summarize(x, exact_hist_limit=10_000)
    assert s.hist is not None and not s.hist.sampled


def test_expanded_tensor_histogram_weights_counts() -> None:
    base = torch.tensor([[0.0], [1.0], [1.0], [5.0]])
    s = summarize(base.expand(4, 1000), bins=5)
    assert s.hist is not None and s.hist.counts == (1000, 2000, 0, 0, 1000)


def test_sampled_histogram_weights_every_column_of_structured_data() -> None:
    """Rows of 1024 divide the 2^20-element blocks, so a sample that reused the same positions
    in every block would over- or under-weight whole columns. One outlier column holds 1/1024
    of the values: the sampled histogram's top bin must hold about that share."""
    g = torch.Generator().manual_seed(5)
    x = torch.randn(8192, 1024, generator=g)
    x[:, 700] = 50.0
    s = summarize(x, exact_hist_limit=1 << 22)
    h = s.hist
    assert h is not None and h.sampled and h.sample_size >= 2**20
    assert h.edges[-1] == 50.0 and h.counts[-1] > 0
    share = h.counts[-1] / h.sample_size
    assert abs(share - 1 / 1024) <= 0.2 / 1024, share
    # every column is reachable: a second outlier column at the other end of the rows
    x[:, 3] = -50.0
    h2 = summarize(x, exact_hist_limit=1 << 22).hist
    assert h2 is not None and abs(h2.counts[0] / h2.sample_size - 1 / 1024) <= 0.2 / 1024


def test_sample_draws_whole_runs_only_where_they_tile_the_block() -> None:
    """Blocks whose size is not a multiple of the run length are drawn element by element,
    so their last elements are reachable too (a 5-element tail holds the only large values)."""
    from tensorpeek.summary.histogram import Sampler

    values = torch.zeros(16 * 1000 + 5)
    values[-5:] = 7.0
    sampler = Sampler(values.numel(), values.numel() // 2, torch.float32, values.device)
    sampler.take(values)
    assert int((sampler.values() == 7.0).sum()) > 0


def test_default_exact_limit_is_higher_where_the_kernel_bins(reduction_path: str) -> None:
    x = torch.randn(5_000_000, generator=torch.Generator().manual_seed(3))
    h = summarize(x).hist
    assert h is not None
    if reduction_path == "fused":  # one more read beats drawing a 2^20 sample here
        assert not h.sampled and sum(h.counts) == x.numel()
    else:
        assert h.sampled and h.sample_size == 1 << 20
    assert summarize(x, scale="symlog").hist.sampled  # symlog is binned by torch either way


@pytest.mark.parametrize(
    "values",
    [[0.0, 5e-324], [0.0, 2.5e-310, 1e-310], [-1e-310, 3e-309, 0.0], [5e-324, 1e-323]],
    ids=["one_ulp", "subnormals", "both_signs", "two_ulps"],
)
def test_a_range_of_subnormals_is_binned_exactly(values: list[float]) -> None:
    """Found by the property tests: bins per unit of a range of subnormals overflow float64
    (and the halves of the range vanish), which raised ZeroDivisionError or lost every
    value. The values are binned shifted up by a power of two instead (exact)."""
    x = torch.tensor(values, dtype=torch.float64)
    s = summarize(x, bins=4)
    assert s.hist is not None and sum(s.hist.counts) == len(values)
    assert s.hist.counts[0] >= 1 and s.hist.counts[-1] >= 1  # the extremes in the end bins
    assert s.hist.edges[0] == min(values) and s.hist.edges[-1] == max(values)
    symlog = summarize(x, bins=4, scale="symlog")
    assert symlog.hist is not None and sum(symlog.hist.counts) == len(values)
