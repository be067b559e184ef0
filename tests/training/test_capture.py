"""The captured curves: the loss, learning rates, gradient norms and update ratios, with no
change to the training loop, checked against the loop's own numbers and independent float64
computations; and the guest rules (bit-for-bit training, nothing left behind)."""

from __future__ import annotations

import subprocess
import sys
import warnings

import pytest
import torch
from models import batches, hooks_of, mlp
from torch import nn

import tensorpeek
from tensorpeek.common.steps import STEPS
from tensorpeek.engine import api
from tensorpeek.training import capture as capture_module
from tensorpeek.training.capture import CAPTURE
from tensorpeek.training.series import COARSE, FLUSH_EVERY, RECENT, STORE, Series


def train(model: nn.Module, opt: torch.optim.Optimizer, steps: int, clip: float | None = None):
    """A plain loop; returns the loop's own loss.item()s and clip_grad_norm_'s results."""
    losses, clips = [], []
    for x, y in batches(steps):
        loss = nn.functional.mse_loss(model(x), y)
        opt.zero_grad()
        loss.backward()
        if clip is not None:
            clips.append(torch.nn.utils.clip_grad_norm_(model.parameters(), clip))
        opt.step()
        losses.append(loss.item())
    return losses, clips


def values(name: str) -> list[float]:
    return [v for _, v in STORE.snapshot()[name]]


def steps_of(name: str) -> list[int]:
    return [s for s, _ in STORE.snapshot()[name]]


def test_captured_losses_equal_the_users_loss_item_bit_for_bit() -> None:
    model = mlp()
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    tensorpeek.break_on(model, "output", "nonfinite")
    n = 2 * FLUSH_EVERY + 11  # across two batched conversions and a partial one
    losses, _ = train(model, opt, n)
    captured = STORE.snapshot()["loss"]
    assert [s for s, _ in captured] == list(range(n))
    assert [v.hex() for _, v in captured] == [v.hex() for v in losses]


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_under_grad_scaler_the_curve_is_the_users_loss_not_the_scaled_one(
    dtype: torch.dtype,
) -> None:
    """``scaler.scale(loss).backward()``: the tensor backward starts from is loss × 65536 (then
    a changing scale); the curve holds the user's own ``loss.item()``, bit for bit, also on the
    steps whose scale the scaler changes (a huge initial scale overflows at first)."""
    model = mlp()
    opt = torch.optim.SGD(model.parameters(), lr=1e-2)
    scaler = torch.amp.GradScaler("cpu", init_scale=2.0**80, growth_interval=2)
    tensorpeek.break_on(model, "output", "nonfinite")
    losses, scales = [], []
    for x, y in batches(12):
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=dtype == torch.bfloat16):
            loss = nn.functional.mse_loss(model(x).float(), y)
        opt.zero_grad()
        scales.append(scaler.get_scale())
        scaler.scale(loss).backward()
        scaler.step(opt)
        scaler.update()
        losses.append(loss.item())
    assert len(set(scales)) > 1  # the scale changed during the run (overflows, then growth)
    captured = STORE.snapshot()["loss"]
    assert [s for s, _ in captured] == list(range(12))
    assert [v.hex() for _, v in captured] == [v.hex() for v in losses]


def test_a_new_run_names_its_first_optimizer_afresh_while_an_old_one_lives() -> None:
    """Two runs one after the other in one process (``run``/``doctor`` in-process, a notebook):
    the second run's optimizer is its first, so its series are ``lr`` and ``grad_norm``, not
    ``opt1/lr``, even while the first run's optimizer is still alive."""
    old_model = mlp()
    old_opt = torch.optim.SGD(old_model.parameters(), lr=0.3)
    with tensorpeek.breakpoints("*:output:nonfinite"):
        train(old_model, old_opt, 2)
    model = mlp()
    opt = torch.optim.SGD(model.parameters(), lr=0.2)
    with tensorpeek.breakpoints("*:output:nonfinite"):
        train(model, opt, 3)
        assert values("lr") == [0.2, 0.2, 0.2]
        assert len(values("grad_norm")) == 3
        assert not any(name.startswith("opt1/") for name in STORE.snapshot())
    assert old_opt.param_groups[0]["lr"] == 0.3  # the first run's optimizer is still alive


def test_pending_losses_are_detached_views_with_no_graph() -> None:
    model = mlp()
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    tensorpeek.break_on(model, "output", "nonfinite")
    train(model, opt, 3)
    pending = [v for name, _, v in STORE.pending if name == "loss"]
    assert len(pending) == 3
    assert all(isinstance(t, torch.Tensor) and t.grad_fn is None for t in pending)
    assert all(not t.requires_grad and t.dim() == 0 for t in pending)


def test_learning_rate_of_each_param_group_follows_the_scheduler() -> None:
    model = mlp()
    opt = torch.optim.SGD(
        [{"params": model[0].parameters()}, {"params": model[2].parameters(), "lr": 0.5}], lr=0.1
    )
    sched = torch.optim.lr_scheduler.StepLR(opt, step_size=3, gamma=0.5)
    tensorpeek.break_on(model, "output", "nonfinite")
    seen: list[tuple[float, float]] = []
    for x, y in batches(8):
        loss = nn.functional.mse_loss(model(x), y)
        opt.zero_grad()
        loss.backward()
        seen.append((opt.param_groups[0]["lr"], opt.param_groups[1]["lr"]))
        opt.step()
        sched.step()
    assert values("lr") == [a for a, _ in seen]
    assert values("lr/1") == [b for _, b in seen]
    assert values("lr")[-1] == 0.1 * 0.5**2


def _norm64(params: list[torch.Tensor]) -> float:
    return float(torch.sqrt(sum((p.grad.double() ** 2).sum() for p in params)))  # type: ignore[union-attr]


def test_gradient_norm_without_clipping_is_the_total_norm_of_the_gradients() -> None:
    model = mlp()
    opt = torch.optim.SGD(model.parameters(), lr=0.05)
    tensorpeek.break_on(model, "output", "nonfinite")
    own = []
    for x, y in batches(5):
        opt.zero_grad()
        nn.functional.mse_loss(model(x), y).backward()
        own.append(_norm64(list(model.parameters())))
        opt.step()
    assert values("grad_norm") == pytest.approx(own, rel=1e-5)
    assert "grad_norm_clipped" not in STORE.snapshot()


def test_gradient_norm_before_and_after_clip_grad_norm() -> None:
    model = mlp()
    opt = torch.optim.SGD(model.parameters(), lr=0.05)
    tensorpeek.break_on(model, "output", "nonfinite")
    before, after = [], []
    for x, y in batches(6):
        opt.zero_grad()
        nn.functional.mse_loss(model(x), y).backward()
        before.append(torch.nn.utils.clip_grad_norm_(model.parameters(), 0.05).item())
        after.append(_norm64(list(model.parameters())))
        opt.step()
    assert values("grad_norm") == before  # clip_grad_norm_'s own result, unchanged
    assert values("grad_norm_clipped") == pytest.approx(after, rel=1e-5)
    assert all(a <= 0.05 * (1 + 1e-5) < b for a, b in zip(after, before, strict=True))


def test_update_ratio_every_interval_matches_an_independent_computation() -> None:
    model = mlp()
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    tensorpeek.break_on(model, "output", "nonfinite")
    assert CAPTURE.interval == 10
    own: dict[str, list[tuple[int, float]]] = {"0": [], "2": [], "4": []}
    for step, (x, y) in enumerate(batches(25)):
        opt.zero_grad()
        nn.functional.mse_loss(model(x), y).backward()
        old = {n: [p.detach().double().clone() for p in model[int(n)].parameters()] for n in own}
        opt.step()
        if step % 10 == 0:
            for n, olds in old.items():
                new = [p.detach().double() for p in model[int(n)].parameters()]
                d = sum(float(((a - b) ** 2).sum()) for a, b in zip(new, olds, strict=True))
                w = sum(float((b**2).sum()) for b in olds)
                own[n].append((step, (d / w) ** 0.5))
    scalars = STORE.snapshot()
    assert sorted(k for k in scalars if k.startswith("update_ratio/")) == [
        "update_ratio/0",
        "update_ratio/2",
        "update_ratio/4",
    ]
    for n, expected in own.items():
        got = scalars[f"update_ratio/{n}"]
        assert [s for s, _ in got] == [0, 10, 20]
        assert [v for _, v in got] == pytest.approx([v for _, v in expected], rel=1e-4)


def test_armed_not_hit_trains_bit_for_bit_as_without_tensorpeek_and_leaves_nothing() -> None:
    original_backward = torch.autograd.backward
    original_clip = torch.nn.utils.clip_grad_norm_

    def run(
        armed: bool,
    ) -> tuple[list[float], list[torch.Tensor], list[torch.Tensor], torch.Tensor]:
        model = mlp()
        opt = torch.optim.Adam(model.parameters(), lr=1e-2)
        torch.manual_seed(123)
        if armed:
            tensorpeek.break_on(model, "output", "nonfinite")
        losses, clips = train(model, opt, 23, clip=0.5)
        rng = torch.get_rng_state()
        if armed:
            assert torch.nn.utils.clip_grad_norm_ is not original_clip  # observed while armed
            api.clear()
        assert hooks_of(model) == 0
        return losses, [p.detach().clone() for p in model.parameters()], clips, rng

    plain = run(False)
    armed = run(True)
    assert [v.hex() for v in armed[0]] == [v.hex() for v in plain[0]]
    assert all(torch.equal(a, b) for a, b in zip(armed[1], plain[1], strict=True))
    assert all(torch.equal(a, b) for a, b in zip(armed[2], plain[2], strict=True))
    assert torch.equal(armed[3], plain[3])  # the global RNG was not touched
    assert torch.autograd.backward is original_backward
    assert torch.nn.utils.clip_grad_norm_ is original_clip
    assert torch.nn.utils.clip_grad.clip_grad_norm_ is original_clip
    assert not STEPS.counting
    assert len(STORE.snapshot()["loss"]) == 23  # the curves stay readable after disarming


def test_a_failing_capture_is_said_once_and_training_goes_on(monkeypatch) -> None:
    def broken(tensors):
        raise RuntimeError("planted")

    monkeypatch.setattr(capture_module, "total_norm", broken)
    model = mlp()
    opt = torch.optim.SGD(model.parameters(), lr=0.05)
    tensorpeek.break_on(model, "output", "nonfinite")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        losses, _ = train(model, opt, 4)
    said = [w for w in caught if "capturing grad_norm failed" in str(w.message)]
    assert len(said) == 1 and "planted" in str(said[0].message)
    assert "grad_norm" not in STORE.snapshot()
    assert values("loss") == losses


def test_nothing_is_captured_while_nothing_counts() -> None:
    model = mlp()
    opt = torch.optim.SGD(model.parameters(), lr=0.05)
    train(model, opt, 3)
    assert STORE.snapshot() == {}


def test_series_memory_is_bounded_and_keeps_recent_points_exactly() -> None:
    s = Series()
    n = 200_000
    for step in range(n):
        s.add(step, float(step))
    points = s.points()
    assert len(points) <= RECENT + COARSE
    steps = [p[0] for p in points]
    assert steps == sorted(set(steps)) and steps[0] == 0
    assert points[-RECENT:] == [[k, float(k)] for k in range(n - RECENT, n)]
    assert len(s.coarse) >= COARSE // 2  # the history still covers the whole run


def test_a_repeated_step_averages_its_values() -> None:
    s = Series()
    for v in (1.0, 2.0, 6.0):
        s.add(4, v)
    assert s.points() == [[4, 3.0]]


def test_log_records_metrics_and_bad_input_changes_nothing() -> None:
    tensorpeek.log(accuracy=0.5)
    tensorpeek.log(step=7, accuracy=0.75, top5=torch.tensor(0.9))
    with pytest.raises(ValueError, match="step must be a non-negative int"):
        tensorpeek.log(step=-1, accuracy=1.0)
    with pytest.raises(TypeError, match="accuracy must be a number"):
        tensorpeek.log(accuracy="high", top5=1.0)
    with pytest.raises(ValueError, match="one-element"):
        tensorpeek.log(top5=torch.ones(3))
    scalars = STORE.snapshot()
    assert scalars["accuracy"] == [[0, 0.5], [7, 0.75]]
    assert scalars["top5"] == [[7, pytest.approx(0.9)]]


def test_log_while_counting_uses_the_training_step() -> None:
    model = mlp()
    opt = torch.optim.SGD(model.parameters(), lr=0.05)
    tensorpeek.break_on(model, "output", "nonfinite")
    for step, (x, y) in enumerate(batches(3)):
        loss = nn.functional.mse_loss(model(x), y)
        tensorpeek.log(acc=float(step))
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert STORE.snapshot()["acc"] == [[0, 0.0], [1, 1.0], [2, 2.0]]


def test_importing_and_logging_loads_no_torch() -> None:
    code = (
        "import sys, tensorpeek; tensorpeek.log(acc=1.0); "
        "from tensorpeek.training.series import STORE; "
        "assert STORE.snapshot() == {'acc': [[0, 1.0]]}; "
        "assert 'torch' not in sys.modules, 'torch was imported'"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)


def test_update_ratio_copies_stay_within_their_budget_taking_parameters_in_turns(
    monkeypatch,
) -> None:
    model = mlp()  # 0: 6x16+16, 2: 16x16+16, 4: 16x2+2 float32 parameters
    monkeypatch.setattr(capture_module, "MAX_COPY_BYTES", 16 * 16 * 4)
    opt = torch.optim.SGD(model.parameters(), lr=0.05)
    copied: list[tuple[int, list[str]]] = []

    def look(optimizer, args, kwargs):  # runs after the capture's own pre-step hook
        for _params, copies, names in CAPTURE._before.values():
            copied.append((sum(c.numel() * c.element_size() for c in copies), names))

    tensorpeek.break_on(model, "output", "nonfinite")
    from torch.optim.optimizer import register_optimizer_step_pre_hook

    handle = register_optimizer_step_pre_hook(look)
    try:
        train(model, opt, 41)
    finally:
        handle.remove()
    assert len(copied) == 5  # steps 0, 10, 20, 30, 40
    assert all(nbytes <= 16 * 16 * 4 for nbytes, _ in copied)
    taken = {name for _, names in copied for name in names}
    assert taken == {"0", "2", "4"}  # every module gets its turn
    ratios = {k for k in STORE.snapshot() if k.startswith("update_ratio/")}
    assert ratios == {"update_ratio/0", "update_ratio/2", "update_ratio/4"}


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16], ids=str)
def test_gradient_norm_and_update_ratios_of_cpu_models_follow_the_float64_oracle(
    dtype: torch.dtype,
) -> None:
    """The fused kernel's path (CPU gradients read in place) and the foreach path (a gradient
    the kernel does not take: not contiguous) give the float64 norm; the update ratios are
    each module's ||w_after - w_before|| / ||w_before||. A default device of "meta" changes
    none of it (nothing is created on the default device)."""
    model = mlp().to(dtype)
    opt = torch.optim.SGD(model.parameters(), lr=0.05)
    tensorpeek.break_on(model, "output", "nonfinite")
    CAPTURE.interval = 1
    own, ratios = [], []
    try:
        for i, (x, y) in enumerate(batches(4)):
            opt.zero_grad()
            nn.functional.mse_loss(model(x.to(dtype)), y.to(dtype)).backward()
            if i == 3:  # the last step: a weight's gradient as a transposed (strided) copy
                weight = next(p for p in model.parameters() if p.dim() == 2)
                assert weight.grad is not None
                weight.grad = weight.grad.t().contiguous().t()
                assert not weight.grad.is_contiguous()
            own.append(_norm64(list(model.parameters())))
            before = {n: p.detach().double().clone() for n, p in model.named_parameters()}
            with torch.device("meta"):
                opt.step()
            after = dict(model.named_parameters())
            by_module: dict[str, tuple[float, float]] = {}
            for name, old in before.items():
                module = name.rsplit(".", 1)[0]
                d, s = by_module.get(module, (0.0, 0.0))
                delta = float((after[name].detach().double() - old).pow(2).sum())
                by_module[module] = (d + delta, s + float(old.pow(2).sum()))
            ratios.append({m: (d / s) ** 0.5 for m, (d, s) in by_module.items()})
    finally:
        CAPTURE.interval = capture_module.DEFAULT_INTERVAL
    rel = 1e-5 if dtype == torch.float32 else 1e-2
    assert values("grad_norm") == pytest.approx(own, rel=rel)
    snapshot = STORE.snapshot()
    for module in ratios[0]:
        got = [v for _, v in snapshot[f"update_ratio/{module}"]]
        assert got == pytest.approx([r[module] for r in ratios], rel=max(rel, 1e-4)), module
