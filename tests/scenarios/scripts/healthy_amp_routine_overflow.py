"""Healthy with routine overflow steps: float16 autocast on CPU with ``torch.amp.GradScaler``.
The initial scale (2**16) is too large, so the first backward overflows to inf, the scaler
skips ``optimizer.step()`` and halves the scale until the gradients fit; with
``growth_interval=3`` the scale doubles again every 3 good steps and overflows again: the
normal life of a GradScaler.

Planted: nothing wrong. Right answer: no error finding, the run completes; every skipped step
is an info finding of its own kind (its step, the scale before/after); steps = optimizer
steps actually taken (12 iterations minus the skipped ones, printed by the script)."""

import torch
from torch import nn

EXPECTED = None
ORACLE = "none"  # the reference detector does not model loss scaling
AMP = "routine"

torch.manual_seed(0)
model = nn.Sequential(nn.Linear(16, 32), nn.ReLU(), nn.Linear(32, 1))
opt = torch.optim.SGD(model.parameters(), lr=1e-3)
scaler = torch.amp.GradScaler("cpu", init_scale=2.0**16, growth_interval=3)
steps, skipped = 0, []
for _ in range(12):
    x = torch.randn(32, 16)
    with torch.autocast("cpu", dtype=torch.float16):
        loss = (model(x).float() - 1.0).pow(2).mean()
    opt.zero_grad()
    scaler.scale(loss).backward()
    before = scaler.get_scale()
    scaler.step(opt)
    scaler.update()
    if scaler.get_scale() < before:
        skipped.append(steps)  # the step the skipped iteration ran at
    else:
        steps += 1
print(f"scenario steps={steps}")
print(f"scenario skipped={skipped}")
