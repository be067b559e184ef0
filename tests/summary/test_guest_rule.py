"""The guest rule: summarizing a tensor inside someone's training process changes nothing
there — not its values, its version counter, its autograd graph, its gradient, or the
global random stream."""

from __future__ import annotations

import pytest
import torch

from tensorpeek import summarize
from tensorpeek.stats import compute

SIZES = [1000, 3_000_000]  # the second crosses blocks and the sampled-histogram threshold


def _tensors(n: int) -> list[torch.Tensor]:
    leaf = torch.randn(n, dtype=torch.float64, requires_grad=True)
    return [
        leaf,
        (leaf * 2).float(),  # non-leaf with a graph
        torch.nn.Parameter(torch.randn(n)),
        torch.randn(n).bfloat16(),
        torch.randn(n // 2, 2).t(),  # non-contiguous private copies are made of blocks
        torch.randn(n, dtype=torch.float64)[::2],  # float64 stepped slice (a strided 1-D view)
    ]


@pytest.mark.parametrize("n", SIZES)
@pytest.mark.parametrize("mode", ["full", "quick"])
def test_summarize_changes_nothing(n: int, mode: str) -> None:
    for x in _tensors(n):
        if x.is_leaf:  # (a non-leaf's .grad is never populated; reading it only warns)
            x.grad = torch.ones_like(x) if x.requires_grad else None
        before = x.detach().clone()
        version = x._version
        grad_fn = x.grad_fn
        grad = x.grad if x.is_leaf else None
        grad_before = None if grad is None else grad.clone()
        rng = torch.get_rng_state()
        s = summarize(x, mode=mode)  # type: ignore[arg-type]
        compute(x, ["std", "absmax", "zeros", "nan", "absmean"])
        assert torch.equal(x.detach(), before), "values changed"
        assert x._version == version, "version counter bumped (an in-place write happened)"
        assert x.grad_fn is grad_fn
        if x.is_leaf:
            assert x.grad is grad
        if grad_before is not None:
            assert torch.equal(x.grad, grad_before)
        assert torch.equal(torch.get_rng_state(), rng), "global RNG consumed"
        for value in s.to_dict().values():
            assert not isinstance(value, torch.Tensor)


def test_no_autograd_graph_is_built() -> None:
    x = torch.randn(100, requires_grad=True)
    y = x * 3
    summarize(y)
    # the only graph node from y is the MulBackward0 the user built; nothing new hangs off x
    assert y.grad_fn is not None and y.grad_fn.next_functions[0][0].variable is x
    y.sum().backward()
    assert torch.equal(x.grad, torch.full_like(x, 3.0))


def test_grad_enabled_state_is_restored() -> None:
    assert torch.is_grad_enabled()
    summarize(torch.randn(10, requires_grad=True))
    assert torch.is_grad_enabled()


def test_numpy_array_values_unchanged() -> None:
    import numpy as np

    a = np.random.default_rng(0).standard_normal((500, 7))
    b = a.copy()
    a.setflags(write=False)
    summarize(a)
    assert np.array_equal(a, b)


def test_busy_machine_mode_restores_thread_count_and_agrees(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """On a busy machine the summary's ops run on the calling thread alone; the thread
    count is restored and the statistics agree with the default mode."""
    import tensorpeek.stats as stats_module

    x = torch.randn(2_500_000)
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        monkeypatch.setattr(stats_module, "BUSY_LOAD_PER_CPU", 1e9)  # never busy
        calm = summarize(x)
        monkeypatch.setattr(stats_module, "BUSY_LOAD_PER_CPU", -1.0)  # always busy
        seen: list[int] = []
        real_measure = stats_module._measure

        def spy(*args: object) -> object:
            seen.append(torch.get_num_threads())
            return real_measure(*args)  # type: ignore[arg-type]

        monkeypatch.setattr(stats_module, "_measure", spy)
        busy = summarize(x)
        assert seen == [1]
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(before)
    assert (busy.min, busy.max, busy.nan, busy.zeros) == (calm.min, calm.max, calm.nan, calm.zeros)
    for key in ("mean", "std", "norm", "absmean"):
        assert abs(getattr(busy, key) - getattr(calm, key)) <= 1e-6 * abs(getattr(calm, key))
