"""A small Debug Adapter Protocol client that drives a real ``debugpy`` adapter over stdio.

Tests of the debugger integration talk to the same adapter VS Code starts
(``python -m debugpy.adapter``), so what they check is what a user sees. Typical use::

    from support.dap_client import DapSession, marked_line

    script = FIXTURES / "train_step.py"          # has a line ending in "# @bp stop"
    with DapSession() as dap:                     # starts the adapter; always cleaned up
        dap.initialize()
        dap.launch(script, justMyCode=True)       # returns at once (debugpy answers later)
        dap.set_breakpoints(script, [marked_line(script, "stop")])
        dap.configuration_done()                  # also waits for the launch response
        stopped = dap.wait_for_event("stopped", timeout=30)
        frame_id = dap.stack_trace(stopped["threadId"])[0]["id"]
        print(dap.evaluate("x.shape", frame_id, context="hover")["result"])
        dap.continue_(stopped["threadId"])
        dap.wait_for_event("terminated")

``dap_session`` in ``support.dap_fixtures`` is the same thing as a pytest fixture. Every wait
has a timeout (``DapTimeout``); failed requests raise ``DapError`` with the adapter's message.
On exit the debuggee (whose pid comes from the ``process`` event) and the adapter's process
group are killed if a polite ``disconnect`` did not end them.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[2]
VENV_PYTHON = REPO_ROOT / ".venv" / "bin" / "python"
DEFAULT_TIMEOUT = 30.0

_BP_MARK = re.compile(r"#\s*@bp\b\s*(\w+)?")


class DapError(RuntimeError):
    """The adapter answered a request with ``success: false``."""


class DapTimeout(TimeoutError):
    """An awaited response or event did not arrive in time."""


def default_python() -> str:
    """The project's venv interpreter if it exists, else the interpreter running the tests."""
    return str(VENV_PYTHON) if VENV_PYTHON.exists() else sys.executable


def marked_lines(path: str | os.PathLike[str]) -> list[int]:
    """1-based numbers of every line carrying a ``# @bp`` marker, in file order."""
    text = Path(path).read_text(encoding="utf-8").splitlines()
    return [i for i, line in enumerate(text, start=1) if _BP_MARK.search(line)]


def marked_line(path: str | os.PathLike[str], label: str) -> int:
    """The 1-based number of the line marked ``# @bp <label>``; a clear error if absent."""
    for i, line in enumerate(Path(path).read_text(encoding="utf-8").splitlines(), start=1):
        m = _BP_MARK.search(line)
        if m and m.group(1) == label:
            return i
    raise LookupError(f"no line marked '# @bp {label}' in {path}")


class DapSession:
    """One adapter process and the DAP conversation with it. Use as a context manager."""

    def __init__(self, python: str | None = None, *, log_dir: str | None = None) -> None:
        self.python = python or default_python()
        self._log_dir = log_dir
        self._proc: subprocess.Popen[bytes] | None = None
        self._stderr_file: Any = None
        self._seq = 0
        self._cond = threading.Condition()
        self._responses: dict[int, dict[str, Any]] = {}
        self._pending_events: list[dict[str, Any]] = []
        self.events: list[dict[str, Any]] = []  # every event received, in order
        self.debuggee_pid: int | None = None
        self._reader: threading.Thread | None = None
        self._write_lock = threading.Lock()
        self._launch_seq: int | None = None
        self._closed = False

    # -- process lifetime -------------------------------------------------------------------

    def start(self) -> DapSession:
        argv = [self.python, "-m", "debugpy.adapter"]
        if self._log_dir:
            argv += ["--log-dir", self._log_dir]
        self._stderr_file = tempfile.TemporaryFile()  # noqa: SIM115 - closed in close()
        self._proc = subprocess.Popen(
            argv,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._stderr_file,
            start_new_session=True,  # the adapter and its launcher form a group we can kill
        )
        self._reader = threading.Thread(target=self._read_loop, name="dap-reader", daemon=True)
        self._reader.start()
        return self

    def __enter__(self) -> DapSession:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self, timeout: float = 5.0) -> None:
        """Disconnect (terminating the debuggee) and make sure every process is gone."""
        if self._closed or self._proc is None:
            return
        self._closed = True
        proc = self._proc
        if proc.poll() is None:
            with contextlib.suppress(DapError, DapTimeout, OSError):
                self.request("disconnect", {"terminateDebuggee": True}, timeout=timeout)
        pid = self.debuggee_pid
        if pid is not None and _wait_pid_gone(pid, timeout):
            pass
        elif pid is not None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=timeout)
        for stream in (proc.stdin, proc.stdout):
            if stream is not None:
                with contextlib.suppress(OSError):
                    stream.close()
        if self._reader is not None:
            self._reader.join(timeout=timeout)
        if self._stderr_file is not None:
            self._stderr_file.close()

    def adapter_stderr(self) -> str:
        """What the adapter wrote to stderr so far (for failure messages)."""
        if self._stderr_file is None or self._stderr_file.closed:
            return ""
        self._stderr_file.seek(0)
        return self._stderr_file.read().decode("utf-8", "replace")

    # -- wire -------------------------------------------------------------------------------

    def _read_loop(self) -> None:
        assert self._proc is not None and self._proc.stdout is not None
        stream = self._proc.stdout
        try:
            while True:
                length = None
                while True:
                    line = stream.readline()
                    if not line:
                        return
                    line = line.strip()
                    if not line:
                        break
                    name, _, value = line.decode("ascii").partition(":")
                    if name.strip().lower() == "content-length":
                        length = int(value.strip())
                if length is None:
                    continue
                body = stream.read(length)
                if len(body) < length:
                    return
                self._dispatch(json.loads(body.decode("utf-8")))
        finally:
            with self._cond:
                self._cond.notify_all()

    def _dispatch(self, message: dict[str, Any]) -> None:
        kind = message.get("type")
        if kind == "request":  # reverse request (e.g. runInTerminal): we do not support any
            self._send(
                {
                    "type": "response",
                    "request_seq": message["seq"],
                    "command": message.get("command"),
                    "success": False,
                    "message": "not supported by the test client",
                }
            )
            return
        with self._cond:
            if kind == "response":
                self._responses[message["request_seq"]] = message
            elif kind == "event":
                if message.get("event") == "process":
                    self.debuggee_pid = message.get("body", {}).get("systemProcessId")
                self.events.append(message)
                self._pending_events.append(message)
            self._cond.notify_all()

    def _send(self, message: dict[str, Any]) -> None:
        assert self._proc is not None and self._proc.stdin is not None
        with self._write_lock:
            self._seq += 1
            message["seq"] = self._seq
            data = json.dumps(message).encode("utf-8")
            self._proc.stdin.write(b"Content-Length: %d\r\n\r\n" % len(data) + data)
            self._proc.stdin.flush()

    def send_request(self, command: str, arguments: dict[str, Any] | None = None) -> int:
        """Send a request without waiting; returns its ``seq`` for ``wait_response``."""
        message: dict[str, Any] = {"type": "request", "command": command}
        if arguments is not None:
            message["arguments"] = arguments
        self._send(message)
        return int(message["seq"])

    def wait_response(self, seq: int, timeout: float = DEFAULT_TIMEOUT) -> dict[str, Any]:
        """The body of the response to request ``seq``; ``DapError`` if it failed."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while seq not in self._responses:
                remaining = deadline - time.monotonic()
                if remaining <= 0 or not self._alive():
                    raise DapTimeout(
                        f"no response to request {seq} within {timeout} s"
                        f"{'' if self._alive() else ' (adapter exited)'}\n{self.adapter_stderr()}"
                    )
                self._cond.wait(remaining)
            response = self._responses.pop(seq)
        if not response.get("success"):
            raise DapError(f"{response.get('command')} failed: {response.get('message')}")
        return dict(response.get("body") or {})

    def request(
        self,
        command: str,
        arguments: dict[str, Any] | None = None,
        timeout: float = DEFAULT_TIMEOUT,
    ) -> dict[str, Any]:
        return self.wait_response(self.send_request(command, arguments), timeout)

    def _alive(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def wait_for_event(self, name: str, timeout: float = DEFAULT_TIMEOUT) -> dict[str, Any]:
        """The body of the next not-yet-consumed event called ``name`` (waits up to ``timeout``)."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                for i, event in enumerate(self._pending_events):
                    if event.get("event") == name:
                        del self._pending_events[i]
                        return dict(event.get("body") or {})
                remaining = deadline - time.monotonic()
                if remaining <= 0 or (self._reader is not None and not self._reader.is_alive()):
                    seen = [e.get("event") for e in self.events]
                    raise DapTimeout(
                        f"no {name!r} event within {timeout} s; events so far: {seen}\n"
                        f"debuggee output:\n{self.output()[-2000:]}"
                    )
                self._cond.wait(remaining)

    def output(self, categories: Iterable[str] = ("stdout", "stderr", "console")) -> str:
        """Text of the ``output`` events received so far (the debuggee's prints by default)."""
        wanted = set(categories)
        with self._cond:
            return "".join(
                e["body"].get("output", "")
                for e in self.events
                if e.get("event") == "output" and e.get("body", {}).get("category") in wanted
            )

    # -- DAP requests -----------------------------------------------------------------------

    def initialize(self) -> dict[str, Any]:
        return self.request(
            "initialize",
            {
                "clientID": "tensorpeek-tests",
                "adapterID": "debugpy",
                "pathFormat": "path",
                "linesStartAt1": True,
                "columnsStartAt1": True,
                "supportsVariableType": True,
                "supportsRunInTerminalRequest": False,
            },
        )

    def launch(
        self,
        program: str | os.PathLike[str],
        args: list[str] | None = None,
        cwd: str | os.PathLike[str] | None = None,
        env: dict[str, str] | None = None,
        justMyCode: bool = True,  # debugpy's own key spelling
        stopOnEntry: bool = False,
        python: str | None = None,
        timeout: float = DEFAULT_TIMEOUT,
    ) -> None:
        """Send ``launch`` and wait for ``initialized``. debugpy answers the launch request only
        after ``configurationDone``, so ``configuration_done`` collects that answer."""
        arguments: dict[str, Any] = {
            "type": "python",
            "request": "launch",
            "name": "tensorpeek test",
            "program": str(program),
            "args": list(args or []),
            "cwd": str(cwd or Path(program).resolve().parent),
            "console": "internalConsole",
            "justMyCode": justMyCode,
            "stopOnEntry": stopOnEntry,
            "python": [python or self.python],
        }
        if env:
            arguments["env"] = dict(env)
        self._launch_seq = self.send_request("launch", arguments)
        self.wait_for_event("initialized", timeout)

    def set_breakpoints(
        self, file: str | os.PathLike[str], lines: Iterable[int], timeout: float = DEFAULT_TIMEOUT
    ) -> list[dict[str, Any]]:
        body = self.request(
            "setBreakpoints",
            {
                "source": {"path": str(Path(file).resolve())},
                "breakpoints": [{"line": line} for line in lines],
            },
            timeout,
        )
        return list(body.get("breakpoints", []))

    def configuration_done(self, timeout: float = DEFAULT_TIMEOUT) -> None:
        self.request("configurationDone", {}, timeout)
        if self._launch_seq is not None:
            seq, self._launch_seq = self._launch_seq, None
            self.wait_response(seq, timeout)

    def threads(self, timeout: float = DEFAULT_TIMEOUT) -> list[dict[str, Any]]:
        return list(self.request("threads", None, timeout).get("threads", []))

    def stack_trace(self, thread_id: int, timeout: float = DEFAULT_TIMEOUT) -> list[dict[str, Any]]:
        body = self.request("stackTrace", {"threadId": thread_id}, timeout)
        return list(body.get("stackFrames", []))

    def scopes(self, frame_id: int, timeout: float = DEFAULT_TIMEOUT) -> list[dict[str, Any]]:
        return list(self.request("scopes", {"frameId": frame_id}, timeout).get("scopes", []))

    def variables(
        self, variables_reference: int, timeout: float = DEFAULT_TIMEOUT
    ) -> list[dict[str, Any]]:
        body = self.request("variables", {"variablesReference": variables_reference}, timeout)
        return list(body.get("variables", []))

    def locals(self, frame_id: int, timeout: float = DEFAULT_TIMEOUT) -> dict[str, dict[str, Any]]:
        """The frame's ``Locals`` scope as ``{name: variable}``."""
        scope = next(s for s in self.scopes(frame_id, timeout) if s["name"] == "Locals")
        return {v["name"]: v for v in self.variables(scope["variablesReference"], timeout)}

    def evaluate(
        self,
        expression: str,
        frame_id: int | None = None,
        context: str = "repl",
        *,
        raw_string: bool = False,
        timeout: float = DEFAULT_TIMEOUT,
    ) -> dict[str, Any]:
        """The evaluate response body (``result``, ``type``, ``variablesReference``)."""
        arguments: dict[str, Any] = {"expression": expression, "context": context}
        if frame_id is not None:
            arguments["frameId"] = frame_id
        if raw_string:
            arguments["format"] = {"rawString": True}
        return self.request("evaluate", arguments, timeout)

    def continue_(self, thread_id: int, timeout: float = DEFAULT_TIMEOUT) -> dict[str, Any]:
        return self.request("continue", {"threadId": thread_id}, timeout)

    def disconnect(self, terminate: bool = True, timeout: float = DEFAULT_TIMEOUT) -> None:
        self.request("disconnect", {"terminateDebuggee": terminate}, timeout)

    # -- conveniences -----------------------------------------------------------------------

    def run_to_breakpoint(
        self,
        program: str | os.PathLike[str],
        lines: Iterable[int],
        *,
        timeout: float = DEFAULT_TIMEOUT,
        **launch_args: Any,
    ) -> tuple[int, int]:
        """initialize + launch + breakpoints + configurationDone + wait for the first stop.
        Returns ``(thread_id, top_frame_id)``."""
        self.initialize()
        self.launch(program, timeout=timeout, **launch_args)
        self.set_breakpoints(program, lines, timeout)
        self.configuration_done(timeout)
        stopped = self.wait_for_event("stopped", timeout)
        thread_id = int(stopped["threadId"])
        return thread_id, int(self.stack_trace(thread_id, timeout)[0]["id"])


def _wait_pid_gone(pid: int, timeout: float) -> bool:
    """True once ``pid`` no longer exists (or is a zombie we cannot reap), polling briefly."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        except PermissionError:
            return False
        if _is_zombie(pid):
            return True
        time.sleep(0.05)
    return False


def _is_zombie(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True
    return stat.rpartition(")")[2].split()[0] == "Z"


@contextlib.contextmanager
def dap_session(python: str | None = None) -> Iterator[DapSession]:
    """``with dap_session() as dap:`` — same as ``with DapSession(python) as dap:``."""
    with DapSession(python) as session:
        yield session
