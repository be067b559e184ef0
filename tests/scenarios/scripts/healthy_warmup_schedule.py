"""Healthy: linear learning-rate warm-up then decay (``LambdaLR``) on a small MLP with Adam.
The gradient norm is large at the first steps and falls steadily as the model fits: a
healthy run the ``exploding`` preset must not flag (issue 13, item 7).

Planted: nothing. Right answer: no error finding and no ``exploding`` finding, 40 steps
(enough for the preset to have a baseline)."""

import torch
from torch import nn

EXPECTED = None
ORACLE = "full"
FORBIDDEN_KINDS = ["exploding"]

torch.manual_seed(0)
model = nn.Sequential(nn.Linear(8, 32), nn.ReLU(), nn.Linear(32, 1))
opt = torch.optim.Adam(model.parameters(), lr=3e-3)
sched = torch.optim.lr_scheduler.LambdaLR(
    opt, lambda s: min(1.0, (s + 1) / 8) * 0.93 ** max(0, s - 8)
)
w = torch.randn(8, 1)
steps = 0
for _ in range(40):
    x = torch.randn(32, 8)
    loss = (model(x) - 3.0 * x @ w).pow(2).mean()
    opt.zero_grad()
    loss.backward()
    opt.step()
    sched.step()
    steps += 1
print(f"scenario steps={steps}")
