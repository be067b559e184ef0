"""The agent: the one function the VS Code extension calls in the paused program.

The extension sends one DAP ``evaluate`` (context ``clipboard``) per question::

    __import__('tensorpeek.agent').agent.request("<request JSON>", locals())

``request`` parses the JSON, runs the method against the frame's locals and returns the reply
as JSON text. It never raises: bad requests, invalid breakpoint specs, paths that lead nowhere
and internal errors all come back as ``{"ok": false, "error": {"message": ...}}``, and the
program is left as it was. Arguments are data inside the JSON string, never code, so nothing
a user or the debuggee names can be executed. Formats: ``tensorpeek.agent.protocol`` and
``docs/snapshot.md``.

Owns: the request envelope and the snapshot sent ahead of a hit's stop
(``stop_announcement``, here), one module per method (``snapshot``, ``detail``,
``breakpoint_methods``, ``modules``), the wire types (``protocol``, exported as a JSON schema
by ``schema``) and the frame walk (``frame_scan``). May import ``summary``, ``debugger`` and
the engine's torch-free state; never ``render``, ``report``, ``cli`` or matplotlib. Importing
it loads no torch: methods import what they need when called.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any

from tensorpeek.agent.params import AgentError, dumps, int_param
from tensorpeek.agent.protocol import DEFAULT_MAX_BYTES, HARD_MAX_BYTES, PROTOCOL_VERSION

__all__ = ["AgentError", "request", "stop_announcement"]

SNAPSHOT_REQUEST = json.dumps({"version": PROTOCOL_VERSION, "method": "snapshot", "params": {}})

Method = Callable[[dict[str, Any], Mapping[str, Any], int], Any]


def request(request_json: str, frame_locals: Mapping[str, Any] | None = None) -> str:
    """Answer one protocol request (JSON text) in the frame whose ``locals()`` are given."""
    try:
        method, params = _parse(request_json)
        handler = _METHODS[method]
        max_bytes = int_param(params, "max_bytes", DEFAULT_MAX_BYTES, 1024, HARD_MAX_BYTES)
        result = handler(params, frame_locals or {}, max_bytes)
        reply = dumps({"version": PROTOCOL_VERSION, "ok": True, "result": result})
        if len(reply) > max_bytes:
            raise AgentError(
                f"{method}: the reply has {len(reply)} bytes, more than max_bytes={max_bytes}"
            )
        return reply
    except AgentError as err:
        return _error(str(err))
    except Exception as err:  # noqa: BLE001 - the debuggee must never see our failure
        return _error(f"tensorpeek.agent internal error: {type(err).__name__}: {err}")


def stop_announcement(frame_locals: Mapping[str, Any]) -> dict[str, Any]:
    """The body of the ``tensorpeekSnapshot`` DAP event the engine sends just before the
    debugger stops at a tensor breakpoint (``engine.pause``): ``{"version", "reply"}``, the
    very reply ``request`` gives to the extension's first question at such a stop (``snapshot``
    with no params, in the pause frame whose locals are ``frame_locals``). The extension
    shows it with the ``stopped`` event instead of asking for it after VS Code's own
    requests; as text, so no value (NaN included) is re-encoded on the way."""
    return {"version": PROTOCOL_VERSION, "reply": request(SNAPSHOT_REQUEST, frame_locals)}


def _error(message: str) -> str:
    return dumps({"version": PROTOCOL_VERSION, "ok": False, "error": {"message": message}})


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


def _snapshot(params: dict[str, Any], frame_locals: Mapping[str, Any], max_bytes: int) -> Any:
    from tensorpeek.agent.snapshot import snapshot_method

    return snapshot_method(params, frame_locals, max_bytes)


def _detail(params: dict[str, Any], frame_locals: Mapping[str, Any], max_bytes: int) -> Any:
    from tensorpeek.agent.detail import detail_method

    return detail_method(params, frame_locals, max_bytes)


def _set_breakpoints(
    params: dict[str, Any], frame_locals: Mapping[str, Any], max_bytes: int
) -> Any:
    from tensorpeek.agent.breakpoint_methods import set_breakpoints_method
    from tensorpeek.training.capture import install

    install()  # while breakpoints are armed, the loss, lr and norms are captured too
    return set_breakpoints_method(params, frame_locals, max_bytes)


def _breakpoints(params: dict[str, Any], frame_locals: Mapping[str, Any], max_bytes: int) -> Any:
    from tensorpeek.agent.breakpoint_methods import breakpoints_method

    return breakpoints_method(params, frame_locals, max_bytes)


def _modules(params: dict[str, Any], frame_locals: Mapping[str, Any], max_bytes: int) -> Any:
    from tensorpeek.agent.modules import modules_method

    return modules_method(params, frame_locals, max_bytes)


def _training(params: dict[str, Any], frame_locals: Mapping[str, Any], max_bytes: int) -> Any:
    from tensorpeek.agent.training import training_method

    return training_method(params, frame_locals, max_bytes)


def _step_layers(params: dict[str, Any], frame_locals: Mapping[str, Any], max_bytes: int) -> Any:
    from tensorpeek.agent.training import step_layers_method

    return step_layers_method(params, frame_locals, max_bytes)


def _whole_summary(params: dict[str, Any], frame_locals: Mapping[str, Any], max_bytes: int) -> Any:
    from tensorpeek.agent.whole_summary import whole_summary_method

    return whole_summary_method(params, frame_locals, max_bytes)


_METHODS: dict[str, Method] = {
    "snapshot": _snapshot,
    "detail": _detail,
    "set_breakpoints": _set_breakpoints,
    "breakpoints": _breakpoints,
    "modules": _modules,
    "training": _training,
    "step_layers": _step_layers,
    "whole_summary": _whole_summary,
}
