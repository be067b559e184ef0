"""Healthy: a GAN: generator and discriminator are two root modules with two Adam
optimizers; the discriminator runs on real and fake batches, ``nn.BCEWithLogitsLoss()`` is a
third root module. 4 iterations.

Planted: nothing. Right answer: no error finding; steps = 4 (one per iteration: the largest
count over the two optimizers)."""

import torch
from torch import nn

EXPECTED = None
ORACLE = "full"

torch.manual_seed(0)
G = nn.Sequential(nn.Linear(4, 16), nn.LeakyReLU(0.2), nn.Linear(16, 8))
D = nn.Sequential(nn.Linear(8, 16), nn.LeakyReLU(0.2), nn.Linear(16, 1))
opt_g = torch.optim.Adam(G.parameters(), lr=2e-4, betas=(0.5, 0.999))
opt_d = torch.optim.Adam(D.parameters(), lr=2e-4, betas=(0.5, 0.999))
bce = nn.BCEWithLogitsLoss()
steps = 0
for _ in range(4):
    real, z = torch.randn(16, 8) + 2.0, torch.randn(16, 4)
    fake = G(z)
    d_loss = bce(D(real), torch.ones(16, 1)) + bce(D(fake.detach()), torch.zeros(16, 1))
    opt_d.zero_grad()
    d_loss.backward()
    opt_d.step()
    g_loss = bce(D(fake), torch.ones(16, 1))
    opt_g.zero_grad()
    g_loss.backward()
    opt_g.step()
    steps += 1
print(f"scenario steps={steps}")
