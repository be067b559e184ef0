"""``python -m tensorpeek.cli.debug_ranks``: one rank of a torchrun job under the debugger.

The launcher is run the way the VS Code extension runs it: by ``torch.distributed.run`` with
``-m``, two ranks on CPU/gloo, reporting to a socket this test listens on (the extension's
side), and every rank waits until a real DAP client attaches to its debugpy port. The oracle
for the job itself is the all-reduced rank sum each rank writes to a file.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tensorpeek.cli.debug_ranks import LaunchError, parse_endpoint, rank_identity

PYTHON = sys.executable
TIMEOUT = 60.0

SUM_SCRIPT = """
import os, sys
import torch
import torch.distributed as dist

dist.init_process_group("gloo")
t = torch.tensor([float(dist.get_rank() + 1)])
dist.all_reduce(t)
out = sys.argv[1]
with open(os.path.join(out, f"rank{dist.get_rank()}.txt"), "w") as f:
    f.write(f"{t.item()} {sys.argv[2]} {__name__}")
if dist.get_rank() == int(sys.argv[3]):
    raise ValueError("planted on this rank")
dist.destroy_process_group()
"""


def test_rank_identity_reads_torchruns_variables() -> None:
    who = rank_identity({"RANK": "3", "LOCAL_RANK": "1", "WORLD_SIZE": "4"})
    assert (who.rank, who.local_rank, who.world_size) == (3, 1, 4)


@pytest.mark.parametrize(
    ("env", "message"),
    [
        (
            {"LOCAL_RANK": "0", "WORLD_SIZE": "2"},
            "RANK is not set: run this module under torch.distributed.run",
        ),
        ({"RANK": "one", "LOCAL_RANK": "0", "WORLD_SIZE": "2"}, "RANK='one' is not an integer"),
        (
            {"RANK": "2", "LOCAL_RANK": "0", "WORLD_SIZE": "2"},
            "inconsistent rank variables: RANK=2",
        ),
        ({"RANK": "0", "LOCAL_RANK": "-1", "WORLD_SIZE": "1"}, "inconsistent rank variables"),
    ],
)
def test_bad_rank_variables_are_refused_with_the_reason(env: dict[str, str], message: str) -> None:
    with pytest.raises(LaunchError, match=message.replace("(", r"\(")):
        rank_identity(env)


@pytest.mark.parametrize(
    "text",
    ["10.0.0.5:4000", "example.com:80", "127.0.0.1", "127.0.0.1:0", "127.0.0.1:99999", ":12"],
)
def test_the_report_socket_is_loopback_only(text: str) -> None:
    with pytest.raises(LaunchError, match="--report"):
        parse_endpoint(text)
    assert parse_endpoint("localhost:4000") == ("127.0.0.1", 4000)


def test_outside_torchrun_it_says_why_and_listens_on_nothing(tmp_path: Path) -> None:
    script = tmp_path / "train.py"
    script.write_text("open('ran', 'w').close()\n")
    env = {k: v for k, v in os.environ.items() if k not in ("RANK", "LOCAL_RANK", "WORLD_SIZE")}
    proc = subprocess.run(
        [PYTHON, "-m", "tensorpeek.cli.debug_ranks", "--report", "127.0.0.1:9", str(script)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
    )
    assert proc.returncode == 2
    assert "RANK is not set: run this module under torch.distributed.run" in proc.stderr
    assert not (tmp_path / "ran").exists(), "the script did not run"


class ReportServer:
    """The extension's side of the report socket: collects each rank's JSON lines."""

    def __init__(self) -> None:
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.sock.settimeout(TIMEOUT)
        self.port = self.sock.getsockname()[1]
        self.events: list[dict[str, Any]] = []
        self.cond = threading.Condition()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._read, args=(conn,), daemon=True).start()

    def _read(self, conn: socket.socket) -> None:
        with conn, conn.makefile("r") as lines:
            for line in lines:
                with self.cond:
                    self.events.append(json.loads(line))
                    self.cond.notify_all()

    def wait(self, event: str, count: int) -> list[dict[str, Any]]:
        with self.cond:
            ok = self.cond.wait_for(
                lambda: len([e for e in self.events if e["event"] == event]) >= count,
                timeout=TIMEOUT,
            )
            assert ok, f"{count} {event!r} events expected, got {self.events}"
            return sorted(self._of(event), key=lambda e: e["rank"])

    def _of(self, event: str) -> list[dict[str, Any]]:
        return [e for e in self.events if e["event"] == event]

    def close(self) -> None:
        self.sock.close()


class TcpDap:
    """Just enough of a DAP client over TCP to attach to a listening debugpy and let it run."""

    def __init__(self, port: int) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT)
        self.buf = b""
        self.seq = 0

    def request(self, command: str, arguments: dict[str, Any]) -> None:
        self.seq += 1
        body = json.dumps(
            {"seq": self.seq, "type": "request", "command": command, "arguments": arguments}
        ).encode()
        self.sock.sendall(b"Content-Length: %d\r\n\r\n" % len(body) + body)

    def read(self) -> dict[str, Any]:
        while b"\r\n\r\n" not in self.buf:
            self.buf += self._recv()
        head, self.buf = self.buf.split(b"\r\n\r\n", 1)
        length = int(head.split(b":")[1])
        while len(self.buf) < length:
            self.buf += self._recv()
        body, self.buf = self.buf[:length], self.buf[length:]
        return json.loads(body)  # type: ignore[no-any-return]

    def _recv(self) -> bytes:
        data = self.sock.recv(65536)
        if not data:
            raise ConnectionError("debugpy closed the connection")
        return data

    def wait(self, kind: str, name: str) -> dict[str, Any]:
        while True:
            m = self.read()
            if m.get("type") == kind and (m.get("command") == name or m.get("event") == name):
                return m

    def attach(self) -> None:
        self.request("initialize", {"adapterID": "tensorpeek", "clientID": "test"})
        self.wait("response", "initialize")
        self.request("attach", {"justMyCode": True})
        self.wait("event", "initialized")
        self.request("configurationDone", {})
        self.wait("response", "configurationDone")

    def close(self) -> None:
        self.sock.close()


@pytest.fixture
def report() -> Iterator[ReportServer]:
    server = ReportServer()
    yield server
    server.close()


@pytest.mark.slow
def test_two_ranks_under_torchrun_wait_for_the_debugger_then_run_and_report_how_they_ended(
    tmp_path: Path, report: ReportServer
) -> None:
    script = tmp_path / "sum.py"
    script.write_text(SUM_SCRIPT)
    env = {**os.environ, "PYDEVD_DISABLE_FILE_VALIDATION": "1", "OMP_NUM_THREADS": "1"}
    env.pop("TENSORPEEK_BREAKPOINTS", None)
    cmd = [
        PYTHON,
        "-m",
        "torch.distributed.run",
        "--standalone",
        "--nproc-per-node",
        "2",
        "-m",
        "tensorpeek.cli.debug_ranks",
    ]
    job = subprocess.Popen(
        [*cmd, "--report", f"127.0.0.1:{report.port}", str(script), str(tmp_path), "an arg", "1"],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    clients: list[TcpDap] = []
    try:
        listening = report.wait("listening", 2)
        assert [(e["rank"], e["local_rank"], e["world_size"]) for e in listening] == [
            (0, 0, 2),
            (1, 1, 2),
        ]
        ports = {e["port"] for e in listening}
        assert len(ports) == 2, "each rank listens on its own port"
        assert {e["pid"] for e in listening}.isdisjoint({job.pid}), (
            "the ranks are torchrun's workers"
        )
        assert not list(tmp_path.glob("rank*.txt")), (
            "no rank runs the script before its debugger attached"
        )
        for e in listening:
            dap = TcpDap(e["port"])
            dap.attach()
            clients.append(dap)
        ended = report.wait("exit", 2)
        for c in clients:  # as VS Code's child sessions do when their debuggee ends
            c.wait("event", "terminated")
            c.close()
        out, _ = job.communicate(timeout=TIMEOUT)
    finally:
        for c in clients:
            c.close()
        if job.poll() is None:
            os.killpg(job.pid, 9)
            job.wait()
    # the oracle: all_reduce of rank+1 over two ranks is 1 + 2
    for r in (0, 1):
        assert (tmp_path / f"rank{r}.txt").read_text() == "3.0 an arg __main__", out
    assert ended[0]["status"] == "completed" and ended[0]["exit_code"] == 0, ended
    assert ended[1]["status"] == "failed" and ended[1]["exit_code"] == 1, ended
    assert ended[1]["error"] == "ValueError: planted on this rank"
    assert job.returncode != 0, "torchrun reports the failed rank"
