"""From breakpoint hits to ``doctor`` findings: what kind of problem a hit shows, how severe it
is, a one-line message, and one finding per place (the first step it was seen, plus a count).

Non-finite values spread: once a NaN has appeared, the loss, every gradient behind it and
(after the optimizer step) the weights go bad too. Only the first non-finite place is the
problem; later non-finite hits elsewhere are counted as its consequences, not reported as
findings of their own.
"""

from __future__ import annotations

from typing import Any

from tensorpeek.common.numbers import format_number
from tensorpeek.common.vocabulary import (
    FORWARD_SITES,
    NONFINITE_CONDITIONS,
    OWN_PARAMETER_NOTE,
)
from tensorpeek.report.model import Finding
from tensorpeek.training import analysis

NARROW_FLOATS = ("float16", "bfloat16")  # plus every float8 variant (prefix "float8")


def _is_narrow(dtype: str | None) -> bool:
    return bool(dtype) and (dtype in NARROW_FLOATS or str(dtype).startswith("float8"))


def _num(value: Any) -> str:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return format_number(value)
    return str(value)


def _counts(summary: dict[str, Any]) -> str:
    parts = []
    for key, label in (("nan", "NaN"), ("posinf", "+Inf"), ("neginf", "-Inf")):
        n = summary.get(key)
        if n:
            parts.append(f"{label}×{n}")
    return " ".join(parts) or "non-finite values"


def _place(hit: dict[str, Any]) -> str:
    module = hit["module"] or '"" (the root module)'
    cls = hit.get("module_class")
    param = f".{hit['param']}" if hit.get("param") else ""
    return f"{module}{param} ({cls})" if cls and cls != "?" else f"{module}{param}"


def classify(hit: dict[str, Any]) -> tuple[str, str, str]:
    """``(kind, severity, message)`` for a hit's JSON form (``Hit.to_dict()``)."""
    condition = hit["condition"]
    site = hit["site"]
    summary = hit.get("summary") or {}
    place, step = _place(hit), hit["step"]
    note = hit.get("note") or None
    where = f" (forward at {hit['source']})" if hit.get("source") else ""
    if condition == "amp_overflow":
        details = hit.get("details") or {}
        if details.get("collapsed"):
            return (
                "amp_overflow",
                "error",
                f"GradScaler's scale keeps collapsing at step {step}: {note}; the scaled "
                "gradients overflow whatever the scale (a real non-finite value, or an fp16 "
                "range problem the scale cannot fix)",
            )
        return ("amp_overflow", "info", f"step {step}: {note} (routine for mixed precision)")
    if condition in NONFINITE_CONDITIONS:
        if hit["module"] == "" and site == "input":
            return (
                "nonfinite",
                "error",
                f"non-finite values arrive in the data at step {step}: the model's input holds "
                f'{_counts(summary)} (module "", site input)',
            )
        dtype = summary.get("dtype")
        overflow = (
            site in FORWARD_SITES
            and _is_narrow(dtype)
            and not summary.get("nan")
            and (summary.get("posinf") or summary.get("neginf"))
            and not (note or "").startswith(OWN_PARAMETER_NOTE)  # a weight already non-finite
        )
        if overflow:
            return (
                "saturated",
                "error",
                f"{dtype} overflow at step {step}: {place} {site} has {_counts(summary)} "
                f"from finite inputs (values beyond the {dtype} range){where}",
            )
        if site in FORWARD_SITES:
            return (
                "nonfinite",
                "error",
                f"{_counts(summary)} first appear in the {site} of {place} at step {step}; "
                + (note or "its inputs were finite")
                + where,
            )
        if note and note.startswith("the loss"):
            return (
                "nonfinite",
                "error",
                f"{note}: its gradient reaching {place} {site} holds {_counts(summary)}",
            )
        return (
            "nonfinite",
            "error",
            f"{_counts(summary)} first appear in the backward pass at {place} {site} at step "
            f"{step}; the gradient flowing into it was finite{where}",
        )
    if condition == "exploding":
        return (
            "exploding",
            "warning",
            f"exploding gradient at {place} {site}, step {step}: norm {_num(summary.get('norm'))}, "
            f"|x|max {_num(summary.get('absmax'))} (still finite)",
        )
    if condition == "vanishing":
        return (
            "vanishing",
            "warning",
            f"vanishing gradient at {place} {site}, step {step}: norm "
            f"{_num(summary.get('norm'))}, no learning signal reaches it",
        )
    if condition == "no_gradient":
        return (
            "no_gradient",
            "info",
            f"{place} receives no gradient ({site} norm {_num(summary.get('norm'))} at step "
            f"{step}): zero by construction, e.g. an attention key bias, or a parameter the "
            "loss does not depend on",
        )
    if condition == "dead":
        numel, zeros = summary.get("numel") or 0, summary.get("zeros") or 0
        frac = f"{zeros / numel:.1%}" if numel else "all"
        return (
            "dead",
            "warning",
            f"dead activations at {place} {site}, step {step}: {frac} of its values are zero",
        )
    if condition == "saturated":
        return (
            "saturated",
            "warning",
            f"{summary.get('dtype')} saturation at {place} {site}, step {step}: "
            f"{summary.get('saturated') or 'some'} values at the largest finite value",
        )
    raise ValueError(f"doctor does not know condition {condition!r}")


class FindingSet:
    """Findings in the order they were first seen, one per (kind, module, site, param)."""

    def __init__(self) -> None:
        self._by_key: dict[tuple[str, str, str, str | None, str | None], Finding] = {}
        self.consequences = 0  # non-finite hits after the first one, elsewhere

    def add(self, hit: dict[str, Any]) -> Finding | None:
        """Fold a hit in; return the finding when it is a new one."""
        kind, severity, message = classify(hit)
        # a routine GradScaler skip and a collapsing scale are two findings, not one counted
        escalation = severity if kind == "amp_overflow" else None
        key = (kind, hit["module"], hit["site"], hit.get("param"), escalation)
        known = self._by_key.get(key)
        if known is not None:
            known.count += 1
            known.last_step = hit["step"]
            return None
        if hit["condition"] in NONFINITE_CONDITIONS and self.first_nonfinite() is not None:
            self.consequences += 1
            return None
        finding = Finding(
            kind=kind,
            module=hit["module"],
            site=hit["site"],
            step=hit["step"],
            severity=severity,
            message=message,
            summary=hit.get("summary"),
            param=hit.get("param"),
            module_class=hit.get("module_class"),
            origin=bool(hit.get("origin", True)),
            last_step=hit["step"],
        )
        self._by_key[key] = finding
        return finding

    def first_nonfinite(self) -> Finding | None:
        for f in self._by_key.values():
            if f.severity == "error" and f.kind in ("nonfinite", "saturated"):
                return f
        return None

    def all(self) -> list[Finding]:
        return list(self._by_key.values())

    def counts(self) -> tuple[int, int]:
        """(errors, warnings); ``info`` findings are neither."""
        errors = sum(1 for f in self._by_key.values() if f.severity == "error")
        warnings = sum(1 for f in self._by_key.values() if f.severity == "warning")
        return errors, warnings


def training_findings(
    scalars: dict[str, list[list[Any]]], gradient_norms: dict[str, Any] | None = None
) -> list[Finding]:
    """``loss_spike``, ``stalled`` and ``learning_rate`` findings from the captured curves
    (the rules: ``tensorpeek.training.analysis``). A spike names the layers whose update ratio
    or gradient norm jumped first in the steps before it."""
    out: list[Finding] = []
    loss = scalars.get("loss", [])
    layers = analysis.layer_series_of(scalars, gradient_norms)
    for spike in analysis.spikes(loss):
        moved = analysis.movers(layers, spike.step)
        if moved:
            first = moved[0]
            names = ", ".join(m.layer or '"" (root)' for m in moved[:3])
            cause = (
                f"; first to jump: {names} at step {first.step} ({first.scalar.replace('_', ' ')} "
                f"{_num(first.value)}, {_num(first.factor)}x its median {_num(first.median)})"
            )
        else:
            cause = "; no layer's update ratio or gradient norm jumped in the steps before it"
        out.append(
            Finding(
                kind="loss_spike",
                module=moved[0].layer if moved else "",
                site="loss",
                step=spike.step,
                severity="warning",
                message=(
                    f"the loss spiked at step {spike.step}: {_num(spike.value)}, "
                    f"{_num(spike.value / spike.median) if spike.median else 'inf'}x its running "
                    f"median {_num(spike.median)}{cause}"
                ),
                summary=None,
                origin=True,
            )
        )
    plateau = analysis.stall(loss)
    if plateau is not None:
        out.append(
            Finding(
                kind="stalled",
                module="",
                site="loss",
                step=plateau.since,
                severity="warning",
                message=(
                    f"the loss stalled: its best, {_num(plateau.best)} at step {plateau.since}, "
                    f"was not improved on (by {analysis.STALL_MIN_DELTA:.1%}) through step "
                    f"{plateau.last_step}"
                ),
                summary=None,
                last_step=plateau.last_step,
            )
        )
    for problem in analysis.learning_rate_problems(scalars):
        if problem.kind == "nonfinite":
            severity = "error"
            message = (
                f"learning rate {problem.name} is {_num(problem.value)} at step {problem.step}: "
                "every parameter it updates becomes non-finite"
            )
        else:
            severity = "warning"
            message = (
                f"learning rate {problem.name} is 0 from step {problem.step} on: its parameters "
                "are not updated (a frozen group, a scheduler that went to 0, a wrong lr)"
            )
        out.append(
            Finding(
                kind="learning_rate",
                module="",
                site=problem.name,
                step=problem.step,
                severity=severity,
                message=message,
                summary=None,
            )
        )
    return out
