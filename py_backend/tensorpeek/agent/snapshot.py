"""``snapshot``: everything the Tensor panel shows at one stop, in one JSON document.

Why we stopped (the tensor breakpoint's ``Hit``), the tensors reachable from the frame with
quick summaries, the per-layer history the breakpoints recorded, and the breakpoints with
their hit counts. See ``docs/snapshot.md`` for the format (``tensorpeek.agent.protocol.Snapshot``).

Guest rules: nothing here imports torch — the breakpoints, hits and history are read from
the engine's torch-free state (``engine.registry``, ``engine.history``) — and tensors are
summarised in quick mode, sharing the cache of the debugger's hover and Variables view.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Mapping
from typing import Any, cast

from tensorpeek.agent.breakpoint_methods import breakpoint_infos
from tensorpeek.agent.frame_scan import scan_frame
from tensorpeek.agent.model_tree import model_tree
from tensorpeek.agent.params import dumps, int_param
from tensorpeek.agent.protocol import (
    PROTOCOL_VERSION,
    FrameTensor,
    HistoryPoint,
    Layer,
    ParamInfo,
    RankInfo,
    RankRecord,
    Snapshot,
    Summary,
)
from tensorpeek.debugger.presentation import cached_summary, grad_of, quick_summary
from tensorpeek.engine import history, rank_watch, ranks
from tensorpeek.engine.hit import Hit
from tensorpeek.engine.pause import paused_at
from tensorpeek.engine.registry import REGISTRY

DEFAULT_MAX_TENSORS = 200
DEFAULT_MAX_DEPTH = 2
DEFAULT_BINS = 32
DEFAULT_HISTORY = 16
MAX_HIT_PARAMS = 32  # parameters of the hit's module listed in the snapshot
DEFAULT_TIME_BUDGET_MS = 800.0  # summarising time per snapshot (cached summaries are free)


def current_hit(frame_locals: Mapping[str, Any]) -> dict[str, Any] | None:
    """The hit we are paused at: the engine's own record, else a ``hit`` local."""
    hit = REGISTRY.current_hit()
    if hit is None:
        local = frame_locals.get("hit")
        if isinstance(local, Hit):
            hit = local
    return dict(hit.to_dict()) if hit is not None else None


def hit_params(hit: Hit, bins: int, notes: list[str]) -> list[ParamInfo]:
    """The parameters of the module a hit is about (its own first, then its children's), with
    quick summaries of their values and gradients: the cause next to the result."""
    module = hit.module_object
    named = getattr(module, "named_parameters", None)
    if named is None:
        return []
    out: list[ParamInfo] = []
    for name, value in named():
        if len(out) == MAX_HIT_PARAMS:
            notes.append(f"{hit.module or 'root'}: its first {MAX_HIT_PARAMS} parameters listed")
            break
        try:
            info: ParamInfo = {
                "name": name,
                "summary": cast("Summary", quick_summary(value, bins=bins).to_dict()),
            }
            grad = grad_of(value)
            if grad is not None:
                info["grad"] = cast("Summary", quick_summary(grad, bins=bins).to_dict())
        except Exception as err:  # noqa: BLE001 - one odd parameter must not hide the others
            notes.append(f"{name}: not summarised ({type(err).__name__}: {err})"[:300])
            continue
        out.append(info)
    return out


def layers(history_points: int) -> list[Layer]:
    """The breakpoints' per-module history, in ``named_modules()`` order when known."""
    recorded = history.layer_history()
    order = {path: i for i, path in enumerate(history.live_modules())}
    rows: list[Layer] = []
    for module in sorted(recorded, key=lambda m: (order.get(m, len(order)), m)):
        sites = recorded[module]
        series: dict[str, list[HistoryPoint]] = {
            site: [
                {"step": int(p["step"]), "stats": dict(p["summary"])}
                for p in points[-history_points:]
            ]
            for site, points in sites.items()
            if points
        }
        latest = {site: points[-1] for site, points in series.items()}
        rows.append({"module": module, "latest": latest, "history": series})
    return rows


def frame_tensors(
    frame_locals: Mapping[str, Any],
    *,
    max_tensors: int,
    max_depth: int,
    bins: int,
    time_budget_ms: float = DEFAULT_TIME_BUDGET_MS,
) -> tuple[list[FrameTensor], bool, list[str]]:
    """Summaries of the reachable tensors, shallowest names first. Once ``time_budget_ms``
    is spent, only tensors whose summary is already cached are added."""
    scan = scan_frame(frame_locals, max_depth=max_depth, max_tensors=max_tensors)
    notes: list[str] = []
    out: list[FrameTensor] = []
    if scan.tensors:
        import tensorpeek.summary.tensor_summary  # noqa: F401 - the first import is not summarising time
    deadline = time.perf_counter() + time_budget_ms / 1e3
    skipped = 0
    for found in scan.tensors:
        if time.perf_counter() > deadline and cached_summary(found.value, bins) is None:
            skipped += 1
            continue
        try:
            summary = cast("Summary", quick_summary(found.value, bins=bins).to_dict())
        except Exception as err:  # noqa: BLE001 - one odd tensor must not hide the others
            notes.append(f"{found.name}: not summarised ({type(err).__name__}: {err})"[:300])
            continue
        entry: FrameTensor = {"name": found.name, "expression": found.name, "summary": summary}
        if found.scope == "global":
            entry["scope"] = "global"
        if found.aliases:
            entry["aliases"] = found.aliases
        grad = grad_of(found.value)
        if grad is not None:
            try:
                entry["grad"] = cast("Summary", quick_summary(grad, bins=bins).to_dict())
            except Exception as err:  # noqa: BLE001 - shown as a note instead
                notes.append(f"{found.name}.grad: not summarised ({type(err).__name__}: {err})")
        out.append(entry)
    if skipped:
        notes.append(
            f"{skipped} of {len(scan.tensors)} tensors left out: the {time_budget_ms:g} ms "
            "summary budget was spent"
        )
    if scan.truncated:
        notes.append(f"tensor scan stopped at its caps ({max_tensors} tensors, depth {max_depth})")
    return out, scan.truncated or skipped > 0, notes


def snapshot(
    frame_locals: Mapping[str, Any] | None,
    *,
    max_tensors: int = DEFAULT_MAX_TENSORS,
    max_depth: int = DEFAULT_MAX_DEPTH,
    bins: int = DEFAULT_BINS,
    history: int = DEFAULT_HISTORY,
    time_budget_ms: float = DEFAULT_TIME_BUDGET_MS,
) -> Snapshot:
    """The snapshot of one stop (before fitting it to a byte budget, see ``fit``)."""
    start = time.perf_counter()
    frame_locals = frame_locals or {}
    notes: list[str] = []
    if "torch" not in sys.modules:
        notes.append("torch is not imported in this process: no tensors, no breakpoints")
    tensors, truncated, tensor_notes = frame_tensors(
        frame_locals,
        max_tensors=max_tensors,
        max_depth=max_depth,
        bins=bins,
        time_budget_ms=time_budget_ms,
    )
    notes += tensor_notes
    snap: Snapshot = {
        "version": PROTOCOL_VERSION,
        "hit": current_hit(frame_locals),  # type: ignore[typeddict-item]
        "tensors": tensors,
        "layers": layers(history),
        "breakpoints": breakpoint_infos(),
        "truncated": truncated,
        "notes": notes,
    }
    paused = REGISTRY.current_hit()
    where = paused_at(paused) if paused is not None else None
    if where is not None:
        snap["hit_line"] = {"path": where.path, "line": where.line, "function": where.function}
    if paused is not None:
        snap["hit_params"] = hit_params(paused, bins, notes)
    if "torch" in sys.modules:
        # the frame tensors' budget first; the model tree gets what is left (cached rows are free)
        deadline = start + time_budget_ms / 1e3
        tree = model_tree(frame_locals, bins=bins, deadline=deadline, notes=notes)
        if tree is not None:
            snap["model"] = tree
    rank = rank_info()
    if rank is not None:
        snap["rank"] = rank
    snap["elapsed_ms"] = round((time.perf_counter() - start) * 1e3, 3)
    return snap


def rank_info() -> RankInfo | None:
    """This rank and its peers' stop and first hit, in a multi-rank job (else ``None``)."""
    me = ranks.identity()
    if me is None:
        return None
    runtime = rank_watch.RUNTIME
    info: RankInfo = {
        "rank": me.rank,
        "world_size": me.world_size,
        "local_rank": me.local_rank,
        "host": me.host,
        "stopped_by": cast("RankRecord | None", runtime.stopped_by),
        "first": cast("RankRecord | None", runtime.first),
    }
    return info


def _trim(items: list[Any], too_big: Callable[[], bool]) -> int:
    """Drops items from the end while ``too_big()``; returns how many were dropped."""
    before = len(items)
    while items and too_big():
        # drop about a tenth at a time: serialising again after each item would be slow
        del items[max(0, len(items) - max(1, len(items) // 10)) :]
    return before - len(items)


def fit(snap: Snapshot, size_of: Any, max_bytes: int) -> Snapshot:
    """Trim ``snap`` until ``size_of(snap) <= max_bytes``: history to the latest point, the
    model tree's parameters down to a quarter of the budget, tensors from the end (the
    shallowest names come first), the rest of the model tree, then layers. Says so in notes."""
    if size_of(snap) <= max_bytes:
        return snap
    snap["truncated"] = True
    notes = snap.setdefault("notes", [])
    for layer in snap["layers"]:
        layer["history"] = {site: pts[-1:] for site, pts in layer["history"].items()}
    notes.append(f"history trimmed to the latest point to fit {max_bytes} bytes")
    model = snap.get("model")
    params: list[Any] = model["params"] if model else []
    modules: list[Any] = model["modules"] if model else []
    total = len(params)

    def over() -> bool:
        return bool(size_of(snap) > max_bytes)

    def model_over_quarter() -> bool:
        return over() and len(dumps(model)) > max_bytes // 4

    steps: list[tuple[str, list[Any], Callable[[], bool]]] = [
        ("model parameters", params, model_over_quarter),
        ("tensors", snap["tensors"], over),
        ("model parameters", params, over),
        ("model modules", modules, over),
        ("layers", snap["layers"], over),
    ]
    for label, items, too_big in steps:
        before = len(items)
        if _trim(items, too_big) and label != "model parameters":
            if label == "model modules" and model is not None:
                model["truncated"] = True
            notes.append(
                f"{before - len(items)} of {before} {label} left out to fit {max_bytes} bytes"
            )
        if not over():
            break
    if model is not None and len(params) < total:
        model["truncated"] = True
        notes.append(
            f"{total - len(params)} of {total} model parameters left out to fit {max_bytes} bytes"
        )
    return snap


def snapshot_method(params: dict[str, Any], frame_locals: Mapping[str, Any], max_bytes: int) -> Any:
    """The ``snapshot`` method: everything the panel shows at this stop, fitted to ``max_bytes``."""
    snap = snapshot(
        frame_locals,
        max_tensors=int_param(params, "max_tensors", DEFAULT_MAX_TENSORS, 0, 10_000),
        max_depth=int_param(params, "max_depth", DEFAULT_MAX_DEPTH, 0, 8),
        bins=int_param(params, "bins", DEFAULT_BINS, 1, 1024),
        history=int_param(params, "history", DEFAULT_HISTORY, 1, 1024),
        time_budget_ms=int_param(params, "time_budget_ms", int(DEFAULT_TIME_BUDGET_MS), 0, 600_000),
    )
    envelope = len(dumps({"version": PROTOCOL_VERSION, "ok": True, "result": None}))
    return fit(snap, lambda s: len(dumps(s)) + envelope, max_bytes)
