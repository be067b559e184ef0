"""``tensorpeek run|doctor --nproc-per-node N SCRIPT ARGS``: the job launched through
``torch.distributed.run`` (torchrun's own launcher and rendezvous), one merged report.

The parent (this process) keeps tensorpeek's own options and hands every option of
torchrun's parser found before SCRIPT (``--master-port``, ``--nnodes``, ``--standalone``,
``--rdzv-*``, ...) to torchrun untouched. Each rank runs ``python -m tensorpeek run|doctor``
on the script, the ordinary single-process session, and, because ``RANK_REPORTS_ENV`` names a
folder, writes its report there as ``rank-<RANK>.json`` (its identity on top) instead of the
user's ``--report``/``--html``, and exits 0 unless its script crashed: a tensorpeek stop on one
rank is no failure for torchrun to tear the job down over; the ranks runtime
(``engine/ranks.py``) stops the others through the c10d store. A rank that torchrun
terminates (SIGTERM, after a peer crashed) ends its script through ``StopRun`` and still
writes its report. The parent reads the exit codes torchrun's ``ChildFailedError`` gives per
rank, merges the reports (``tensorpeek.report.merge``) and writes one JSON and HTML report.

Only one node's ranks are merged: with ``--nnodes`` > 1 each node's parent merges its own.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from types import FrameType
from typing import Any

from tensorpeek.common.json_safe import json_safe
from tensorpeek.common.terminal_text import terminal_safe
from tensorpeek.report.merge import RankResult, first_bad_event, merge_reports
from tensorpeek.report.model import Report

RANK_REPORTS_ENV = "TENSORPEEK_RANK_REPORTS"  # the folder where each rank writes its report
NPROC_OPTIONS = ("--nproc-per-node", "--nproc_per_node")
# torchrun options that would replace tensorpeek as the program each rank runs
_REFUSED = ("-m", "--module", "--no-python", "--no_python", "--run-path", "--run_path")


class LaunchUsageError(ValueError):
    """A command line ``--nproc-per-node`` cannot launch (the message says why)."""


def wants_launch(argv: Sequence[str]) -> bool:
    """Whether ``argv`` (after ``run``/``doctor``) asks for a multi-process launch: a
    ``--nproc-per-node`` option before the script."""
    for arg in argv:
        if arg == "--":
            return False
        if arg.partition("=")[0] in NPROC_OPTIONS:
            return True
    return False


def _torchrun_options() -> dict[str, bool]:
    """torchrun's option strings -> whether each takes a value (from its own parser)."""
    from torch.distributed.run import get_args_parser

    options: dict[str, bool] = {}
    for action in get_args_parser()._actions:  # argparse has no public list of actions
        for name in action.option_strings:
            options[name] = action.nargs != 0
    return options


def split_torchrun_options(
    argv: Sequence[str], ours: dict[str, bool]
) -> tuple[list[str], list[str]]:
    """``argv`` (after ``run``/``doctor``) split into tensorpeek's part and torchrun's options.

    Up to SCRIPT (the first argument that is not an option or an option's value), an option of
    torchrun's parser that tensorpeek does not have goes to torchrun, with its value;
    ``--nproc-per-node`` stays with tensorpeek, which validates it. Everything from SCRIPT on
    belongs to tensorpeek and the script, as without ``--nproc-per-node``."""
    torchrun = _torchrun_options()
    mine: list[str] = []
    theirs: list[str] = []
    rest = list(argv)
    while rest:
        arg = rest[0]
        name, eq, _ = arg.partition("=")
        if arg == "--" or not arg.startswith("-"):
            break
        rest.pop(0)
        if name in _REFUSED:
            raise LaunchUsageError(
                f"{name} cannot be used with --nproc-per-node: tensorpeek runs SCRIPT in each rank"
            )
        takes_value = ours.get(name, torchrun.get(name))
        target = mine if name in ours or name in NPROC_OPTIONS or name not in torchrun else theirs
        target.append(arg)
        if takes_value and not eq and rest:
            target.append(rest.pop(0))
    return mine + rest, theirs


def child_argv(command: str, ns: Any) -> list[str]:
    """What each rank runs after ``python -m tensorpeek``: the same command on the script,
    without ``--nproc-per-node`` and the report paths (the parent writes those)."""
    argv = [command]
    if command == "run":
        for spec in ns.breaks or []:
            argv += ["--break", spec]
        argv += ["--on-hit", ns.on_hit]
    else:
        if ns.max_steps is not None:
            argv += ["--max-steps", str(ns.max_steps)]
        if ns.keep_going:
            argv.append("--keep-going")
    return [*argv, ns.script, "--", *ns.args]


def _failures(error: BaseException) -> dict[int, tuple[int, str | None]]:
    """Global rank -> (exit code, signal name or None) from torchrun's ``ChildFailedError``."""
    out: dict[int, tuple[int, str | None]] = {}
    for rank, failure in getattr(error, "failures", {}).items():
        code = int(failure.exitcode)
        name = failure.signal_name() if code < 0 else None
        out[int(rank)] = (code, None if name in (None, "", "<N/A>") else name)
    return out


def _read_reports(folder: Path) -> dict[int, dict[str, Any]]:
    reports: dict[int, dict[str, Any]] = {}
    for path in sorted(folder.glob("rank-*.json")):
        try:
            report = json.loads(path.read_text(encoding="utf-8"))
            reports[int(report["rank"])] = report
        except (OSError, ValueError, KeyError, TypeError) as e:
            print(f"tensorpeek: unreadable rank report {path.name}: {e}", file=sys.stderr)
    return reports


def run_torchrun(torchrun_argv: list[str]) -> dict[int, tuple[int, str | None]]:
    """Launch through ``torch.distributed.run`` (its parser, its rendezvous, its agent);
    the failed ranks' exit codes (empty when every rank exited 0)."""
    from torch.distributed.elastic.multiprocessing.errors import ChildFailedError
    from torch.distributed.run import parse_args, run

    try:
        run(parse_args(torchrun_argv))
    except ChildFailedError as e:
        return _failures(e)
    return {}


def launch_main(command: str, ns: Any, torchrun_options: list[str]) -> int:
    """The parent's side (module docstring): launch, merge, print, write; the exit code."""
    folder = Path(tempfile.mkdtemp(prefix="tensorpeek-ranks-"))
    os.environ[RANK_REPORTS_ENV] = str(folder)
    started = time.monotonic()
    nproc = ns.nproc_per_node
    argv = [*torchrun_options, "--nproc-per-node", str(nproc), "--module", "tensorpeek"]
    try:
        failures = run_torchrun([*argv, *child_argv(command, ns)])
        reports = _read_reports(folder)
    finally:
        os.environ.pop(RANK_REPORTS_ENV, None)
        shutil.rmtree(folder, ignore_errors=True)
    world = max([int(r.get("world_size") or 0) for r in reports.values()] + [nproc])
    ranks = set(reports) | set(failures)
    if all(int(r.get("world_size") or nproc) == nproc for r in reports.values()):
        ranks |= set(range(nproc))  # one node: every rank should have reported
    results = []
    for rank in sorted(ranks):
        code, signal_name = failures.get(rank, (None, None))
        failure = f"killed by {signal_name}" if signal_name else None
        results.append(RankResult(rank, reports.get(rank), code, failure))
    merged = merge_reports(results, world)
    merged["seconds"] = round(time.monotonic() - started, 3)
    print(format_merged(command, merged), flush=True)
    write_merged(merged, ns.report, ns.html)
    return int(merged["exit_code"])


def format_merged(command: str, merged: dict[str, Any]) -> str:
    """The terminal text: the verdict, one line per rank, one per error or warning."""
    lines = [
        f"tensorpeek {command}: {merged['world_size']} rank(s), {merged['steps']} step(s), "
        f"{merged['status']}",
        f"  {terminal_safe(merged['verdict'])}",
    ]
    for e in merged["ranks"]:
        more = f": {terminal_safe(e['error'])}" if e["error"] and e["status"] == "crashed" else ""
        by = f" (by rank {e['stopped_by']})" if e["status"] == "stopped_by_peer" else ""
        code = f", exit code {e['exit_code']}" if e["exit_code"] else ""
        host = terminal_safe(e["host"] or "?")
        lines.append(f"  rank {e['rank']} ({host}): {e['status']}{by}{code}{more}")
    for f in merged["findings"]:
        if f["severity"] == "info":
            continue
        where = terminal_safe((f["module"] or '""') + (f".{f['param']}" if f.get("param") else ""))
        lines.append(
            f"  rank {f['rank']} {f['severity'].upper():7} step {f['step']:<4} {f['kind']:<9} "
            f"{where} {terminal_safe(f['site'])}"
        )
        lines.append(f"          {terminal_safe(f['message'])}")
    return "\n".join(lines)


def write_merged(merged: dict[str, Any], json_path: Path | None, html_path: Path | None) -> None:
    """Write the merged JSON (atomically, strict JSON) and/or HTML report."""
    if json_path is not None:
        json_path.parent.mkdir(parents=True, exist_ok=True)
        tmp = json_path.with_name(json_path.name + ".tmp")
        tmp.write_text(json.dumps(json_safe(merged), indent=2, allow_nan=False) + "\n")
        tmp.replace(json_path)
        print(f"tensorpeek: merged report written to {json_path}", flush=True)
    if html_path is not None:
        from tensorpeek.report.html import write_html  # matplotlib: only when asked for

        write_html(Report.from_dict(merged), html_path, ranks=merged)
        print(f"tensorpeek: merged HTML report written to {html_path}", flush=True)


# --- inside each rank ------------------------------------------------------------------------


def rank_report_folder() -> Path | None:
    """The folder this rank writes its report into, when launched by ``launch_main``."""
    folder = os.environ.get(RANK_REPORTS_ENV)
    return Path(folder) if folder and "RANK" in os.environ else None


_TERMINATED = [False]  # whether torchrun's SIGTERM ended this rank


def _terminated(signum: int, frame: FrameType | None) -> None:
    from tensorpeek.cli.script import StopRun

    _TERMINATED[0] = True
    raise StopRun("terminated by the launcher (SIGTERM), after another rank failed")


def script_ended() -> None:
    """The script has ended: torchrun's SIGTERM from now on is ignored, so that it cannot
    interrupt the rank while it writes its report (torchrun kills it after its shutdown
    timeout if it ever hangs)."""
    if rank_report_folder() is not None and signal.getsignal(signal.SIGTERM) is _terminated:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)


def install_termination_stop() -> None:
    """In a launched rank: torchrun's SIGTERM ends the script through ``StopRun`` (so the
    rank's report is still written) instead of killing the process outright."""
    if rank_report_folder() is not None:
        signal.signal(signal.SIGTERM, _terminated)


def rank_identity() -> dict[str, Any]:
    """This rank's ``rank``, ``world_size``, ``local_rank`` and ``host`` (the ranks runtime's
    identity; torchrun's env when the job is a single process)."""
    from tensorpeek.engine.ranks import identity

    me = identity()
    if me is not None:
        return me.to_dict()
    return {
        "rank": int(os.environ.get("RANK", "0")),
        "world_size": int(os.environ.get("WORLD_SIZE", "1")),
        "local_rank": int(os.environ.get("LOCAL_RANK", "0")),
        "host": socket.gethostname(),
    }


def tell_peers_stop(reason: str, step: int) -> None:
    """In a rank of a multi-rank job, ``run``/``doctor`` ends this run on purpose (a hit):
    publish the stop now (``docs/ranks-protocol.md``), so the other ranks stop before their
    next collective, not when this one has gone. Nothing in a single process."""
    from tensorpeek.engine.rank_watch import RUNTIME

    RUNTIME.script_ended("stopped", reason, step)


def tell_peers_end(report: Report) -> None:
    """The script ended: a crash (not a hit, not a peer's stop) is published as one, so the
    others stop too (the ranks runtime's excepthook never sees it: ``run_script`` catches)."""
    if report.status in ("failed", "interrupted"):
        from tensorpeek.engine.rank_watch import RUNTIME

        RUNTIME.script_ended("failed", report.error, report.steps)


def peer_stop() -> dict[str, Any] | None:
    """The peer's stop record that ended this rank (``RankRuntime.peer_stop``)."""
    from tensorpeek.engine.rank_watch import RUNTIME

    return RUNTIME.peer_stop()


def finish_rank(report: Report, folder: Path) -> int:
    """Write this rank's report into ``folder``; the exit code for torchrun: 0 unless the
    script crashed on its own (a tensorpeek stop or a peer's is no reason to tear the job
    down: the ranks runtime stops the others)."""
    identity = rank_identity()
    stop = peer_stop()
    stopped_by = stop.get("rank") if stop else None
    data: dict[str, Any] = {
        **identity,
        "stopped_by": stopped_by,
        "peer_stop": stop,
        "terminated": _TERMINATED[0],
        **report.to_dict(),
    }
    for item in [*data["hits"], *data["findings"]]:
        for key, value in identity.items():
            item.setdefault(key, value)
    path = folder / f"rank-{identity['rank']}.json"
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(json_safe(data), indent=2, allow_nan=False) + "\n")
    tmp.replace(path)
    crashed = report.status in ("failed", "interrupted") and stopped_by is None
    return report.exit_code if crashed and first_bad_event(identity["rank"], data) is None else 0
