"""What armed tensor breakpoints cost a real training step.

A CPU ``nn.TransformerEncoder`` (4 layers, d_model 256, ≈3.2M parameters) trains on a batch of
16 sequences × 128 tokens. Variants, interleaved round by round in one process so that machine
noise hits them alike:

  plain          no breakpoints
  armed          ``nonfinite`` on every module's output and grad_output (not hit)
  anomaly        ``torch.autograd.detect_anomaly()`` around the step, for comparison
  removed        the same breakpoints armed and then removed before the step

Each variant's time is the median over rounds of the mean step time within a round; ratios
are against ``plain``. Targets (issue 3): armed ≤ 1.10×, removed ≤ 1.01×.

    .venv/bin/python benchmarks/bench_breakpoints.py [--rounds 9] [--steps 3] [--device cuda]

On CUDA the armed checks are deferred (flags accumulate on the device, read once at
``optimizer.step()``); the script then also counts host syncs per step with
``torch.cuda.set_sync_debug_mode``. Not measured yet: no GPU was available when it was written.
"""

from __future__ import annotations

import argparse
import statistics
import time
import warnings
from collections.abc import Callable

import torch
from torch import nn

import tensorpeek
from tensorpeek.engine import api


def make_model() -> nn.Module:
    layer = nn.TransformerEncoderLayer(
        d_model=256, nhead=4, dim_feedforward=1024, dropout=0.0, batch_first=True
    )
    return nn.TransformerEncoder(layer, num_layers=4, enable_nested_tensor=False)


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def timed_steps(model: nn.Module, opt: torch.optim.Optimizer, x: torch.Tensor, steps: int) -> float:
    synchronize(x.device)
    start = time.perf_counter()
    for _ in range(steps):
        loss = model(x).pow(2).mean()  # (16, 128, 256) -> ()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    synchronize(x.device)
    return (time.perf_counter() - start) / steps


def count_host_syncs(model: nn.Module, opt: torch.optim.Optimizer, x: torch.Tensor) -> int:
    """Synchronizing CUDA calls in one armed step (``set_sync_debug_mode`` warns on each)."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        torch.cuda.set_sync_debug_mode("warn")
        try:
            timed_steps(model, opt, x, 1)
        finally:
            torch.cuda.set_sync_debug_mode("default")
    return sum("synchroniz" in str(w.message) for w in caught)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rounds", type=int, default=9)
    parser.add_argument("--steps", type=int, default=3, help="training steps per variant per round")
    parser.add_argument("--device", default="cpu", help="cpu (the issue's target) or cuda")
    args = parser.parse_args()

    torch.manual_seed(0)
    device = torch.device(args.device)
    model = make_model().to(device)
    opt = torch.optim.SGD(model.parameters(), lr=1e-3)
    x = torch.randn(16, 128, 256, device=device)  # (B, T, C)
    n_params = sum(p.numel() for p in model.parameters())
    n_modules = sum(1 for _ in model.modules())

    def plain() -> float:
        return timed_steps(model, opt, x, args.steps)

    def armed() -> float:
        bps = [tensorpeek.break_on("*", "output", "nonfinite", action="raise"),
               tensorpeek.break_on("*", "grad_output", "nonfinite", action="raise")]  # fmt: skip
        try:
            return timed_steps(model, opt, x, args.steps)
        finally:
            for bp in bps:
                bp.remove()

    def anomaly() -> float:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # "Anomaly Detection has been enabled" every round
            with torch.autograd.detect_anomaly(check_nan=True):
                return timed_steps(model, opt, x, args.steps)

    def removed() -> float:
        bps = [
            tensorpeek.break_on("*", "output", action="raise"),
            tensorpeek.break_on("*", "grad_output", action="raise"),
        ]
        timed_steps(model, opt, x, 1)  # let the hooks register everything they would
        for bp in bps:
            bp.remove()
        return timed_steps(model, opt, x, args.steps)

    variants: dict[str, Callable[[], float]] = {
        "plain": plain,
        "armed": armed,
        "anomaly": anomaly,
        "removed": removed,
    }
    for fn in variants.values():  # warm-up: allocator, thread pools, first-call paths
        fn()
    samples: dict[str, list[float]] = {name: [] for name in variants}
    names = list(variants)
    for r in range(args.rounds):
        order = names[r % len(names) :] + names[: r % len(names)]  # rotate who goes first
        for name in order:
            samples[name].append(variants[name]())
    assert api.hits() == [] and api.list_breakpoints() == []
    if device.type == "cuda":  # deferred checks: flags stay on the device until step()
        plain_syncs = count_host_syncs(model, opt, x)
        bps = [tensorpeek.break_on("*", site, action="raise") for site in ("output", "grad_output")]
        armed_syncs = count_host_syncs(model, opt, x)
        for bp in bps:
            bp.remove()
        print(f"host syncs per step: plain {plain_syncs}, armed {armed_syncs} (deferred flush: 1)")

    base = statistics.median(samples["plain"])
    best_base = min(samples["plain"])
    threads = torch.get_num_threads()
    print(f"TransformerEncoder: {n_params / 1e6:.2f}M params, {n_modules} modules, batch 16x128, "
          f"{threads} threads, {args.rounds} rounds x {args.steps} steps")  # fmt: skip
    # on a shared machine the best round is the least disturbed one: shown beside the median
    print(
        f"{'variant':<10} {'median ms/step':>15} {'ratio':>7} {'best ms':>8} {'ratio':>7}  (rounds)"
    )
    for name in names:
        med, best = statistics.median(samples[name]), min(samples[name])
        rounds = " ".join(f"{v * 1e3:.0f}" for v in samples[name])
        print(
            f"{name:<10} {med * 1e3:>15.1f} {med / base:>6.3f}x {best * 1e3:>8.1f} "
            f"{best / best_base:>6.3f}x   ({rounds})"
        )


if __name__ == "__main__":
    main()
