"""The model in the frame as a tree the panel can browse: every module (path, class) and every
parameter with a few statistics of its value and gradient, at any depth.

The frame's tensor list stops ``max_depth`` steps from a local; a model's parameters sit
deeper (``model.features.0.weight``). This walks ``named_modules()`` of the biggest module in
the frame instead, bounded: at most ``max_params`` parameters, statistics from the quick
summaries the Variables view and hovers share (cached per tensor), and once the snapshot's
time budget is spent only cached statistics are filled in (the rest list shape and dtype).
Rows are compact (a few numbers, no histogram) so hundreds fit the reply budget.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

from tensorpeek.agent.frame_scan import find_model, module_path_expression
from tensorpeek.agent.protocol import ModelModule, ModelParam, ModelTree, ParamStats
from tensorpeek.debugger.presentation import cached_summary, grad_of, quick_summary

DEFAULT_MAX_PARAMS = 500
MAX_MODULES = 2000
STAT_KEYS = ("min", "max", "mean", "std", "norm")


def param_stats(summary: Mapping[str, Any]) -> ParamStats:
    """The few statistics a model row shows, from a summary's JSON form."""
    stats: ParamStats = {k: summary.get(k) for k in STAT_KEYS}  # type: ignore[assignment]
    counts = [summary.get(k) for k in ("nan", "posinf", "neginf")]
    stats["nonfinite"] = None if any(c is None for c in counts) else sum(counts)  # type: ignore[arg-type]
    return stats


def _stats(value: Any, bins: int, deadline: float) -> ParamStats | None:
    cached = cached_summary(value, bins)
    if cached is None and time.perf_counter() > deadline:
        return None
    summary = cached if cached is not None else quick_summary(value, bins=bins)
    return param_stats(summary.to_dict())


def model_tree(
    frame_locals: Mapping[str, Any],
    *,
    bins: int,
    deadline: float,
    notes: list[str],
    max_params: int = DEFAULT_MAX_PARAMS,
) -> ModelTree | None:
    """The biggest model reachable from the frame as modules and parameters, or None."""
    found = find_model(frame_locals)
    if found is None:
        return None
    root_name, root = found
    modules: list[ModelModule] = []
    params: list[ModelParam] = []
    truncated = unsummarised = 0
    for path, module in root.named_modules():
        own = list(module.named_parameters(recurse=False))
        if len(modules) < MAX_MODULES:
            kind = type(module).__name__
            modules.append({"path": path, "module_class": kind, "params": len(own)})
        else:
            truncated += 1
        for name, value in own:
            if len(params) >= max_params:
                truncated += 1
                continue
            full = f"{path}.{name}" if path else name
            row: ModelParam = {
                "name": full,
                "module": path,
                "expression": module_path_expression(root_name, full),
                "shape": [int(n) for n in value.shape],
                "dtype": str(value.dtype).replace("torch.", ""),
                "stats": None,
            }
            try:
                row["stats"] = _stats(value, bins, deadline)
                grad = grad_of(value)
                if grad is not None:
                    row["grad"] = _stats(grad, bins, deadline)
            except Exception as err:  # noqa: BLE001 - one odd parameter must not hide the others
                notes.append(f"{full}: not summarised ({type(err).__name__}: {err})"[:300])
            if row["stats"] is None:
                unsummarised += 1
            params.append(row)
    if truncated:
        notes.append(
            f"model: {truncated} modules or parameters past the caps ({MAX_MODULES} modules, "
            f"{max_params} parameters) left out"
        )
    if unsummarised:
        notes.append(f"model: {unsummarised} parameters without statistics (time budget spent)")
    return {
        "root": root_name,
        "module_class": type(root).__name__,
        "modules": modules,
        "params": params,
        "truncated": truncated > 0,
    }
