"""One report for a multi-rank job: the per-rank reports of ``tensorpeek run|doctor
--nproc-per-node N`` merged, with each rank's status and the first-rank verdict on top.

Each rank writes its own report (``Report.to_dict()`` plus its identity: ``rank``,
``world_size``, ``local_rank``, ``host``, ``stopped_by`` when a peer's stop ended it and
``terminated`` when torchrun's SIGTERM did, after a peer failed); the
launcher knows each rank's exit code. ``merge_reports`` reads only those JSON forms (no torch)
and returns the merged JSON:

- ``"ranks"``: per rank ``rank, world_size, local_rank, host, status, exit_code, error,
  steps, stopped_by, first_bad, gradient_norms, scalars`` with ``status`` in ``RANK_STATUSES``:
  ``hit`` (a tensor breakpoint hit or an error finding), ``stopped_by_peer`` (ended by
  another rank's stop, clean itself), ``crashed`` (the script raised or exited non-zero, or
  the process died without a report) or ``ok``. A rank that crashed for another reason is
  ``crashed``, never ``hit``; a rank whose hit then raised (``--on-hit raise``) is ``hit``.
- ``"hits"`` and ``"findings"``: every rank's, each with ``rank``, ``world_size``,
  ``local_rank`` and ``host``, sorted by step, then rank.
- ``"first"``: the first bad event of the job and ``"verdict"``, a sentence such as "rank 1
  first, at step 37, blocks.3.attn output; rank 0 was clean at step 37".

**First** is the ranks runtime's definition (``docs/ranks-protocol.md``): the lowest step,
then the lower store sequence number (the order in which the ranks' hits reached the c10d
store); a hit that carries no sequence number (a rank whose store record is missing) sorts
after those that do, then by rank. Within one rank its events are in the order it recorded
them. A rank's bad events are its error findings (``doctor``) or its hits (``run``), except
GradScaler's routine skipped steps.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from tensorpeek.common.vocabulary import OWN_PARAMETER_NOTE

RANK_STATUSES: tuple[str, ...] = ("ok", "hit", "stopped_by_peer", "crashed")
IDENTITY = ("rank", "world_size", "local_rank", "host")
SEQUENCE_KEY = "rank_seq"  # a hit's store sequence number (docs/ranks-protocol.md)
# the exit status of a rank that a peer's stop ended while it was blocked in a collective (it
# could write no report): engine/ranks.py's PEER_STOPPED_EXIT (docs/ranks-protocol.md)
PEER_STOPPED_EXIT = 75
# gloo's words when the other end of a collective went away (the peer crashed or stopped)
PEER_GONE_ERRORS = ("Connection closed by peer", "Connection reset by peer")
VERDICT_ERROR_CHARS = 160  # an error quoted in the verdict is cut here (the ranks list has it all)


@dataclass
class RankResult:
    """What the launcher knows of one rank: its report (``None`` when it wrote none) and its
    exit code (``None`` when unknown: it ended cleanly as far as the launcher saw)."""

    rank: int
    report: dict[str, Any] | None
    exit_code: int | None = None
    failure: str | None = None  # the launcher's words when the process failed (a signal)


@dataclass(frozen=True)
class BadEvent:
    """A rank's first bad event: when (step, store sequence), where and what."""

    rank: int
    step: int
    seq: int | None
    module: str
    site: str
    param: str | None
    what: str  # the condition or the finding's kind
    note: str | None = None  # the hit's note: why it is an origin on this rank

    @property
    def own_parameters_bad(self) -> bool:
        """The module's own parameters were already non-finite when it ran (the rank's origin
        rules found no bad input): after another rank's hit, values a collective carried."""
        return (self.note or "").startswith(OWN_PARAMETER_NOTE)

    @property
    def where(self) -> str:
        module = self.module if self.module else '"" (root)'
        place = f"{module}.{self.param}" if self.param else module
        return f"{place} {self.site}"

    def order(self) -> tuple[int, float, int]:
        return (self.step, self.seq if self.seq is not None else math.inf, self.rank)

    def to_dict(self) -> dict[str, Any]:
        return {
            "rank": self.rank,
            "step": self.step,
            "seq": self.seq,
            "module": self.module,
            "site": self.site,
            "param": self.param,
            "what": self.what,
            "note": self.note,
        }


def _is_routine(hit: dict[str, Any]) -> bool:
    return hit.get("condition") == "amp_overflow" and not (hit.get("details") or {}).get(
        "collapsed"
    )


def _same_place(hit: dict[str, Any], finding: dict[str, Any]) -> bool:
    keys = ("module", "site", "step")
    return all(hit.get(k) == finding.get(k) for k in keys) and (hit.get("param") or None) == (
        finding.get("param") or None
    )


def first_bad_event(rank: int, report: dict[str, Any]) -> BadEvent | None:
    """The rank's first bad event (module docstring), or ``None`` when it had none."""
    hits = [h for h in report.get("hits") or [] if not _is_routine(h)]
    errors = [f for f in report.get("findings") or [] if f.get("severity") == "error"]
    candidates: list[tuple[tuple[int, int, int], BadEvent]] = []
    if report.get("mode") == "doctor":
        for f in errors:
            none: dict[str, Any] = {}
            index, hit = next(
                ((i, h) for i, h in enumerate(hits) if _same_place(h, f)), (len(hits), none)
            )
            seq = hit.get(SEQUENCE_KEY)
            event = BadEvent(
                rank,
                int(f["step"]),
                seq,
                f["module"],
                f["site"],
                f.get("param"),
                f["kind"],
                hit.get("note"),
            )
            candidates.append(((event.step, index, 0), event))
    else:
        for i, h in enumerate(hits):
            event = BadEvent(
                rank,
                int(h["step"]),
                h.get(SEQUENCE_KEY),
                h["module"],
                h["site"],
                h.get("param"),
                str(h.get("condition")),
                h.get("note"),
            )
            candidates.append(((event.step, i, 0), event))
    if not candidates:
        return None
    return min(candidates, key=lambda c: c[0])[1]


def _identity(result: RankResult, world_size: int) -> dict[str, Any]:
    report = result.report or {}
    return {
        "rank": result.rank,
        "world_size": report.get("world_size", world_size),
        "local_rank": report.get("local_rank"),
        "host": report.get("host"),
    }


def _rank_entry(result: RankResult, world_size: int) -> dict[str, Any]:
    report = result.report
    entry: dict[str, Any] = {
        **_identity(result, world_size),
        "exit_code": result.exit_code,
        "error": None,
        "steps": None,
        "stopped_by": None,
        "first_bad": None,
        "gradient_norms": None,
        "scalars": None,
    }
    if report is None and result.exit_code == PEER_STOPPED_EXIT:
        entry.update(
            status="stopped_by_peer",
            error="ended by tensorpeek while blocked in a collective after a peer's stop "
            f"(exit code {PEER_STOPPED_EXIT}); no report",
        )
        return entry
    if report is None:
        why = result.failure or (
            f"exit code {result.exit_code}" if result.exit_code is not None else "unknown"
        )
        entry.update(status="crashed", error=f"the process ended without a report ({why})")
        return entry
    event = first_bad_event(result.rank, report)
    exit_code = result.exit_code if result.exit_code is not None else report.get("exit_code")
    stopped_by = report.get("stopped_by")
    entry.update(
        exit_code=exit_code,
        error=report.get("error"),
        steps=report.get("steps"),
        stopped_by=stopped_by,
        first_bad=event.to_dict() if event else None,
        gradient_norms=report.get("gradient_norms"),
        scalars=report.get("scalars"),
    )
    if event is not None:
        entry["status"] = "hit"
    elif (stopped_by is not None and stopped_by != result.rank) or report.get("terminated"):
        entry["status"] = "stopped_by_peer"  # terminated: torchrun ended it after a peer failed
    elif report.get("status") in ("failed", "interrupted") or result.failure:
        entry["status"] = "crashed"
        entry["error"] = report.get("error") or result.failure or f"exit code {exit_code}"
    else:
        entry["status"] = "ok"
    return entry


def _ranks_text(ranks: list[int]) -> str:
    listed = ", ".join(str(r) for r in ranks)
    return f"rank {listed} was" if len(ranks) == 1 else f"ranks {listed} were"


def verdict(entries: list[dict[str, Any]]) -> tuple[BadEvent | None, str]:
    """The job's first bad event and the sentence that says it and what the others saw."""
    events = [
        BadEvent(**{k: e["first_bad"].get(k) for k in BadEvent.__dataclass_fields__})
        for e in entries
        if e["first_bad"]
    ]
    crashed = [e for e in entries if e["status"] == "crashed"]
    crash_text = [
        f"rank {e['rank']} crashed ({_short(e['error'] or 'no error text')})" for e in crashed
    ]
    if not events:
        if not crashed:
            return None, f"all {len(entries)} rank(s) clean: no tensor hit, no error"
        stopped_text = [
            f"rank {e['rank']} was stopped by rank {e['stopped_by']}"
            for e in entries
            if e["status"] == "stopped_by_peer" and e["stopped_by"] is not None
        ]
        return None, "no tensor hit; " + "; ".join(crash_text + stopped_text)
    first = min(events, key=BadEvent.order)
    parts = [f"rank {first.rank} first, at step {first.step}, {first.where}"]
    clean_at: list[int] = []
    clean_until: list[tuple[int, int]] = []
    stopped: set[int] = set()
    for e in entries:
        if e["rank"] == first.rank or e["status"] == "crashed":
            continue
        if e["first_bad"]:
            other = BadEvent(**{k: e["first_bad"].get(k) for k in BadEvent.__dataclass_fields__})
            when = (
                f"at step {other.step} too, after rank {first.rank}"
                if other.step == first.step
                else f"later, at step {other.step}"
            )
            carried = ""
            if other.own_parameters_bad:
                carried = (
                    f" (its own parameters were already non-finite: propagated from rank "
                    f"{first.rank}, carried over by a collective such as DDP's gradient "
                    "all-reduce)"
                )
            parts.append(f"rank {other.rank} hit {when}, {other.where}{carried}")
            continue
        if e["status"] == "stopped_by_peer" and e["stopped_by"] is not None:
            stopped.add(e["stopped_by"])
        steps = e["steps"]
        if steps is None or steps >= first.step:
            clean_at.append(e["rank"])
        else:
            clean_until.append((e["rank"], steps))
    if clean_at:
        by = f" (stopped by rank {', '.join(map(str, sorted(stopped)))})" if stopped else ""
        parts.append(f"{_ranks_text(clean_at)} clean at step {first.step}{by}")
    for rank, steps in clean_until:
        parts.append(f"rank {rank} was clean until it stopped at step {steps}")
    parts.extend(crash_text)
    return first, "; ".join(parts)


def _infer_stoppers(entries: list[dict[str, Any]]) -> None:
    """A rank stopped by a peer without knowing which (torchrun's SIGTERM; the exit status
    of a rank that was blocked in a collective) was stopped by the job's first bad rank, else
    by the first rank that crashed; ``stopped_by_inferred`` says the launcher worked it out."""
    firsts = [e["first_bad"] for e in entries if e["first_bad"]]
    gone = [e for e in entries if e["status"] == "crashed" and _peer_gone(e["error"])]
    crashed = [e["rank"] for e in entries if e["status"] == "crashed" and e not in gone]
    culprit = None
    if firsts:
        culprit = min(
            (BadEvent(**{k: f.get(k) for k in BadEvent.__dataclass_fields__}) for f in firsts),
            key=BadEvent.order,
        ).rank
    elif crashed:
        culprit = crashed[0]
    if culprit is None:
        return
    for e in gone:  # its collective failed because the culprit had left: no crash of its own
        e["status"] = "stopped_by_peer"
    for e in entries:
        if e["status"] == "stopped_by_peer" and e["stopped_by"] is None:
            e["stopped_by"], e["stopped_by_inferred"] = culprit, True


def _peer_gone(error: str | None) -> bool:
    return bool(error) and any(words in str(error) for words in PEER_GONE_ERRORS)


def _short(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= VERDICT_ERROR_CHARS else text[: VERDICT_ERROR_CHARS - 1] + "…"


def _stamped(items: list[dict[str, Any]], identity: dict[str, Any]) -> list[dict[str, Any]]:
    return [{**item, **{k: item.get(k, identity[k]) for k in IDENTITY}} for item in items]


def merge_reports(results: list[RankResult], world_size: int | None = None) -> dict[str, Any]:
    """The merged report's JSON form (module docstring) from every rank's result."""
    if not results:
        raise ValueError("no rank results to merge")
    results = sorted(results, key=lambda r: r.rank)
    world = world_size if world_size is not None else len(results)
    entries = [_rank_entry(r, world) for r in results]
    _infer_stoppers(entries)
    first, text = verdict(entries)
    hits: list[dict[str, Any]] = []
    findings: list[dict[str, Any]] = []
    for result, entry in zip(results, entries, strict=True):
        identity = {k: entry[k] for k in IDENTITY}
        report = result.report or {}
        hits += _stamped(list(report.get("hits") or []), identity)
        findings += _stamped(list(report.get("findings") or []), identity)
    hits.sort(key=lambda h: (h.get("step", 0), h["rank"]))
    severity = {"error": 0, "warning": 1, "info": 2}
    findings.sort(key=lambda f: (f["step"], severity.get(f["severity"], 3), f["rank"]))
    reports = [r.report for r in results if r.report is not None]
    base = reports[0] if reports else {}
    statuses = {e["status"] for e in entries}
    crashed = [e for e in entries if e["status"] == "crashed"]
    if crashed:  # the script's own exit code when it chose one, else 1 (never a signal's -N)
        codes = [e["exit_code"] for e in crashed if isinstance(e["exit_code"], int)]
        status, exit_code = "failed", next((c for c in codes if c > 0), 1)
    else:
        stopped = any(r.get("status") == "stopped" for r in reports)
        status = "stopped" if stopped or "stopped_by_peer" in statuses else "completed"
        exit_code = max([int(r.get("exit_code") or 0) for r in reports] + [0])
        if "hit" in statuses:
            exit_code = max(exit_code, 1)
    return {
        "version": 1,
        "script": base.get("script", ""),
        "mode": base.get("mode", "run"),
        "command": base.get("command") or [base.get("script", "")],
        "steps": max([int(r.get("steps") or 0) for r in reports] + [0]),
        "status": status,
        "exit_code": exit_code,
        "world_size": world,
        "verdict": text,
        "first": first.to_dict() if first else None,
        "ranks": entries,
        "hits": hits,
        "findings": findings,
        "error": next((e["error"] for e in crashed), None),
        "stop_reason": next((r.get("stop_reason") for r in reports if r.get("stop_reason")), None),
        "breakpoints": base.get("breakpoints", []),
        "hits_dropped": sum(int(r.get("hits_dropped") or 0) for r in reports),
        "gradient_norms": None,  # per rank, in "ranks"
    }
