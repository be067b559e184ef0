"""What ``tensorpeek.watch`` costs a real training step.

The breakpoint benchmark's model: a CPU ``nn.TransformerEncoder`` (4 layers, d_model 256,
≈3.2M parameters) on a batch of 16 sequences × 128 tokens, SGD. Variants, interleaved round by
round in one process so that machine noise hits them alike:

  plain          no watch (measured twice, "plain-again" shows this run's noise)
  idle           ``watch(model, log=...)`` attached, on a step that does not log
  log-gradients  a step that logs (``log="gradients"``, the default): every parameter's gradient
  log-all        a step that logs ``log="all"``: parameters, gradients, every module's output

A variant's ratio is the median over rounds of its mean step time divided by the same round's
``plain``. A watch at ``log_freq=N`` runs N-1 idle steps and one logging step every N steps,
so its cost per step is ``((N-1) * idle + log) / N``; that ratio to ``plain`` is the figure
the issue bounds (≤ 1.05× at N = 100).

On a busy machine the idle-vs-plain difference drowns in noise (compare ``plain-again``), so
the idle hooks' own cost is also measured where nothing else is: a one-layer model whose step
takes microseconds, plain vs watched, interleaved; that absolute cost is then divided by the
transformer's plain step ("idle bound").

    .venv/bin/python benchmarks/bench_watch.py [--rounds 7] [--steps 2] [--log-freq 100]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import torch
from torch import nn
from torch.utils.tensorboard import SummaryWriter

import tensorpeek


def make_model() -> nn.Module:
    layer = nn.TransformerEncoderLayer(
        d_model=256, nhead=4, dim_feedforward=1024, dropout=0.0, batch_first=True
    )
    return nn.TransformerEncoder(layer, num_layers=4, enable_nested_tensor=False)


def one_step(model: nn.Module, opt: torch.optim.Optimizer, x: torch.Tensor) -> None:
    loss = model(x).pow(2).mean()  # (16, 128, 256) -> ()
    opt.zero_grad(set_to_none=True)
    loss.backward()
    opt.step()


def timed(
    model: nn.Module, opt: torch.optim.Optimizer, x: torch.Tensor, steps: int
) -> tuple[float, float]:
    """(wall, CPU) seconds per step. CPU time (all threads of this process) is the steadier
    figure on a machine shared with other work; wall time is what a user waits."""
    wall, cpu = time.perf_counter(), time.process_time()
    for _ in range(steps):
        one_step(model, opt, x)
    return (time.perf_counter() - wall) / steps, (time.process_time() - cpu) / steps


def hook_cost_us(rounds: int, steps: int = 2000) -> float:
    """Median extra microseconds per step that an idle watch adds (tiny model: noise-free)."""
    tiny = nn.Linear(4, 4)
    opt = torch.optim.SGD(tiny.parameters(), lr=0.0)
    x = torch.randn(2, 4)
    out = Path(tempfile.mkdtemp(prefix="bench-watch-tiny-"))
    deltas = []
    for _ in range(rounds):
        plain_s = timed(tiny, opt, x, steps)[1]
        handle = tensorpeek.watch(tiny, log_freq=10**9, log_dir=out, tensorboard=False)
        one_step(tiny, opt, x)  # step 0 logs
        watched_s = timed(tiny, opt, x, steps)[1]
        handle.remove()
        deltas.append((watched_s - plain_s) * 1e6)
    return statistics.median(deltas)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--steps", type=int, default=2, help="timed steps per variant per round")
    parser.add_argument("--log-freq", type=int, default=100)
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: default)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)

    torch.manual_seed(0)
    model = make_model()
    opt = torch.optim.SGD(model.parameters(), lr=1e-4)
    x = torch.randn(16, 128, 256)  # (B, T, C)
    n_params = sum(p.numel() for p in model.parameters())
    n_modules = sum(1 for _ in model.modules())
    out = Path(tempfile.mkdtemp(prefix="bench-watch-"))
    writer = SummaryWriter(log_dir=str(out))  # one event file for all rounds

    def plain() -> tuple[float, float]:
        return timed(model, opt, x, args.steps)

    def idle() -> tuple[float, float]:
        handle = tensorpeek.watch(model, "gradients", log_freq=10**9, log_dir=out, writer=writer)
        one_step(model, opt, x)  # step 0 logs ...
        one_step(model, opt, x)  # ... and its gradient records are written at the next forward
        # the timed steps below neither log nor write
        try:
            return timed(model, opt, x, args.steps)
        finally:
            handle.remove()

    def logging(log: str) -> Callable[[], tuple[float, float]]:
        def run() -> tuple[float, float]:
            handle = tensorpeek.watch(model, log, log_freq=1, log_dir=out, writer=writer)
            try:
                return timed(model, opt, x, args.steps)
            finally:
                handle.remove()

        return run

    variants: dict[str, Callable[[], tuple[float, float]]] = {
        "plain": plain,
        "plain-again": plain,  # a second plain series: the noise floor of this run
        "idle": idle,
        "log-gradients": logging("gradients"),
        "log-all": logging("all"),
    }
    for fn in variants.values():  # warm-up (allocator, first-call costs)
        fn()
    times: dict[str, list[tuple[float, float]]] = {k: [] for k in variants}
    names = list(variants)
    for r in range(args.rounds):  # rotate the order so no variant always follows another
        for name in names[r % len(names) :] + names[: r % len(names)]:
            times[name].append(variants[name]())
    writer.close()

    print(
        f"TransformerEncoder: {n_params / 1e6:.2f}M parameters, {n_modules} modules, "
        f"batch 16×128×256, torch {torch.__version__}, {torch.get_num_threads()} threads"
    )
    print(f"{args.rounds} rounds × {args.steps} steps per variant, interleaved, rotating order")
    print("ratio = median over rounds of (variant / that round's plain); ms = median per step")
    n = args.log_freq
    for i, clock in enumerate(("wall", "cpu")):
        ms = {k: statistics.median(t[i] for t in v) * 1e3 for k, v in times.items()}
        ratio = {
            k: statistics.median(t[i] / p[i] for t, p in zip(v, times["plain"], strict=True))
            for k, v in times.items()
        }
        print(f"\n{clock} time   {'ms/step':>10}{'× plain':>10}")
        for name in variants:
            print(f"{name:<15}{ms[name]:>10.1f}{ratio[name]:>10.3f}")
        for log in ("gradients", "all"):
            amortized = ((n - 1) * ratio["idle"] + ratio[f"log-{log}"]) / n
            print(
                f"watch(log={log!r}, log_freq={n}): {amortized:.3f}× plain "
                f"({clock}; target ≤ 1.05×)"
            )
        if clock == "cpu":
            cost = hook_cost_us(args.rounds)
            plain_us = ms["plain"] * 1e3
            for log in ("gradients", "all"):
                bound = ((n - 1) * (1 + cost / plain_us) + ratio[f"log-{log}"]) / n
                print(
                    f"idle bound: hooks cost {cost:.1f} µs/step = {cost / plain_us:.5f} of a plain "
                    f"step; watch(log={log!r}, log_freq={n}) ≈ {bound:.3f}× plain"
                )


if __name__ == "__main__":
    main()
