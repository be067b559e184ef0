"""The gradient reaching a module (grad_output) is checked whenever a backward comes: after
the forward, inside it (a penalty's backward taken in the module's own forward), through
checkpointed segments recomputed in the backward; and checking it keeps no activation alive
(only autograd nodes are hooked, never the outputs held)."""

from __future__ import annotations

import gc
import weakref

import pytest
import torch
from torch import nn
from torch.utils.checkpoint import checkpoint

from tensorpeek.engine import api
from tensorpeek.engine.hooks import HOOKS


class InfGrad(torch.autograd.Function):
    """Identity forward; the gradient it sends back is +Inf everywhere."""

    @staticmethod
    def forward(ctx, x: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        return x.clone()

    @staticmethod
    def backward(ctx, g: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        return torch.full_like(g, float("inf"))


class BackwardInsideForward(nn.Module):
    """Takes a gradient of its first layer's output inside its own forward (a physics-style
    penalty), through a function that makes that gradient +Inf."""

    def __init__(self) -> None:
        super().__init__()
        self.first = nn.Linear(4, 4)
        self.second = nn.Linear(4, 4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, 4) -> (B, 4)
        h = self.first(x)
        InfGrad.apply(self.second(h)).sum().backward(retain_graph=True)
        return h


def test_a_backward_inside_a_forward_checks_the_modules_that_ran_before_it() -> None:
    model = BackwardInsideForward()
    bp = api.break_on("second:grad_output:nonfinite", action="record")
    model(torch.randn(2, 4))  # the +Inf reaches `second` inside the forward, before it ends
    assert bp.hit_count == 1
    hit = api.hits()[-1]
    assert (hit.module, hit.site) == ("second", "grad_output")


def test_the_hooks_of_a_forward_are_in_place_when_it_ends_and_reach_the_right_module() -> None:
    model = nn.Sequential(nn.Linear(4, 4), nn.Linear(4, 4))
    api.break_on("*:grad_output:nonfinite", action="record")
    before = HOOKS.hook_count()
    out = model(torch.randn(2, 4))
    assert HOOKS.hook_count() > before  # in place once the root's forward has returned
    InfGrad.apply(out).sum().backward()
    # the last layer's output is the root's: the same autograd node, the layer's hook first
    assert [(h.module, h.site, h.origin) for h in api.hits()] == [("1", "grad_output", True)]


@pytest.mark.parametrize("reentrant", [False, True])
def test_checkpointed_segments_are_checked_in_the_backward(reentrant: bool) -> None:
    body = nn.Sequential(nn.Linear(4, 4), nn.Tanh(), nn.Linear(4, 4))
    head = nn.Linear(4, 1)

    class Model(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.body, self.head = body, head

        def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, 4) -> (B, 1)
            return self.head(InfGrad.apply(checkpoint(self.body, x, use_reentrant=reentrant)))

    model = Model()  # held: a root that is gone leaves its checkpointed part a root of its own
    api.break_on("body.0:grad_output:nonfinite", action="record")
    model(torch.randn(3, 4, requires_grad=True)).sum().backward()
    assert [(h.module, h.site) for h in api.hits()] == [("body.0", "grad_output")]


class Residual(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.proj = nn.Linear(4, 4)
        self.after: weakref.ref[torch.Tensor] | None = None

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, 4) -> (B, 4)
        y = self.proj(x)  # the add below saves neither operand for its backward
        self.after = weakref.ref(y)
        out = x + y
        del y
        gc.collect()
        self.alive_in_forward = self.after() is not None
        return out


def test_no_output_is_kept_alive_until_the_forward_ends() -> None:
    model = Residual()
    api.break_on("*:grad_output:nonfinite", action="record")
    model(torch.randn(2, 4, requires_grad=True)).sum().backward()
    assert model.alive_in_forward is False
