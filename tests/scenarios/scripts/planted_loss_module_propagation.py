"""Planted: a forward NaN in the model while the loss comes from an ``nn.CrossEntropyLoss()``
module. At step 2 ``body.norm`` (a Whiten without epsilon) gets identical rows: 0/0 = NaN. The
loss module then receives NaN logits: that is propagation into another root, not a second
origin.

Right answer: ("body.norm", "output", 2), and no origin hit at the loss module (doctor runs
with ``--keep-going`` here, so what follows in the step is seen)."""

import torch
from torch import nn

EXPECTED = {
    "module": "body.norm",
    "site": "output",
    "step": 2,
    "no_origin_class": "CrossEntropyLoss",
}
ORACLE = "full"
KEEP_GOING = True


class Whiten(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x - x.mean(0)) / x.std(0)


class Body(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(6, 6)
        self.norm = Whiten()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.norm(self.fc(x))


class Net(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.body = Body()
        self.head = nn.Linear(6, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.body(x))


torch.manual_seed(0)
model = Net()
criterion = nn.CrossEntropyLoss()
opt = torch.optim.SGD(model.parameters(), lr=1e-2)
for step in range(4):
    x = torch.ones(5, 6) if step == 2 else torch.randn(5, 6)
    loss = criterion(model(x), torch.randint(0, 3, (5,)))
    opt.zero_grad()
    loss.backward()
    opt.step()
