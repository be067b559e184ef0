"""The ``modules`` method: the module paths a breakpoint can target, from the last root the
breakpoints saw running (``live``) or else from the biggest ``nn.Module`` in the frame."""

from __future__ import annotations

import sys
from collections.abc import Mapping
from typing import Any

from tensorpeek.agent.frame_scan import scan_modules
from tensorpeek.engine import history


def modules_method(params: dict[str, Any], frame_locals: Mapping[str, Any], max_bytes: int) -> Any:
    """``modules``: module paths for the breakpoint picker."""
    live = history.live_modules()
    if live:
        return {"modules": live, "source": "live"}
    if "torch" not in sys.modules:  # no module can exist; importing torch would cost seconds
        return {"modules": [], "source": "none"}
    biggest = scan_modules(frame_locals)
    if biggest is None:
        return {"modules": [], "source": "none"}
    return {"modules": [name for name, _ in biggest.named_modules()], "source": "frame"}
