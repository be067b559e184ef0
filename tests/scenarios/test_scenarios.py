"""Issue 13's public scenario suite: ``tensorpeek doctor`` on small, structurally different
training scripts (``scripts/``), each with a planted problem at a known module, site and step,
or healthy. See ``scenario_catalog`` for what a script declares.

Two independent answers are checked against each other before tensorpeek is asked:
- the hand-derived answer each script declares (``EXPECTED``, explained in its docstring), and
- the reference detector (``scenario_oracle``), which runs the same script under hooks of its
  own written from issue 13's rules, none of tensorpeek's engine.
``test_doctor_*`` then checks tensorpeek's report against that answer: for a planted script,
the first error finding's (module, site, step), and, with ``--keep-going``, that the problem is
the only non-finite origin hit in its step (what flows from it is propagation); for a healthy
one, no error or warning finding (info is allowed), a completed run and the script's own step
count. ``run_scripts/`` holds two scripts for what doctor does not arm (``run --break``,
``watch``).

Cases the engine gets wrong today are strict xfails naming the rule and what it reports
instead (``KNOWN_WRONG``, ``MANY_ORIGINS``): fixing the engine turns one into an XPASS
failure, and its entry must then be removed.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path
from typing import Any

import pytest
from scenario_catalog import Scenario, all_scenarios, load, printed
from scenario_oracle import Origin, ReferenceDetector

from tensorpeek.cli.doctor import DoctorOptions, run_doctor
from tensorpeek.cli.run import RunOptions, run_main

pytestmark = pytest.mark.filterwarnings(
    "ignore:For backward hooks to be called:UserWarning",
    "ignore::DeprecationWarning",
    "ignore:Support for mismatched key_padding_mask:UserWarning",
)

SCENARIOS = all_scenarios()
SCRIPTS = SCENARIOS[0].path.parent
RUN_SCRIPTS = Path(__file__).parent / "run_scripts"  # for `run` and `watch`, not doctor

NONFINITE = ("nonfinite", "nan", "inf")  # the conditions of the origin rules

# What tensorpeek reports instead is in each reason; empty: the engine gets every case right.
KNOWN_WRONG: dict[str, str] = {}

# Planted scenarios whose problem is not the only non-finite origin hit of its step
# (``test_doctor_hits_one_origin_per_planted_problem``); empty: none.
MANY_ORIGINS: dict[str, str] = {}


def params(scenarios: list[Scenario], known_wrong: dict[str, str]) -> list[Any]:
    return [
        pytest.param(
            s,
            id=s.name,
            marks=[pytest.mark.xfail(strict=True, reason=known_wrong[s.name])]
            if s.name in known_wrong
            else [],
        )
        for s in scenarios
    ]


def finding_line(f: dict[str, Any]) -> str:
    where = f"({f['module']!r}, {f['site']}, step {f['step']})"
    return f"{f['severity']} {f['kind']} {where}: {f['message']}"


def test_the_suite_covers_issue_13():
    planted = [s for s in SCENARIOS if not s.healthy]
    healthy = [s for s in SCENARIOS if s.healthy]
    assert len(SCENARIOS) >= 30
    assert len(healthy) >= len(SCENARIOS) // 3
    sites = {s.expected.get("site") for s in planted if s.expected}
    assert {"input", "output", "grad_input", "loss"} <= sites


@pytest.mark.parametrize(
    "scenario", [s for s in SCENARIOS if s.oracle != "none"], ids=lambda s: s.name
)
def test_reference_detector_agrees_with_the_hand_derived_answer(
    scenario: Scenario, tmp_path: Path, capsys: pytest.CaptureFixture[str]
):
    detector = ReferenceDetector(backward_hooks=scenario.oracle == "full")
    origin = detector.run(scenario.path, [str(tmp_path)])
    stdout = capsys.readouterr().out
    if scenario.healthy:
        assert origin is None
        assert detector.steps() == printed(stdout, "steps")
    else:
        e = scenario.expected
        assert origin == Origin(e["module"], e["site"], e["step"])


@pytest.mark.parametrize("scenario", params(SCENARIOS, KNOWN_WRONG))
def test_doctor_reports_the_origin_or_nothing(
    scenario: Scenario, tmp_path: Path, capsys: pytest.CaptureFixture[str]
):
    options = DoctorOptions(
        scenario.path, [str(tmp_path)], keep_going=scenario.keep_going, progress=False
    )
    with warnings.catch_warnings(record=True) as raised:
        warnings.simplefilter("always")
        report, _ = run_doctor(options)
    stdout = capsys.readouterr().out
    d = report.to_dict()
    d["python_warnings"] = [str(w.message) for w in raised]
    findings = d["findings"]
    errors = [f for f in findings if f["severity"] == "error"]
    listing = "\n".join(map(finding_line, findings)) or "(no findings)"
    if scenario.healthy:
        alarms = [f for f in findings if f["severity"] in ("error", "warning")]
        assert alarms == [], f"false alarm on a healthy run:\n{listing}"
        assert d["status"] == "completed", d["stop_reason"] or d["error"]
        assert d["steps"] == printed(stdout, "steps")
        kinds = {f["kind"] for f in findings}
        assert not kinds & set(scenario.forbidden_kinds), listing
        if scenario.amp == "routine":
            check_routine_overflow_steps(findings, printed(stdout, "skipped"), listing)
        return
    assert errors, f"the planted problem was not found:\n{listing}"
    check_planted(scenario.expected, errors[0], d, listing)


@pytest.mark.parametrize(
    "scenario",
    params([s for s in SCENARIOS if s.expected and "module" in s.expected], MANY_ORIGINS),
)
def test_doctor_hits_one_origin_per_planted_problem(
    scenario: Scenario, tmp_path: Path, capsys: pytest.CaptureFixture[str]
):
    """With ``--keep-going`` every hit is kept: in the step of the planted problem the only
    non-finite origin hit is the problem's own. What flows from it (the NaN loss's gradient
    at the root's grad_output, a loss module's input, a checkpoint's recomputation) is
    propagation."""
    options = DoctorOptions(scenario.path, [str(tmp_path)], keep_going=True, progress=False)
    report, _ = run_doctor(options)
    e = scenario.expected
    origins = [
        (h["module"], h["site"])
        for h in report.to_dict()["hits"]
        if h["origin"] and h["condition"] in NONFINITE and h["step"] == e["step"]
    ]
    if e["site"] == "loss":  # no site for the loss in the contract: its module and one hit
        assert [m for m, _ in origins] == [e["module"]], origins
    else:
        assert origins == [(e["module"], e["site"])], origins


def check_planted(
    e: dict[str, Any], first: dict[str, Any], d: dict[str, Any], listing: str
) -> None:
    if "module" in e:
        got = (first["module"], first["step"])
        assert got == (e["module"], e["step"]), listing
        if e["site"] != "loss":  # the contract names no site for the loss: the message does
            assert first["site"] == e["site"], listing
    message = first["message"].lower()
    for word in e.get("message", []):
        assert word.lower() in message, listing
    if "warning" in e:  # a warning finding, or a Python warning, names the cause
        said = [f["message"] for f in d["findings"] if f["severity"] == "warning"]
        said += [m for m in d["python_warnings"] if m.startswith("tensorpeek")]
        assert any(w.lower() in m.lower() for w in e["warning"] for m in said), listing
    origins = [h for h in d["hits"] if h["origin"] and h["condition"] in NONFINITE]
    here = [h for h in origins if (h["module"], h["site"]) == (first["module"], first["site"])]
    if e.get("once"):
        assert len(here) == 1, [h["step"] for h in here]
    if "no_origin_class" in e:
        wrong = [h for h in origins if h["module_class"] == e["no_origin_class"]]
        assert wrong == [], [(h["module"], h["site"], h["step"]) for h in wrong]


def check_routine_overflow_steps(
    findings: list[dict[str, Any]], skipped: list[int], listing: str
) -> None:
    """Each GradScaler-skipped step is an info finding of a kind of its own (not one of the
    error kinds) at that step, naming the scale."""
    assert skipped, "the scenario should have skipped steps"
    infos = [f for f in findings if f["severity"] == "info"]
    assert infos, f"no info finding for the skipped steps {skipped}:\n{listing}"
    assert all(f["kind"] not in ("nonfinite", "saturated") for f in infos), listing
    assert skipped[0] in {f["step"] for f in infos}, listing
    assert any("scale" in f["message"].lower() for f in infos), listing


def test_max_steps_without_an_optimizer_counts_backward_calls(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
):
    scenario = load(SCRIPTS / "healthy_lstm_no_optimizer.py")
    report, result = run_doctor(DoctorOptions(scenario.path, [], max_steps=5, progress=False))
    assert result.status == "stopped"
    assert report.steps == 5


def run_report(script: Path, spec: str, tmp_path: Path) -> dict[str, Any]:
    """``tensorpeek run SCRIPT --break SPEC --report R.json`` in-process; the report."""
    report_path = tmp_path / "run.json"
    run_main(RunOptions(script, [], breaks=[spec], report_path=report_path))
    return json.loads(report_path.read_text())


def test_run_stops_at_the_step_of_bad_keyword_data(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
):
    d = run_report(SCRIPTS / "planted_pixel_values_keyword.py", "*:output:nonfinite", tmp_path)
    assert d["status"] == "stopped"
    first = d["hits"][0] if d["hits"] else {}
    assert (first.get("module"), first.get("site"), first.get("step")) == ("", "input", 2)


def test_run_param_breakpoint_fires_when_the_loss_comes_from_a_loss_module(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
):
    d = run_report(RUN_SCRIPTS / "loss_module_param_inf.py", "*:param:nonfinite", tmp_path)
    assert d["status"] == "stopped"
    first = d["hits"][0] if d["hits"] else {}
    assert (first.get("module"), first.get("site"), first.get("step")) == ("head", "param", 2)


def test_watch_logs_each_step_once_in_order_under_doctor(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
):
    """nanoGPT's loop (evaluation forwards, gradient accumulation, a GradScaler) under
    ``watch(log_freq=5)`` inside ``doctor``: logged steps 0, 5, 10, 15, one record per
    parameter each, in order; the report counts 16 steps."""
    report, result = run_doctor(
        DoctorOptions(RUN_SCRIPTS / "nanogpt_watch.py", [str(tmp_path)], progress=False)
    )
    assert result.status == "completed"
    assert report.steps == 16
    lines = (tmp_path / "tensorpeek-watch.jsonl").read_text().splitlines()
    steps = [json.loads(line)["step"] for line in lines]
    assert steps == sorted(steps)
    assert {s: steps.count(s) for s in set(steps)} == {0: 5, 5: 5, 10: 5, 15: 5}
