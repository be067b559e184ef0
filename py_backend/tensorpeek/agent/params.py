"""What every agent method shares: the error a request can fail with, the checked reading
of integer parameters and the one JSON encoding of replies."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any


class AgentError(ValueError):
    """A request the agent cannot answer; its message goes back to the extension."""


def dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=True, allow_nan=False, separators=(",", ":"))


def int_param(params: Mapping[str, Any], key: str, default: int, lo: int, hi: int) -> int:
    value = params.get(key, default)
    if type(value) is not int or not lo <= value <= hi:
        raise AgentError(f"{key} must be an integer between {lo} and {hi}, got {value!r}")
    return value
