"""Planted: a GradScaler whose scale collapses. Under float16 autocast the model's first layer
sees activations near float16's limit (inputs of ~1e4 through a weight of ~5), and the loss is
a sum, so the float16 gradients overflow at ANY scale: every ``scaler.step`` is skipped, the
scale halves from 2**16 to below 1 in 17 iterations, and the model never trains.

Right answer: an error finding that names the collapsing scale (not a routine info finding,
and not an error at the root's grad_output). No optimizer step ever completes."""

import torch
from torch import nn

EXPECTED = {"message": ["scale"]}
ORACLE = "none"  # the reference detector does not model loss scaling
AMP = "collapse"

torch.manual_seed(0)
model = nn.Sequential(nn.Linear(8, 8), nn.Linear(8, 1))
with torch.no_grad():
    model[0].weight.fill_(0.6)
opt = torch.optim.SGD(model.parameters(), lr=1e-3)
scaler = torch.amp.GradScaler("cpu", init_scale=2.0**16)
for _ in range(20):
    x = torch.full((4, 8), 1.0e4)
    with torch.autocast("cpu", dtype=torch.float16):
        loss = model(x).float().sum() * 1.0e3
    opt.zero_grad()
    scaler.scale(loss).backward()
    scaler.step(opt)
    scaler.update()
print(f"scenario scale={scaler.get_scale()}")
