"""How long a warm histogram picture takes (target: ≤ 40 ms per SVG), beside the cost of the
figure alone, measured in one run with interleaved repeats and medians.

    .venv/bin/python benchmarks/bench_render.py [--repeats 30]

"Warm" means matplotlib is imported and one picture has been drawn; the cache is bypassed
(each round draws a distinct payload), so the figure is really drawn every time.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from typing import Any

import torch

import tensorpeek
from tensorpeek.render import Theme, render
from tensorpeek.render.canvas import new_figure, to_bytes

DARK = Theme.from_request(
    {"foreground": "#cccccc", "background": "#1e1e1e", "accent": "#3794ff", "fontSize": 11}
)


def timed(fn: Callable[[], Any]) -> float:
    start = time.perf_counter()
    fn()
    return (time.perf_counter() - start) * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=30)
    args = parser.parse_args()
    x = torch.randn(1_000_000, generator=torch.Generator().manual_seed(0))
    x[:10] = float("nan")
    base = tensorpeek.summarize(x).to_dict()
    render("histogram", base)  # warm: imports, fonts

    variants: dict[str, Callable[[int], Any]] = {
        "empty figure → SVG": lambda i: to_bytes(new_figure(480, 300, DARK), "svg"),
        "histogram SVG": lambda i: render(
            "histogram", {**base, "name": f"x{i}"}, theme=DARK, cache=False
        ),
        "histogram PNG": lambda i: render(
            "histogram", {**base, "name": f"x{i}"}, fmt="png", theme=DARK, cache=False
        ),
        "histogram SVG, cached": lambda i: render("histogram", base, theme=DARK),
    }
    times: dict[str, list[float]] = {name: [] for name in variants}
    for i in range(args.repeats):  # interleaved: each round runs every variant once
        for name, fn in variants.items():
            times[name].append(timed(lambda fn=fn, i=i: fn(i)))
    floor = statistics.median(times["empty figure → SVG"])
    print(f"{'variant':<24} {'median ms':>10} {'÷ empty figure':>15}")
    for name, values in times.items():
        med = statistics.median(values)
        print(f"{name:<24} {med:>10.1f} {med / floor:>15.2f}")
    verdict = "meets" if statistics.median(times["histogram SVG"]) <= 40 else "misses"
    print(f"warm histogram SVG {verdict} the 40 ms target")


if __name__ == "__main__":
    main()
