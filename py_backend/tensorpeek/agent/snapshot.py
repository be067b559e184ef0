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
from collections.abc import Mapping
from typing import Any, cast

from tensorpeek.agent.breakpoint_methods import breakpoint_infos
from tensorpeek.agent.frame_scan import scan_frame
from tensorpeek.agent.params import dumps, int_param
from tensorpeek.agent.protocol import (
    PROTOCOL_VERSION,
    FrameTensor,
    HistoryPoint,
    Layer,
    Snapshot,
    Summary,
)
from tensorpeek.debugger.presentation import cached_summary, grad_of, quick_summary
from tensorpeek.engine import history
from tensorpeek.engine.hit import Hit
from tensorpeek.engine.registry import REGISTRY

DEFAULT_MAX_TENSORS = 200
DEFAULT_MAX_DEPTH = 2
DEFAULT_BINS = 32
DEFAULT_HISTORY = 16
DEFAULT_TIME_BUDGET_MS = 800.0  # summarising time per snapshot (cached summaries are free)


def current_hit(frame_locals: Mapping[str, Any]) -> dict[str, Any] | None:
    """The hit we are paused at: the engine's own record, else a ``hit`` local."""
    hit = REGISTRY.current_hit()
    if hit is None:
        local = frame_locals.get("hit")
        if isinstance(local, Hit):
            hit = local
    return dict(hit.to_dict()) if hit is not None else None


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
    snap["elapsed_ms"] = round((time.perf_counter() - start) * 1e3, 3)
    return snap


def fit(snap: Snapshot, size_of: Any, max_bytes: int) -> Snapshot:
    """Trim ``snap`` until ``size_of(snap) <= max_bytes``: history to the latest point, then
    tensors from the end (the shallowest names come first), then layers. Says so in notes."""
    if size_of(snap) <= max_bytes:
        return snap
    snap["truncated"] = True
    notes = snap.setdefault("notes", [])
    for layer in snap["layers"]:
        layer["history"] = {site: pts[-1:] for site, pts in layer["history"].items()}
    notes.append(f"history trimmed to the latest point to fit {max_bytes} bytes")
    for key in ("tensors", "layers"):
        items: list[Any] = snap[key]
        before = len(items)
        while items and size_of(snap) > max_bytes:
            # drop about a tenth at a time: serialising again after each item would be slow
            del items[max(0, len(items) - max(1, len(items) // 10)) :]
        if len(items) < before:
            notes.append(
                f"{before - len(items)} of {before} {key} left out to fit {max_bytes} bytes"
            )
        if size_of(snap) <= max_bytes:
            break
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
