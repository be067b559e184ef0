"""Healthy: a plain MLP regression trained with Adam for 6 steps.

Planted: nothing. Right answer: no error finding, the run completes, 6 steps."""

import torch
from torch import nn

EXPECTED = None
ORACLE = "full"

torch.manual_seed(0)
model = nn.Sequential(nn.Linear(8, 32), nn.GELU(), nn.Linear(32, 32), nn.Tanh(), nn.Linear(32, 1))
opt = torch.optim.Adam(model.parameters(), lr=1e-3)
steps = 0
for _ in range(6):
    x = torch.randn(16, 8)  # (B, D)
    y = x.sum(-1, keepdim=True)
    loss = (model(x) - y).pow(2).mean()
    opt.zero_grad()
    loss.backward()
    opt.step()
    steps += 1
print(f"scenario steps={steps}")
