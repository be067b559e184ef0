"""Helpers of the in-process ranks tests (fixtures are in ``conftest.py``)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any


def eventually(read: Callable[[], Any], within: float = 5.0) -> Any:
    """``read()`` once it is truthy (the watcher thread acts within a poll), else its last value."""
    deadline = time.monotonic() + within
    value = read()
    while not value and time.monotonic() < deadline:
        time.sleep(0.01)
        value = read()
    return value
