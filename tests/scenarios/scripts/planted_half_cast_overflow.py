"""Planted: a value born in a parent's own code between its children. ``half_block``'s forward
is ``self.fc(x.half()).float()``: at step 2 one activation reaching it is about 1e5 (finite in
float32, beyond float16's range), so the cast inside half_block's own forward makes +inf
BEFORE it calls ``fc``; ``fc`` receives the inf (its inputs were not finite).

Right answer: ("half_block", "output", 2), the message saying the value was born in
half_block's own forward, before it called fc."""

import torch
from torch import nn

EXPECTED = {"module": "half_block", "site": "output", "step": 2, "message": ["half_block", "fc"]}
ORACLE = "full"


class HalfBlock(nn.Module):
    def __init__(self, dim: int) -> None:
        super().__init__()
        self.fc = nn.Linear(dim, dim).half()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(x.half()).float()


class Net(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.pre = nn.Linear(8, 8)
        self.half_block = HalfBlock(8)
        self.head = nn.Linear(8, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.pre(x)
        h = h + x * 1e4 * (x.abs() > 9)  # a rare huge activation: finite in float32
        return self.head(self.half_block(h))


torch.manual_seed(0)
model = Net()
opt = torch.optim.SGD(model.parameters(), lr=1e-3)
for step in range(4):
    x = torch.randn(4, 8).clamp(-3, 3)
    if step == 2:
        x[1, 2] = 10.0
    loss = model(x).pow(2).mean()
    opt.zero_grad()
    loss.backward()
    opt.step()
