"""Run a user's script in this process exactly as ``python SCRIPT ARGS`` would.

The script sees ``sys.argv == [SCRIPT, *ARGS]`` (SCRIPT as typed), ``__name__ ==
"__main__"`` (and is ``sys.modules["__main__"]`` while it runs, so pickling its classes works),
its own directory as ``sys.path[0]`` and its absolute path as ``__file__``; its exit code is
the one Python would give (``sys.exit(n)``, 1 for an uncaught exception, 130 for Ctrl-C).
tensorpeek may stop a run early (``--max-steps``, the first error in ``doctor``) by raising
``StopRun`` from one of its hooks: a ``BaseException``, so the script's own ``except
Exception`` blocks do not swallow it.
"""

from __future__ import annotations

import builtins
import io
import sys
import traceback
from dataclasses import dataclass
from importlib.machinery import SourceFileLoader
from pathlib import Path
from types import ModuleType, TracebackType


class ScriptNotFound(FileNotFoundError):
    """The script to run does not exist or is not a file."""


class StopRun(BaseException):
    """Raised by tensorpeek's hooks to end the user's script early; ``reason`` says why."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass
class ScriptResult:
    """How the script ended: ``status`` is ``completed``, ``failed`` (raised or exited
    non-zero), ``stopped`` (tensorpeek ended it) or ``interrupted`` (Ctrl-C)."""

    status: str
    exit_code: int
    error: str | None = None  # the exception's last line, when it raised
    traceback: str | None = None  # the user-facing traceback text (script frames only)
    stop_reason: str | None = None


def resolve_script(script: str) -> Path:
    """The script's absolute path; raise ``ScriptNotFound`` with a clear message otherwise."""
    path = Path(script)
    if not path.exists():
        raise ScriptNotFound(f"script not found: {script}")
    if not path.is_file():
        raise ScriptNotFound(f"not a file: {script}")
    return path.resolve()


def _exit_code(code: object) -> int:
    # mirrors Python's handling of SystemExit's argument
    if code is None:
        return 0
    if isinstance(code, int):
        return code
    print(code, file=sys.stderr)
    return 1


def _exec_as_main(script: Path) -> None:
    """What ``python SCRIPT`` does with the file. (``runpy.run_path`` would also set
    ``sys.argv[0]`` to the path it is given, where Python keeps the path as typed while
    ``__file__`` is absolute.)"""
    with io.open_code(str(script)) as f:
        source = f.read()
    code = compile(source, str(script), "exec", dont_inherit=True)
    module = ModuleType("__main__")
    module.__dict__.update(
        __file__=str(script),
        __cached__=None,
        __loader__=SourceFileLoader("__main__", str(script)),
        __spec__=None,
        __package__=None,
        __builtins__=builtins,
    )
    saved = sys.modules.get("__main__")
    sys.modules["__main__"] = module
    try:
        exec(code, module.__dict__)
    finally:
        if saved is not None:
            sys.modules["__main__"] = saved


def _user_traceback(tb: TracebackType | None, script: Path) -> TracebackType | None:
    """Drop the runner's own frames above the script's first frame."""
    start = tb
    while start is not None:
        if Path(start.tb_frame.f_code.co_filename) == script:
            return start
        start = start.tb_next
    return None  # a syntax error: the exception itself says where


def _script_over() -> None:
    """In a rank of a multi-rank job, a peer's stop must not land in tensorpeek's epilogue
    (the traceback, the report) once the script has ended: the ranks runtime is told."""
    watch = sys.modules.get("tensorpeek.engine.rank_watch")
    if watch is not None:
        watch.RUNTIME.hold_peer_stop()


def run_script(script: Path, args: list[str], argv0: str | None = None) -> ScriptResult:
    """Execute ``script`` (absolute) as ``__main__`` with ``args``; ``argv0`` is
    ``sys.argv[0]`` as the user typed it. Restores ``sys.argv`` and ``sys.path`` afterwards."""
    saved_argv, saved_path0 = sys.argv, sys.path[0] if sys.path else None
    sys.argv = [argv0 or str(script), *args]
    script_dir = str(script.parent)
    if sys.path:
        sys.path[0] = script_dir
    else:
        sys.path.insert(0, script_dir)
    try:
        try:
            _exec_as_main(script)
        finally:
            _script_over()
        return ScriptResult("completed", 0)
    except SystemExit as e:
        code = _exit_code(e.code)
        return ScriptResult("completed" if code == 0 else "failed", code)
    except StopRun as e:
        return ScriptResult("stopped", 0, stop_reason=e.reason)
    except KeyboardInterrupt:
        text = "KeyboardInterrupt\n"
        sys.stderr.write(text)
        return ScriptResult("interrupted", 130, error="KeyboardInterrupt", traceback=text)
    except BaseException as e:  # noqa: BLE001 - any uncaught error of the script is reported
        tb = _user_traceback(e.__traceback__, script)
        text = "".join(traceback.format_exception(type(e), e, tb))
        sys.stderr.write(text)
        sys.stderr.flush()
        last = traceback.format_exception_only(type(e), e)[-1].strip()
        return ScriptResult("failed", 1, error=last, traceback=text)
    finally:
        sys.argv = saved_argv
        if saved_path0 is not None and sys.path and sys.path[0] == script_dir:
            sys.path[0] = saved_path0
        sys.stdout.flush()
