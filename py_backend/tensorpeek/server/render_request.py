"""`tensorpeek/render` (custom request): draw a picture of a summary or detail payload and
return it as SVG text or base64 PNG, with the picture's hover map where it has one. Bad
parameters get an InvalidParams error response that says what is wrong; the server keeps
serving."""

from __future__ import annotations

import base64
from typing import Any

from pygls.exceptions import JsonRpcInvalidParams

from tensorpeek.render import RenderError, Theme, render_picture

METHOD = "tensorpeek/render"
_MIME = {"svg": "image/svg+xml", "png": "image/png"}


def as_plain(value: Any) -> Any:
    """pygls hands custom-request params over as nested namedtuples; back to dicts/lists."""
    if hasattr(value, "_asdict"):
        return {k: as_plain(v) for k, v in value._asdict().items()}
    if isinstance(value, (list, tuple)):
        return [as_plain(v) for v in value]
    return value


def handle_render(params: Any) -> dict[str, Any]:
    request = as_plain(params)
    if not isinstance(request, dict):
        raise JsonRpcInvalidParams(f"{METHOD} takes an object, got {type(request).__name__}")
    try:
        fmt = request.get("format", "svg")
        picture = render_picture(
            request.get("kind", ""),
            request.get("payload"),  # type: ignore[arg-type]  # validated by render
            fmt=fmt,
            theme=Theme.from_request(request.get("theme")),
            width=request.get("width", 480),
            height=request.get("height", 300),
            pixel_ratio=request.get("pixelRatio", 1.0),
        )
    except RenderError as e:
        raise JsonRpcInvalidParams(f"{METHOD}: {e}") from None
    data = picture.data
    text = data.decode("utf-8") if fmt == "svg" else base64.b64encode(data).decode("ascii")
    reply: dict[str, Any] = {"mime": _MIME[fmt], "data": text}
    if picture.hover is not None:
        reply["hover"] = picture.hover  # where the plot is and what lies under the pointer
    return reply
