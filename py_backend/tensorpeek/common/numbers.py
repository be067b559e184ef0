"""The one number formatter for every text tensorpeek prints: hovers, terminal reports, hit
messages, HTML tables."""

from __future__ import annotations

import math


def format_number(
    value: float | int | None, digits: int = 3, *, missing: str = "?", grouping: bool = False
) -> str:
    """``digits`` significant digits, exponent without padding: 0.002, -0.81, 1.23e5, 4e-30.

    Integers are written out (with thousands separators when ``grouping``) below 10**6 and
    in exponent form above; ``None`` is ``missing``; NaN and infinities are ``nan``, ``inf``,
    ``-inf``."""
    if value is None:
        return missing
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, int):
        if abs(value) < 10**6 or grouping:
            return f"{value:,}" if grouping else str(value)
        return _exponent(float(value), digits)
    value = float(value)
    if not math.isfinite(value):
        return str(value)
    if value == 0:
        return "0"
    if 1e-3 <= abs(value) < 1e5:
        return f"{value:.{digits}g}"
    return _exponent(value, digits)


def _exponent(value: float, digits: int) -> str:
    mantissa, exponent = f"{value:.{max(digits - 1, 0)}e}".split("e")
    if "." in mantissa:
        mantissa = mantissa.rstrip("0").rstrip(".")
    return f"{mantissa}e{int(exponent)}"
