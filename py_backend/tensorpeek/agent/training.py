"""``training`` and ``step_layers``: the panel's Training view (``docs/training-protocol.md``).

``training`` gives the captured curves (``tensorpeek.training.series.STORE``; at most
``max_points`` per series, default 1000, fewer when the reply would not fit ``max_bytes``), the
loss spikes (``tensorpeek.training.analysis``, the rule doctor's ``loss_spike`` uses, found on
the whole series; each with the layers whose update ratio jumped first before it, ``moved``)
and the traced module graph with each node's health from the engine's hits and history.
``step_layers`` gives the layer table as it was at one step, from the engine's history.
Nothing here imports torch except the flush of pending 0-d tensors, which only exists when
torch captured them.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, cast

from tensorpeek.agent.params import AgentError, dumps, int_param
from tensorpeek.agent.protocol import (
    HistoryPoint,
    Layer,
    ModuleGraph,
    StepLayersResult,
    TrainingResult,
)
from tensorpeek.common.json_safe import json_safe
from tensorpeek.common.steps import STEPS
from tensorpeek.engine import history
from tensorpeek.engine.registry import REGISTRY
from tensorpeek.training import analysis
from tensorpeek.training.series import STORE

STEP_HISTORY = 16  # points per site up to the asked step
DEFAULT_MAX_POINTS = 1000  # points per series in a reply (evenly thinned, the last one kept)


def training_method(
    params: dict[str, Any], frame_locals: Mapping[str, Any], max_bytes: int
) -> TrainingResult:
    max_points = int_param(params, "max_points", DEFAULT_MAX_POINTS, 2, 100_000)
    scalars = STORE.snapshot()
    step = STEPS.current() if STEPS.counting else STORE.last_step
    # each spike names the layers whose update ratio jumped first before it (doctor's rule);
    layers = analysis.layer_series_of(scalars, None)
    spikes = [
        {**s.to_dict(), "moved": [m.to_dict() for m in analysis.movers(layers, s.step)]}
        for s in analysis.spikes(scalars.get("loss", []))
    ]
    graph = STORE.graph
    coloured = None
    if graph is not None:
        with REGISTRY.lock:
            hits = list(REGISTRY.hits)
        records = [(h.module, h.condition, bool(h.origin)) for h in hits]
        colours = analysis.health(
            (n["id"] for n in graph["nodes"]),
            records,
            analysis.observed_in(history.layer_history()),
        )
        coloured = cast("ModuleGraph", analysis.with_health(graph, colours))
    while True:  # thinned until the reply fits in max_bytes (the spikes are found first)
        result = json_safe(
            {
                "step": step,
                "scalars": {k: thinned(v, max_points) for k, v in scalars.items()},
                "spikes": spikes,
                "graph": coloured,
            }
        )
        if max_points <= 16 or len(dumps(result)) < max_bytes - 256:
            return cast("TrainingResult", result)
        max_points //= 2


def thinned(points: list[list[Any]], n: int) -> list[list[Any]]:
    """At most ``n`` points, evenly spaced, the last one always among them."""
    if len(points) <= n:
        return points
    stride = -(-len(points) // (n - 1))
    return points[:-1:stride] + points[-1:]


def step_layers_method(
    params: dict[str, Any], frame_locals: Mapping[str, Any], max_bytes: int
) -> StepLayersResult:
    step = params.get("step")
    if type(step) is not int:
        raise AgentError(f"step_layers: step must be an integer, got {step!r}")
    recorded = history.layer_history()
    order = {path: i for i, path in enumerate(history.live_modules())}
    rows: list[Layer] = []
    steps_held: set[int] = set()
    for module in sorted(recorded, key=lambda m: (order.get(m, len(order)), m)):
        latest: dict[str, HistoryPoint] = {}
        series: dict[str, list[HistoryPoint]] = {}
        for site, points in recorded[module].items():
            steps_held.update(int(p["step"]) for p in points)
            upto = [
                {"step": int(p["step"]), "stats": dict(p["summary"])}
                for p in points
                if int(p["step"]) <= step
            ][-STEP_HISTORY:]
            if upto and upto[-1]["step"] == step:
                latest[site] = cast("HistoryPoint", upto[-1])
                series[site] = cast("list[HistoryPoint]", upto)
        if latest:
            rows.append({"module": module, "latest": latest, "history": series})
    if not rows:
        held = (
            f"it holds steps {min(steps_held)}-{max(steps_held)}"
            if steps_held
            else "nothing was recorded yet: arm a breakpoint to record layer statistics"
        )
        raise AgentError(f"step_layers: step {step} is not in the layer history ({held})")
    return cast("StepLayersResult", json_safe({"step": step, "layers": rows}))
