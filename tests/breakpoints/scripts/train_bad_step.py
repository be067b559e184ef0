"""A real little training run that goes bad at one step, for the debugger tests.

``TP_SCENARIO=forward``: at step ``TP_BAD_STEP`` the module ``scale`` multiplies by inf, so its
output is the origin of the non-finite values. ``TP_SCENARIO=backward``: at that step ``bomb``
(identity forward) turns the gradient it passes back into inf, so the first non-finite gradient
is fc1's grad_output. ``TP_THREAD=1`` trains on a worker thread. The loop skips
``optimizer.step()`` on a non-finite loss, like a grad scaler, so the following steps are
clean again. No tensorpeek import: breakpoints come from
``TENSORPEEK_BREAKPOINTS`` only.
"""

import os

import torch
from torch import nn

SCENARIO = os.environ.get("TP_SCENARIO", "forward")
BAD_STEP = int(os.environ.get("TP_BAD_STEP", "3"))
STEPS = 6


class _InfGrad(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x):  # type: ignore[no-untyped-def]
        return x.clone()

    @staticmethod
    def backward(ctx, grad):  # type: ignore[no-untyped-def]
        return grad * float("inf")


class Scale(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.calls = 0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.calls += 1
        bad = SCENARIO == "forward" and self.calls == BAD_STEP + 1
        return x * (float("inf") if bad else 1.0)


class Bomb(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.calls = 0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.calls += 1
        bad = SCENARIO == "backward" and self.calls == BAD_STEP + 1
        return _InfGrad.apply(x) if bad else x


class Net(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc1 = nn.Linear(4, 8)
        self.bomb = Bomb()
        self.act = nn.Tanh()
        self.scale = Scale()
        self.fc2 = nn.Linear(8, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(self.scale(self.act(self.bomb(self.fc1(x)))))


def main() -> None:
    torch.manual_seed(0)
    model = Net()
    opt = torch.optim.SGD(model.parameters(), lr=0.05)
    for step in range(STEPS):
        x = torch.randn(8, 4)
        loss = ((model(x) - x.sum(1, keepdim=True)) ** 2).mean()
        opt.zero_grad()
        loss.backward()
        if torch.isfinite(loss) and all(torch.isfinite(p.grad).all() for p in model.parameters()):
            opt.step()
        print(f"step {step} loss {loss.item():.4f}", flush=True)
    print("training finished", flush=True)


if __name__ == "__main__":
    if os.environ.get("TP_THREAD"):  # train on a worker thread (hooks then run off the main thread)
        import threading

        worker = threading.Thread(target=main, name="trainer")
        worker.start()
        worker.join()
    else:
        main()
