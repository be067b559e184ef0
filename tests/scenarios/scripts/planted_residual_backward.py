"""Planted: backward NaN inside a residual block. ``gate`` computes ``where(h > 0, sqrt(h), 0)``
(the classic where-gradient trap): its forward is finite, but where ``h < 0`` the unused branch
``sqrt(h)`` is NaN and its gradient NaN * 0 = NaN. Up to step 3 ``h`` is positive (positive
data, positive weights); at step 3 the data turns negative. The block is
``x + out(gate(fc(x)))``: the residual adds a second consumer of ``x``.

Right answer: ("blocks.1.gate", "grad_input", 3)."""

import torch
from torch import nn

EXPECTED = {"module": "blocks.1.gate", "site": "grad_input", "step": 3}
ORACLE = "full"


class SqrtGate(nn.Module):
    def forward(self, h: torch.Tensor) -> torch.Tensor:
        return torch.where(h > 0, torch.sqrt(h), torch.zeros_like(h))


class Block(nn.Module):
    def __init__(self, dim: int, gated: bool) -> None:
        super().__init__()
        self.fc = nn.Linear(dim, dim, bias=False)
        self.gate = SqrtGate() if gated else nn.Tanh()
        self.out = nn.Linear(dim, dim, bias=False)
        with torch.no_grad():
            self.fc.weight.abs_()
            self.out.weight.abs_()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.out(self.gate(self.fc(x)))


class Net(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.blocks = nn.ModuleList([Block(8, gated=False), Block(8, gated=True)])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for block in self.blocks:
            x = block(x)
        return x


torch.manual_seed(0)
model = Net()
opt = torch.optim.SGD(model.parameters(), lr=1e-4)
for step in range(6):
    x = torch.rand(4, 8) + 0.5
    if step == 3:
        x = -x
    loss = model(x).pow(2).mean()
    opt.zero_grad()
    loss.backward()
    opt.step()
