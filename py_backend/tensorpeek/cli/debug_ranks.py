"""One rank of a ``torchrun`` job under the VS Code debugger.

The extension starts a job as::

    python -m torch.distributed.run --nproc-per-node N [torchrun options] \\
        -m tensorpeek.cli.debug_ranks --report 127.0.0.1:PORT SCRIPT ARGS...

so ``torch.distributed.run`` runs this module once per rank (its ``-m``: ``python -u -m
tensorpeek.cli.debug_ranks ...`` with the rank's ``RANK``, ``LOCAL_RANK`` and ``WORLD_SIZE`` in
the environment). Each rank starts debugpy listening on a free loopback port (the port
differs per rank, so it cannot be one of torchrun's shared arguments), says where on the
extension's report socket, waits for the extension's child debug session to attach, then runs
SCRIPT as ``__main__`` exactly as ``python SCRIPT ARGS`` would (``cli.script``). When the script
ends, the same socket says how (completed, failed with its error, stopped), so the extension
can tell the other ranks' sessions a rank exited and why.

The report lines are JSON, one object per line::

    {"event": "listening", "rank": 1, "local_rank": 1, "world_size": 2, "host": "127.0.0.1",
     "port": 41234, "pid": 4242}
    {"event": "exit", "rank": 1, "status": "failed", "exit_code": 1, "error": "ValueError: ..."}
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from tensorpeek.cli.script import ScriptNotFound, resolve_script, run_script

LOOPBACK = "127.0.0.1"
RANK_ENV = ("RANK", "LOCAL_RANK", "WORLD_SIZE")


class LaunchError(Exception):
    """This process cannot be a debuggable rank; the message says why (nothing was started)."""


@dataclass(frozen=True)
class RankIdentity:
    """Who this process is in the job, from the variables torchrun sets for each worker."""

    rank: int
    local_rank: int
    world_size: int


def rank_identity(environ: Mapping[str, str]) -> RankIdentity:
    """The rank, local rank and world size torchrun gave this worker, or ``LaunchError``."""
    values: dict[str, int] = {}
    for name in RANK_ENV:
        text = environ.get(name)
        if text is None:
            raise LaunchError(
                f"{name} is not set: run this module under torch.distributed.run (torchrun),"
                " one process per rank"
            )
        try:
            values[name] = int(text)
        except ValueError:
            raise LaunchError(f"{name}={text!r} is not an integer") from None
    rank, local_rank, world = values["RANK"], values["LOCAL_RANK"], values["WORLD_SIZE"]
    if world < 1 or not 0 <= rank < world or local_rank < 0:
        raise LaunchError(
            f"inconsistent rank variables: RANK={rank}, LOCAL_RANK={local_rank}, WORLD_SIZE={world}"
        )
    return RankIdentity(rank, local_rank, world)


def parse_endpoint(text: str) -> tuple[str, int]:
    """``HOST:PORT`` on the loopback interface (the report socket never leaves the machine)."""
    host, sep, port_text = text.rpartition(":")
    if not sep or not port_text.isdigit() or not 0 < int(port_text) < 65536:
        raise LaunchError(f"--report {text!r}: expected 127.0.0.1:PORT")
    if host not in (LOOPBACK, "localhost"):
        raise LaunchError(f"--report {text!r}: only the loopback address {LOOPBACK} is allowed")
    return LOOPBACK, int(port_text)


class Reporter:
    """The extension's report socket: one JSON line per event, sent as it happens."""

    def __init__(self, endpoint: tuple[str, int], timeout_s: float = 10.0) -> None:
        try:
            self._sock = socket.create_connection(endpoint, timeout=timeout_s)
        except OSError as e:
            raise LaunchError(
                f"cannot reach the extension's report socket {endpoint[0]}:{endpoint[1]}: {e}"
            ) from None
        self._sock.settimeout(timeout_s)

    def send(self, event: dict[str, object]) -> None:
        self._sock.sendall((json.dumps(event) + "\n").encode())

    def close(self) -> None:
        self._sock.close()


def _parse_args(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m tensorpeek.cli.debug_ranks",
        description="Run one rank of a torchrun job, debugpy listening on a free loopback port.",
    )
    parser.add_argument(
        "--report", required=True, help="the extension's report socket, 127.0.0.1:PORT"
    )
    parser.add_argument("script", help="the training script")
    parser.add_argument("args", nargs=argparse.REMAINDER, help="the script's arguments")
    return parser.parse_args(argv)


def _listen() -> tuple[str, int]:
    import debugpy

    # port 0: the system picks a free port, so ranks (and concurrent jobs) never collide
    host, port = debugpy.listen((LOOPBACK, 0))
    return str(host), int(port)


def main(argv: Sequence[str] | None = None) -> int:
    """Listen, report, wait for the debugger, run the script; the script's exit code."""
    ns = _parse_args(sys.argv[1:] if argv is None else argv)
    try:
        who = rank_identity(os.environ)
        endpoint = parse_endpoint(ns.report)
        script = resolve_script(ns.script)
        reporter = Reporter(endpoint)
    except (LaunchError, ScriptNotFound) as e:
        print(f"tensorpeek debug_ranks: {e}", file=sys.stderr)
        return 2
    try:
        host, port = _listen()
        identity = {"rank": who.rank, "local_rank": who.local_rank, "world_size": who.world_size}
        reporter.send(
            {"event": "listening", **identity, "host": host, "port": port, "pid": os.getpid()}
        )
    except OSError as e:
        reporter.close()
        print(
            f"tensorpeek debug_ranks: rank {who.rank}: could not report where debugpy listens: {e}",
            file=sys.stderr,
        )
        return 2
    import debugpy

    debugpy.wait_for_client()
    result = run_script(script, list(ns.args), argv0=ns.script)
    ended = {
        "status": result.status,
        "exit_code": result.exit_code,
        "error": result.error,
        "stop_reason": result.stop_reason,
    }
    try:
        reporter.send({"event": "exit", "rank": who.rank, **ended})
    except OSError as e:  # the extension went away first: the script's own exit code still stands
        print(
            f"tensorpeek debug_ranks: rank {who.rank}: could not report the exit: {e}",
            file=sys.stderr,
        )
    finally:
        reporter.close()
    return result.exit_code


if __name__ == "__main__":
    sys.exit(main())
