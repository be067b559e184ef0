"""The report's gradient-norm chart shows the norms the backward pass produced, before
``clip_grad_norm_``, like the findings table (``param_grad`` breakpoints) does; with gradient
accumulation, the norm of the whole accumulated gradient."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from tensorpeek.cli.session import RunSession
from tensorpeek.engine import api


def layer_norms(model: nn.Module) -> dict[str, float]:
    """The oracle: per layer, the float64 L2 norm over its parameters' gradients, now."""
    out = {}
    for name, module in model.named_modules():
        grads = [p.grad.double() for p in module.parameters(recurse=False) if p.grad is not None]
        if grads:
            out[name] = math.sqrt(sum(float((g * g).sum()) for g in grads))
    return out


@pytest.mark.parametrize("micro_batches", [1, 3])
def test_chart_shows_pre_clip_norms_of_the_whole_accumulated_gradient(micro_batches: int) -> None:
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(8, 16), nn.Tanh(), nn.Linear(16, 1))
    opt = torch.optim.SGD(model.parameters(), lr=0.01)
    before_clip: list[dict[str, float]] = []
    after_clip: list[dict[str, float]] = []
    hits: list[object] = []
    session = RunSession([], on_hit=hits.append, gradient_norms=True)
    with session:
        for _step in range(5):
            opt.zero_grad()
            for _ in range(micro_batches):
                x, y = torch.randn(32, 8), torch.randn(32, 1) * 100  # large gradients
                nn.functional.mse_loss(model(x), y).backward()
            before_clip.append(layer_norms(model))
            torch.nn.utils.clip_grad_norm_(model.parameters(), max_norm=0.01)
            after_clip.append(layer_norms(model))
            opt.step()
    assert session.norms is not None
    payload = session.norms.payload()
    assert payload is not None
    series = {s["module"]: s for s in payload["series"]}
    assert set(series) == {"0", "2"}
    for path, s in series.items():
        assert len(s["steps"]) == 5  # one point per optimizer step
        assert s["values"] == pytest.approx([n[path] for n in before_clip], rel=1e-9)
        assert all(c[path] < 0.011 < b[path] for b, c in zip(before_clip, after_clip, strict=True))
    assert api.list_breakpoints() == [] and not hits


def test_stop_removes_every_hook_it_added() -> None:
    model = nn.Linear(4, 1)
    session = RunSession([], on_hit=lambda hit: None, gradient_norms=True)
    with session:
        model(torch.randn(2, 4)).sum().backward()
        assert model.weight._post_accumulate_grad_hooks
    assert not model.weight._post_accumulate_grad_hooks
    assert not model.bias._post_accumulate_grad_hooks
