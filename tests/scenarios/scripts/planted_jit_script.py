"""Planted: a ``torch.jit.script`` model: its submodules run inside TorchScript, where no
module hook can see them. At step 2 the data has identical rows and the scripted model's
``whiten`` layer gives 0/0 = NaN.

Right answer: ("", "output", 2), the only place visible, AND a warning that the scripted
model's layers are invisible (the report must not pretend the root itself is the culprit
without saying so)."""

import torch
from torch import nn

EXPECTED = {"module": "", "site": "output", "step": 2, "warning": ["script", "jit"]}
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
model = torch.jit.script(Net())
opt = torch.optim.SGD(model.parameters(), lr=1e-2)
for step in range(4):
    x = torch.ones(5, 4) if step == 2 else torch.randn(5, 4)
    loss = model(x).pow(2).mean()
    opt.zero_grad()
    loss.backward()
    opt.step()
