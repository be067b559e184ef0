"""Zero-code-change arming from ``TENSORPEEK_BREAKPOINTS``.

The distribution installs ``tensorpeek_autoarm.pth`` into site-packages. Python runs its one
line at start-up; when the variable is unset that line is a dictionary lookup and nothing is
imported. When it is set, ``install()`` adds an import hook that arms the breakpoints right
after ``torch`` finishes importing (or at once if torch is already imported), so the user's
script is untouched and processes that never import torch pay nothing.

The variable holds either the path of a JSON file ``{"breakpoints": [spec-or-object, ...]}`` or
``;``-separated specs (``*:output:nonfinite;fc*:grad_output:norm > 10``). The rule: **a value
ending in ``.json`` (any case) is a file path; anything else is a spec list**, parsed by
``tensorpeek.engine.spec.parse_spec_list`` (so ``*:output:norm / numel > 3`` is a spec, and a
breakpoints file must be named ``*.json``). A spec list with no ``:`` that contains a path
separator (``/tmp/bps``) is refused as a file name without ``.json``, not armed as a target.
A file is re-read when its modification time changes (checked at most once a second, at a
root module's forward), so the VS Code extension can change breakpoints while training runs.

Every value that arms nothing says why in exactly one line on stderr: a bad spec, a list
without specs, a file that is missing (it is armed when it appears), unreadable, not JSON,
not of that shape, or holding no breakpoints. A bad re-read keeps the breakpoints armed.
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


def is_file_value(value: str) -> bool:
    """The rule of the module docstring: a value ending in ``.json`` names a file."""
    return value.strip().lower().endswith(".json")


class NothingArmed(ValueError):
    """The value is valid but holds no breakpoint (an empty file, a missing one)."""


def _read_file(value: str) -> list[Any]:
    path = Path(value.strip())
    if not path.exists():
        raise NothingArmed(
            f"breakpoints file {path} does not exist; nothing armed (watching for it)"
        )
    try:
        data = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, RecursionError) as e:
        raise ValueError(f"cannot read breakpoints file {path}: {e}") from None
    specs = data.get("breakpoints") if isinstance(data, dict) else None
    if not isinstance(specs, list):
        raise ValueError(f'{path} must hold {{"breakpoints": [spec, ...]}}')
    if not specs:
        raise NothingArmed(f"{path} holds no breakpoints; nothing armed (watching it)")
    return specs


def load_specs(value: str) -> list[Any]:
    """The spec list the variable describes (the rule: module docstring). Raises
    ``ValueError`` (``SpecError`` for a bad spec, ``NothingArmed`` for a valid value that
    holds no breakpoint) with a one-line message."""
    from tensorpeek.engine.spec import parse_spec_list

    if is_file_value(value):
        return _read_file(value)
    if ":" not in value and any(sep in value for sep in ("/", "\\", os.sep)):
        raise ValueError(
            f"{value.strip()!r} looks like a file path, but a breakpoints file's name must end "
            "in .json (a spec list needs TARGET:SITE:CONDITION items)"
        )
    return list(parse_spec_list(value))


class FileWatcher:
    """Re-applies the breakpoints file when it changes; bad content keeps the old breakpoints."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.mtime: float | None = None
        self._seen = False  # the first apply always reads (and reports a missing file)
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
        if self._seen and mtime == self.mtime:
            return
        self._seen = True
        self.mtime = mtime
        _apply(self.path)


def _say(message: str) -> None:
    text = " ".join(message.split())  # one line, whatever the message held
    print(f"tensorpeek: {ENV_VAR} {text}", file=sys.stderr, flush=True)


def _apply(value: str) -> bool:
    """Arm what ``value`` describes; on failure print one line and return False. A valid value
    holding nothing (an empty or missing file) disarms what the variable had armed."""
    from tensorpeek.engine.api import set_breakpoints

    try:
        set_breakpoints(load_specs(value), keep_code=True)
    except NothingArmed as e:
        set_breakpoints([], keep_code=True)
        _say(str(e))
        return False
    except ValueError as e:  # SpecError is a ValueError
        _say(f"not applied: {e}")
        return False
    return True


def arm() -> None:
    """Arm the breakpoints the variable describes (torch must be importable)."""
    value = os.environ.get(ENV_VAR, "").strip()
    if not value:
        if ENV_VAR in os.environ:
            _say("is blank; nothing armed")
        return
    if is_file_value(value):
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
