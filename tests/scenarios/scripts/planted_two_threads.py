"""Planted: two models train at the same time on two threads, each with its own optimizer.
Model A's whole forward runs while model B's forward is open on the other thread: B's
``body.1`` module (``Meet``) waits on a barrier twice, and A runs its forward between the two
waits; B's forward then goes on. Both threads take one optimizer step per iteration, after
both forwards returned, A's backward and step before B's. Model
A's modules are ``enc.*``, B's ``body.*``. At iteration 2 B's ``body.2`` (a Whiten without
epsilon, called AFTER A's forward ran) gets identical rows: 0/0 = NaN.

Right answer: ("body.2", "output", 2): B's path, named from B's root (a root shared by the
threads would be A's by then)."""

import threading

import torch
from torch import nn

EXPECTED = {"module": "body.2", "site": "output", "step": 2}
ORACLE = "full"

meet = threading.Barrier(2, timeout=10)
done = threading.Barrier(2, timeout=10)  # both forwards returned: the optimizers may step
turn = threading.Barrier(2, timeout=10)


class Meet(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        meet.wait()  # A may start its forward
        meet.wait()  # A's forward has returned
        return x


class Whiten(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x - x.mean(0)) / x.std(0)


class ModelA(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.enc = nn.Sequential(nn.Linear(4, 8), nn.Tanh(), nn.Linear(8, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.enc(x)


class ModelB(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.body = nn.Sequential(nn.Linear(4, 4), Meet(), Whiten(), nn.Linear(4, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)


def train(model: nn.Module, batches: list[torch.Tensor], is_a: bool) -> None:
    opt = torch.optim.SGD(model.parameters(), lr=1e-2)
    try:
        for x in batches:
            if is_a:
                meet.wait()
            loss = model(x).pow(2).mean()
            if is_a:
                meet.wait()
            done.wait()
            if not is_a:
                turn.wait()  # A's backward and step first, then B's: one backward at a time
            opt.zero_grad()
            loss.backward()
            opt.step()
            if is_a:
                turn.wait()
    except threading.BrokenBarrierError:
        return  # the other thread ended early
    finally:
        meet.abort()
        done.abort()
        turn.abort()


torch.manual_seed(0)
data_a = [torch.randn(6, 4) for _ in range(4)]
data_b = [torch.randn(6, 4) for _ in range(4)]
data_b[2] = torch.ones(6, 4)
threads = [
    threading.Thread(target=train, args=(ModelA(), data_a, True)),
    threading.Thread(target=train, args=(ModelB(), data_b, False)),
]
for t in threads:
    t.start()
for t in threads:
    t.join()
