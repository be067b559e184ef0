"""Mixed precision (issue 13): GradScaler's routine overflow steps are info, never errors;
a collapsing scale is an error; autocast forwards are still checked."""

from __future__ import annotations

import pytest
import torch
from bp_models import MLP
from torch import nn

from tensorpeek.engine import api
from tensorpeek.report.findings import FindingSet

SPECS = [
    "*:output:nonfinite",
    ":grad_output:nonfinite",
    "*:grad_input:nonfinite",
    "*:param_grad:nonfinite",
]


def arm() -> None:
    """doctor's non-finite checks, recorded (no pause)."""
    keys = ("target", "site", "condition")
    api.set_breakpoints(
        [dict(zip(keys, spec.split(":"), strict=True)) | {"action": "record"} for spec in SPECS]
    )


def train(model: nn.Module, scaler: torch.amp.GradScaler, steps: int, poison_loss: bool) -> None:
    opt = torch.optim.SGD(model.parameters(), lr=1e-3)
    for _ in range(steps):
        opt.zero_grad()
        with torch.autocast("cpu", dtype=torch.float16):
            out = model(torch.randn(4, 4))
        loss = out.float().pow(2).mean()
        if poison_loss:
            loss = loss * float("nan")
        scaler.scale(loss).backward()
        scaler.step(opt)
        scaler.update()


def findings() -> FindingSet:
    found = FindingSet()
    for hit in api.hits():
        found.add(hit.to_dict())
    return found


def test_routine_overflow_steps_are_info_findings_with_the_scale_before_and_after() -> None:
    arm()
    model = MLP()
    scaler = torch.amp.GradScaler("cpu", init_scale=2.0**24)  # fp16 gradients overflow at first
    train(model, scaler, steps=6, poison_loss=False)
    hits = api.hits()
    amp = [h for h in hits if h.condition == "amp_overflow"]
    assert amp, "the first steps overflow and are skipped"
    assert all(h.details and h.details["scale_after"] < h.details["scale_before"] for h in amp)
    found = findings()
    assert [f.kind for f in found.all() if f.severity == "error"] == []
    assert {f.severity for f in found.all() if f.kind == "amp_overflow"} == {"info"}
    assert scaler.get_scale() < 2.0**24


def test_a_scale_that_keeps_collapsing_is_an_error() -> None:
    arm()
    scaler = torch.amp.GradScaler("cpu", init_scale=2.0**4, growth_interval=1000)
    train(MLP(), scaler, steps=14, poison_loss=True)
    found = findings()
    errors = [f for f in found.all() if f.severity == "error"]
    assert errors and errors[0].kind == "amp_overflow"
    assert "collapsing" in errors[0].message


def test_a_nan_in_the_autocast_forward_is_still_an_error_at_its_origin() -> None:
    arm()
    model = MLP()
    with torch.no_grad():
        model.fc2.weight[0, 0] = float("nan")
    train(model, torch.amp.GradScaler("cpu"), steps=1, poison_loss=False)
    errors = [f for f in findings().all() if f.severity == "error"]
    assert (errors[0].kind, errors[0].module, errors[0].site) == ("nonfinite", "fc2", "output")


def test_disarming_restores_gradscaler() -> None:
    scale, update = torch.amp.GradScaler.scale, torch.amp.GradScaler.update
    bp = api.break_on("*:output:nonfinite", action="record")
    assert torch.amp.GradScaler.scale is not scale
    bp.remove()
    assert (torch.amp.GradScaler.scale, torch.amp.GradScaler.update) == (scale, update)


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16], ids=str)
def test_half_precision_models_are_screened_in_place_and_the_nan_found_at_its_origin(
    dtype: torch.dtype,
) -> None:
    """bfloat16/float16 outputs and gradients take the hooks' fast screen (the fused kernel's
    sum of squares) when it is built: clean layers get their norm in the history (the float64
    norm of the same values), and a NaN planted in fc2's weight is still found at fc2."""
    from tensorpeek.engine import history
    from tensorpeek.summary import native

    model = MLP().to(dtype)
    x = torch.randn(4, 4, dtype=dtype)
    api.break_on("*:output:nonfinite", action="record")
    api.break_on("*:grad_output:nonfinite", action="record")
    seen: dict[str, torch.Tensor] = {}
    handles = [
        m.register_forward_hook(lambda mod, args, out, name=name: seen.setdefault(name, out))
        for name, m in model.named_modules()
        if name
    ]
    model(x).float().sum().backward()
    for h in handles:
        h.remove()
    series = history.layer_history()
    for name, out in seen.items() if native.available() else ():  # else: the general path
        norm = series[name]["output"][-1]["summary"]["norm"]
        assert norm == pytest.approx(float(out.detach().double().norm()), rel=1e-6), name
        assert "grad_output" in series[name]
    assert api.hits() == []
    with torch.no_grad():
        model.fc2.weight[0, 0] = float("nan")
    model(x).float().sum().backward()
    first = api.hits()[0]
    assert (first.module, first.site) == ("fc2", "output")
