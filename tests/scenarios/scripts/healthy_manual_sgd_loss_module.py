"""Healthy: no optimizer at all: parameters are updated by hand under ``torch.no_grad()``;
the loss comes from an ``nn.CrossEntropyLoss()`` module (a second root module called every
iteration), and an evaluation forward under ``no_grad`` runs every other iteration.

Planted: nothing. Right answer: no error finding; steps = ``backward()`` calls = 7 (the
loss module and the evaluation calls never advance the step)."""

import torch
from torch import nn

EXPECTED = None
ORACLE = "full"

torch.manual_seed(0)
model = nn.Sequential(nn.Linear(10, 20), nn.ReLU(), nn.Linear(20, 4))
criterion = nn.CrossEntropyLoss()
steps = 0
for i in range(7):
    x, y = torch.randn(16, 10), torch.randint(0, 4, (16,))
    loss = criterion(model(x), y)
    model.zero_grad()
    loss.backward()
    with torch.no_grad():
        for p in model.parameters():
            p -= 0.1 * p.grad
        if i % 2:
            model(torch.randn(4, 10))
    steps += 1
print(f"scenario steps={steps}")
