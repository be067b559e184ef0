"""What armed tensor breakpoints cost a real training step.

A CPU ``nn.TransformerEncoder`` (4 layers, d_model 256, ≈3.2M parameters) trains on a batch of
16 sequences × 128 tokens. Variants, interleaved round by round in one process so that machine
noise hits them alike:

  plain          no breakpoints
  armed          ``nonfinite`` on every module's output and grad_output (not hit)
  anomaly        ``torch.autograd.detect_anomaly()`` around the step, for comparison
  removed        the same breakpoints armed and then removed before the step

and, with ``--variants`` only, the armed cost by parts (each beside plain in the same rounds):

  output         ``nonfinite`` on every module's output only
  grad_output    ``nonfinite`` on every module's grad_output only
  nomatch        a breakpoint on a module name that matches nothing: the global hooks, step
                 counting and the training capture, no tensor read
  nocapture      ``armed`` with the training capture (loss, lr, gradient norm, update ratios
                 at ``optimizer.step()``) switched off
  ctypes         ``armed`` with the screen's ``native.sumsq`` called through ctypes
                 (``_sumsq_ctypes``) instead of the ``_screen`` extension module

Each variant's time is the median over rounds of the mean step time within a round; ratios
are against ``plain``. The ``paired`` column, the one the targets are read from, is the median
over rounds of each round's ratio to the ``plain`` run measured beside it: a slow spell of a
shared machine slows both and divides out. Targets (issues 3 and 14): armed ≤ 1.03× on the
transformer and ≤ 1.10× on the small model, removed ≤ 1.01×. The small model is a
nanoGPT-sized character model (≈0.8M parameters, many small modules, a step of ~10-25 ms on
CPU), where fixed per-module costs show; the cost per armed module per step is printed in µs,
and so are the Python and C calls of one plain and one armed step (``sys.setprofile``): a count
that noise cannot blur, the fixed cost per module that dominates short steps.

    .venv/bin/python benchmarks/bench_breakpoints.py [--rounds 9] [--only small] [--device cuda]
        [--clock cpu --threads 1] [--variants armed] [--steps 10]

On a shared machine use ``--clock cpu --threads 1`` (CPU time of this process, which other
processes disturb far less) and many rounds: identical runs still differ by a few percent.

On CUDA the armed checks are deferred (flags accumulate on the device, read once at
``optimizer.step()``); the script then also counts host syncs per step with
``torch.cuda.set_sync_debug_mode``. Not measured yet: no GPU was available when it was written.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
import warnings
from collections.abc import Callable
from typing import Any

import torch
from torch import nn

import tensorpeek
from tensorpeek.engine import api
from tensorpeek.summary import native
from tensorpeek.training.capture import CAPTURE


class Block(nn.Module):
    """One nanoGPT block: pre-norm causal self-attention and an MLP, each a residual."""

    def __init__(self, d: int, heads: int) -> None:
        super().__init__()
        self.ln_1 = nn.LayerNorm(d)
        self.c_attn = nn.Linear(d, 3 * d)
        self.c_proj = nn.Linear(d, d)
        self.ln_2 = nn.LayerNorm(d)
        self.c_fc = nn.Linear(d, 4 * d)
        self.gelu = nn.GELU()
        self.mlp_proj = nn.Linear(4 * d, d)
        self.heads = heads

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, T, C)
        b, t, c = x.shape
        q, k, v = self.c_attn(self.ln_1(x)).split(c, dim=2)
        q, k, v = (z.view(b, t, self.heads, c // self.heads).transpose(1, 2) for z in (q, k, v))
        y = nn.functional.scaled_dot_product_attention(q, k, v, is_causal=True)  # (B, H, T, hs)
        x = x + self.c_proj(y.transpose(1, 2).reshape(b, t, c))
        return x + self.mlp_proj(self.gelu(self.c_fc(self.ln_2(x))))


class SmallGPT(nn.Module):
    """A nanoGPT-sized character model: many small modules, a short step."""

    def __init__(self, vocab: int = 65, d: int = 128, layers: int = 4, heads: int = 4) -> None:
        super().__init__()
        self.wte = nn.Embedding(vocab, d)
        self.wpe = nn.Embedding(256, d)
        self.blocks = nn.ModuleList(Block(d, heads) for _ in range(layers))
        self.ln_f = nn.LayerNorm(d)
        self.lm_head = nn.Linear(d, vocab, bias=False)

    def forward(self, idx: torch.Tensor) -> torch.Tensor:  # (B, T) -> (B, T, vocab)
        x = self.wte(idx) + self.wpe(torch.arange(idx.shape[1], device=idx.device))
        for block in self.blocks:
            x = block(x)
        return self.lm_head(self.ln_f(x))


def make_model() -> nn.Module:
    layer = nn.TransformerEncoderLayer(
        d_model=256, nhead=4, dim_feedforward=1024, dropout=0.0, batch_first=True
    )
    return nn.TransformerEncoder(layer, num_layers=4, enable_nested_tensor=False)


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def loss_of(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    out = model(x)
    if x.dtype == torch.long:  # the language model: next-character cross entropy
        return nn.functional.cross_entropy(out[:, :-1].flatten(0, 1), x[:, 1:].flatten())
    return out.pow(2).mean()  # (16, 128, 256) -> ()


CLOCK: Callable[[], float] = time.perf_counter  # --clock cpu: time.process_time
DEFAULT_VARIANTS = ("armed", "anomaly", "removed")
PARTS = ("output", "grad_output", "nomatch", "nocapture", "ctypes")  # --variants only


def timed_steps(model: nn.Module, opt: torch.optim.Optimizer, x: torch.Tensor, steps: int) -> float:
    synchronize(x.device)
    start = CLOCK()
    for _ in range(steps):
        loss = loss_of(model, x)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    synchronize(x.device)
    return (CLOCK() - start) / steps


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


def calls_per_step(model: nn.Module, opt: torch.optim.Optimizer, x: torch.Tensor) -> int:
    """Python and C function calls in one step (``sys.setprofile``): a count, not a time, so
    machine noise cannot blur it; the armed step's excess over the plain one is tensorpeek's
    fixed cost per module, the part that dominates short steps."""
    count = [0]

    def profile(_frame: object, event: str, _arg: object) -> None:
        if event in ("call", "c_call"):
            count[0] += 1

    timed_steps(model, opt, x, 2)  # first-call paths (table building, hook registration) out
    counts = []
    for _ in range(5):  # the median step: every 10th also copies parameters (update ratios)
        count[0] = 0
        sys.setprofile(profile)
        try:
            timed_steps(model, opt, x, 1)
        finally:
            sys.setprofile(None)
        counts.append(count[0])
    return int(statistics.median(counts))


def count_calls(model: nn.Module, x: torch.Tensor) -> tuple[int, int]:
    """(calls in a plain step, calls in an armed step)."""
    opt = torch.optim.SGD(model.parameters(), lr=1e-3)
    plain = calls_per_step(model, opt, x)
    bps = [
        tensorpeek.break_on("*", s, "nonfinite", action="raise") for s in ("output", "grad_output")
    ]
    try:
        armed = calls_per_step(model, opt, x)
    finally:
        for bp in bps:
            bp.remove()
    return plain, armed


def workloads(device: torch.device) -> dict[str, tuple[nn.Module, torch.Tensor, int]]:
    """name -> (model, batch, steps per variant per round)."""
    gen = torch.Generator().manual_seed(0)
    chars = torch.randint(0, 65, (8, 64), generator=gen).to(device)  # (B, T)
    return {
        "transformer": (make_model().to(device), torch.randn(16, 128, 256, device=device), 3),
        "small": (SmallGPT().to(device), chars, 20),
    }


def measure(
    model: nn.Module, x: torch.Tensor, steps: int, rounds: int, only: tuple[str, ...] = ()
) -> dict[str, list[float]]:
    opt = torch.optim.SGD(model.parameters(), lr=1e-3)

    def plain() -> float:
        return timed_steps(model, opt, x, steps)

    def armed() -> float:
        bps = [tensorpeek.break_on("*", "output", "nonfinite", action="raise"),
               tensorpeek.break_on("*", "grad_output", "nonfinite", action="raise")]  # fmt: skip
        try:
            return timed_steps(model, opt, x, steps)
        finally:
            for bp in bps:
                bp.remove()

    def armed_at(
        *sites: str, module: str = "*", capture: bool = True, screen: Any = None
    ) -> Callable[[], float]:
        def run() -> float:
            chosen = native.sumsq
            if screen is not None:
                native.sumsq = screen
            if not capture:
                CAPTURE.uninstall()
            with warnings.catch_warnings():  # nomatch: "matches no module of SmallGPT"
                warnings.simplefilter("ignore", RuntimeWarning)
                bps = [tensorpeek.break_on(module, s, "nonfinite", action="raise") for s in sites]
                try:
                    return timed_steps(model, opt, x, steps)
                finally:
                    for bp in bps:
                        bp.remove()
                    if not capture:
                        CAPTURE.install()
                    native.sumsq = chosen

        return run

    def anomaly() -> float:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # "Anomaly Detection has been enabled" every round
            with torch.autograd.detect_anomaly(check_nan=True):
                return timed_steps(model, opt, x, steps)

    def removed() -> float:
        bps = [
            tensorpeek.break_on("*", "output", action="raise"),
            tensorpeek.break_on("*", "grad_output", action="raise"),
        ]
        timed_steps(model, opt, x, 1)  # let the hooks register everything they would
        for bp in bps:
            bp.remove()
        return timed_steps(model, opt, x, steps)

    variants: dict[str, Callable[[], float]] = {
        "plain": plain,
        "armed": armed,
        "anomaly": anomaly,
        "removed": removed,
        "output": armed_at("output"),
        "grad_output": armed_at("grad_output"),
        "nomatch": armed_at("output", module="no_such_module"),
        "nocapture": armed_at("output", "grad_output", capture=False),
        "ctypes": armed_at("output", "grad_output", screen=native._sumsq_ctypes),
    }
    # plain is always measured: every ratio is against it; the parts only when asked for
    wanted = only or DEFAULT_VARIANTS
    variants = {name: fn for name, fn in variants.items() if name == "plain" or name in wanted}
    for fn in variants.values():  # warm-up: allocator, thread pools, first-call paths
        fn()
    samples: dict[str, list[float]] = {name: [] for name in variants}
    names = list(variants)
    for r in range(rounds):
        order = names[r % len(names) :] + names[: r % len(names)]  # rotate who goes first
        for name in order:
            samples[name].append(variants[name]())
    assert api.hits() == [] and api.list_breakpoints() == []
    if x.device.type == "cuda":  # deferred checks: flags stay on the device until step()
        plain_syncs = count_host_syncs(model, opt, x)
        bps = [tensorpeek.break_on("*", site, action="raise") for site in ("output", "grad_output")]
        armed_syncs = count_host_syncs(model, opt, x)
        for bp in bps:
            bp.remove()
        print(f"host syncs per step: plain {plain_syncs}, armed {armed_syncs} (deferred flush: 1)")
    return samples


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rounds", type=int, default=9)
    parser.add_argument("--device", default="cpu", help="cpu (the issue's target) or cuda")
    parser.add_argument("--only", default="", help="one workload: transformer or small")
    parser.add_argument(
        "--clock",
        choices=("wall", "cpu"),
        default="wall",
        help="wall: perf_counter; cpu: this process's CPU time (all threads), which other "
        "processes on a crowded machine disturb far less (use with --threads 1: idle OpenMP "
        "threads spin and count as CPU time)",
    )
    parser.add_argument("--threads", type=int, default=0, help="torch.set_num_threads (0: keep)")
    parser.add_argument(
        "--variants",
        default="",
        help="comma-separated variants besides plain (armed,anomaly,removed by default; the "
        "armed cost by parts: output,grad_output,nomatch,nocapture,ctypes): fewer variants, more "
        "rounds in the same time",
    )
    parser.add_argument(
        "--steps", type=int, default=0, help="steps per variant per round (0: the workload's)"
    )
    args = parser.parse_args()
    global CLOCK
    if args.clock == "cpu":
        CLOCK = time.process_time
    if args.threads > 0:
        torch.set_num_threads(args.threads)

    torch.manual_seed(0)
    device = torch.device(args.device)
    threads = torch.get_num_threads()
    for name, (model, x, steps) in workloads(device).items():
        if args.only and name != args.only:
            continue
        steps = args.steps or steps
        only = tuple(v for v in args.variants.split(",") if v)
        unknown = set(only) - {*DEFAULT_VARIANTS, *PARTS}
        if unknown:
            parser.error(f"unknown variants: {', '.join(sorted(unknown))}")
        samples = measure(model, x, steps, args.rounds, only)
        n_params = sum(p.numel() for p in model.parameters())
        n_modules = sum(1 for _ in model.modules())
        base = statistics.median(samples["plain"])
        best_base = min(samples["plain"])
        print(f"\n{name} ({type(model).__name__}): {n_params / 1e6:.2f}M params, {n_modules} "
              f"modules, batch {tuple(x.shape)}, {threads} threads, {args.rounds} rounds x "
              f"{steps} steps, {args.clock} clock")  # fmt: skip
        # on a shared machine the best round is the least disturbed one: shown beside the median
        # paired: the median of each round's ratio to that round's plain run (measured
        # side by side, so a slow spell of the machine divides out); the target's figure
        print(
            f"{'variant':<11} {'paired':>7} {'median ms/step':>15} {'ratio':>7} {'best ms':>8} "
            f"{'ratio':>7}  (rounds)"
        )
        for variant, values in samples.items():
            med, best = statistics.median(values), min(values)
            paired = statistics.median(v / p for v, p in zip(values, samples["plain"], strict=True))
            rounds = " ".join(f"{v * 1e3:.1f}" for v in values)
            print(
                f"{variant:<11} {paired:>6.3f}x {med * 1e3:>15.2f} {med / base:>6.3f}x "
                f"{best * 1e3:>8.2f} {best / best_base:>6.3f}x   ({rounds})"
            )
        if "armed" in samples:
            paired_armed = statistics.median(
                a / p for a, p in zip(samples["armed"], samples["plain"], strict=True)
            )
            per_module = (paired_armed - 1) * base / n_modules * 1e6
            print(f"armed cost per module per step: {per_module:.1f} us "
                  "(output + grad_output checked at every module)")  # fmt: skip
            plain_calls, armed_calls = count_calls(model, x)
            print(f"calls per step (sys.setprofile): plain {plain_calls}, armed {armed_calls}, "
                  f"{(armed_calls - plain_calls) / n_modules:.0f} more per module")  # fmt: skip


if __name__ == "__main__":
    main()
