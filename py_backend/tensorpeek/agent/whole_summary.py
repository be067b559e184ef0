"""``whole_summary``: the whole sharded tensor's summary (a ``DTensor`` parameter of FSDP2,
or its gradient) at a pause in a ``torchrun`` job, combined from every rank's shard through
the job's store (``tensorpeek.engine.rank_whole``; the exchange is in
``docs/ranks-protocol.md``). Only on request: the extension asks it when the user does."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from tensorpeek.agent.frame_scan import PathError, resolve_path
from tensorpeek.agent.params import AgentError, int_param


def _target(params: dict[str, Any], frame_locals: Mapping[str, Any]) -> Any:
    expression, param, grad = params.get("expression"), params.get("param"), params.get("grad")
    if (expression is None) == (param is None):
        raise AgentError(
            "whole_summary: give exactly one of params.expression (a variable path) and "
            "params.param (a parameter path such as '0.weight')"
        )
    if grad is not None and (type(grad) is not bool or param is None):
        raise AgentError("whole_summary: params.grad is a boolean, given with params.param")
    if param is not None:
        if not isinstance(param, str) or not param.strip():
            raise AgentError("whole_summary: params.param must be a non-empty string")
        return param + (".grad" if grad else "")
    if not isinstance(expression, str) or not expression.strip():
        raise AgentError("whole_summary: params.expression must be a non-empty string")
    try:
        return resolve_path(expression, frame_locals)
    except PathError as err:
        raise AgentError(f"whole_summary: {err}") from None


def whole_summary_method(
    params: dict[str, Any], frame_locals: Mapping[str, Any], max_bytes: int
) -> Any:
    """The ``whole_summary`` method (``WholeSummaryResult``)."""
    target = _target(params, frame_locals)
    bins = int_param(params, "bins", 32, 1, 16384)
    timeout_ms = int_param(params, "timeout_ms", 10_000, 100, 600_000)
    from tensorpeek.engine.rank_whole import request_whole

    try:
        whole = request_whole(target, bins=bins, timeout=timeout_ms / 1000)
    except ValueError as err:  # WholeSummaryError: the message names the ranks concerned
        raise AgentError(f"whole_summary: {err}") from None
    return {
        "name": whole.name,
        "summary": whole.summary.to_dict(),
        "ranks": whole.ranks,
        "notes": whole.notes,
    }
