"""Healthy: activation checkpointing, one block reentrant (``use_reentrant=True``: its forward
runs again during backward) and one not, SGD, 4 steps.

Planted: nothing. Right answer: no error finding, 4 steps. (Forward-only reference: full
backward hooks do not support reentrant checkpointing.)"""

import torch
from torch import nn
from torch.utils.checkpoint import checkpoint

EXPECTED = None
ORACLE = "forward"


class Net(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.stem = nn.Linear(8, 16)
        self.blocks = nn.ModuleList(
            nn.Sequential(nn.Linear(16, 16), nn.SiLU(), nn.LayerNorm(16)) for _ in range(2)
        )
        self.head = nn.Linear(16, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.stem(x)
        h = checkpoint(self.blocks[0], h, use_reentrant=True)
        h = checkpoint(self.blocks[1], h, use_reentrant=False)
        return self.head(h)


torch.manual_seed(0)
model = Net()
opt = torch.optim.SGD(model.parameters(), lr=1e-2)
steps = 0
for _ in range(4):
    x = torch.randn(8, 8)
    loss = model(x).pow(2).mean()
    opt.zero_grad()
    loss.backward()
    opt.step()
    steps += 1
print(f"scenario steps={steps}")
