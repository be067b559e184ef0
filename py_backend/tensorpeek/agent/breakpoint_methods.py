"""The ``set_breakpoints`` and ``breakpoints`` methods: arm breakpoints from the panel, list
them. Listing reads the engine's torch-free registry; arming imports the engine (the user asked
to arm, so torch is needed)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from tensorpeek.agent.params import AgentError
from tensorpeek.agent.protocol import BreakpointInfo
from tensorpeek.engine.registry import REGISTRY


def breakpoint_info(b: Any) -> BreakpointInfo:
    return {
        "id": int(b.id),
        "spec": str(b.spec),
        "enabled": bool(b.enabled),
        "hit_count": int(b.hit_count),
        "error": b.error,
        "definition": b.spec.to_dict(),
    }


def breakpoint_infos() -> list[BreakpointInfo]:
    return [breakpoint_info(b) for b in REGISTRY.breakpoints.values()]


def _spec_list(params: Mapping[str, Any]) -> list[Any]:
    specs = params.get("specs")
    if not isinstance(specs, list):
        raise AgentError("set_breakpoints: params.specs must be a list of specs")
    return specs


def set_breakpoints_method(
    params: dict[str, Any], frame_locals: Mapping[str, Any], max_bytes: int
) -> Any:
    """``set_breakpoints``: replace the breakpoints by ``params.specs``, all or none."""
    specs = _spec_list(params)
    from tensorpeek.engine import api  # the user asked to arm breakpoints: torch is needed
    from tensorpeek.engine.spec import SpecError, parse_spec

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
        current = [breakpoint_info(b) for b in api.list_breakpoints()]
        return {"applied": False, "breakpoints": current, "errors": errors}
    armed = api.set_breakpoints(specs)
    return {"applied": True, "breakpoints": [breakpoint_info(b) for b in armed], "errors": []}


def breakpoints_method(
    params: dict[str, Any], frame_locals: Mapping[str, Any], max_bytes: int
) -> Any:
    """``breakpoints``: the armed breakpoints with their hit counts."""
    return {"breakpoints": breakpoint_infos()}
