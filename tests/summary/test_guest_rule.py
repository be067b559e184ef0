"""The guest rule: summarizing a tensor inside someone's training process changes nothing
there — not its values, its version counter, its autograd graph, its gradient, or the
global random stream."""

from __future__ import annotations

import pytest
import torch

from tensorpeek import summarize
from tensorpeek.summary.stats import compute

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


def test_thread_count_is_never_changed(monkeypatch: pytest.MonkeyPatch) -> None:
    """The intra-op thread count is a process-wide setting of the host program: summarize
    runs with whatever it is and never sets it, not even briefly."""
    calls: list[int] = []
    monkeypatch.setattr(torch, "set_num_threads", lambda n: calls.append(n))
    before = torch.get_num_threads()
    summarize(torch.randn(2_500_000))
    summarize(torch.randn(3_000_000).bfloat16(), mode="quick")
    assert calls == [] and torch.get_num_threads() == before
