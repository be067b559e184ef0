"""Export the agent protocol (``tensorpeek.agent.protocol``'s TypedDicts) as a JSON Schema.

The committed ``docs/snapshot.schema.json`` is this function's output; a test checks that it
is up to date, and the extension's TypeScript types are checked against it. Regenerate with::

    python -m tensorpeek.agent.schema docs/snapshot.schema.json
"""

from __future__ import annotations

import json
import sys
import types
import typing
from pathlib import Path
from typing import Any

from tensorpeek.agent import protocol

SCHEMA_ID = "https://github.com/tensorpeek/tensorpeek/docs/snapshot.schema.json"
_SCALARS: dict[Any, dict[str, Any]] = {
    int: {"type": "integer"},
    float: {"type": "number"},
    str: {"type": "string"},
    bool: {"type": "boolean"},
    type(None): {"type": "null"},
}


def _ref(name: str) -> dict[str, Any]:
    return {"$ref": f"#/$defs/{name}"}


class _Exporter:
    def __init__(self) -> None:
        self.defs: dict[str, dict[str, Any]] = {}

    def typeddict(self, td: type) -> dict[str, Any]:
        name = td.__name__
        if name not in self.defs:
            self.defs[name] = {}  # placeholder: breaks cycles
            hints = typing.get_type_hints(td, vars(protocol))
            required = sorted(k for k in hints if k in td.__required_keys__)  # type: ignore[attr-defined]
            body: dict[str, Any] = {"type": "object"}
            if td.__doc__ and not td.__doc__.startswith(f"{name}("):
                body["description"] = " ".join(td.__doc__.split())
            body["properties"] = {k: self.type(v) for k, v in hints.items()}
            body["required"] = required
            self.defs[name] = body
        return _ref(name)

    def type(self, t: Any) -> dict[str, Any]:
        if t in _SCALARS:
            return dict(_SCALARS[t])
        if t is Any:
            return {}
        if typing.is_typeddict(t):
            return self.typeddict(t)
        origin = typing.get_origin(t)
        args = typing.get_args(t)
        if origin is typing.Literal:
            return {"enum": list(args)}
        if origin in (typing.Union, types.UnionType):
            members = [self.type(a) for a in args]
            if all(set(m) == {"type"} and isinstance(m["type"], str) for m in members):
                return {"type": [m["type"] for m in members]}
            return {"anyOf": members}
        if origin is list:
            return {"type": "array", "items": self.type(args[0])}
        if origin is dict:
            return {"type": "object", "additionalProperties": self.type(args[1])}
        raise TypeError(f"tensorpeek.agent.schema cannot export the type {t!r}")


def json_schema() -> dict[str, Any]:
    """The whole protocol: every message in ``$defs``; the root is the reply envelope, and
    ``x-methods`` maps each method to its params and result definitions."""
    exporter = _Exporter()
    for td in (protocol.Request, protocol.Reply):
        exporter.typeddict(td)
    methods: dict[str, dict[str, Any]] = {}
    for method, result in protocol.RESULT_TYPES.items():
        entry = {"result": exporter.typeddict(result)}
        params = protocol.PARAM_TYPES.get(method)
        if params is not None:
            entry["params"] = exporter.typeddict(params)
        methods[method] = entry
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": SCHEMA_ID,
        "title": f"tensorpeek agent protocol, version {protocol.PROTOCOL_VERSION}",
        "description": "Replies of tensorpeek.agent.request(); see docs/snapshot.md.",
        "x-protocol-version": protocol.PROTOCOL_VERSION,
        "x-methods": methods,
        "$ref": "#/$defs/Reply",
        "$defs": dict(sorted(exporter.defs.items())),
    }


def schema_text() -> str:
    """The schema as committed: indented JSON with a trailing newline."""
    return json.dumps(json_schema(), indent=2, ensure_ascii=False) + "\n"


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) > 1:
        print("usage: python -m tensorpeek.agent.schema [OUTPUT.json]", file=sys.stderr)
        return 2
    if args:
        Path(args[0]).write_text(schema_text(), encoding="utf-8")
    else:
        sys.stdout.write(schema_text())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
