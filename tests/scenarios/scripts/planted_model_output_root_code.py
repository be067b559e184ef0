"""Planted: a value born in the ROOT's own code after its last child, in a model returning a
``ModelOutput``-like dataclass. The root divides its head's logits by a ``temperature``
passed by keyword; at step 2 the schedule hands it ``temperature=0.0`` (finite data), so
``logits / 0`` gives ±inf in the root's own forward.

Right answer: ("", "output", 2), born in the root's own forward after it called ``head``."""

from dataclasses import dataclass

import torch
from torch import nn

EXPECTED = {"module": "", "site": "output", "step": 2}
ORACLE = "full"


@dataclass
class Output:
    logits: torch.Tensor
    hidden: tuple[torch.Tensor, ...]


class Model(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.body = nn.Sequential(nn.Linear(6, 12), nn.Tanh())
        self.head = nn.Linear(12, 3)

    def forward(self, x: torch.Tensor, temperature: torch.Tensor) -> Output:
        h = self.body(x)
        return Output(logits=self.head(h) / temperature, hidden=(h,))


torch.manual_seed(0)
model = Model()
opt = torch.optim.SGD(model.parameters(), lr=1e-2)
for step in range(4):
    x, y = torch.randn(4, 6), torch.randint(0, 3, (4,))
    temperature = torch.tensor(0.0 if step == 2 else 1.0 / (step + 1))
    out = model(x, temperature=temperature)
    loss = nn.functional.cross_entropy(out.logits, y)
    opt.zero_grad()
    loss.backward()
    opt.step()
