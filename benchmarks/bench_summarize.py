"""How fast and how lean is ``tensorpeek.summarize``, measured against the one-pass floor
(``x.sum()``) and lovely-tensors' ``str(lovely(x))``, all in one run.

    .venv/bin/python benchmarks/bench_summarize.py            # 1M, 10M, 50M f32, 50M bf16, 50M relu
    .venv/bin/python benchmarks/bench_summarize.py --sizes 1e6 --repeats 5

Timings interleave the contenders in every repeat (so a noisy neighbour hurts all alike)
and report medians. Peak extra memory is the resident-set high-water mark of a fresh
subprocess before and after one ``summarize`` of a tensor that was built in place (so that
building it left no higher mark). Targets (issue 2) at 50M elements: summarize <= 8x the
sum, >= 20x faster than lovely-tensors, extra memory <= 10% of the tensor's bytes. The
``torch path`` column is ``summarize`` with the fused C kernel switched off (what users
without a C compiler get; ``tensorpeek.summary.native``), timed in the same interleaved rounds. The
``relu`` row (float32 activations after a ReLU, half exact zeros) is not a target: it shows
the cost of counting zeros on data that has them. The ``strided`` rows (issue 14) time a
column-sliced view ``base[:, :1000]`` of a 2-D float32 ``base`` with 2000 columns against
the same values stored contiguously, interleaved in the same rounds; target: the view in
<= 2x the contiguous time.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable

import torch

from tensorpeek import summarize
from tensorpeek.summary import native

DTYPES = {"f32": torch.float32, "bf16": torch.bfloat16, "f16": torch.float16, "relu": torch.float32}


def make_tensor(n: int, kind: str, seed: int = 0) -> torch.Tensor:
    """Normal samples built slice by slice, so no temporary is larger than 1M elements;
    ``relu``: float32 activations after a ReLU (half of them exact zeros)."""
    x = torch.empty(n, dtype=DTYPES[kind])
    g = torch.Generator().manual_seed(seed)
    step = 1 << 20
    for start in range(0, n, step):
        x[start : start + step].normal_(generator=g)
        if kind == "relu":
            x[start : start + step].clamp_(min=0.0)
    return x


def summarize_on_torch_path(x: torch.Tensor) -> object:
    """``summarize`` as it runs where the fused kernel was not built."""
    can_read = native.can_read
    native.can_read = lambda t: False  # type: ignore[assignment]
    try:
        return summarize(x)
    finally:
        native.can_read = can_read  # type: ignore[assignment]


CLOCK: Callable[[], float] = time.perf_counter  # --clock cpu: time.process_time


def timed(fn: Callable[[], object]) -> float:
    t0 = CLOCK()
    fn()
    return CLOCK() - t0


def lovely_or_none() -> Callable[[object], object] | None:
    """lovely-tensors' ``lovely`` (an optional comparator: ``pip install -e '.[dev]'``)."""
    try:
        from lovely_tensors import lovely
    except ImportError:
        return None
    return lovely  # type: ignore[no-any-return]


def bench_speed(n: int, dtype_name: str, repeats: int, lovely_repeats: int) -> dict[str, float]:
    x = make_tensor(n, dtype_name)
    contenders: dict[str, Callable[[], object]] = {
        "sum": lambda: x.sum(),
        "summarize": lambda: summarize(x),
        "quick": lambda: summarize(x, mode="quick"),
        "torch_path": lambda: summarize_on_torch_path(x),
    }
    lovely = lovely_or_none()
    if lovely is not None:
        contenders["lovely"] = lambda: str(lovely(x))
    for fn in contenders.values():  # warm-up: first calls pay for imports and allocator growth
        fn()
    times: dict[str, list[float]] = {k: [] for k in contenders}
    for r in range(repeats):
        for name, fn in contenders.items():
            if name == "lovely" and r >= lovely_repeats:
                continue
            times[name].append(timed(fn))
    return {k: statistics.median(v) for k, v in times.items()}


STRIDED_COLS = 1000  # the view's columns; its base has twice as many


def bench_strided(n: int, repeats: int) -> dict[str, float]:
    """Medians of ``summarize`` of a column slice and of its contiguous copy (the same
    values), on the kernel and on the torch path, all interleaved in every repeat."""
    rows = max(1, n // STRIDED_COLS)
    base = torch.empty(rows, 2 * STRIDED_COLS)
    g = torch.Generator().manual_seed(0)
    for start in range(0, rows, 1024):  # (no temporary larger than a few MB)
        base[start : start + 1024].normal_(generator=g)
    view = base[:, :STRIDED_COLS]  # (rows, 1000), row stride 2000
    dense = view.contiguous()
    contenders: dict[str, Callable[[], object]] = {
        "view": lambda: summarize(view),
        "contiguous": lambda: summarize(dense),
        "view_torch": lambda: summarize_on_torch_path(view),
        "contiguous_torch": lambda: summarize_on_torch_path(dense),
    }
    for fn in contenders.values():
        fn()
    times: dict[str, list[float]] = {k: [] for k in contenders}
    for _ in range(repeats):
        for name, fn in contenders.items():
            times[name].append(timed(fn))
    return {k: statistics.median(v) for k, v in times.items()}


def measure_memory(n: int, dtype_name: str) -> dict[str, float]:
    """Run :func:`_memory_child` in a fresh interpreter and read its JSON line."""
    code = (
        "import sys; sys.path.insert(0, 'benchmarks');"
        f"from bench_summarize import _memory_child; _memory_child({n}, {dtype_name!r})"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=600, check=True
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def _memory_child(n: int, dtype_name: str) -> None:
    import gc
    import resource

    summarize(make_tensor(1 << 12, dtype_name, seed=1))  # load code, not much memory
    x = make_tensor(n, dtype_name)
    gc.collect()
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    summarize(x)
    after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    tensor_bytes = x.numel() * x.element_size()
    extra = after - before
    print(json.dumps({"tensor_bytes": tensor_bytes, "extra_bytes": extra}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="1e6,1e7,5e7", help="f32 sizes, comma-separated")
    parser.add_argument("--bf16-sizes", default="5e7", help="bf16 sizes ('' for none)")
    parser.add_argument(
        "--relu-sizes", default="5e7", help="float32 ReLU output sizes ('' for none)"
    )
    parser.add_argument(
        "--strided-sizes", default="5e7", help="column-sliced float32 view sizes ('' for none)"
    )
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--lovely-repeats", type=int, default=3, help="lovely is slow")
    parser.add_argument("--no-memory", action="store_true")
    parser.add_argument(
        "--threads", type=int, default=0, help="torch intra-op threads (0: default)"
    )
    parser.add_argument(
        "--clock",
        choices=("wall", "cpu"),
        default="wall",
        help="wall: perf_counter; cpu: this process's CPU time (all threads: the kernel's and "
        "torch's), which other processes on a crowded machine disturb far less",
    )
    args = parser.parse_args()
    global CLOCK
    if args.clock == "cpu":
        CLOCK = time.process_time
    if args.threads:
        torch.set_num_threads(args.threads)
    runs = [("f32", int(float(s))) for s in args.sizes.split(",") if s]
    runs += [("bf16", int(float(s))) for s in args.bf16_sizes.split(",") if s]
    runs += [("relu", int(float(s))) for s in args.relu_sizes.split(",") if s]

    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, {args.clock} clock; "
          f"medians of {args.repeats} interleaved repeats (lovely: {args.lovely_repeats}); "
          f"{native.status()}")  # fmt: skip
    if lovely_or_none() is None:
        print("note: lovely-tensors is not installed, so its columns are empty "
              "(pip install -e '.[dev]' adds it)")  # fmt: skip
    _print_load("start")
    header = (
        f"{'tensor':>12} {'x.sum()':>9} {'summarize':>10} {'/sum':>6} {'quick':>8} "
        f"{'lovely':>9} {'lovely/summ':>11} {'torch path':>11} {'/summ':>6} {'peak extra RAM':>20}"
    )
    if runs:
        print(header)
    # memory first: a child inherits the parent's high-water mark at fork, so measure while
    # this process is still small
    memory = {}
    for dtype_name, n in runs:
        if not args.no_memory and n >= 10_000_000:
            m = measure_memory(n, dtype_name)
            pct = 100 * m["extra_bytes"] / m["tensor_bytes"]
            memory[dtype_name, n] = f"{m['extra_bytes'] / 2**20:7.1f} MiB ({pct:4.1f}%)"
    for dtype_name, n in runs:
        t = bench_speed(n, dtype_name, args.repeats, args.lovely_repeats)
        mem = memory.get((dtype_name, n), "")
        ms = {k: v * 1e3 for k, v in t.items()}
        label = f"{n / 1e6:g}M {dtype_name}"
        if "lovely" in t:
            lovely_cells = f"{ms['lovely']:7.0f}ms {t['lovely'] / t['summarize']:10.1f}x"
        else:
            lovely_cells = f"{'—':>9} {'—':>11}"
        print(
            f"{label:>12} {ms['sum']:7.2f}ms {ms['summarize']:8.1f}ms "
            f"{t['summarize'] / t['sum']:5.1f}x {ms['quick']:6.1f}ms {lovely_cells} "
            f"{ms['torch_path']:9.1f}ms {t['torch_path'] / t['summarize']:5.1f}x {mem:>20}"
        )
    strided = [int(float(v)) for v in args.strided_sizes.split(",") if v]
    if strided:
        print(f"{'strided f32':>12} {'view':>9} {'contiguous':>11} {'/contig':>8} "
              f"{'torch view':>11} {'torch contig':>13} {'/contig':>8}")  # fmt: skip
    for n in strided:
        t = bench_strided(n, args.repeats)
        ms = {k: v * 1e3 for k, v in t.items()}
        print(
            f"{n / 1e6:>11g}M {ms['view']:7.1f}ms {ms['contiguous']:9.1f}ms "
            f"{t['view'] / t['contiguous']:7.2f}x {ms['view_torch']:9.1f}ms "
            f"{ms['contiguous_torch']:11.1f}ms {t['view_torch'] / t['contiguous_torch']:7.2f}x"
        )
    _print_load("end")


def _print_load(when: str) -> None:
    """The machine is shared: a busy neighbour slows every contender (ratios stay comparable)."""
    per_cpu = os.getloadavg()[0] / (os.cpu_count() or 1)
    print(f"[{when}] 1-min load per core {per_cpu:.2f}")


if __name__ == "__main__":
    main()
