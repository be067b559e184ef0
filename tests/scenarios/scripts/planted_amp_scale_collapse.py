"""Planted: a GradScaler whose scale collapses. Under float16 autocast the model's first layer
makes activations near float16's limit (inputs of 1e4 through weights of 0.6: 48000), and the
loss is their sum times 1e3, so the float16 gradients overflow at ANY scale: every
``scaler.step`` is skipped, the scale halves from 2**16 to below 1 in 17 iterations, and the
model never trains.

Right answer: an error finding whose message names the collapsing scale (the contract fixes
no module, site or step for it: not a routine info finding, and not a plain "non-finite
gradient" error). No optimizer step ever completes."""

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
