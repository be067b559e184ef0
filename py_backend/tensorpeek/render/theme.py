"""Editor colours and font size for pictures, so they look native in dark and light themes."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from matplotlib.colors import to_rgba

from tensorpeek.render.errors import RenderError

_RGB_FUNCTION = re.compile(
    r"rgba?\(\s*([\d.]+)\s*,\s*([\d.]+)\s*,\s*([\d.]+)\s*(?:,\s*([\d.]+)\s*)?\)", re.I
)

RGBA = tuple[float, float, float, float]


def parse_colour(value: Any, field: str) -> RGBA:
    """`#rgb`, `#rrggbb`, `#rrggbbaa`, `rgb()/rgba()` (as CSS variables give them) or a
    matplotlib colour name, as an RGBA tuple in 0..1."""
    if not isinstance(value, str) or not value.strip():
        raise RenderError(f"theme.{field} must be a colour string, got {value!r}")
    text = value.strip()
    match = _RGB_FUNCTION.fullmatch(text)
    if match:
        r, g, b = (float(match.group(i)) / 255.0 for i in (1, 2, 3))
        a = float(match.group(4)) if match.group(4) is not None else 1.0
        return (min(r, 1.0), min(g, 1.0), min(b, 1.0), min(a, 1.0))
    if re.fullmatch(r"#[0-9a-fA-F]{3}", text):
        text = "#" + "".join(c * 2 for c in text[1:])
    try:
        return to_rgba(text)
    except ValueError:
        raise RenderError(f"theme.{field}: {value!r} is not a colour") from None


@dataclass(frozen=True)
class Theme:
    """Colours as RGBA tuples; `font_size` in points."""

    foreground: RGBA = (0.2, 0.2, 0.2, 1.0)
    background: RGBA = (1.0, 1.0, 1.0, 1.0)
    accent: RGBA = (0.0, 0.45, 0.8, 1.0)
    font_size: float = 9.0

    @property
    def is_dark(self) -> bool:
        r, g, b, _ = self.background
        return 0.299 * r + 0.587 * g + 0.114 * b < 0.5

    @property
    def bad(self) -> RGBA:
        """Colour of non-finite and flagged things: red that reads on either background."""
        return (0.95, 0.35, 0.35, 1.0) if self.is_dark else (0.8, 0.1, 0.1, 1.0)

    @property
    def warn(self) -> RGBA:
        return (0.95, 0.7, 0.2, 1.0) if self.is_dark else (0.75, 0.45, 0.0, 1.0)

    @property
    def muted(self) -> RGBA:
        r, g, b, _ = self.foreground
        return (r, g, b, 0.55)

    @classmethod
    def from_request(cls, raw: Any) -> Theme:
        """The LSP request's `{"foreground", "background", "accent", "fontSize"}`; any key
        may be missing (the default is kept)."""
        if raw is None:
            return cls()
        if not isinstance(raw, dict):
            raise RenderError(f"theme must be an object, got {type(raw).__name__}")
        base = cls()
        size = raw.get("fontSize", base.font_size)
        if isinstance(size, bool) or not isinstance(size, (int, float)) or not 4 <= size <= 40:
            raise RenderError(f"theme.fontSize must be a number from 4 to 40, got {size!r}")
        return cls(
            foreground=_colour_or(raw, "foreground", base.foreground),
            background=_colour_or(raw, "background", base.background),
            accent=_colour_or(raw, "accent", base.accent),
            font_size=float(size),
        )

    def key(self) -> tuple[Any, ...]:
        return (self.foreground, self.background, self.accent, self.font_size)


def _colour_or(raw: dict[str, Any], field: str, default: RGBA) -> RGBA:
    return parse_colour(raw[field], field) if raw.get(field) is not None else default
