"""Planted: the loss, computed outside the model, becomes +inf. A hand-written negative
log-likelihood ``-log(softmax(logits * sharpen)[target]).mean()`` in the training loop: at
step 3 the "sharpen" knob jumps to 200, some target probabilities underflow to exactly 0.0 in
float32 and ``-log(0) = +inf``. Every tensor the model computes is finite.

Right answer: ("", "loss", 3): the finding names the loss, its value (+inf) and the step; not
the root module's grad_output."""

import torch
from torch import nn

EXPECTED = {"module": "", "site": "loss", "step": 3, "message": ["loss", "inf"]}
ORACLE = "full"

torch.manual_seed(0)
model = nn.Sequential(nn.Linear(6, 16), nn.Tanh(), nn.Linear(16, 4))
opt = torch.optim.SGD(model.parameters(), lr=1e-2)
for step in range(5):
    x, y = torch.randn(8, 6), torch.randint(0, 4, (8,))
    sharpen = 200.0 if step == 3 else 1.0
    p = torch.softmax(model(x) * sharpen, dim=-1)  # (B, C)
    loss = -torch.log(p[torch.arange(8), y]).mean()
    opt.zero_grad()
    loss.backward()
    opt.step()
