"""The one error type of the renderer: a payload or option it cannot draw."""

from __future__ import annotations


class RenderError(ValueError):
    """The payload, theme or size is not something the renderer can draw; the message
    says which field and what was expected."""
