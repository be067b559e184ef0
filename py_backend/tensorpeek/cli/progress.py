"""The progress line ``tensorpeek doctor`` keeps rewriting on a terminal."""

from __future__ import annotations

import sys
import time


class ProgressLine:
    """``step N · E errors · W warnings`` rewritten in place on a terminal, at most 10×/s."""

    def __init__(self, label: str, enabled: bool | None = None) -> None:
        self.label = label
        self.enabled = sys.stderr.isatty() if enabled is None else enabled
        self._last = 0.0
        self._shown = False

    def update(self, text: str, force: bool = False) -> None:
        if not self.enabled:
            return
        now = time.monotonic()
        if not force and now - self._last < 0.1:
            return
        self._last = now
        sys.stderr.write(f"\r\x1b[2K{self.label}: {text}")
        sys.stderr.flush()
        self._shown = True

    def clear(self) -> None:
        if self.enabled and self._shown:
            sys.stderr.write("\r\x1b[2K")
            sys.stderr.flush()
            self._shown = False
