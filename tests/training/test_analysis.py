"""The rules over the curves (``training.analysis``) on synthetic series with known answers."""

from __future__ import annotations

import math
import random

from tensorpeek.training import analysis


def noisy(n: int, level: float = 1.0, seed: int = 0) -> list[list[float]]:
    rng = random.Random(seed)
    return [[s, level * (1 + 0.1 * rng.random())] for s in range(n)]


def test_a_jump_above_k_times_the_running_median_is_one_spike_at_its_first_step() -> None:
    points = noisy(80)
    for s in (40, 41, 42):
        points[s][1] = 9.0
    points[45][1] = float("nan")  # non-finite points are the nonfinite finding's business
    spikes = analysis.spikes(points)
    assert [(s.step, s.value) for s in spikes] == [(40, 9.0)]
    assert 1.0 <= spikes[0].median <= 1.1


def test_no_spike_during_warmup_or_on_a_decreasing_loss() -> None:
    falling = [[s, 10.0 * math.exp(-s / 20)] for s in range(200)]
    assert analysis.spikes(falling) == []
    early = noisy(30)
    early[5][1] = 50.0
    assert analysis.spikes(early) == []


def test_movers_name_the_layer_that_jumped_first() -> None:
    layers = {
        ("fc1", "update_ratio"): [[s, 0.01] for s in range(40)],
        ("fc2", "update_ratio"): [[s, 0.01 if s != 30 else 0.5] for s in range(40)],
        ("fc1", "grad_norm"): [[s, 1.0 if s < 31 else 40.0] for s in range(40)],
    }
    moved = analysis.movers(layers, spike_step=31)
    assert [(m.layer, m.scalar, m.step) for m in moved] == [("fc2", "update_ratio", 30)]
    assert moved[0].factor == 50.0
    assert analysis.movers(layers, spike_step=20) == []


def test_stall_finds_where_the_plateau_began() -> None:
    points = [[s, 5.0 - 0.01 * min(s, 60)] for s in range(150)]
    stall = analysis.stall(points)
    assert stall is not None and (stall.since, stall.last_step) == (60, 149)
    assert analysis.stall(points[:100]) is None  # only 39 points on the plateau
    improving = [[s, 5.0 - 0.01 * s] for s in range(150)]
    assert analysis.stall(improving) is None


def test_learning_rate_problems() -> None:
    scalars = {
        "lr": [[0, 0.0], [1, 0.1], [2, 0.1], [3, 0.0]],  # warm-up from 0, a schedule ending at 0
        "lr/1": [[0, 0.1], [1, 0.0], [2, 0.0], [3, 0.0]],
        "opt1/lr": [[0, 0.1], [1, "nan"]],
        "loss": [[0, 0.0], [1, 0.0]],
    }
    got = [(p.name, p.step, p.kind) for p in analysis.learning_rate_problems(scalars)]
    assert got == [("lr/1", 1, "zero"), ("opt1/lr", 1, "nonfinite")]


def test_health_order_and_history() -> None:
    colours = analysis.health(
        ["", "a", "b", "c", "d", "e"],
        [
            ("a", "nonfinite", True),
            ("a", "dead", False),
            ("c", "dead", False),
            ("b", "exploding", True),
        ],
        {"": False, "b": False, "d": True},
    )
    assert colours == {
        "": "healthy",
        "a": "origin",
        "b": "healthy",
        "c": "dead",
        "d": "propagated",
        "e": "unknown",
    }
