"""Planted: a GAN (two roots, two Adam optimizers, ``nn.BCEWithLogitsLoss()`` a third root)
whose discriminator has a backward-only NaN from the very first iteration: ``D.gate`` is
``where(h > 0, sqrt(h), 0)`` (finite forward, NaN * 0 gradient where h < 0). Before that
backward, G ran once, D twice and the loss module twice.

Right answer: ("gate", "grad_input", 0): D's own path (D is the root of that call) and step 0,
the first iteration, whatever the number of root calls before it."""

import torch
from torch import nn

EXPECTED = {"module": "gate", "site": "grad_input", "step": 0}
ORACLE = "full"


class SqrtGate(nn.Module):
    def forward(self, h: torch.Tensor) -> torch.Tensor:
        return torch.where(h > 0, torch.sqrt(h), torch.zeros_like(h))


class Discriminator(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(8, 16)
        self.gate = SqrtGate()
        self.out = nn.Linear(16, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.out(self.gate(self.fc(x)))


torch.manual_seed(0)
G = nn.Sequential(nn.Linear(4, 16), nn.ReLU(), nn.Linear(16, 8))
D = Discriminator()
opt_g = torch.optim.Adam(G.parameters(), lr=2e-4)
opt_d = torch.optim.Adam(D.parameters(), lr=2e-4)
bce = nn.BCEWithLogitsLoss()
for _ in range(3):
    real, z = torch.randn(16, 8), torch.randn(16, 4)
    fake = G(z)
    d_loss = bce(D(real), torch.ones(16, 1)) + bce(D(fake.detach()), torch.zeros(16, 1))
    opt_d.zero_grad()
    d_loss.backward()
    opt_d.step()
    g_loss = bce(D(fake), torch.ones(16, 1))
    opt_g.zero_grad()
    g_loss.backward()
    opt_g.step()
