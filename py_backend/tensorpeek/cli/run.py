"""``tensorpeek run``: a user's script with tensor breakpoints armed and nothing else changed.

``--on-hit`` says what a hit does after its report is printed:
- ``report`` (default): end the run there; exit code 1, the JSON/HTML reports are written.
- ``continue``: keep training, report every hit (the first few in full).
- ``raise``: raise ``TensorBreakpointError`` inside the script at the hit (the script may
  catch it; uncaught, its traceback is shown and the exit code is 1).
- ``pdb``: open pdb in the hit's frame (``hit``, ``tensor``, ``module`` are locals there);
  ``continue`` in pdb resumes training.
Without a hit that ends it, the exit code is the script's own.
"""

from __future__ import annotations

import pdb
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tensorpeek.cli.launch import (
    finish_rank,
    rank_report_folder,
    script_ended,
    tell_peers_end,
    tell_peers_stop,
)
from tensorpeek.cli.script import run_script
from tensorpeek.cli.session import RunSession
from tensorpeek.common.terminal_text import terminal_safe
from tensorpeek.engine.hit import Hit
from tensorpeek.engine.registry import REGISTRY
from tensorpeek.engine.spec import parse_spec
from tensorpeek.report.write import write_reports

ON_HIT = ("report", "continue", "raise", "pdb")
_ACTIONS = {"report": "record", "continue": "record", "raise": "raise", "pdb": "pdb"}
FULL_REPORTS = 5  # with --on-hit continue: hits reported in full, later ones in one line


@dataclass
class RunOptions:
    """What ``run`` was asked to do (one field per command-line option)."""

    script: Path
    args: list[str]
    breaks: list[str] = field(default_factory=lambda: ["*:output:nonfinite"])
    on_hit: str = "report"
    report_path: Path | None = None
    html_path: Path | None = None
    argv0: str | None = None  # the script path as typed (sys.argv[0])


def run_specs(breaks: list[str], on_hit: str) -> list[dict[str, Any]]:
    """Parse the ``--break`` specs (``SpecError`` on a bad one) with the ``--on-hit`` action."""
    if on_hit not in ON_HIT:
        raise ValueError(f"--on-hit must be one of {', '.join(ON_HIT)}, got {on_hit!r}")
    return [{**parse_spec(b).to_dict(), "action": _ACTIONS[on_hit]} for b in breaks]


class _HitPrinter:
    """Prints each hit once: in full for the first few, then one line each."""

    def __init__(self) -> None:
        self.printed: set[int] = set()
        self.count = 0

    def __call__(self, hit: Hit) -> None:
        if id(hit) in self.printed:
            return
        self.printed.add(id(hit))
        self.count += 1
        if self.count <= FULL_REPORTS:
            print(hit.report(), file=sys.stderr, flush=True)
        else:
            condition = terminal_safe(hit.condition)
            print(f"tensorpeek: {hit.where()} ({condition})", file=sys.stderr, flush=True)


def _pdb_hook(printer: _HitPrinter) -> Callable[..., None]:
    """``sys.breakpointhook`` for ``--on-hit pdb``: the full report, then pdb in the hit frame."""

    def hook(*args: Any, **kwargs: Any) -> None:
        hit = REGISTRY.current_hit()
        if hit is not None:
            printer(hit)
        pdb.Pdb().set_trace(sys._getframe(1))

    return hook


def run_main(options: RunOptions) -> int:
    """Run the script with the breakpoints armed; print hits; write reports; the exit code."""
    specs = run_specs(options.breaks, options.on_hit)
    printer = _HitPrinter()
    session: RunSession | None = None

    def on_hit(hit: Hit) -> None:
        if hit.condition == "amp_overflow" and not (hit.details or {}).get("collapsed"):
            note = terminal_safe(hit.note or "GradScaler skipped a step")
            print(f"tensorpeek: step {hit.step}: {note}", file=sys.stderr, flush=True)
            return  # routine for mixed precision: reported, never a stop
        printer(hit)
        if options.on_hit == "report":
            assert session is not None
            reason = f"breakpoint #{hit.breakpoint_id} hit at step {hit.step} (--on-hit report)"
            session.stop(reason)
            tell_peers_stop(reason, hit.step)

    session = RunSession(specs, on_hit=on_hit)
    saved_hook = sys.breakpointhook
    if options.on_hit == "pdb":
        sys.breakpointhook = _pdb_hook(printer)
    try:
        with session:
            result = run_script(options.script, options.args, options.argv0)
            script_ended()  # a launched rank: torchrun's SIGTERM no longer interrupts
    finally:
        sys.breakpointhook = saved_hook
    report = session.report("run", str(options.script), options.args, result)
    if result.status == "stopped" and session.hit_dicts:
        report.exit_code = 1
    print(
        f"tensorpeek run: {report.steps} step(s), {report.status}, "
        f"{len(session.hit_dicts) + session.hits_dropped} hit(s)",
        file=sys.stderr,
        flush=True,
    )
    tell_peers_end(report)
    folder = rank_report_folder()
    if folder is not None:  # one rank of `run --nproc-per-node N`: the launcher reports
        return finish_rank(report, folder)
    write_reports(report, options.report_path, options.html_path)
    return report.exit_code
