"""For ``tensorpeek run --break '*:param:nonfinite'``: the loss comes from an
``nn.CrossEntropyLoss()`` module (a second root), and at step 2 the learning rate of the head's
parameter group becomes +inf (a broken schedule): ``optimizer.step()`` turns ``head``'s
finite parameters and finite gradients into non-finite parameters.

Right answer: the first hit is ("head", "param", 2), stamped with the step that just ran."""

import torch
from torch import nn

torch.manual_seed(0)
model = nn.Sequential()
model.fc = nn.Linear(6, 8)
model.act = nn.Tanh()
model.head = nn.Linear(8, 3)
criterion = nn.CrossEntropyLoss()
opt = torch.optim.SGD(
    [{"params": model.fc.parameters()}, {"params": model.head.parameters()}], lr=1e-2
)
for step in range(4):
    if step == 2:
        opt.param_groups[1]["lr"] = float("inf")
    loss = criterion(model(torch.randn(5, 6)), torch.randint(0, 3, (5,)))
    opt.zero_grad()
    loss.backward()
    opt.step()
