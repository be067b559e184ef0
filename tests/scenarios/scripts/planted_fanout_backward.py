"""Planted: backward NaN with fan-out. ``h = stem(x)`` feeds two consumers: ``enc`` (a Linear)
and ``feat`` (an L2 norm without epsilon: ``sqrt(sum(h**2))``). At step 2 one data row is all
zeros, so ``h``'s row is zero (no bias): the forward is finite (sqrt(0) = 0) but ``feat``'s
backward is 0 * inf = NaN. ``enc``'s own backward is finite; only the gradient ACCUMULATED on
``h`` (enc's + feat's) is NaN.

Right answer: ("feat", "grad_input", 2): feat's own contribution is the first non-finite
gradient, not enc's grad_input nor stem's grad_output."""

import torch
from torch import nn

EXPECTED = {"module": "feat", "site": "grad_input", "step": 2}
ORACLE = "full"


class Norm(nn.Module):
    def forward(self, h: torch.Tensor) -> torch.Tensor:
        return torch.sqrt(h.pow(2).sum(-1, keepdim=True))  # no epsilon


class Net(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.stem = nn.Linear(6, 12, bias=False)
        self.enc = nn.Linear(12, 4)
        self.feat = Norm()
        self.head = nn.Linear(5, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.stem(x)
        return self.head(torch.cat([self.enc(h), self.feat(h)], dim=-1))


torch.manual_seed(0)
model = Net()
opt = torch.optim.SGD(model.parameters(), lr=1e-2)
for step in range(5):
    x = torch.randn(8, 6)
    if step == 2:
        x[3] = 0.0
    loss = model(x).pow(2).mean()
    opt.zero_grad()
    loss.backward()
    opt.step()
