"""Planted: a ``torch.jit.trace`` model: its submodules run inside the traced graph, where no
module hook sees them. At step 1 the data has identical rows and the traced model's ``whiten``
layer gives 0/0 = NaN.

Right answer: ("", "output", 1), the only place visible, AND a warning that the traced
model's layers are invisible."""

import torch
from torch import nn

EXPECTED = {"module": "", "site": "output", "step": 1, "warning": ["trace", "script", "jit"]}
ORACLE = "full"


class Whiten(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x - x.mean(0)) / x.std(0)


class Net(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(4, 4)
        self.whiten = Whiten()
        self.head = nn.Linear(4, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.whiten(self.fc(x)))


torch.manual_seed(0)
model = torch.jit.trace(Net(), torch.randn(5, 4))
opt = torch.optim.SGD(model.parameters(), lr=1e-2)
for step in range(3):
    x = torch.ones(5, 4) if step == 1 else torch.randn(5, 4)
    loss = model(x).pow(2).mean()
    opt.zero_grad()
    loss.backward()
    opt.step()
