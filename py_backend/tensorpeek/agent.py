"""The one function the VS Code extension calls in the paused program.

The extension sends one DAP ``evaluate`` (context ``clipboard``) per question::

    __import__('tensorpeek.agent').agent.request("<request JSON>", locals())

``request`` parses the JSON, runs the method against the frame's locals and returns the reply
as JSON text. It never raises: bad requests, invalid breakpoint specs, paths that lead nowhere
and internal errors all come back as ``{"ok": false, "error": {"message": ...}}``, and the
program is left as it was. Arguments are data inside the JSON string, never code, so nothing
a user or the debuggee names can be executed. Formats: ``tensorpeek.protocol`` and
``docs/snapshot.md``.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Mapping
from typing import Any

from tensorpeek.protocol import DEFAULT_MAX_BYTES, HARD_MAX_BYTES, PROTOCOL_VERSION

__all__ = ["AgentError", "request"]


class AgentError(ValueError):
    """A request the agent cannot answer; its message goes back to the extension."""


def _dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=True, allow_nan=False, separators=(",", ":"))


def request(request_json: str, frame_locals: Mapping[str, Any] | None = None) -> str:
    """Answer one protocol request (JSON text) in the frame whose ``locals()`` are given."""
    try:
        method, params = _parse(request_json)
        handler = _METHODS[method]
        max_bytes = _int_param(params, "max_bytes", DEFAULT_MAX_BYTES, 1024, HARD_MAX_BYTES)
        result = handler(params, frame_locals or {}, max_bytes)
        reply = _dumps({"version": PROTOCOL_VERSION, "ok": True, "result": result})
        if len(reply) > max_bytes:
            raise AgentError(
                f"{method}: the reply has {len(reply)} bytes, more than max_bytes={max_bytes}"
            )
        return reply
    except AgentError as err:
        return _error(str(err))
    except Exception as err:  # noqa: BLE001 - the debuggee must never see our failure
        return _error(f"tensorpeek.agent internal error: {type(err).__name__}: {err}")


def _error(message: str) -> str:
    return _dumps({"version": PROTOCOL_VERSION, "ok": False, "error": {"message": message}})


def _parse(request_json: Any) -> tuple[str, dict[str, Any]]:
    if not isinstance(request_json, str):
        raise AgentError(f"request must be JSON text, got {type(request_json).__name__}")
    try:
        req = json.loads(request_json)
    except json.JSONDecodeError as err:
        raise AgentError(f"request is not valid JSON: {err}") from None
    if not isinstance(req, dict):
        raise AgentError("request must be a JSON object with version, method and params")
    if req.get("version") != PROTOCOL_VERSION:
        raise AgentError(
            f"unsupported protocol version {req.get('version')!r}; this tensorpeek speaks "
            f"version {PROTOCOL_VERSION}"
        )
    method = req.get("method")
    if method not in _METHODS:
        raise AgentError(f"unknown method {method!r}; methods: {', '.join(_METHODS)}")
    params = req.get("params", {})
    if not isinstance(params, dict):
        raise AgentError(f"{method}: params must be a JSON object")
    return str(method), params


def _int_param(params: Mapping[str, Any], key: str, default: int, lo: int, hi: int) -> int:
    value = params.get(key, default)
    if type(value) is not int or not lo <= value <= hi:
        raise AgentError(f"{key} must be an integer between {lo} and {hi}, got {value!r}")
    return value


def _snapshot(params: dict[str, Any], frame_locals: Mapping[str, Any], max_bytes: int) -> Any:
    from tensorpeek import snapshot

    snap = snapshot.snapshot(
        frame_locals,
        max_tensors=_int_param(params, "max_tensors", snapshot.DEFAULT_MAX_TENSORS, 0, 10_000),
        max_depth=_int_param(params, "max_depth", snapshot.DEFAULT_MAX_DEPTH, 0, 8),
        bins=_int_param(params, "bins", snapshot.DEFAULT_BINS, 1, 1024),
        history=_int_param(params, "history", snapshot.DEFAULT_HISTORY, 1, 1024),
        time_budget_ms=_int_param(
            params, "time_budget_ms", int(snapshot.DEFAULT_TIME_BUDGET_MS), 0, 600_000
        ),
    )
    envelope = len(_dumps({"version": PROTOCOL_VERSION, "ok": True, "result": None}))
    return snapshot.fit(snap, lambda s: len(_dumps(s)) + envelope, max_bytes)


def _detail(params: dict[str, Any], frame_locals: Mapping[str, Any], max_bytes: int) -> Any:
    from tensorpeek.frame_scan import PathError, resolve_path
    from tensorpeek.presentation import handles

    expression = params.get("expression")
    if not isinstance(expression, str) or not expression.strip():
        raise AgentError("detail: params.expression (a variable path) is required")
    try:
        value = resolve_path(expression, frame_locals)
    except PathError as err:
        raise AgentError(f"detail: {err}") from None
    if not handles(value):  # a tensor, or a numeric array where torch is loaded
        kind = type(value).__name__
        raise AgentError(f"detail: {expression} holds a {kind!r} object, not a tensor")
    bins = _int_param(params, "bins", 128, 1, 16384)
    size = _int_param(params, "heatmap_size", 64, 1, 256)
    batch_index = _int_param(params, "batch_index", 0, 0, 1 << 31)

    from tensorpeek import detail
    from tensorpeek.summary import summarize

    try:
        summary = summarize(value, bins=bins).to_dict()
    except (RuntimeError, TypeError, ValueError, NotImplementedError) as err:
        raise AgentError(f"detail: {expression} cannot be summarised: {err}") from None
    result: dict[str, Any] = {
        "name": expression,
        "summary": summary,
        "histogram": dict(summary, name=expression),
    }
    envelope = len(_dumps({"version": PROTOCOL_VERSION, "ok": True, "result": result}))
    requested = size
    while True:
        try:
            payloads, notes = detail.maps(value, expression, size, batch_index)
        except ValueError as err:
            raise AgentError(f"detail: {err}") from None
        if not payloads or envelope + len(_dumps(payloads)) + 256 <= max_bytes or size == 1:
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


def _spec_list(params: Mapping[str, Any]) -> list[Any]:
    specs = params.get("specs")
    if not isinstance(specs, list):
        raise AgentError("set_breakpoints: params.specs must be a list of specs")
    return specs


def _set_breakpoints(params: dict[str, Any], frame_locals: Any, max_bytes: int) -> Any:
    specs = _spec_list(params)
    import tensorpeek.breakpoints as bp  # the user asked to arm breakpoints: torch is needed
    from tensorpeek.snapshot import breakpoint_info
    from tensorpeek.spec import SpecError, parse_spec

    errors = []
    for i, spec in enumerate(specs):
        if not isinstance(spec, (str, dict)):
            errors.append({"index": i, "message": f"a spec is a string or an object, got {spec!r}"})
            continue
        try:
            parse_spec(spec)
        except SpecError as err:
            errors.append({"index": i, "message": str(err)})
    if errors:
        current = [breakpoint_info(b) for b in bp.list_breakpoints()]
        return {"applied": False, "breakpoints": current, "errors": errors}
    armed = bp.set_breakpoints(specs)
    return {"applied": True, "breakpoints": [breakpoint_info(b) for b in armed], "errors": []}


def _breakpoints(params: dict[str, Any], frame_locals: Any, max_bytes: int) -> Any:
    from tensorpeek.snapshot import breakpoint_infos

    return {"breakpoints": breakpoint_infos()}


def _modules(params: dict[str, Any], frame_locals: Mapping[str, Any], max_bytes: int) -> Any:
    from tensorpeek.snapshot import optional_module

    history = optional_module("history")
    live = history.live_modules() if history is not None else []
    if live:
        return {"modules": live, "source": "live"}
    torch = sys.modules.get("torch")
    if torch is None:
        return {"modules": [], "source": "none"}
    from tensorpeek.frame_scan import scan_modules

    biggest = scan_modules(frame_locals)
    if biggest is None:
        return {"modules": [], "source": "none"}
    return {"modules": [name for name, _ in biggest.named_modules()], "source": "frame"}


_METHODS: dict[str, Callable[[dict[str, Any], Mapping[str, Any], int], Any]] = {
    "snapshot": _snapshot,
    "detail": _detail,
    "set_breakpoints": _set_breakpoints,
    "breakpoints": _breakpoints,
    "modules": _modules,
}
