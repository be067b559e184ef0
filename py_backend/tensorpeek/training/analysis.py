"""What the curves say, on plain ``[[step, value], ...]`` lists (torch-free: the agent, the
doctor report and the tests share it).

- ``spikes``: a loss point above ``k`` times the running median of the ``window`` finite points
  before it (``value - median > (k - 1) * |median|``, so a negative loss works too), after
  ``warmup`` points; a spike is reported at its first step, and the ``cooldown`` points after
  it (the run recovering) start no new one.
- ``movers``: for a spike, the layers whose update ratio or gradient norm jumped first in the
  ``lookback`` steps before it: the earliest step at which some layer's value exceeds ``jump``
  times the median of that layer's own earlier values; every layer jumping at that step,
  largest jump first.
- ``stall``: no new best loss (by at least ``min_delta`` relative) in the last ``window``
  points, after at least ``min_points`` points: where the plateau began.
- ``learning_rate_problems``: a learning rate that is non-finite, or 0 at two consecutive
  captured steps or more (a warm-up that starts at 0 and a schedule that ends at 0 are fine).
- ``health``: a node's colour from hits or findings (``docs/training-protocol.md``).
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

Points = list[list[Any]]

SPIKE_FACTOR = 3.0  # k
SPIKE_WINDOW = 50  # points in the running median
SPIKE_WARMUP = 20  # points before any spike can be called
SPIKE_COOLDOWN = 10  # points after a spike that start no new one
MOVER_LOOKBACK = 10  # steps before a spike searched for the layer that moved first
MOVER_JUMP = 3.0  # a layer "jumped" at this many times its own running median
STALL_WINDOW = 50  # points without a new best loss
STALL_MIN_POINTS = 100  # points before a plateau can be called
STALL_MIN_DELTA = 1e-3  # a new best must beat the old one by this fraction
NONFINITE_CONDITIONS = ("nonfinite", "nan", "inf")
HEALTH_ORDER = ("origin", "propagated", "dead", "vanishing", "healthy", "unknown")


def _value(v: Any) -> float:
    """A point's value as a float (the wire's ``"nan"``/``"inf"`` strings included)."""
    if isinstance(v, str):
        return float(v)
    return float(v) if isinstance(v, (int, float)) else math.nan


@dataclass
class Spike:
    step: int
    value: float
    median: float
    scalar: str = "loss"

    def to_dict(self) -> dict[str, Any]:
        return {
            "step": self.step,
            "scalar": self.scalar,
            "value": self.value,
            "median": self.median,
        }


def spikes(
    points: Points,
    *,
    factor: float = SPIKE_FACTOR,
    window: int = SPIKE_WINDOW,
    warmup: int = SPIKE_WARMUP,
    cooldown: int = SPIKE_COOLDOWN,
    scalar: str = "loss",
) -> list[Spike]:
    out: list[Spike] = []
    recent: list[float] = []
    quiet = 0  # points left in the cooldown of the last spike
    for step, raw in points:
        value = _value(raw)
        if not math.isfinite(value):
            continue
        spiking = False
        if len(recent) >= warmup:
            median = statistics.median(recent[-window:])
            spiking = value - median > (factor - 1.0) * abs(median) and value != median
            if spiking and quiet == 0:
                out.append(Spike(int(step), value, median, scalar))
                quiet = cooldown + 1
        quiet = max(quiet - 1, 0)
        if not spiking:  # a spike does not raise the baseline it is judged against
            recent.append(value)
            del recent[:-window]
    return out


@dataclass
class Mover:
    layer: str
    scalar: str  # "update_ratio" or "grad_norm"
    step: int
    value: float
    median: float

    @property
    def factor(self) -> float:
        return self.value / self.median if self.median > 0 else math.inf

    def to_dict(self) -> dict[str, Any]:
        return {
            "layer": self.layer,
            "scalar": self.scalar,
            "step": self.step,
            "value": self.value,
            "median": self.median,
        }


def movers(
    layer_series: Mapping[tuple[str, str], Points],
    spike_step: int,
    *,
    lookback: int = MOVER_LOOKBACK,
    jump: float = MOVER_JUMP,
) -> list[Mover]:
    """``layer_series``: ``{(layer, "update_ratio" | "grad_norm"): points}``."""
    found: list[Mover] = []
    for (layer, scalar), points in layer_series.items():
        earlier: list[float] = []
        for step, raw in points:
            value = _value(raw)
            if step > spike_step:
                break
            if not math.isfinite(value):
                continue
            if step >= spike_step - lookback and len(earlier) >= 3:
                median = statistics.median(earlier[-SPIKE_WINDOW:])
                if median > 0 and value > jump * median:
                    found.append(Mover(layer, scalar, int(step), value, median))
                    break
            earlier.append(value)
    if not found:
        return []
    first = min(m.step for m in found)
    at_first = [m for m in found if m.step == first]
    at_first.sort(key=lambda m: -m.factor)
    return at_first


def layer_series_of(
    scalars: Mapping[str, Points], gradient_norms: Any
) -> dict[tuple[str, str], Points]:
    """The per-layer series a report holds: ``update_ratio/<layer>`` scalars and, when doctor
    charted them, the per-layer gradient norms (the ``"timeseries"`` payload)."""
    out: dict[tuple[str, str], Points] = {}
    for name, points in scalars.items():
        if name.startswith("update_ratio/"):
            out[(name[len("update_ratio/") :], "update_ratio")] = points
    if isinstance(gradient_norms, Mapping):
        for series in gradient_norms.get("series", []) or []:
            steps, values = series.get("steps") or [], series.get("values") or []
            pts = [[s, v] for s, v in zip(steps, values, strict=False) if v is not None]
            out[(str(series.get("module", "")), "grad_norm")] = pts
    return out


@dataclass
class Stall:
    since: int  # step of the last new best
    best: float
    last_step: int
    window: int


def stall(
    points: Points,
    *,
    window: int = STALL_WINDOW,
    min_points: int = STALL_MIN_POINTS,
    min_delta: float = STALL_MIN_DELTA,
) -> Stall | None:
    finite = [(int(s), _value(v)) for s, v in points if math.isfinite(_value(v))]
    if len(finite) < max(min_points, window + 1):
        return None
    best_step, best = finite[0]
    for step, value in finite[1:]:
        if value < best - min_delta * abs(best):
            best_step, best = step, value
    tail_start = finite[-window][0]
    if best_step >= tail_start:
        return None
    return Stall(best_step, best, finite[-1][0], window)


@dataclass
class LearningRateProblem:
    name: str  # "lr", "lr/1", "opt1/lr", ...
    step: int
    value: float
    kind: str  # "zero" or "nonfinite"


def learning_rate_problems(scalars: Mapping[str, Points]) -> list[LearningRateProblem]:
    out: list[LearningRateProblem] = []
    for name, points in scalars.items():
        if not (name == "lr" or name.startswith("lr/") or "/lr" in name):
            continue
        zero_since: int | None = None
        for step, raw in points:
            value = _value(raw)
            if not math.isfinite(value):
                out.append(LearningRateProblem(name, int(step), value, "nonfinite"))
                break
            if value == 0.0:
                if zero_since is not None:
                    out.append(LearningRateProblem(name, zero_since, 0.0, "zero"))
                    break
                zero_since = int(step)
            else:
                zero_since = None
    return out


def health_of(condition_or_kind: str, origin: bool) -> str | None:
    if condition_or_kind in NONFINITE_CONDITIONS:
        return "origin" if origin else "propagated"
    if condition_or_kind in ("dead", "vanishing"):
        return condition_or_kind
    return None


def observed_in(
    layer_history: Mapping[str, Any],
) -> dict[str, bool]:
    """From the engine's layer history (``{module: {site: [{"step", "summary"}]}}``): which
    modules the breakpoints recorded, and whether any recorded point held non-finite values."""
    out: dict[str, bool] = {}
    for module, sites in layer_history.items():
        bad = False
        for points in sites.values():
            for point in points:
                summary = point.get("summary") or {}
                bad = bad or any(_positive(summary.get(k)) for k in ("nonfinite", "nan", "posinf"))
        out[module] = bad
    return out


def _positive(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and value > 0


def health(
    node_ids: Iterable[str],
    records: Iterable[tuple[str, str, bool]],
    observed: Mapping[str, bool],
) -> dict[str, str]:
    """``records``: ``(module, condition or finding kind, origin)`` from hits or findings;
    ``observed``: modules the breakpoints recorded statistics for, and whether non-finite
    values were among them (``observed_in``): those are ``propagated`` unless a record says
    more (the origin itself)."""
    worst: dict[str, str] = {}
    for module, what, origin in records:
        h = health_of(what, origin)
        if h is None:
            continue
        if module not in worst or HEALTH_ORDER.index(h) < HEALTH_ORDER.index(worst[module]):
            worst[module] = h
    out = {}
    for node in node_ids:
        if node in worst:
            out[node] = worst[node]
        elif node in observed:
            out[node] = "propagated" if observed[node] else "healthy"
        else:
            out[node] = "unknown"
    return out


def with_health(
    graph: Mapping[str, Any] | None, colours: Mapping[str, str]
) -> dict[str, Any] | None:
    """The graph with each node's ``health`` set (``"unknown"`` when not in ``colours``)."""
    if graph is None:
        return None
    nodes = [dict(n, health=colours.get(n["id"], "unknown")) for n in graph.get("nodes", [])]
    return {"nodes": nodes, "edges": [dict(e) for e in graph.get("edges", [])]}
