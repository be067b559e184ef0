"""Zero-code-change arming from ``TENSORPEEK_BREAKPOINTS``.

The distribution installs ``tensorpeek_autoarm.pth`` into site-packages. Python runs its one
line at start-up; when the variable is unset that line is a dictionary lookup and nothing is
imported. When it is set, ``install()`` adds an import hook that arms the breakpoints right
after ``torch`` finishes importing (or at once if torch is already imported), so the user's
script is untouched and processes that never import torch pay nothing.

The variable holds either ``;``-separated specs (``*:output:nonfinite;fc*:grad_output:norm > 10``)
or the path of a JSON file ``{"breakpoints": [spec-or-object, ...]}``. A file is re-read when
its modification time changes (checked at most once a second, at a root module's forward), so
the VS Code extension can change breakpoints while training runs.
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import json
import os
import sys
import time
from pathlib import Path
from types import ModuleType
from typing import Any

ENV_VAR = "TENSORPEEK_BREAKPOINTS"
POLL_INTERVAL_S = 1.0


def _looks_like_path(value: str) -> bool:
    return value.endswith(".json") or (os.sep in value and ":" not in value.split(os.sep)[-1])


def load_specs(value: str) -> list[Any]:
    """The spec list the variable describes (raises ``ValueError`` with a clear message)."""
    if _looks_like_path(value):
        path = Path(value)
        try:
            data = json.loads(path.read_text()) if path.exists() else {"breakpoints": []}
        except (OSError, json.JSONDecodeError) as e:
            raise ValueError(f"cannot read breakpoints file {value}: {e}") from None
        specs = data.get("breakpoints") if isinstance(data, dict) else None
        if not isinstance(specs, list):
            raise ValueError(f'{value} must hold {{"breakpoints": [spec, ...]}}')
        return specs
    return [part for part in value.split(";") if part.strip()]


class FileWatcher:
    """Re-applies the breakpoints file when it changes; bad content keeps the old breakpoints."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.mtime: float | None = None
        self._next_check = 0.0

    def __call__(self) -> None:
        now = time.monotonic()
        if now < self._next_check:
            return
        self._next_check = now + POLL_INTERVAL_S
        self.apply()

    def apply(self) -> None:
        try:
            mtime: float | None = os.stat(self.path).st_mtime_ns
        except OSError:
            mtime = None
        if mtime == self.mtime:
            return
        self.mtime = mtime
        _apply(self.path)


def _apply(value: str) -> bool:
    from tensorpeek.engine.api import set_breakpoints
    from tensorpeek.engine.spec import SpecError

    try:
        set_breakpoints(load_specs(value), keep_code=True)
    except (SpecError, ValueError) as e:
        print(f"tensorpeek: {ENV_VAR} not applied: {e}", file=sys.stderr, flush=True)
        return False
    return True


def arm() -> None:
    """Arm the breakpoints the variable describes (torch must be importable)."""
    value = os.environ.get(ENV_VAR, "").strip()
    if not value:
        return
    if _looks_like_path(value):
        from tensorpeek.engine.registry import REGISTRY

        watcher = FileWatcher(value)
        watcher.apply()
        REGISTRY.add_root_listener(watcher)  # keeps the hooks (and the watcher) installed
    else:
        _apply(value)


class _ArmAfterTorch(importlib.abc.MetaPathFinder):
    """Finds nothing itself; wraps torch's loader so ``arm()`` runs once torch is imported."""

    def find_spec(
        self, fullname: str, path: Any, target: Any = None
    ) -> importlib.machinery.ModuleSpec | None:
        if fullname != "torch":
            return None
        sys.meta_path.remove(self)
        spec = None
        for finder in sys.meta_path:
            find = getattr(finder, "find_spec", None)
            spec = find(fullname, path, target) if find is not None else None
            if spec is not None:
                break
        if spec is None or spec.loader is None or not hasattr(spec.loader, "exec_module"):
            return spec
        loader = spec.loader
        original_exec = loader.exec_module

        def exec_module(module: ModuleType) -> None:
            original_exec(module)
            try:
                arm()
            except Exception as e:  # noqa: BLE001 - never break the user's `import torch`
                print(
                    f"tensorpeek: could not arm {ENV_VAR}: {type(e).__name__}: {e}", file=sys.stderr
                )

        loader.exec_module = exec_module
        return spec


def install() -> None:
    """Called from the .pth line when the variable is set."""
    if "torch" in sys.modules:
        arm()
    elif not any(isinstance(f, _ArmAfterTorch) for f in sys.meta_path):
        sys.meta_path.insert(0, _ArmAfterTorch())
