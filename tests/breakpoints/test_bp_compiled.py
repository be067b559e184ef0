"""Compiled models: module hooks cannot fire inside a compiled region, so tensorpeek says
so (a torch.compile wrapper at its first forward, modules compiled in place when they are
armed, or an optimizer stepping with no module forward seen) and param_grad / param
breakpoints keep working."""

from __future__ import annotations

import warnings

import pytest
import torch
from bp_models import MLP

import tensorpeek
from tensorpeek.engine import api


def test_compiled_model_runs_and_the_user_is_told_which_hooks_cannot_fire() -> None:
    model = MLP()
    compiled = torch.compile(model, backend="eager")
    tensorpeek.break_on("*", action="raise")
    with pytest.warns(RuntimeWarning, match="compile"):
        out = compiled(torch.randn(2, 4))
    assert out.shape == (2, 1)


def test_param_grad_and_param_breakpoints_still_fire_for_a_compiled_model() -> None:
    model = MLP()
    compiled = torch.compile(model, backend="eager")
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    tensorpeek.break_on("*", "param_grad", action="record")
    tensorpeek.break_on("*", "param", "numel > 0", action="record", once=True)
    with pytest.warns(RuntimeWarning, match="compile"):
        (compiled(torch.randn(2, 4)).sum() * float("inf")).backward()
    opt.step()
    found = [(h.module, h.site, h.param) for h in api.hits()]
    assert found[0] in {("head", "param_grad", "weight"), ("head", "param_grad", "bias")}
    assert found[-1] == ("fc1", "param", "weight")  # paths are the wrapped model's


def test_a_module_compiled_in_place_is_named_when_it_is_armed() -> None:
    """module.compile() leaves no wrapper to notice at run time: break_on(model) says which
    modules are compiled in place and that their module sites cannot fire."""
    model = MLP()
    model.fc2.compile(backend="eager")
    with pytest.warns(RuntimeWarning, match=r"fc2 is compiled in place"):
        tensorpeek.break_on(model, action="record")


def test_steps_without_any_module_forward_warn_once_about_compiled_models() -> None:
    """The whole model compiled in place and armed by glob: no module hook ever runs, so at
    the second optimizer step the user is told why nothing can fire; once."""
    model = MLP()
    model.compile(backend="eager")
    opt = torch.optim.SGD(model.parameters(), lr=0.01)
    tensorpeek.break_on("*", action="record")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for _ in range(4):
            opt.zero_grad()
            model(torch.randn(2, 4)).sum().backward()
            opt.step()
    said = [w for w in caught if "no module forward was seen" in str(w.message)]
    assert len(said) == 1


def test_two_optimizers_stepping_after_one_forward_is_not_mistaken_for_compilation() -> None:
    model = MLP()
    first = torch.optim.SGD(model.fc1.parameters(), lr=0.01)
    rest = torch.optim.SGD([p for n, p in model.named_parameters() if "fc1" not in n], lr=0.1)
    tensorpeek.break_on("*", action="record")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for _ in range(4):
            model(torch.randn(2, 4)).sum().backward()
            first.step()
            rest.step()
    assert not [w for w in caught if "no module forward" in str(w.message)]
