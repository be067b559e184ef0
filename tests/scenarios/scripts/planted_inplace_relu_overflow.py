"""Planted: a float32 overflow in ``fc1`` whose output is then modified IN PLACE by
``ReLU(inplace=True)``. At step 2 one input row is 3e38 everywhere (finite) and fc1's weights
are positive, so the row's dot products exceed float32's max: +inf in fc1's output, which
the in-place ReLU keeps (and which a late look at fc1's output would see rewritten).

Right answer: ("fc1", "output", 2). (Forward-only reference: full backward hooks cannot
coexist with the in-place op.)"""

import torch
from torch import nn

EXPECTED = {"module": "fc1", "site": "output", "step": 2}
ORACLE = "forward"


class Net(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc1 = nn.Linear(16, 16)
        self.act = nn.ReLU(inplace=True)
        self.fc2 = nn.Linear(16, 1)
        with torch.no_grad():
            self.fc1.weight.abs_()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(self.act(self.fc1(x)))


torch.manual_seed(0)
model = Net()
opt = torch.optim.SGD(model.parameters(), lr=1e-4)
for step in range(4):
    x = torch.randn(4, 16)
    if step == 2:
        x[0] = 3.0e38
    loss = model(x).pow(2).mean()
    opt.zero_grad()
    loss.backward()
    opt.step()
