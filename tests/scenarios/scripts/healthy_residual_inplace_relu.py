"""Healthy: residual blocks whose Linear output is rectified in place (``ReLU(inplace=True)``
modifies the Linear's output tensor after the Linear returned), SGD with momentum.

Planted: nothing. Right answer: no error finding, 5 steps. (The reference detector runs
forward-only here: full backward hooks cannot coexist with in-place ops on module outputs.)"""

import torch
from torch import nn

EXPECTED = None
ORACLE = "forward"


class Block(nn.Module):
    def __init__(self, dim: int) -> None:
        super().__init__()
        self.fc = nn.Linear(dim, dim)
        self.act = nn.ReLU(inplace=True)
        self.out = nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.out(self.act(self.fc(x)))


torch.manual_seed(0)
model = nn.Sequential(nn.Linear(6, 24), *(Block(24) for _ in range(3)), nn.Linear(24, 2))
opt = torch.optim.SGD(model.parameters(), lr=1e-2, momentum=0.9)
steps = 0
for _ in range(5):
    x = torch.randn(12, 6)
    loss = nn.functional.mse_loss(model(x), x[:, :2])
    opt.zero_grad()
    loss.backward()
    opt.step()
    steps += 1
print(f"scenario steps={steps}")
