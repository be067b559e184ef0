"""``report/merge.py`` on hand-made per-rank reports: each rank's status, the first-rank verdict
(the expected sentence is the oracle), rank fields on every hit and finding, and the HTML rank
parts (escaped)."""

from __future__ import annotations

import html
import json
from typing import Any

import pytest

from tensorpeek.report.html import render_html
from tensorpeek.report.html_ranks import rank_parts
from tensorpeek.report.merge import PEER_STOPPED_EXIT, RankResult, merge_reports
from tensorpeek.report.model import Report


def _hit(step: int, module: str, site: str = "output", seq: int | None = None, **kw: Any) -> dict:
    return {
        "breakpoint": 1,
        "module": module,
        "module_class": "Linear",
        "site": site,
        "step": step,
        "condition": kw.pop("condition", "nonfinite"),
        "origin": True,
        "param": kw.pop("param", None),
        "summary": None,
        "rank_seq": seq,
        **kw,
    }


def _finding(step: int, module: str, site: str = "output", severity: str = "error") -> dict:
    return {
        "kind": "nonfinite" if severity == "error" else "dead",
        "module": module,
        "site": site,
        "step": step,
        "severity": severity,
        "message": f"NaN first appear in the output of {module}",
        "summary": None,
        "param": None,
    }


def _report(
    rank: int,
    world: int = 4,
    *,
    mode: str = "doctor",
    steps: int = 37,
    status: str = "stopped",
    hits: list[dict] | None = None,
    findings: list[dict] | None = None,
    stopped_by: int | None = None,
    error: str | None = None,
    exit_code: int = 0,
    host: str = "node7",
) -> dict[str, Any]:
    return {
        "version": 1,
        "script": "train.py",
        "mode": mode,
        "command": ["train.py"],
        "steps": steps,
        "status": status,
        "exit_code": exit_code,
        "hits": hits or [],
        "findings": findings or [],
        "error": error,
        "stop_reason": None,
        "breakpoints": [],
        "hits_dropped": 0,
        "gradient_norms": None,
        "rank": rank,
        "world_size": world,
        "local_rank": rank,
        "host": host,
        "stopped_by": stopped_by,
    }


def _stopped(rank: int, by: int = 1, steps: int = 37) -> RankResult:
    return RankResult(rank, _report(rank, stopped_by=by, steps=steps))


def test_first_rank_named_and_the_others_clean_at_that_step() -> None:
    bad = _report(
        1,
        hits=[_hit(37, "blocks.3.attn", seq=1)],
        findings=[_finding(37, "blocks.3.attn")],
        exit_code=1,
    )
    merged = merge_reports([_stopped(0), RankResult(1, bad), _stopped(2), _stopped(3)])
    assert merged["verdict"] == (
        "rank 1 first, at step 37, blocks.3.attn output; "
        "ranks 0, 2, 3 were clean at step 37 (stopped by rank 1)"
    )
    assert merged["first"]["rank"] == 1 and merged["first"]["step"] == 37
    assert [r["status"] for r in merged["ranks"]] == ["stopped_by_peer", "hit"] + [
        "stopped_by_peer"
    ] * 2
    assert merged["exit_code"] == 1 and merged["status"] == "stopped"
    json.dumps(merged, allow_nan=False)  # strict JSON


def test_within_a_step_the_store_sequence_decides() -> None:
    r0 = _report(0, hits=[_hit(5, "fc2", seq=7)], findings=[_finding(5, "fc2")])
    r2 = _report(2, hits=[_hit(5, "fc1", seq=3)], findings=[_finding(5, "fc1")])
    merged = merge_reports([RankResult(0, r0), RankResult(2, r2), _stopped(1, by=2, steps=5)], 3)
    assert merged["first"]["rank"] == 2
    assert merged["verdict"] == (
        "rank 2 first, at step 5, fc1 output; rank 0 hit at step 5 too, after rank 2, fc2 output; "
        "rank 1 was clean at step 5 (stopped by rank 2)"
    )


def test_a_lower_step_wins_over_an_earlier_sequence_number() -> None:
    r1 = _report(1, hits=[_hit(12, "a", seq=1)], findings=[_finding(12, "a")])
    r3 = _report(3, hits=[_hit(10, "b", seq=9)], findings=[_finding(10, "b")])
    merged = merge_reports([RankResult(1, r1), RankResult(3, r3)], 4)
    assert merged["first"]["rank"] == 3
    assert "rank 1 hit later, at step 12, a output" in merged["verdict"]


def test_a_crash_is_reported_as_a_crash_never_as_a_hit() -> None:
    crash = _report(1, status="failed", exit_code=1, error="ValueError: planted failure", steps=2)
    merged = merge_reports([RankResult(0, _report(0, status="completed")), RankResult(1, crash)])
    statuses = {r["rank"]: r["status"] for r in merged["ranks"]}
    assert statuses == {0: "ok", 1: "crashed"}
    assert merged["first"] is None and merged["hits"] == []
    assert merged["verdict"] == "no tensor hit; rank 1 crashed (ValueError: planted failure)"
    assert merged["status"] == "failed" and merged["exit_code"] == 1


def test_a_rank_without_a_report_crashed_unless_a_peer_stop_ended_it() -> None:
    bad = _report(0, hits=[_hit(3, "fc", seq=1)], findings=[_finding(3, "fc")])
    killed = RankResult(1, None, exit_code=-9, failure="killed by SIGKILL")
    blocked = RankResult(2, None, exit_code=PEER_STOPPED_EXIT)
    merged = merge_reports([RankResult(0, bad), killed, blocked], 3)
    by_rank = {r["rank"]: r for r in merged["ranks"]}
    assert by_rank[1]["status"] == "crashed" and "SIGKILL" in by_rank[1]["error"]
    assert by_rank[2]["status"] == "stopped_by_peer"
    assert merged["verdict"].startswith("rank 0 first, at step 3, fc output")
    assert "rank 1 crashed" in merged["verdict"]


def test_a_hit_that_raised_is_a_hit() -> None:
    """``run --on-hit raise``: the script ends with TensorBreakpointError; the rank hit."""
    raised = _report(
        1,
        mode="run",
        status="failed",
        exit_code=1,
        error="TensorBreakpointError: breakpoint #1 hit",
        hits=[_hit(2, "module.mid", seq=1)],
    )
    merged = merge_reports([_stopped(0, steps=2), RankResult(1, raised)], 2)
    assert [r["status"] for r in merged["ranks"]] == ["stopped_by_peer", "hit"]
    assert merged["verdict"] == (
        "rank 1 first, at step 2, module.mid output; rank 0 was clean at step 2 (stopped by rank 1)"
    )


def test_routine_mixed_precision_steps_are_not_bad_events() -> None:
    amp = _hit(4, "", site="grad_output", condition="amp_overflow", details={"collapsed": False})
    merged = merge_reports([RankResult(0, _report(0, mode="run", hits=[amp]))], 1)
    assert merged["ranks"][0]["status"] == "ok" and merged["first"] is None
    assert merged["verdict"] == "all 1 rank(s) clean: no tensor hit, no error"


def test_warnings_alone_do_not_make_a_rank_bad() -> None:
    dead = _report(
        0,
        hits=[_hit(1, "act", condition="dead")],
        findings=[_finding(1, "act", "output", "warning")],
    )
    merged = merge_reports([RankResult(0, dead)], 1)
    assert merged["ranks"][0]["status"] == "ok" and merged["exit_code"] == 0


def test_every_hit_and_finding_carries_its_rank() -> None:
    r0 = _report(0, 2, hits=[_hit(1, "x", seq=2)], findings=[_finding(1, "x")], host="a")
    r1 = _report(1, 2, hits=[_hit(0, "y", seq=1)], findings=[_finding(0, "y")], host="b")
    merged = merge_reports([RankResult(0, r0), RankResult(1, r1)], 2)
    for item in [*merged["hits"], *merged["findings"]]:
        assert item["world_size"] == 2 and item["local_rank"] == item["rank"]
        assert item["host"] == {0: "a", 1: "b"}[item["rank"]]
    assert [f["rank"] for f in merged["findings"]] == [1, 0]  # sorted by step


def test_no_results_is_an_error() -> None:
    with pytest.raises(ValueError, match="no rank results"):
        merge_reports([])


EVIL = "<script>alert(1)</script>"


def test_html_has_the_verdict_a_rank_column_and_escapes_every_string() -> None:
    norms = {
        "metric": "norm",
        "series": [{"module": EVIL, "site": "param_grad", "steps": [0], "values": [1.0]}],
    }
    bad = _report(
        1,
        hits=[_hit(3, EVIL, seq=1)],
        findings=[{**_finding(3, EVIL), "message": EVIL}],
        host=f"h{EVIL}",
    )
    bad["gradient_norms"] = norms
    ok = _report(0, stopped_by=1, steps=3, host=EVIL)
    ok["gradient_norms"] = norms
    merged = merge_reports([RankResult(0, ok), RankResult(1, bad)], 2)
    charts: list[str] = []

    def chart(payload: dict, alt: str) -> str:
        charts.append(alt)
        return "<img alt='chart'>"

    page = render_html(Report.from_dict(merged), draw=lambda *a, **k: b"<svg/>", ranks=merged)
    assert "<script>" not in page and html.escape(EVIL) in page
    assert html.escape(merged["verdict"]) in page
    assert page.index("verdict") < page.index("<h2>Findings</h2>")  # the verdict on top
    assert "<th>rank</th><th>severity</th>" in page
    parts = "".join(rank_parts(merged, chart))
    assert charts == [
        "rank 0: gradient norm per layer over steps",
        "rank 1: gradient norm per layer over steps",
    ]
    assert "stopped by rank 1" in parts and "<script>" not in parts


def test_a_collective_that_failed_because_the_peer_left_is_that_peer_s_stop() -> None:
    gone = _report(
        0,
        2,
        mode="run",
        status="failed",
        steps=2,
        error="RuntimeError: [pair.cc:553] Connection closed by peer [127.0.0.1]:4242. " * 5,
    )
    killed = RankResult(1, None, exit_code=-9, failure="killed by SIGKILL")
    merged = merge_reports([RankResult(0, gone, exit_code=-15), killed], 2)
    by_rank = {r["rank"]: r for r in merged["ranks"]}
    assert by_rank[0]["status"] == "stopped_by_peer" and by_rank[0]["stopped_by"] == 1
    assert by_rank[0]["stopped_by_inferred"] is True
    assert by_rank[1]["status"] == "crashed"
    assert merged["verdict"] == (
        "no tensor hit; rank 1 crashed (the process ended without a report (killed by SIGKILL)); "
        "rank 0 was stopped by rank 1"
    )
    assert merged["exit_code"] == 1  # a signal's -9 is no exit code


def test_a_long_error_is_cut_in_the_verdict_but_kept_whole_in_the_ranks() -> None:
    long = "ValueError: " + "x" * 500
    merged = merge_reports([RankResult(0, _report(0, 1, status="failed", error=long))], 1)
    assert merged["ranks"][0]["error"] == long
    assert len(merged["verdict"]) < 220 and merged["verdict"].endswith("…)")


def test_the_script_s_own_exit_code_is_kept() -> None:
    crash = _report(1, 2, status="failed", error="SystemExit: 3", exit_code=3)
    merged = merge_reports([RankResult(0, _report(0, 2)), RankResult(1, crash, exit_code=3)], 2)
    assert merged["exit_code"] == 3
