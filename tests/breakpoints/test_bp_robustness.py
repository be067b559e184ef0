"""Issue 14, engine side: breakpoints are never switched off by ordinary PyTorch features,
never crash the user's program, never pile up hooks; and issue 13's per-thread roots,
except-block forwards, loss modules and steps. Each test is a regression test: it failed on
the engine before the fix."""

from __future__ import annotations

import threading
import warnings

import torch
from bp_models import MLP
from torch import nn
from torch.func import functional_call, grad, vmap

import tensorpeek
from tensorpeek.common.steps import STEPS
from tensorpeek.engine import api
from tensorpeek.engine.hooks import HOOKS


def poison(module: nn.Linear) -> None:
    with torch.no_grad():
        module.weight[0, 0] = float("nan")


def every_site(action: str = "record") -> list[tensorpeek.Breakpoint]:
    sites = ("input", "output", "grad_input", "grad_output", "param_grad", "param")
    return [api.break_on(f"*:{site}:nonfinite", action=action) for site in sites] + [
        api.break_on("*:output:dead", action=action),
        api.break_on("*:output:saturated", action=action),
    ]


def test_nested_tensor_validation_never_disables_a_breakpoint_and_the_next_nan_is_caught() -> None:
    layer = nn.TransformerEncoderLayer(16, 2, dim_feedforward=32, batch_first=True)
    encoder = nn.TransformerEncoder(layer, 2, enable_nested_tensor=True).eval()
    bps = every_site()
    x = torch.randn(3, 5, 16)
    padding = torch.zeros(3, 5, dtype=torch.bool)
    padding[0, 3:] = True  # ragged batch: the fast path passes nested tensors between layers
    with torch.no_grad():
        encoder(x, src_key_padding_mask=padding)
    assert all(bp.enabled and bp.error is None for bp in bps)
    poison(encoder.layers[1].linear1)
    encoder(torch.randn(3, 5, 16))  # with autograd: the slow path, real tensors
    first = next(h for h in api.hits() if h.origin and h.site == "output")
    assert first.module == "layers.1.linear1"


def test_vmap_per_sample_gradients_keep_every_breakpoint_armed() -> None:
    model = MLP()
    bps = every_site()
    params = {k: v.detach() for k, v in model.named_parameters()}

    def loss(p: dict[str, torch.Tensor], x: torch.Tensor) -> torch.Tensor:
        return functional_call(model, p, (x.unsqueeze(0),)).sum()

    per_sample = vmap(grad(loss), in_dims=(None, 0))(params, torch.randn(6, 4))
    assert per_sample["fc1.weight"].shape == (6, 8, 4)
    vmap(model)(torch.randn(6, 4))
    assert all(bp.enabled and bp.error is None for bp in bps)
    poison(model.fc2)
    model(torch.randn(2, 4))
    assert any(h.module == "fc2" and h.origin for h in api.hits())


def test_param_grad_on_functional_call_fast_weights_does_not_crash_the_forward() -> None:
    model = MLP()
    api.break_on("*:param_grad:nonfinite", action="record")
    x, y = torch.randn(4, 4), torch.randn(4, 1)
    fast = dict(model.named_parameters())
    for _ in range(2):  # MAML inner loop: non-leaf fast weights
        loss = (functional_call(model, fast, (x,)) - y).pow(2).mean()
        grads = torch.autograd.grad(loss, list(fast.values()), create_graph=True)
        fast = {k: w - 0.1 * g for (k, w), g in zip(fast.items(), grads, strict=True)}
    outer = (functional_call(model, fast, (x,)) - y).pow(2).mean()
    outer.backward()
    assert model.fc1.weight.grad is not None and api.hits() == []


def test_hooks_stay_constant_with_a_latent_parameter_passed_to_a_submodule() -> None:
    class Perceiver(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.latents = nn.Parameter(torch.randn(4, 8))
            self.cross = nn.Linear(8, 8)
            self.head = nn.Linear(8, 1)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.head(self.cross(self.latents) + x.mean())

    model = Perceiver()
    every_site()
    opt = torch.optim.SGD(model.parameters(), lr=1e-3)
    counts = []
    for step in range(60):
        opt.zero_grad()
        model(torch.randn(2, 8)).sum().backward()
        opt.step()
        if step in (10, 59):
            counts.append(HOOKS.hook_count())
    assert counts[0] == counts[1], f"hooks grew from {counts[0]} to {counts[1]}"
    assert len(model.latents._backward_hooks or {}) <= 2  # once per module and site


def test_a_hit_on_a_jagged_nested_input_is_recorded_not_raised() -> None:
    class Ragged(nn.Module):
        def forward(self, nt: torch.Tensor) -> torch.Tensor:
            return nt.values().sum() * float("nan")

    api.break_on("*:output:nonfinite", action="record")
    nt = torch.nested.nested_tensor([torch.randn(2, 3), torch.randn(4, 3)], layout=torch.jagged)
    out = Ragged()(nt)
    assert torch.isnan(out)
    hit = api.hits()[-1]
    assert hit.module == "" and hit.site == "output" and hit.summary is not None


def test_saving_a_live_activation_with_grad_output_armed_does_not_warn() -> None:
    model = MLP()
    api.break_on("*:grad_output:nonfinite", action="record")
    api.break_on("*:grad_input:nonfinite", action="record")
    activation = model.fc1(torch.randn(2, 4))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        import io

        torch.save(activation, io.BytesIO())


def test_a_forward_inside_an_except_block_is_checked() -> None:
    model = MLP()
    poison(model.fc2)
    api.break_on("*:output:nonfinite", action="record")
    try:
        raise KeyError("the user's own exception")
    except KeyError:
        model(torch.randn(2, 4))
    assert [(h.module, h.origin) for h in api.hits()] == [("fc2", True)]


def test_two_models_on_two_threads_get_their_own_paths() -> None:
    a, b = MLP(), MLP()
    poison(b.fc2)
    api.break_on("*:output:nonfinite", action="record")
    barrier = threading.Barrier(2)

    def run(model: nn.Module) -> None:
        barrier.wait()
        for _ in range(20):
            model(torch.randn(2, 4))

    threads = [threading.Thread(target=run, args=(m,)) for m in (a, b)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    origins = {h.module for h in api.hits() if h.origin}
    assert origins == {"fc2"}, origins


def test_loss_modules_are_no_roots_no_steps_and_no_data() -> None:
    model = MLP()
    criterion = nn.MSELoss()
    api.break_on("*:output:nonfinite", action="record")
    api.break_on("*:param:nonfinite", action="record")
    for _ in range(5):  # no optimizer: one backward() is one step
        loss = criterion(model(torch.randn(2, 4)), torch.randn(2, 1))
        loss.backward()
        for _ in range(3):
            criterion(torch.zeros(1), torch.zeros(1))  # extra loss-module calls: no step
    assert STEPS.current() == 4  # the fifth iteration (backward() calls before it began)
    poison(model.fc2)
    criterion(model(torch.randn(2, 4)), torch.randn(2, 1)).backward()
    hits = api.hits()
    assert [(h.module, h.site, h.step) for h in hits if h.origin] == [("fc2", "output", 5)]


def test_param_breakpoint_fires_when_the_loss_comes_from_a_loss_module() -> None:
    model = MLP()
    criterion = nn.MSELoss()
    api.break_on("*:param:nonfinite", action="record")
    opt = torch.optim.SGD(model.parameters(), lr=float("inf"))  # the update itself goes bad
    opt.zero_grad()
    criterion(model(torch.randn(2, 4)), torch.randn(2, 1)).backward()
    opt.step()
    assert any(h.site == "param" and h.origin for h in api.hits())


def test_a_second_model_does_not_advance_the_step() -> None:
    gen, disc = MLP(), nn.Sequential(nn.Linear(1, 4), nn.ReLU(), nn.Linear(4, 1))
    api.break_on("*:output:nonfinite", action="record")
    steps = []
    for _ in range(3):
        z = torch.randn(2, 4)
        fake = gen(z)
        steps.append(STEPS.current())
        disc(fake).mean().backward()
        steps.append(STEPS.current())
        disc(fake.detach()).mean().backward()
        steps.append(STEPS.current())
    assert steps[0] == 0 and steps[3] > steps[0], steps


def test_disarming_restores_torch_autograd_backward() -> None:
    original = torch.autograd.backward
    bp = api.break_on("*:output:nonfinite", action="record")
    assert torch.autograd.backward is not original  # counting backward() calls
    MLP()(torch.randn(2, 4)).sum().backward()
    bp.remove()
    assert torch.autograd.backward is original


def test_armed_not_hit_is_bitwise_identical_through_reentrant_checkpointing() -> None:
    def run() -> list[float]:
        torch.manual_seed(0)
        model = MLP()
        opt = torch.optim.SGD(model.parameters(), lr=0.1)
        out = []
        for _ in range(4):
            opt.zero_grad()
            x = torch.randn(3, 4, requires_grad=True)
            y = torch.utils.checkpoint.checkpoint(model, x, use_reentrant=True)
            loss = y.pow(2).mean()
            loss.backward()
            opt.step()
            out.append(loss.item())
        return out

    plain = run()
    every_site()
    armed = run()
    assert armed == plain
    assert [h for h in api.hits()] == []


def test_a_target_that_names_no_module_is_said_once_at_the_first_forward() -> None:
    model = MLP()
    api.break_on("fc9:output:nonfinite", action="record")
    api.break_on("fc*:output:nonfinite", action="record")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for _ in range(3):
            model(torch.randn(2, 4))
    said = [str(w.message) for w in caught if "matches no module" in str(w.message)]
    assert len(said) == 1 and "'fc9:output:nonfinite'" in said[0] and "fc1" in said[0]


def test_a_torchscript_model_is_said_to_hide_its_layers() -> None:
    scripted = torch.jit.script(MLP())
    api.break_on("*:output:nonfinite", action="record")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        scripted(torch.randn(2, 4))
        scripted(torch.randn(2, 4))
    said = [str(w.message) for w in caught if "TorchScript" in str(w.message)]
    assert len(said) == 1 and "invisible" in said[0]


def test_tracing_a_model_records_none_of_tensorpeeks_checks() -> None:
    model = MLP()
    api.break_on("*:output:nonfinite", action="record")
    api.break_on("*:output:dead", action="record")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        traced = torch.jit.trace(model, torch.randn(2, 4))
    assert not [w for w in caught if "TracerWarning" in type(w.message).__name__]
    plain = torch.jit.trace(MLP(), torch.randn(2, 4))
    ops = [n.kind() for n in traced.inlined_graph.nodes()]
    assert len(ops) == len(list(plain.inlined_graph.nodes())), ops


class _NanInBackward(torch.autograd.Function):
    @staticmethod
    def forward(ctx: object, x: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        return x.clone()

    @staticmethod
    def backward(ctx: object, g: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        return g * float("nan")


class _BackwardPoison(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return _NanInBackward.apply(x)


def test_backward_hooks_fire_on_a_thread_that_ran_no_forward() -> None:
    """CUDA runs a backward on autograd's own device thread, which never ran a forward (the
    same happens on CPU when ``backward()`` is called from another thread): the backward
    sites are checked there exactly as on the forward's thread (they were silently skipped:
    the breakpoint table was looked up through the thread's root)."""
    model = nn.Sequential(nn.Linear(4, 4), _BackwardPoison(), nn.Linear(4, 4))
    x = torch.randn(2, 4)

    def hits(backward_on_another_thread: bool) -> list[tuple[str | None, str, bool]]:
        tensorpeek.clear()
        api.break_on("*:grad_input:nonfinite", action="record")  # the origin
        for site in ("grad_output", "param_grad"):  # and where the NaN went
            api.break_on(f"*:{site}:nonfinite", action="record", propagated=True)
        loss = model(x).sum()
        if backward_on_another_thread:
            worker = threading.Thread(target=loss.backward)
            worker.start()
            worker.join()
        else:
            loss.backward()
        found = sorted((h.module, h.site, h.origin) for h in api.hits())
        model.zero_grad(set_to_none=True)
        return found

    same = hits(False)
    assert ("1", "grad_input", True) in same  # the module whose backward made the NaN
    assert ("0", "grad_output", False) in same and ("0", "param_grad", False) in same
    assert hits(True) == same
