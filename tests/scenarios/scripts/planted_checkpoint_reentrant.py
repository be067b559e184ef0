"""Planted: a forward NaN inside a block under REENTRANT activation checkpointing, whose
forward runs a second time during backward. ``blocks.1.2`` (a ``Whiten`` module) divides by
the batch std without epsilon; at step 2 every row of the batch is the same: 0/0 = NaN.

Right answer: ("blocks.1.2", "output", 2), reported ONCE (the recomputation in backward
is not a second origin). (Forward-only reference: full backward hooks do not support
reentrant checkpointing.)"""

import torch
from torch import nn
from torch.utils.checkpoint import checkpoint

EXPECTED = {"module": "blocks.1.2", "site": "output", "step": 2, "once": True}
ORACLE = "forward"


class Whiten(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, D)
        return (x - x.mean(0)) / x.std(0)


class Net(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.blocks = nn.ModuleList(
            nn.Sequential(nn.Linear(6, 6), nn.Tanh(), Whiten() if i else nn.Identity())
            for i in range(2)
        )
        self.head = nn.Linear(6, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for block in self.blocks:
            x = checkpoint(block, x, use_reentrant=True)
        return self.head(x)


torch.manual_seed(0)
model = Net()
opt = torch.optim.SGD(model.parameters(), lr=1e-2)
for step in range(4):
    x = torch.randn(8, 6, requires_grad=True)
    if step == 2:
        x = x[:1].detach().expand(8, 6).clone().requires_grad_()
    loss = model(x).pow(2).mean()
    opt.zero_grad()
    loss.backward()
    opt.step()
