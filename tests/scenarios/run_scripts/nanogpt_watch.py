"""A nanoGPT-shaped training loop under ``tensorpeek.watch(model, log_freq=5)``: every 5
iterations ``estimate_loss()`` runs the model 4 times under ``torch.no_grad()`` in eval mode
(before the step, as nanoGPT does), each iteration accumulates gradients over 2 micro-batches,
goes through a (disabled) ``GradScaler`` and clips. 16 iterations = 16 optimizer steps.

Right answer: ``watch`` logs at steps 0, 5, 10, 15 (optimizer steps completed), each once, in
order; evaluation forwards and micro-batches never advance the step (issue 13, item 6)."""

import sys

import torch
from torch import nn

import tensorpeek

torch.manual_seed(0)
model = nn.Sequential(nn.Embedding(20, 16), nn.Linear(16, 16), nn.GELU(), nn.Linear(16, 20))
opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
scaler = torch.amp.GradScaler("cpu", enabled=False)


def batch() -> tuple[torch.Tensor, torch.Tensor]:
    ids = torch.randint(0, 20, (4, 9))
    return ids[:, :-1], ids[:, 1:]


@torch.no_grad()
def estimate_loss() -> float:
    model.eval()
    losses = []
    for _ in range(4):
        x, y = batch()
        losses.append(nn.functional.cross_entropy(model(x).reshape(-1, 20), y.reshape(-1)))
    model.train()
    return float(torch.stack(losses).mean())


with tensorpeek.watch(model, log="gradients", log_freq=5, log_dir=sys.argv[1], tensorboard=False):
    for it in range(16):
        if it % 5 == 0:
            estimate_loss()
        for _ in range(2):  # gradient accumulation
            x, y = batch()
            loss = nn.functional.cross_entropy(model(x).reshape(-1, 20), y.reshape(-1)) / 2
            scaler.scale(loss).backward()
        scaler.unscale_(opt)
        nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        scaler.step(opt)
        scaler.update()
        opt.zero_grad(set_to_none=True)
