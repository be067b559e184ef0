"""Planted: backward NaN in a weight-tied language model. The head shares the embedding's
weight; its logits pass through ``cap``, written ``where(z > 0, sqrt(z), z)`` (the
where-gradient trap: for z <= 0 the unused ``sqrt(z)`` is NaN and its gradient NaN * 0 = NaN).
The forward is finite at every step. The script shifts the logits by +100 for steps 0 and 1
(all positive: finite gradients) and drops the shift at step 2.

Right answer: ("cap", "grad_input", 2); the tied weight's accumulated gradient is a
consequence."""

import torch
from torch import nn

EXPECTED = {"module": "cap", "site": "grad_input", "step": 2}
ORACLE = "full"


class RootCap(nn.Module):
    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return torch.where(z > 0, torch.sqrt(z), z)


class TinyLM(nn.Module):
    def __init__(self, vocab: int = 40, dim: int = 16) -> None:
        super().__init__()
        self.embed = nn.Embedding(vocab, dim)
        self.mix = nn.Linear(dim, dim)
        self.head = nn.Linear(dim, vocab, bias=False)
        self.head.weight = self.embed.weight  # tied
        self.cap = RootCap()

    def forward(self, ids: torch.Tensor, shift: float) -> torch.Tensor:
        return self.cap(self.head(self.mix(self.embed(ids))) + shift)


torch.manual_seed(0)
model = TinyLM()
opt = torch.optim.Adam(model.parameters(), lr=1e-3)
for step in range(4):
    ids = torch.randint(0, 40, (2, 6))
    logits = model(ids[:, :-1], 100.0 if step < 2 else 0.0)
    loss = nn.functional.cross_entropy(logits.reshape(-1, 40), ids[:, 1:].reshape(-1))
    opt.zero_grad()
    loss.backward()
    opt.step()
