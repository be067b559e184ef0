"""Planted: bad data inside a nested container passed positionally: the model takes one
``batch`` dict whose ``"features"`` entry is a list of two tensors; at step 1 the second one
holds a NaN.

Right answer: ("", "input", 1)."""

import torch
from torch import nn

EXPECTED = {"module": "", "site": "input", "step": 1}
ORACLE = "full"


class TwoTower(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.a = nn.Linear(4, 8)
        self.b = nn.Linear(6, 8)
        self.head = nn.Linear(8, 1)

    def forward(self, batch: dict) -> torch.Tensor:
        fa, fb = batch["features"]
        return self.head(torch.tanh(self.a(fa) + self.b(fb)))


torch.manual_seed(0)
model = TwoTower()
opt = torch.optim.SGD(model.parameters(), lr=1e-2)
for step in range(4):
    batch = {"features": [torch.randn(5, 4), torch.randn(5, 6)], "y": torch.randn(5, 1)}
    if step == 1:
        batch["features"][1][0, 0] = float("nan")
    loss = (model(batch) - batch["y"]).pow(2).mean()
    opt.zero_grad()
    loss.backward()
    opt.step()
