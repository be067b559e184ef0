"""The slot through which the engine tells a debugger's client about a tensor-breakpoint stop
just before it happens. The engine sits below the agent that builds what is told (the stop's
snapshot) and may not import it, so the package's root fills the slot when ``tensorpeek`` is
imported (``tensorpeek._announce_stop``, which loads the agent at the first such stop only);
``engine.pause.announce_stop`` calls it. ``None``: nothing is told, the client asks after the
stop as before."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

# frame locals of the pause frame -> the body of the custom DAP event
announcer: Callable[[dict[str, Any]], dict[str, Any]] | None = None
