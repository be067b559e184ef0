"""Planted: a backward-only NaN inside a NON-reentrant checkpointed block. ``blocks.0.gate``
is ``where(h > 0, sqrt(h), 0)`` (finite forward; NaN * 0 gradient where h < 0). The data and
the block's weights are positive until step 1, when the data is negated.

Right answer: ("blocks.0.gate", "grad_input", 1)."""

import torch
from torch import nn
from torch.utils.checkpoint import checkpoint

EXPECTED = {"module": "blocks.0.gate", "site": "grad_input", "step": 1}
ORACLE = "full"


class SqrtGate(nn.Module):
    def forward(self, h: torch.Tensor) -> torch.Tensor:
        return torch.where(h > 0, torch.sqrt(h), torch.zeros_like(h))


class Block(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(6, 6, bias=False)
        self.gate = SqrtGate()
        with torch.no_grad():
            self.fc.weight.abs_()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.gate(self.fc(x))


class Net(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.blocks = nn.ModuleList([Block()])
        self.head = nn.Linear(6, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(checkpoint(self.blocks[0], x, use_reentrant=False))


torch.manual_seed(0)
model = Net()
opt = torch.optim.SGD(model.parameters(), lr=1e-4)
for step in range(3):
    x = torch.rand(4, 6) + 0.1
    if step == 1:
        x = -x
    loss = model(x).pow(2).mean()
    opt.zero_grad()
    loss.backward()
    opt.step()
