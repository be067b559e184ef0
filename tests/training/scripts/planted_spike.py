"""A regression MLP with one param group per layer; at step JUMP_STEP the learning rate of
``fc2``'s group is multiplied by JUMP for that one step, so fc2 moves first and the loss spikes
at the next step. ``--healthy`` trains without the jump; ``--plateau`` with lr 1e-9 after step
20 (the loss stops improving); ``--lr-zero`` with fc3's lr 0 throughout. Prints one
``loss <step> <repr>`` line per step (the script's own ``loss.item()``) and
``ratio <step> <layer> <repr>`` lines: its own update ratios ||dw|| / ||w|| (float64)."""

import sys

import torch
from torch import nn

STEPS = int(sys.argv[sys.argv.index("--steps") + 1]) if "--steps" in sys.argv else 60
JUMP_STEP, JUMP = 30, 2000.0
healthy = "--healthy" in sys.argv
plateau = "--plateau" in sys.argv
lr_zero = "--lr-zero" in sys.argv

torch.manual_seed(0)
model = nn.Sequential()
model.add_module("fc1", nn.Linear(8, 32))
model.add_module("act1", nn.ReLU())
model.add_module("fc2", nn.Linear(32, 32))
model.add_module("act2", nn.ReLU())
model.add_module("fc3", nn.Linear(32, 1))
groups = [
    {"params": model.fc1.parameters(), "lr": 0.05},
    {"params": model.fc2.parameters(), "lr": 0.05},
    {"params": model.fc3.parameters(), "lr": 0.0 if lr_zero else 0.05},
]
opt = torch.optim.SGD(groups, lr=0.05)
x = torch.randn(256, 8)
y = torch.sin(x.sum(dim=1, keepdim=True))
for step in range(STEPS):
    i = (step * 64) % 256
    xb, yb = x[i : i + 64], y[i : i + 64]
    loss = nn.functional.mse_loss(model(xb), yb)
    opt.zero_grad()
    loss.backward()
    print(f"loss {step} {loss.item()!r}", flush=True)
    jump = not (healthy or plateau or lr_zero) and step == JUMP_STEP
    if jump:
        opt.param_groups[1]["lr"] *= JUMP
    before = {n: [p.detach().clone() for p in m.parameters()] for n, m in model.named_children()}
    if plateau and step == 20:
        for g in opt.param_groups:
            g["lr"] = 1e-9
    opt.step()
    if jump:
        opt.param_groups[1]["lr"] /= JUMP
    for name, module in model.named_children():
        olds = before[name]
        if not olds:
            continue
        new = list(module.parameters())
        d = sum(
            float(((p.detach().double() - o.double()) ** 2).sum())
            for p, o in zip(new, olds, strict=True)
        )
        w = sum(float((o.double() ** 2).sum()) for o in olds)
        print(f"ratio {step} {name} {(d / w) ** 0.5!r}", flush=True)
