"""`tensorpeek/layoutGraph` (custom request): the layered layout of the module graph the agent's
``training`` method gives (``docs/training-protocol.md``), computed by ``render.graph`` so that
the panel draws the same picture as the HTML report. Bad parameters get an InvalidParams error
response that says what is wrong; the server keeps serving."""

from __future__ import annotations

from typing import Any

from pygls.exceptions import JsonRpcInvalidParams

from tensorpeek.render.errors import RenderError
from tensorpeek.render.graph import layout_graph
from tensorpeek.server.render_request import as_plain

METHOD = "tensorpeek/layoutGraph"


def handle_layout_graph(params: Any) -> dict[str, Any]:
    request = as_plain(params)
    if not isinstance(request, dict) or "graph" not in request:
        raise JsonRpcInvalidParams(
            f'{METHOD} takes {{"graph": {{"nodes": [...], "edges": [...]}}}}'
        )
    try:
        return layout_graph(request["graph"])
    except RenderError as e:
        raise JsonRpcInvalidParams(f"{METHOD}: {e}") from None
