"""Bounded ring buffers of what the breakpoints saw: recent statistics per watched module and
site (the VS Code panel's per-layer history) and the most recent hits.

Only small dicts of numbers are kept here, never tensors, so memory stays bounded no matter
how long training runs.
"""

from __future__ import annotations

import threading
from collections import deque
from typing import Any

HISTORY_LENGTH = 64  # entries kept per (module, site)
MAX_MODULES = 4096  # (module, site) series kept at most; further ones are not recorded

_lock = threading.Lock()
_series: dict[str, dict[str, deque[dict[str, Any]]]] = {}
_series_count = 0
_live_modules: list[str] = []
_rings: dict[tuple[str, str], deque[dict[str, Any]]] = {}  # (module, site) -> its ring


def record(module: str, site: str, step: int, summary: dict[str, Any]) -> None:
    """Append one observation; a second one in the same step replaces the first's values."""
    global _series_count
    with _lock:
        sites = _series.get(module)
        if sites is None:
            if _series_count >= MAX_MODULES:
                return
            sites = _series[module] = {}
        ring = sites.get(site)
        if ring is None:
            if _series_count >= MAX_MODULES:
                return
            _series_count += 1
            ring = sites[site] = _rings[(module, site)] = deque(maxlen=HISTORY_LENGTH)
        if ring and ring[-1]["step"] == step:
            ring[-1]["summary"].update(summary)
        else:
            ring.append({"step": step, "summary": dict(summary)})


def record_norm(module: str, site: str, step: int, norm: float) -> None:
    """``record(module, site, step, {"norm": norm})``, the hooks' common case, without the
    nested lookups once the series exists."""
    ring = _rings.get((module, site))
    if ring is None:
        record(module, site, step, {"norm": norm})
        return
    with _lock:
        if ring and ring[-1]["step"] == step:
            ring[-1]["summary"]["norm"] = norm
        else:
            ring.append({"step": step, "summary": {"norm": norm}})


def layer_history() -> dict[str, dict[str, list[dict[str, Any]]]]:
    """``{module_path: {site: [{"step": int, "summary": dict}, ...]}}``, oldest first (a copy)."""
    with _lock:
        return {
            module: {
                site: [dict(e, summary=dict(e["summary"])) for e in ring]
                for site, ring in sites.items()
            }
            for module, sites in _series.items()
        }


def set_live_modules(paths: list[str]) -> None:
    global _live_modules
    _live_modules = list(paths)


def live_modules() -> list[str]:
    """Module paths (``named_modules()`` order) of the last root module seen running forward."""
    return list(_live_modules)


def clear() -> None:
    """Forget all recorded history (the breakpoints themselves are untouched)."""
    global _series_count
    with _lock:
        _series.clear()
        _rings.clear()
        _series_count = 0
