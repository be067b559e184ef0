"""``detail``: a full summary and the render payloads (histogram, heatmap, channels) of one
tensor the panel clicked on, at a resolution that fits the reply's byte budget. The tensor
maps themselves are computed in ``tensorpeek.agent.maps``."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from tensorpeek.agent.frame_scan import PathError, resolve_path
from tensorpeek.agent.params import AgentError, dumps, int_param
from tensorpeek.agent.protocol import PROTOCOL_VERSION
from tensorpeek.debugger.presentation import is_presentable


def detail_method(params: dict[str, Any], frame_locals: Mapping[str, Any], max_bytes: int) -> Any:
    """The ``detail`` method: a full summary and the render payloads of one tensor."""
    expression = params.get("expression")
    if not isinstance(expression, str) or not expression.strip():
        raise AgentError("detail: params.expression (a variable path) is required")
    try:
        value = resolve_path(expression, frame_locals)
    except PathError as err:
        raise AgentError(f"detail: {err}") from None
    if not is_presentable(value):  # a tensor, or a numeric array where torch is loaded
        kind = type(value).__name__
        raise AgentError(f"detail: {expression} holds a {kind!r} object, not a tensor")
    bins = int_param(params, "bins", 128, 1, 16384)
    size = int_param(params, "heatmap_size", 64, 1, 256)
    batch_index = int_param(params, "batch_index", 0, 0, 1 << 31)

    from tensorpeek.agent import maps  # a tensor is at hand, so torch is loaded
    from tensorpeek.summary.tensor_summary import summarize

    try:
        summary = summarize(value, bins=bins).to_dict()
    except (RuntimeError, TypeError, ValueError, NotImplementedError) as err:
        raise AgentError(f"detail: {expression} cannot be summarised: {err}") from None
    result: dict[str, Any] = {
        "name": expression,
        "summary": summary,
        "histogram": dict(summary, name=expression),
    }
    envelope = len(dumps({"version": PROTOCOL_VERSION, "ok": True, "result": result}))
    requested = size
    while True:
        try:
            payloads, notes = maps.maps(value, expression, size, batch_index)
        except ValueError as err:
            raise AgentError(f"detail: {err}") from None
        if not payloads or envelope + len(dumps(payloads)) + 256 <= max_bytes or size == 1:
            break
        size = max(1, size // 2)  # lower the resolution until the reply fits
    if size < requested:
        notes.append(
            f"resolution lowered from {requested} to {size} cells per side to fit {max_bytes} bytes"
        )
    result.update(payloads)
    if notes:
        result["notes"] = notes
    return result
