"""Healthy: bfloat16 autocast on CPU (no scaler: bf16 has float32's range), SGD, 4 steps.

Planted: nothing. Right answer: no error finding, 4 steps."""

import torch
from torch import nn

EXPECTED = None
ORACLE = "full"

torch.manual_seed(0)
model = nn.Sequential(nn.Linear(16, 64), nn.GELU(), nn.Linear(64, 16), nn.LayerNorm(16))
opt = torch.optim.SGD(model.parameters(), lr=1e-2)
steps = 0
for _ in range(4):
    x = torch.randn(8, 16)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = model(x)
    loss = (out.float() - x).pow(2).mean()
    opt.zero_grad()
    loss.backward()
    opt.step()
    steps += 1
print(f"scenario steps={steps}")
