"""The graph of modules, traced from one forward pass per root and input shapes: the residual
edges of a residual network against its known wiring, and the hooks gone after the pass."""

from __future__ import annotations

import pytest
import torch
from models import ResNet, hooks_of, mlp
from torch import nn

import tensorpeek
from tensorpeek.common.steps import STEPS
from tensorpeek.engine import api
from tensorpeek.training.capture import CAPTURE
from tensorpeek.training.graph import MAX_TRACES, TRACER, op_name
from tensorpeek.training.series import STORE


def edges(graph: dict) -> dict[tuple[str, str], str]:
    return {(e["source"], e["target"]): e["kind"] for e in graph["edges"]}


def resnet_wiring(blocks: int) -> dict[tuple[str, str], str]:
    """The known wiring: block k's input is stem + the fc2 outputs of blocks 0..k-1 (each
    residual adds one), so those reach blocks.k.fc1 through an add; the head likewise."""
    wiring = {("", "stem"): "module", ("stem", "blocks.0.fc1"): "module"}
    for k in range(blocks):
        b = f"blocks.{k}"
        wiring[(f"{b}.fc1", f"{b}.act")] = "module"
        wiring[(f"{b}.act", f"{b}.fc2")] = "module"
    for k, target in [*((k, f"blocks.{k}.fc1") for k in range(1, blocks)), (blocks, "head")]:
        wiring[("stem", target)] = "functional"
        for j in range(k):
            wiring[(f"blocks.{j}.fc2", target)] = "functional"
    return wiring


def test_residual_network_graph_has_its_residual_edges() -> None:
    model = ResNet()
    CAPTURE.watch_root(model)
    model(torch.randn(4, 6, requires_grad=False))
    graph = STORE.graph
    assert graph is not None
    assert edges(graph) == resnet_wiring(2)
    functional = [e for e in graph["edges"] if e["kind"] == "functional"]
    assert {e["label"] for e in functional} == {"add"}
    nodes = {n["id"]: n["type"] for n in graph["nodes"]}
    assert nodes == {
        "": "ResNet",
        "stem": "Linear",
        **{
            f"blocks.{k}.{m}": t
            for k in (0, 1)
            for m, t in (("fc1", "Linear"), ("act", "ReLU"), ("fc2", "Linear"))
        },
        "head": "Linear",
    }
    TRACER.detach_all()
    assert hooks_of(model) == 0


def test_the_graph_is_traced_without_code_change_from_the_second_forward() -> None:
    model = ResNet()
    opt = torch.optim.SGD(model.parameters(), lr=0.01)
    tensorpeek.break_on(model, "output", "nonfinite")
    for _ in range(3):
        loss = model(torch.randn(4, 6)).square().mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert STORE.graph is not None and edges(STORE.graph) == resnet_wiring(2)
    assert len(TRACER._roots[id(model)][2]) == 1  # one trace for one input shape
    api.clear()
    assert hooks_of(model) == 0 and not STEPS.counting


def test_one_trace_per_input_shape_at_most_max_traces_and_none_without_grad() -> None:
    model = mlp()
    CAPTURE.watch_root(model)
    with torch.no_grad():
        model(torch.randn(2, 6))
    assert STORE.graph is None  # a forward without autograd tells nothing about the graph
    for batch in (2, 2, 3, 3, 4, 5, 6, 7, 8):
        model(torch.randn(batch, 6))
    assert len(TRACER._roots[id(model)][2]) == MAX_TRACES
    assert hooks_of(model) == 1  # only the root's pre-hook, between traced passes
    TRACER.detach_all()
    assert hooks_of(model) == 0


def test_a_traced_pass_computes_what_an_untraced_one_does() -> None:
    model = ResNet()
    x = torch.randn(5, 6)
    plain = model(x)
    CAPTURE.watch_root(model)
    traced = model(x)
    assert STORE.graph is not None
    assert torch.equal(plain, traced)
    assert traced.grad_fn is not None and plain.grad_fn is not None
    TRACER.detach_all()


def test_a_forward_that_raises_during_the_trace_leaves_no_hooks() -> None:
    class Broken(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.fc = nn.Linear(3, 3)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            raise ValueError("the user's bug")

    model = Broken()
    CAPTURE.watch_root(model)
    with pytest.raises(ValueError, match="the user's bug"):
        model(torch.randn(2, 3))
    assert hooks_of(model) == 1  # the leaf and root-end hooks are gone; the pre-hook waits
    TRACER.detach_all()
    assert hooks_of(model) == 0


def test_functional_code_between_modules_is_an_edge_labelled_by_its_operation() -> None:
    class Net(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.a = nn.Linear(4, 8)
            self.b = nn.Linear(4, 2)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            y = self.a(x).view(-1, 2, 4)  # (B, 2, 4)
            return self.b(torch.cat([y[:, 0], y[:, 1]], dim=0))

    model = Net()
    CAPTURE.watch_root(model)
    model(torch.randn(3, 4))
    got = {(e["source"], e["target"]): (e["kind"], e.get("label")) for e in STORE.graph["edges"]}
    assert got == {("", "a"): ("module", None), ("a", "b"): ("functional", "view")}
    TRACER.detach_all()


def test_op_names() -> None:
    x = torch.randn(3, requires_grad=True)
    assert op_name((x + 1).grad_fn) == "add"
    assert op_name(x.view(3, 1).grad_fn) == "view"
    assert op_name(torch.nn.functional.layer_norm(x, (3,)).grad_fn) == "native_layer_norm"


def test_torchscript_and_traced_models_are_left_alone(recwarn) -> None:
    model = mlp()
    scripted = torch.jit.script(model)
    CAPTURE.watch_root(scripted)
    scripted(torch.randn(2, 6))
    CAPTURE.watch_root(model)
    traced = torch.jit.trace(model, torch.randn(2, 6))  # runs model's forward while tracing
    assert STORE.graph is None  # neither the scripted run nor the jit trace was traced
    assert torch.equal(traced(torch.ones(1, 6)), model(torch.ones(1, 6)))
    assert not [w for w in recwarn if "tensorpeek" in str(w.message)]
    TRACER.detach_all()


def test_an_attached_model_can_be_saved_and_deep_copied(tmp_path) -> None:
    import copy

    model = ResNet()
    CAPTURE.watch_root(model)
    torch.save(model, tmp_path / "model.pt")
    twin = copy.deepcopy(model)
    x = torch.randn(2, 6)
    assert torch.equal(twin(x), model(x))
    TRACER.detach_all()
    assert hooks_of(model) == 0


def test_arming_the_same_model_again_does_not_trace_it_again() -> None:
    model = ResNet()
    calls = []
    original = TRACER._maybe_trace

    def counting(root, args, kwargs):
        before = len(TRACER._roots[id(root)][2])
        original(root, args, kwargs)
        calls.append(len(TRACER._roots[id(root)][2]) - before)

    TRACER._maybe_trace = counting  # type: ignore[method-assign]
    try:
        for _ in range(2):  # two arming sessions
            CAPTURE.watch_root(model)
            model(torch.randn(3, 6))
            TRACER.detach_all()
            assert hooks_of(model) == 0
        STORE.graph = None
        CAPTURE.watch_root(model)
        assert STORE.graph is not None and edges(STORE.graph) == resnet_wiring(2)  # at once
        TRACER.detach_all()
    finally:
        del TRACER._maybe_trace
    assert calls == [1, 0]
