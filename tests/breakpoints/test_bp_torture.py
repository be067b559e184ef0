"""Issue 14's torture test: 500+ training steps through the PyTorch features that switched
tensorpeek off, crashed the program or piled up hooks, with every site armed. No exception
reaches the program, no breakpoint is disabled, the number of hooks stays constant, and a NaN
planted at the end is caught at its origin."""

from __future__ import annotations

import threading
import warnings

import torch
from torch import nn
from torch.func import functional_call, grad, vmap
from torch.utils.checkpoint import checkpoint
from torch.utils.data import DataLoader, TensorDataset

from tensorpeek.engine import api
from tensorpeek.engine.hooks import HOOKS

STEPS = 520
SITES = ("input", "output", "grad_input", "grad_output", "param_grad", "param")


class Latents(nn.Module):
    """Perceiver-style: a latent Parameter passed straight into a submodule."""

    def __init__(self) -> None:
        super().__init__()
        self.latents = nn.Parameter(torch.randn(4, 16) * 0.1)
        self.cross = nn.Linear(16, 16)
        self.body = nn.Sequential(nn.Linear(16, 16), nn.GELU(), nn.Linear(16, 16))
        self.head = nn.Linear(16, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, 16) -> (B, 1)
        z = self.cross(self.latents).mean(0)  # (16,)
        h = checkpoint(self.body, x + z, use_reentrant=False)  # (B, 16)
        return self.head(h)


def test_five_hundred_steps_through_every_odd_feature_then_a_nan_at_its_origin() -> None:
    torch.manual_seed(0)
    model = Latents()
    encoder = nn.TransformerEncoder(
        nn.TransformerEncoderLayer(16, 2, dim_feedforward=32, batch_first=True), 1
    ).eval()
    side = nn.Linear(16, 1)
    bps = [api.break_on(f"*:{site}:nonfinite", action="record") for site in SITES]
    bps += [api.break_on(f"*:output:{p}", action="record") for p in ("dead", "saturated")]
    bps.append(api.break_on("*:param_grad:exploding", action="record"))
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    data = TensorDataset(torch.randn(64, 16), torch.randn(64, 1))
    loader = DataLoader(data, batch_size=8, num_workers=2, persistent_workers=True)
    params = {k: v.detach() for k, v in side.named_parameters()}

    def side_loss(p: dict[str, torch.Tensor], x: torch.Tensor) -> torch.Tensor:
        return functional_call(side, p, (x.unsqueeze(0),)).pow(2).sum()

    errors: list[BaseException] = []

    def other_thread() -> None:
        try:
            other = nn.Sequential(nn.Linear(16, 8), nn.ReLU(), nn.Linear(8, 1))
            for _ in range(40):
                other(torch.randn(4, 16)).sum().backward()
        except BaseException as err:  # noqa: BLE001 - reported by the assertion below
            errors.append(err)

    hook_counts = []
    step = 0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the skip notes and torch's prototype warnings
        worker = threading.Thread(target=other_thread)
        worker.start()
        while step < STEPS:
            for x, y in loader:
                opt.zero_grad()
                loss = (model(x) - y).pow(2).mean()
                loss.backward()
                opt.step()
                if step % 50 == 0:  # validation through the nested-tensor fast path
                    padding = torch.zeros(3, 5, dtype=torch.bool)
                    padding[0, 3:] = True
                    with torch.no_grad():
                        encoder(torch.randn(3, 5, 16), src_key_padding_mask=padding)
                if step % 25 == 0:  # per-sample gradients and a functional inner loop
                    vmap(grad(side_loss), in_dims=(None, 0))(params, torch.randn(4, 16))
                    fast = dict(side.named_parameters())
                    inner = functional_call(side, fast, (x,)).pow(2).mean()
                    g = torch.autograd.grad(inner, list(fast.values()), create_graph=True)
                    fast = {k: w - 0.1 * gw for (k, w), gw in zip(fast.items(), g, strict=True)}
                    functional_call(side, fast, (x,)).pow(2).mean().backward()
                if step in (101, STEPS - 18):  # both a step after the same extras
                    hook_counts.append(HOOKS.hook_count())
                step += 1
                if step >= STEPS:
                    break
        worker.join()
    assert errors == []
    assert all(bp.enabled and bp.error is None for bp in bps), [bp for bp in bps if not bp.enabled]
    assert hook_counts[0] == hook_counts[1], f"hooks grew: {hook_counts}"
    assert [h for h in api.hits() if h.condition == "nonfinite"] == []
    with torch.no_grad():
        model.body[2].weight[0, 0] = float("nan")  # planted at the end
    x, y = data[:8]
    (model(x) - y).pow(2).mean().backward()
    origins = [(h.module, h.site) for h in api.hits() if h.origin and h.condition == "nonfinite"]
    assert origins[0] == ("body.2", "output"), origins
