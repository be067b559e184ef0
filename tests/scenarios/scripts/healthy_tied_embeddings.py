"""Healthy: a tiny language model whose output head shares the embedding's weight (weight
tying: the parameter gets gradient from two uses), AdamW, 5 steps.

Planted: nothing. Right answer: no error finding, 5 steps."""

import torch
from torch import nn

EXPECTED = None
ORACLE = "full"


class TinyLM(nn.Module):
    def __init__(self, vocab: int = 50, dim: int = 16) -> None:
        super().__init__()
        self.embed = nn.Embedding(vocab, dim)
        self.mix = nn.Linear(dim, dim)
        self.head = nn.Linear(dim, vocab, bias=False)
        self.head.weight = self.embed.weight  # tied

    def forward(self, ids: torch.Tensor) -> torch.Tensor:  # (B, T) -> (B, T, V)
        return self.head(torch.tanh(self.mix(self.embed(ids))))


torch.manual_seed(0)
model = TinyLM()
opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
steps = 0
for _ in range(5):
    ids = torch.randint(0, 50, (4, 9))
    logits = model(ids[:, :-1])
    loss = nn.functional.cross_entropy(logits.reshape(-1, 50), ids[:, 1:].reshape(-1))
    opt.zero_grad()
    loss.backward()
    opt.step()
    steps += 1
print(f"scenario steps={steps}")
