"""Planted: a backward-only NaN born in a parent's OWN code between its children. ``block``'s
forward is ``fc2(where(h > 0, sqrt(h), 0))`` with ``h = fc1(x)``: the ``where``/``sqrt`` is
block's own code, not a module. Forward is finite; where ``h < 0`` the gradient is NaN * 0 = NaN.
The data and fc1's weights are positive until step 2, when the data is negated. ``fc2``'s own
backward is finite; ``fc1`` only receives the NaN.

Right answer: ("block", "grad_input", 2): block's own backward made it (not fc1, whose
grad_output is already NaN, and not fc2)."""

import torch
from torch import nn

EXPECTED = {"module": "block", "site": "grad_input", "step": 2}
ORACLE = "full"


class Block(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc1 = nn.Linear(6, 6, bias=False)
        self.fc2 = nn.Linear(6, 6)
        with torch.no_grad():
            self.fc1.weight.abs_()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.fc1(x)
        return self.fc2(torch.where(h > 0, torch.sqrt(h), torch.zeros_like(h)))


class Net(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.stem = nn.Linear(6, 6)
        self.block = Block()
        self.head = nn.Linear(6, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.block(torch.relu(self.stem(x)) + x))


torch.manual_seed(0)
model = Net()
with torch.no_grad():
    model.stem.weight.abs_()
opt = torch.optim.SGD(model.parameters(), lr=1e-4)
for step in range(4):
    x = torch.rand(4, 6) + 0.5
    if step == 2:
        x = -x - 5.0
    loss = model(x).pow(2).mean()
    opt.zero_grad()
    loss.backward()
    opt.step()
