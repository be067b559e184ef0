"""``tensorpeek doctor``: run a training script with the diagnostic breakpoints in record mode
and report what went wrong, where and when.

The diagnostic preset (``DOCTOR_SPECS``) watches every module for
- the non-finite origin in the forward pass (and bad data entering the root, module ``""``
  site ``input``), in the loss's gradient (the root's ``grad_output``), in the backward pass
  (``grad_input``: a module whose incoming gradient is finite but whose outgoing one is not)
  and in parameter gradients;
- exploding and vanishing parameter gradients (the ``exploding`` preset fires on a jump of
  the norm or a huge ``|x|max``, i.e. before the values turn into Inf), and, as ``info``,
  parameters that receive no gradient at all (``no_gradient``: zero by construction);
- dead activations (an activation module whose output is ≥ 99 % zeros) and narrow-float
  saturation.
Nothing pauses: every hit is recorded, folded into findings (``tensorpeek.report.findings``) and the
run goes on. By default the run ends after the step in which the first non-finite error was
found, since everything after it only spreads the same NaN (``--keep-going`` runs on).

Exit code: the script's own when it fails, else 1 when an error finding was reported, else 0.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tensorpeek.cli.launch import (
    finish_rank,
    rank_report_folder,
    script_ended,
    tell_peers_end,
    tell_peers_stop,
)
from tensorpeek.cli.progress import ProgressLine
from tensorpeek.cli.script import ScriptResult, run_script
from tensorpeek.cli.session import RunSession
from tensorpeek.engine.hit import Hit
from tensorpeek.report.findings import FindingSet
from tensorpeek.report.model import Report
from tensorpeek.report.terminal import format_findings
from tensorpeek.report.write import write_reports

DOCTOR_SPECS: list[dict[str, Any]] = [
    {"target": "*", "site": "output", "condition": "nonfinite"},
    {"target": "", "site": "grad_output", "condition": "nonfinite"},
    {"target": "*", "site": "grad_input", "condition": "nonfinite"},
    {"target": "*", "site": "param_grad", "condition": "nonfinite"},
    {"target": "*", "site": "param_grad", "condition": "exploding"},
    {"target": "*", "site": "param_grad", "condition": "vanishing"},
    {"target": "*", "site": "param_grad", "condition": "no_gradient"},
    {"target": "*", "site": "output", "condition": "dead"},
    {"target": "*", "site": "output", "condition": "saturated"},
]


@dataclass
class DoctorOptions:
    """What ``doctor`` was asked to do (one field per command-line option)."""

    script: Path
    args: list[str]
    max_steps: int | None = None
    keep_going: bool = False
    report_path: Path | None = None
    html_path: Path | None = None
    argv0: str | None = None  # the script path as typed (sys.argv[0])
    progress: bool | None = None  # None: only when stderr is a terminal


def doctor_specs() -> list[dict[str, Any]]:
    return [{**spec, "action": "record"} for spec in DOCTOR_SPECS]


def run_doctor(options: DoctorOptions) -> tuple[Report, ScriptResult]:
    """Run the script under the diagnostic preset; return the report and how the script ended."""
    findings = FindingSet()
    progress = ProgressLine("tensorpeek doctor", options.progress)
    session: RunSession | None = None

    def on_hit(hit: Hit) -> None:
        new = findings.add(hit.to_dict())
        if new is not None and new.severity == "error" and not options.keep_going:
            assert session is not None
            reason = f"stopped after the first error (step {new.step}); --keep-going runs on"
            session.stop(reason)
            tell_peers_stop(reason, new.step)

    def on_step(step: int) -> None:
        errors, warnings = findings.counts()
        progress.update(f"step {step} · {errors} error(s) · {warnings} warning(s)")

    session = RunSession(
        doctor_specs(),
        on_hit=on_hit,
        on_step=on_step,
        max_steps=options.max_steps,
        gradient_norms=True,
    )
    with session:
        result = run_script(options.script, options.args, options.argv0)
        script_ended()  # a launched rank: torchrun's SIGTERM no longer interrupts
    progress.clear()
    report = session.report(
        "doctor", str(options.script), options.args, result, findings=findings.all()
    )
    return report, result


def doctor_main(options: DoctorOptions) -> int:
    """Run, print the findings, write the reports; return the exit code (module docstring)."""
    report, result = run_doctor(options)
    if result.status in ("failed", "interrupted"):
        report.exit_code = result.exit_code or 1
    else:
        report.exit_code = 1 if report.errors else 0
    tell_peers_end(report)
    folder = rank_report_folder()
    if folder is not None:  # one rank of `doctor --nproc-per-node N`: the launcher reports
        return finish_rank(report, folder)
    print(format_findings(report), flush=True)
    write_reports(report, options.report_path, options.html_path)
    return report.exit_code
