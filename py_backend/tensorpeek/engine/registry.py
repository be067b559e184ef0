"""The armed breakpoints, the ring of recent hits and the hits being paused at: the engine's
state, readable without torch.

The agent reads it at every debugger stop, in a process that may never have imported torch,
so nothing here imports torch. Arming and disarming change it through ``Registry`` methods
only; ``changed()`` then calls ``wiring``, which ``tensorpeek.engine.dispatch`` sets when it is
imported (the API that arms breakpoints imports it): it re-wires PyTorch's hooks.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from tensorpeek.engine.breakpoint import Breakpoint
    from tensorpeek.engine.hit import Hit

MAX_HITS = 256  # hits kept by ``hits()``


class Registry:
    """Breakpoints by id, a bounded ring of hits, the pause stack and the root-forward
    listeners (``tensorpeek run``'s session, the breakpoints-file watcher)."""

    def __init__(self) -> None:
        self.breakpoints: dict[int, Breakpoint] = {}
        self.generation = 0  # bumped by every change; hooks cache per-module tables by it
        self.hits: deque[Hit] = deque(maxlen=MAX_HITS)
        self.paused: list[Hit] = []  # the hits being paused at, innermost last
        self.root_listeners: list[Callable[[], None]] = []  # called at each root forward
        self.wiring: Callable[[Registry], None] | None = None  # set by engine.dispatch
        self.lock = threading.RLock()

    def enabled(self) -> list[Breakpoint]:
        return [bp for bp in self.breakpoints.values() if bp.enabled]

    @property
    def active(self) -> bool:
        """Whether PyTorch's hooks must be installed: a breakpoint is enabled or a root-forward
        listener waits for forwards."""
        return bool(self.enabled() or self.root_listeners)

    def add(self, bps: Iterable[Breakpoint]) -> None:
        with self.lock:
            for bp in bps:
                self.breakpoints[bp.id] = bp
        self.changed()

    def remove(self, bps: Iterable[Breakpoint]) -> None:
        with self.lock:
            for bp in bps:
                self.breakpoints.pop(bp.id, None)
        self.changed()

    def replace(self, bps: Iterable[Breakpoint], *, keep_code: bool) -> None:
        """All breakpoints become ``bps`` (plus, with ``keep_code``, those the program armed
        itself with ``break_on`` / ``breakpoints(...)``)."""
        with self.lock:
            for bp_id, old in list(self.breakpoints.items()):
                if not (keep_code and old.from_code):
                    del self.breakpoints[bp_id]
            for bp in bps:
                self.breakpoints[bp.id] = bp
        self.changed()

    def clear(self) -> None:
        with self.lock:
            self.breakpoints.clear()
            self.hits.clear()
        self.changed()

    def record_hit(self, hit: Hit) -> None:
        """Append ``hit``; the previous latest hit drops its strong references."""
        with self.lock:
            if self.hits:
                self.hits[-1].weaken()
            self.hits.append(hit)

    def add_root_listener(self, fn: Callable[[], None]) -> None:
        self.root_listeners.append(fn)
        self.changed()

    def remove_root_listener(self, fn: Callable[[], None]) -> None:
        if fn in self.root_listeners:
            self.root_listeners.remove(fn)
        self.changed()

    def current_hit(self) -> Hit | None:
        """The hit the program is paused at right now, if any."""
        return self.paused[-1] if self.paused else None

    def changed(self) -> None:
        """Breakpoints were added, removed, enabled or disabled: re-wire the hooks."""
        with self.lock:
            self.generation += 1
            if self.wiring is not None:
                self.wiring(self)


REGISTRY = Registry()
