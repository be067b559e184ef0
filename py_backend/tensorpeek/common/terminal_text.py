"""Text from untrusted sources made safe to print on a terminal.

Checkpoint keys, module paths, class names and labels come from files and user code; printed
raw, an ESC sequence in one of them can erase lines (hiding another tensor's NaN flag), move
the cursor or set the window title. ``terminal_safe`` escapes every control character the way
Python writes it (``\\x1b``, ``\\n``, ``\\x9b``, ``\\u202e``) and leaves the rest readable: C0
and C1 controls, DEL, Unicode format characters (bidirectional overrides, zero-width ones),
line and paragraph separators, surrogates and unassigned code points. Whatever an ESC
sequence carried stays visible as text, it just no longer acts.
"""

from __future__ import annotations

import unicodedata

_ESCAPED_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Cn", "Co", "Zl", "Zp"})


def _escape(ch: str) -> str:
    code = ord(ch)
    if ch == "\n":
        return "\\n"
    if ch == "\t":
        return "\\t"
    if ch == "\r":
        return "\\r"
    if code <= 0xFF:
        return f"\\x{code:02x}"
    return f"\\u{code:04x}" if code <= 0xFFFF else f"\\U{code:08x}"


def terminal_safe(text: object) -> str:
    """``str(text)`` with every control character escaped (see the module docstring)."""
    s = str(text)
    if s.isascii() and s.isprintable():  # the common case: nothing to do
        return s
    return "".join(
        _escape(ch) if unicodedata.category(ch) in _ESCAPED_CATEGORIES else ch for ch in s
    )
