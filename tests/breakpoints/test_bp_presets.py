"""The ``exploding``/``vanishing``/``no_gradient`` presets judged against a tensor's own
history: healthy schedules (warm-up decay, a later rise, one outlier batch) never fire, a real
explosion does, a gradient zero by construction is ``no_gradient`` and never ``vanishing``,
and no preset but the non-finite ones fires on a tensor holding NaN/Inf."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch import nn

import tensorpeek
from tensorpeek.engine import api
from tensorpeek.engine.conditions import EvalContext, compile_condition


def exploding_verdicts(norms: list[float], key: str = "fc2:grad_output:0") -> list[bool]:
    """The ``exploding`` verdict for a tensor whose norm follows ``norms`` (4 equal values)."""
    cond = compile_condition("exploding")
    ctx = EvalContext(0, "grad_output", key=key)
    return [cond.evaluate(torch.full((4,), n / 2, dtype=torch.float64), ctx)[0] for n in norms]


def healthy_warmup_trace(seed: int = 0) -> list[float]:
    """A healthy run's gradient norm: a rise out of initialisation in the first steps, a 15×
    decay during warm-up, then a 1.5× rise as the learning rate schedule moves on; per-batch
    noise and one outlier batch 12× over its neighbours."""
    rng = np.random.default_rng(seed)
    transient = np.geomspace(0.1, 15.0, 12)
    decay = np.geomspace(15.0, 1.0, 300)
    rise = np.geomspace(1.0, 1.5, 300)
    trace = np.concatenate([transient, decay, rise]) * rng.lognormal(0.0, 0.15, 612)
    trace[450] *= 12.0
    return [float(v) for v in trace]


def test_exploding_stays_quiet_through_warm_up_decay_and_a_later_rise() -> None:
    verdicts = exploding_verdicts(healthy_warmup_trace())
    assert not any(verdicts), [i for i, v in enumerate(verdicts) if v]


def test_exploding_fires_on_a_real_explosion_after_the_warm_up() -> None:
    healthy = healthy_warmup_trace()
    growth = [healthy[-1] * 1.5**k for k in range(1, 20)]  # diverging: ×1.5 per step
    verdicts = exploding_verdicts(healthy + growth)
    first = verdicts.index(True)
    assert first >= len(healthy), "nothing before the divergence"
    norm = (healthy + growth)[first]
    assert norm < 1e3, "found by the jump, long before the absolute |x|max threshold"


def test_exploding_fires_on_a_sustained_jump_over_a_steady_baseline() -> None:
    steady = [1.0 + 0.1 * math.sin(i) for i in range(40)]
    assert exploding_verdicts([*steady, 50.0, 60.0, 70.0]) == [False] * 41 + [True, True]
    assert exploding_verdicts([*steady, 50.0, 1.0, 1.0]) == [False] * 43, "one outlier batch"
    cond = compile_condition("exploding")
    assert cond.evaluate(torch.tensor([2e4]), EvalContext(0, "output"))[0]  # absolute threshold


@pytest.mark.parametrize(
    ("preset", "values", "dtype", "module"),
    [
        ("exploding", [2e4, float("nan")], torch.float32, None),
        ("vanishing", [1e-12, float("nan")], torch.float32, None),
        ("vanishing", [1e-12, float("inf")], torch.float32, None),
        ("no_gradient", [0.0, 0.0, float("nan")], torch.float32, None),
        ("dead", [0.0] * 199 + [float("nan")], torch.float32, nn.ReLU()),
        ("saturated", [65504.0, float("inf")], torch.float16, None),
    ],
)
def test_no_preset_but_the_nonfinite_ones_fires_on_a_tensor_holding_nan_or_inf(
    preset: str, values: list[float], dtype: torch.dtype, module: nn.Module | None
) -> None:
    cond = compile_condition(preset)
    bad = torch.tensor(values, dtype=dtype)
    clean = torch.nan_to_num(bad, nan=0.0, posinf=65504.0 if dtype == torch.float16 else 0.0)
    assert cond.evaluate(clean, EvalContext(0, "output", module, key="clean"))[0], "the oracle"
    assert not cond.evaluate(bad, EvalContext(0, "output", module, key="bad"))[0]


def test_a_gradient_zero_from_the_first_step_is_no_gradient_not_vanishing() -> None:
    vanishing, none = compile_condition("vanishing"), compile_condition("no_gradient")
    zeros, tiny = torch.zeros(8), torch.full((8,), 1e-10)
    ctx_v, ctx_n = EvalContext(0, "grad_output", key="k"), EvalContext(0, "grad_output", key="k")
    assert [vanishing.evaluate(zeros, ctx_v)[0] for _ in range(3)] == [False] * 3
    assert [none.evaluate(zeros, ctx_n)[0] for _ in range(3)] == [True] * 3
    # once it has carried a signal, a gradient fading to nothing is vanishing again
    assert vanishing.evaluate(tiny, ctx_v)[0] and not none.evaluate(tiny, ctx_n)[0]
    assert vanishing.evaluate(zeros, ctx_v)[0] and not none.evaluate(zeros, ctx_n)[0]


class SelfAttention(nn.Module):
    """BERT's self-attention: separate query/key/value projections with biases. The key bias
    adds the same vector to every key of a query, which the softmax ignores: its gradient is
    zero up to rounding."""

    def __init__(self, width: int = 32, heads: int = 4) -> None:
        super().__init__()
        self.query, self.key, self.value = (nn.Linear(width, width) for _ in range(3))
        self.heads = heads

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, t, e = x.shape
        q, k, v = (
            proj(x).view(b, t, self.heads, e // self.heads).transpose(1, 2)  # (B, H, T, E/H)
            for proj in (self.query, self.key, self.value)
        )
        att = (q @ k.transpose(-2, -1) / math.sqrt(e // self.heads)).softmax(-1)  # (B, H, T, T)
        return (att @ v).transpose(1, 2).reshape(b, t, e)


def test_attention_key_bias_gradient_is_no_gradient_and_never_vanishing() -> None:
    torch.manual_seed(0)
    model = nn.Sequential(SelfAttention(), nn.Linear(32, 1))
    opt = torch.optim.SGD(model.parameters(), lr=0.01)
    with tensorpeek.breakpoints(
        "*:param_grad:vanishing", "*:param_grad:no_gradient", action="record"
    ):
        for _ in range(4):
            x, y = torch.randn(8, 16, 32), torch.randn(8, 16, 1)
            loss = nn.functional.mse_loss(model(x), y)
            opt.zero_grad()
            loss.backward()
            opt.step()
        key_bias = model[0].key.bias.grad
        assert key_bias is not None and 0 < float(key_bias.norm()) < 1e-7  # what vanishing saw
        hits = {(h.condition, h.module, h.param) for h in api.hits()}
    assert hits == {("no_gradient", "0.key", "bias")}


def test_a_gradient_that_was_real_and_fell_to_zero_is_vanishing_not_no_gradient() -> None:
    """After a blow-up kills a network its gradients go to zero: that is ``vanishing`` (a
    warning), not ``no_gradient`` (an info finding saying "zero by construction"). Oracle: the
    weight gradient of a Linear is outer(grad_out, input), so an all-zero input at step 3 makes
    it exactly zero while the bias still gets a gradient; a Linear fed zeros from the start
    never had one."""
    torch.manual_seed(0)

    class Two(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.fell, self.never = nn.Linear(4, 1), nn.Linear(4, 1)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.fell(x).pow(2).mean() + (self.never(torch.zeros_like(x)) - 1).pow(2).mean()

    model = Two()
    fell = model.fell
    opt = torch.optim.SGD(model.parameters(), lr=0.01)
    with tensorpeek.breakpoints(
        "*:param_grad:vanishing", "*:param_grad:no_gradient", action="record"
    ):
        for step in range(5):
            x = torch.randn(8, 4) if step < 3 else torch.zeros(8, 4)
            loss = model(x)
            opt.zero_grad()
            loss.backward()
            opt.step()
        assert fell.weight.grad is not None and float(fell.weight.grad.abs().max()) == 0.0
        hits = {(h.condition, h.module, h.param, h.step) for h in api.hits()}
    assert ("vanishing", "fell", "weight", 3) in hits  # the step its input became zeros
    assert ("no_gradient", "never", "weight", 0) in hits  # never had one: from its first event
    assert not any(c == "no_gradient" and m == "fell" for c, m, _p, _s in hits)
    assert not any(c == "vanishing" and m == "never" for c, m, _p, _s in hits)
    assert not any(c == "vanishing" and s < 3 for c, _m, _p, s in hits)
