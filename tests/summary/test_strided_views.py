"""Issue 14: strided views (column slices, stepped slices) are summarized as exactly, and
by the kernel as cheaply, as the same values stored contiguously: the kernel reads them in
place (``native.reduce_strided``) instead of copying every block with torch, in the first
pass, the pass around the mean and the exact histogram alike."""

from __future__ import annotations

import pytest
import torch
from summary_oracle import close, oracle

import tensorpeek.summary.stats as stats_module
from tensorpeek import summarize

VIEWS = {
    "column_slice": lambda b: b[:, :300],
    "stepped_columns": lambda b: b[:, 1::3],
    "stepped_rows_and_columns": lambda b: b[::2, 5:600:7],
    "one_column": lambda b: b[:, 3],
}


def _base(mean: float = 0.0) -> torch.Tensor:
    g = torch.Generator().manual_seed(8)
    return mean + torch.randn(3000, 1000, generator=g)


@pytest.mark.parametrize("view", list(VIEWS))
@pytest.mark.parametrize("mean", [0.0, 1e4], ids=["centred", "large_mean"])  # 2nd pass
@pytest.mark.parametrize("exact_hist_limit", [None, 5000], ids=["exact", "sampled"])
def test_strided_view_summary_equals_its_contiguous_copy(
    view: str, mean: float, exact_hist_limit: int | None
) -> None:
    x = VIEWS[view](_base(mean))
    assert not x.is_contiguous()
    s = summarize(x, exact_hist_limit=exact_hist_limit, sample_size=20_000)
    c = summarize(x.contiguous(), exact_hist_limit=exact_hist_limit, sample_size=20_000)
    want = oracle(x)
    for key in ("nan", "finite", "zeros", "min", "max"):
        assert getattr(s, key) == want[key] == getattr(c, key), key
    for key in ("mean", "std", "norm", "absmean"):
        assert close(getattr(s, key), want[key]) and close(getattr(s, key), getattr(c, key))
    assert s.hist is not None and c.hist is not None
    if exact_hist_limit is None:
        assert s.hist == c.hist
    else:  # (a strided view's blocks are groups of rows: another, equally uniform, sample)
        assert s.hist.edges == c.hist.edges and s.hist.sample_size == c.hist.sample_size


def test_strided_views_are_not_copied_block_by_block_by_torch(
    reduction_path: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Where the kernel runs, no block of a 2-D strided view goes through torch's copy
    (``blocks.flat_block``), which cost 3-11x the whole reduction here."""
    if reduction_path != "fused":
        pytest.skip("the torch path gathers blocks with torch by design")

    def refuse(*args: object) -> None:
        raise AssertionError("a strided block was copied by torch")

    monkeypatch.setattr(stats_module, "flat_block", refuse)
    monkeypatch.setattr(stats_module, "block_values", refuse)
    views = [_base()[:, :300], _base(1e4)[:, :300]]  # 1e4: the pass around the mean runs
    views.append((_base().double() * 1e200)[:, :300])  # the rescaled pass
    for x in views:
        for limit in (None, 5000):  # exact histogram (second pass), sampled histogram
            s = summarize(x, exact_hist_limit=limit)
            assert s.finite == x.numel() and s.min == float(x.min())
            assert s.hist is not None and sum(s.hist.counts) == (
                x.numel() if limit is None else s.hist.sample_size
            )
