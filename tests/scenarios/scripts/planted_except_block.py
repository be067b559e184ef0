"""Planted: the forward pass that goes wrong runs inside an ``except`` block. The loop reads
batches from a short list and, when it runs out (``IndexError``), builds a fallback batch in
the handler and trains on it there; the fallback batch (step 3) has identical rows and
``whiten`` divides by the batch std without epsilon: 0/0 = NaN.

Right answer: ("whiten", "output", 3)."""

import torch
from torch import nn

EXPECTED = {"module": "whiten", "site": "output", "step": 3}
ORACLE = "full"


class Whiten(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x - x.mean(0)) / x.std(0)


class Net(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(5, 5)
        self.whiten = Whiten()
        self.head = nn.Linear(5, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.whiten(self.fc(x)))


torch.manual_seed(0)
model = Net()
opt = torch.optim.SGD(model.parameters(), lr=1e-2)
batches = [torch.randn(6, 5) for _ in range(3)]


def train_on(x: torch.Tensor) -> None:
    loss = model(x).pow(2).mean()
    opt.zero_grad()
    loss.backward()
    opt.step()


for step in range(5):
    try:
        train_on(batches[step])
    except IndexError:
        train_on(torch.ones(6, 5))  # fallback batch: every row the same
