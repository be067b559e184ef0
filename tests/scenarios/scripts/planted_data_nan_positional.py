"""Planted: bad data passed positionally. At step 2 the batch holds a NaN (a corrupt sample).

Right answer: ("", "input", 2): the data, not the first layer that multiplies it."""

import torch
from torch import nn

EXPECTED = {"module": "", "site": "input", "step": 2}
ORACLE = "full"

torch.manual_seed(0)
model = nn.Sequential(nn.Linear(5, 10), nn.ReLU(), nn.Linear(10, 1))
opt = torch.optim.Adam(model.parameters(), lr=1e-3)
for step in range(5):
    x = torch.randn(8, 5)
    if step == 2:
        x[4, 1] = float("nan")
    loss = model(x).pow(2).mean()
    opt.zero_grad()
    loss.backward()
    opt.step()
