"""What armed tensor breakpoints cost a 2-rank DDP training step (gloo, CPU).

``python benchmarks/bench_ddp.py`` launches itself through ``torch.distributed.run``
(``--nproc-per-node 2 --standalone``: the agent's c10d store, as a real ``torchrun`` job has,
which the ranks runtime uses as its side channel). Each rank trains the nanoGPT-sized
character model of ``bench_breakpoints.py`` (≈0.8M parameters, 38 modules) wrapped in
``DistributedDataParallel``, on its own batch. Variants, interleaved round by round (the
first one rotates) so that machine noise hits them alike, on both ranks at the same step:

  plain    no breakpoints
  armed    ``nonfinite`` on every module's output and grad_output (not hit), as
           ``run --on-hit raise`` arms them; the ranks runtime's watcher thread is running
  doctor   ``doctor``'s whole diagnostic preset in record mode (not hit)

Each variant's time is the median over rounds of the mean step time within a round, on rank
0 (a DDP step waits for the slower rank in its all-reduce, so it times both); ratios are
against ``plain``. Target (issue 15): armed ≤ 1.10×.

    .venv/bin/python benchmarks/bench_ddp.py [--rounds 9] [--steps 10] [--clock wall|cpu]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import torch
import torch.distributed as dist
from torch import nn
from torch.nn.parallel import DistributedDataParallel

sys.path.insert(0, str(Path(__file__).parent))
from bench_breakpoints import SmallGPT
from tensorpeek.cli.doctor import doctor_specs
from tensorpeek.engine import api

ARMED = [
    {"target": "*", "site": "output", "condition": "nonfinite", "action": "raise"},
    {"target": "*", "site": "grad_output", "condition": "nonfinite", "action": "raise"},
]


CLOCK: Callable[[], float] = time.perf_counter  # --clock cpu: time.process_time


def timed_steps(model: nn.Module, opt: torch.optim.Optimizer, x: torch.Tensor, steps: int) -> float:
    start = CLOCK()
    for _ in range(steps):
        out = model(x)  # (B, T, vocab)
        loss = nn.functional.cross_entropy(out[:, :-1].flatten(0, 1), x[:, 1:].flatten())
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    return (CLOCK() - start) / steps


def worker(rounds: int, steps: int) -> None:
    dist.init_process_group("gloo")
    rank = dist.get_rank()
    torch.manual_seed(0)
    model = DistributedDataParallel(SmallGPT())
    opt = torch.optim.SGD(model.parameters(), lr=1e-3)
    gen = torch.Generator().manual_seed(rank)
    x = torch.randint(0, 65, (8, 64), generator=gen)  # (B, T) characters

    def with_specs(specs: list[dict]) -> Callable[[], float]:
        def run() -> float:
            api.set_breakpoints(specs)
            try:
                return timed_steps(model, opt, x, steps)
            finally:
                api.set_breakpoints([])

        return run

    variants: dict[str, Callable[[], float]] = {
        "plain": lambda: timed_steps(model, opt, x, steps),
        "armed": with_specs(ARMED),
        "doctor": with_specs(doctor_specs()),
    }
    for fn in variants.values():  # warm-up: allocator, gloo buffers, first-call paths
        fn()
    samples: dict[str, list[float]] = {name: [] for name in variants}
    names = list(variants)
    for r in range(rounds):
        for name in names[r % len(names) :] + names[: r % len(names)]:
            samples[name].append(variants[name]())
    assert not [h for h in api.hits() if h.condition != "no_gradient"], "a breakpoint was hit"
    if rank == 0:
        plain = statistics.median(samples["plain"])
        threads = torch.get_num_threads()
        clock = "CPU time" if CLOCK is time.process_time else "wall time"
        print(f"2 ranks (gloo, CPU, {threads} thread(s) each), DDP SmallGPT, "
              f"{rounds} rounds x {steps} steps, rank 0's {clock}")  # fmt: skip
        for name in names:
            med = statistics.median(samples[name])
            spread = f"{min(samples[name]) * 1e3:.2f}-{max(samples[name]) * 1e3:.2f}"
            print(f"  {name:7} {med * 1e3:8.2f} ms/step (range {spread})  {med / plain:.3f}x")
    dist.destroy_process_group()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rounds", type=int, default=9)
    parser.add_argument("--steps", type=int, default=10, help="steps per variant per round")
    parser.add_argument(
        "--clock",
        choices=("wall", "cpu"),
        default="wall",
        help="cpu: this process's CPU time (steadier on a loaded machine; all-reduce waits "
        "are not counted, tensorpeek's work is)",
    )
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        global CLOCK
        CLOCK = time.process_time if args.clock == "cpu" else time.perf_counter
        worker(args.rounds, args.steps)
        return
    env = {k: v for k, v in os.environ.items() if not k.startswith("TENSORPEEK_")}
    launcher = [sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", "2"]
    command = [*launcher, "--standalone", __file__, "--worker"]
    command += ["--rounds", str(args.rounds), "--steps", str(args.steps), "--clock", args.clock]
    raise SystemExit(subprocess.run(command, env=env).returncode)


if __name__ == "__main__":
    main()
