"""Two delays of debugpy's in-process side (pydevd) that cost every tensor-breakpoint stop in
VS Code, and what tensorpeek does about them while it pauses there (issue 16's stop timings).

At a stop VS Code and the extension send several requests at once: the stack, the frame's
variables, the panel's snapshot (one ``evaluate``). Measured with a real adapter (the
``stop`` pattern of ``benchmarks/bench_dap_stop.py``), the snapshot's answer came after
~90 ms, of which the agent's work was ~2 ms:

- **Nagle's algorithm.** pydevd's TCP connection to the adapter has no ``TCP_NODELAY``: an
  answer written right after another waits for the adapter's delayed ACK (~40 ms) before it
  leaves. :func:`no_delay` sets ``TCP_NODELAY`` on that socket, once per connection (pydevd
  itself does so only before a process replaces itself).
- **A sleeping wait loop.** The suspended main thread handles one queued request per wake-up
  and otherwise sleeps up to 0.2 s (pydevd's ``TIMEOUT_SLOW``): the third of three requests
  queued together waited ~200 ms. In its GUI mode (``gui_in_use``) the loop sleeps 20 ms
  instead. :func:`quick_replies` turns that mode on for a tensorpeek pause in the main thread
  when it changes nothing else (no GUI event loop to start: no ``matplotlib`` loaded that
  pydevd would patch, no other GUI loop configured) and off again when the pause ends.

Both reach into pydevd's internals (debugpy 1.8): anything that does not look as expected is
left as it is, and nothing here raises into the user's program. ``TENSORPEEK_QUICK_REPLIES=0``
leaves pydevd alone (the benchmark's "as is" side; a way out if a debugpy release disagrees).
"""

from __future__ import annotations

import os
import socket
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

_tuned_sockets: set[int] = set()  # id() of the pydevd sockets given TCP_NODELAY


def _debugger() -> Any:
    pydevd = sys.modules.get("pydevd")
    get = getattr(pydevd, "get_global_debugger", None)
    return get() if callable(get) else None


def no_delay(py_db: Any = None) -> bool:
    """Give pydevd's socket to the adapter ``TCP_NODELAY``; True when it has it."""
    try:
        py_db = py_db if py_db is not None else _debugger()
        sock = getattr(getattr(py_db, "writer", None), "sock", None)
        if not isinstance(sock, socket.socket) or sock.type != socket.SOCK_STREAM:
            return False
        if sock.family not in (socket.AF_INET, socket.AF_INET6):
            return False
        if id(sock) not in _tuned_sockets:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            _tuned_sockets.add(id(sock))
        return bool(sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))
    except (OSError, AttributeError, TypeError, ValueError):
        return False  # a closed socket, another pydevd: left as it is


def _gui_mode_changes_nothing(py_db: Any) -> bool:
    """Whether turning pydevd's GUI mode on now skips nothing it would do at this stop (its
    ``_activate_gui_if_needed`` starts a GUI loop only for these)."""
    if getattr(py_db, "gui_in_use", None) is not False:
        return False
    if getattr(py_db, "activate_gui_function", None):
        return False
    pending = getattr(py_db, "mpl_modules_for_patching", None)
    if not isinstance(pending, dict):
        return False
    return not any(name in sys.modules for name in pending)


@contextmanager
def quick_replies() -> Iterator[None]:
    """Around a tensorpeek pause in the debugger: :func:`no_delay`, and pydevd's 20 ms wait
    loop for this pause (main thread only; restored when the pause ends)."""
    py_db: Any = None
    turned_on = False
    if os.environ.get("TENSORPEEK_QUICK_REPLIES") == "0":
        yield
        return
    try:
        py_db = _debugger()
        if py_db is not None:
            no_delay(py_db)
            if threading.current_thread() is threading.main_thread() and _gui_mode_changes_nothing(
                py_db
            ):
                py_db.gui_in_use = True
                turned_on = True
    except (AttributeError, TypeError):  # pydevd's internals moved: the pause goes on as it was
        turned_on = False
    try:
        yield
    finally:
        if turned_on and getattr(py_db, "gui_in_use", None) is True:
            py_db.gui_in_use = False
