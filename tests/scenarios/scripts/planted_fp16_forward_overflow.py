"""Planted: a float16 overflow in the forward pass under CPU autocast (no scaler involved: a
forward overflow is never routine). At step 2 the batch is 20000x larger; ``proj``'s float16
matmul exceeds 65504 and returns +inf/-inf from finite float32 inputs.

Right answer: ("proj", "output", 2)."""

import torch
from torch import nn

EXPECTED = {"module": "proj", "site": "output", "step": 2}
ORACLE = "full"


class Net(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.inp = nn.Linear(16, 64)
        self.proj = nn.Linear(64, 64)
        self.out = nn.Linear(64, 1)
        with torch.no_grad():
            self.proj.weight.abs_().mul_(10.0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.out(self.proj(torch.relu(self.inp(x))))


torch.manual_seed(0)
model = Net()
opt = torch.optim.SGD(model.parameters(), lr=1e-6)
for step in range(4):
    x = torch.rand(8, 16) * (20000.0 if step == 2 else 1.0)
    with torch.autocast("cpu", dtype=torch.float16):
        out = model(x)
    loss = out.float().pow(2).mean()
    opt.zero_grad()
    loss.backward()
    opt.step()
