"""What the ranks runtime's watcher thread costs a healthy rank (``engine/rank_watch.py``).

One process plays "rank 1 of 2" (torchrun's variables, a real ``TCPStore`` server in a child
process standing in for torchrun's agent store). Measured side by side, interleaved, medians:

- the store round trip the watcher makes every 0.1 s (``add("stops", 0)``);
- this process's CPU time over an idle window with breakpoints armed (watcher running) and
  with none (no watcher): the watcher's whole cost, since nothing runs on the training thread;
- a small training step armed with the watcher vs armed with the same breakpoint but no
  world (``WORLD_SIZE`` unset: no watcher), as a ratio.

    .venv/bin/python benchmarks/bench_rank_watcher.py [--repeats 5] [--window 3] [--pairs 20]
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import statistics
import threading
import time
from datetime import timedelta

import torch
import torch.distributed as dist


def serve(port_out: multiprocessing.Queue, stop: multiprocessing.Event) -> None:  # type: ignore[type-arg]
    server = dist.TCPStore(
        "127.0.0.1", 0, is_master=True, wait_for_workers=False, timeout=timedelta(seconds=30)
    )
    port_out.put(server.port)
    stop.wait()


def set_rank_env(port: int | None) -> None:
    if port is None:
        for name in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_PORT"):
            os.environ.pop(name, None)
        return
    os.environ.update(
        RANK="1",
        WORLD_SIZE="2",
        LOCAL_RANK="1",
        MASTER_ADDR="127.0.0.1",
        MASTER_PORT=str(port),
        TORCHELASTIC_USE_AGENT_STORE="True",
        TORCHELASTIC_RUN_ID="bench",
    )


def watcher_running() -> bool:
    return any(t.name == "tensorpeek-ranks" for t in threading.enumerate())


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--window", type=float, default=3.0, help="idle seconds per sample")
    parser.add_argument("--pairs", type=int, default=20, help="interleaved step measurements")
    parser.add_argument("--steps", type=int, default=50, help="training steps per measurement")
    parser.add_argument("--poll", type=float, default=None, help="override POLL_S (seconds)")
    args = parser.parse_args()
    if args.poll is not None:
        from tensorpeek.engine import rank_watch

        rank_watch.POLL_S = args.poll
    torch.set_num_threads(1)
    ctx = multiprocessing.get_context("spawn")
    ports: multiprocessing.Queue = ctx.Queue()  # type: ignore[type-arg]
    stop = ctx.Event()
    server = ctx.Process(target=serve, args=(ports, stop), daemon=True)
    server.start()
    port = ports.get(timeout=60)

    import tensorpeek

    client = dist.PrefixStore("bench", dist.TCPStore("127.0.0.1", port, is_master=False))
    trips = []
    for _ in range(args.repeats):
        t = time.perf_counter()
        for _ in range(1000):
            client.add("stops", 0)
        trips.append((time.perf_counter() - t) / 1000 * 1e6)

    model = torch.nn.Sequential(torch.nn.Linear(64, 256), torch.nn.ReLU(), torch.nn.Linear(256, 8))
    opt = torch.optim.SGD(model.parameters(), lr=1e-3)
    x, y = torch.randn(32, 64), torch.randn(32, 8)

    def steps(n: int) -> float:
        t = time.perf_counter()
        for _ in range(n):
            loss = torch.nn.functional.mse_loss(model(x), y)
            opt.zero_grad()
            loss.backward()
            opt.step()
        return (time.perf_counter() - t) / n

    idle: dict[str, list[float]] = {"watcher": [], "none": []}
    for _ in range(args.repeats):
        for mode in ("watcher", "none"):
            set_rank_env(port if mode == "watcher" else None)
            if mode == "watcher":
                tensorpeek.break_on("*", "output", "nonfinite", action="record")
                time.sleep(0.3)  # connected and registered
                assert watcher_running()
            a = time.process_time()
            time.sleep(args.window)
            idle[mode].append((time.process_time() - a) / args.window * 100)
            tensorpeek.clear()
    ratios: list[float] = []
    step: dict[str, list[float]] = {"watcher": [], "no world": []}
    for i in range(args.pairs):
        pair = {}
        for mode in ("watcher", "no world") if i % 2 else ("no world", "watcher"):
            set_rank_env(port if mode == "watcher" else None)
            tensorpeek.break_on("*", "output", "nonfinite", action="record")
            assert watcher_running() == (mode == "watcher")
            steps(5)
            pair[mode] = steps(args.steps)
            step[mode].append(pair[mode])
            tensorpeek.clear()
        ratios.append(pair["watcher"] / pair["no world"])
    stop.set()
    server.join(timeout=10)

    med = statistics.median
    print(f"store round trip add('stops', 0): {med(trips):.0f} us (median of {args.repeats})")
    print(
        f"idle CPU, % of one core: watcher {med(idle['watcher']):.3f}  none {med(idle['none']):.3f}"
    )
    w, n = med(step["watcher"]), med(step["no world"])
    print(
        f"armed step: with watcher {w * 1e6:.0f} us  without {n * 1e6:.0f} us  "
        f"median ratio of {args.pairs} interleaved pairs {med(ratios):.3f}"
    )


if __name__ == "__main__":
    main()
