"""The report ``tensorpeek run`` and ``tensorpeek doctor`` write: the one definition of its JSON.

DESIGN.md's contract: ``{"version": 1, "script", "steps", "status", "hits": [...],
"findings": [{"kind", "module", "site", "step", "severity", "message", "summary"}]}`` with
``kind`` in ``KINDS``, ``severity`` in ``SEVERITIES`` and findings sorted by step. We add a few
fields (documented on the dataclasses); none of the contract's keys is renamed.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tensorpeek.common.json_safe import json_safe

REPORT_VERSION = 1
KINDS: tuple[str, ...] = (
    "nonfinite",
    "exploding",
    "vanishing",
    "dead",
    "saturated",
    "no_gradient",  # a parameter that receives no gradient (zero by construction): info
    "amp_overflow",  # GradScaler skipped a step (routine: info; a collapsing scale: error)
    "loss_spike",  # the loss jumped above k x its median (module: the layer that moved first)
    "stalled",  # no new best loss over a window of steps (module "", site "loss")
    "learning_rate",  # a learning rate of 0 or non-finite (module "", site: "lr", "lr/1", ...)
)
SEVERITIES: tuple[str, ...] = ("error", "warning", "info")
STATUSES: tuple[str, ...] = ("completed", "failed", "stopped", "interrupted")


def _number(value: Any) -> Any:
    """A JSON value back to a number (``json_safe`` wrote NaN and Inf as strings)."""
    return float(value) if value in ("nan", "inf", "-inf") else value


@dataclass
class Finding:
    """One problem ``doctor`` found: what (``kind``), where (``module`` path, ``site``, and
    ``param`` for parameter sites), when (first ``step``), how bad (``severity``), a one-line
    ``message``, and the offending tensor's ``summary`` at that first step. ``count`` is how
    many times it was seen, ``last_step`` the last step it was seen at."""

    kind: str
    module: str
    site: str
    step: int
    severity: str
    message: str
    summary: dict[str, Any] | None
    param: str | None = None
    module_class: str | None = None
    origin: bool = True
    count: int = 1
    last_step: int | None = None

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"finding kind must be one of {', '.join(KINDS)}, got {self.kind!r}")
        if self.severity not in SEVERITIES:
            raise ValueError(f"severity must be one of {', '.join(SEVERITIES)}")

    @property
    def where(self) -> str:
        module = self.module if self.module else '"" (root)'
        return f"{module}.{self.param}" if self.param else module

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "module": self.module,
            "site": self.site,
            "step": self.step,
            "severity": self.severity,
            "message": self.message,
            "summary": self.summary,
            "param": self.param,
            "module_class": self.module_class,
            "origin": self.origin,
            "count": self.count,
            "last_step": self.last_step if self.last_step is not None else self.step,
        }


@dataclass
class Report:
    """A whole run. Extras beyond the contract: ``command`` (the script's argv), ``mode``
    (``run`` or ``doctor``), ``exit_code`` (the tensorpeek command's), ``error`` (the
    script's exception, if any), ``stop_reason``, ``breakpoints`` (the armed specs) and
    ``gradient_norms`` (a ``"timeseries"`` render payload: per-layer parameter-gradient norm
    over steps), ``scalars`` (the captured curves, ``{"loss": [[step, value], ...], "lr": ...,
    each logged metric}``) and ``graph`` (the module graph, ``{"nodes", "edges"}``, nodes with
    their ``health``; ``docs/training-protocol.md``)."""

    script: str
    mode: str
    command: list[str]
    steps: int = 0
    status: str = "completed"
    exit_code: int = 0
    hits: list[dict[str, Any]] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)
    error: str | None = None
    stop_reason: str | None = None
    breakpoints: list[dict[str, Any]] = field(default_factory=list)
    gradient_norms: dict[str, Any] | None = None
    hits_dropped: int = 0
    scalars: dict[str, list[list[Any]]] = field(default_factory=dict)
    graph: dict[str, Any] | None = None

    def sorted_findings(self) -> list[Finding]:
        order = {k: i for i, k in enumerate(KINDS)}
        return sorted(
            self.findings,
            key=lambda f: (f.step, f.severity != "error", order[f.kind], f.module, f.site),
        )

    @property
    def errors(self) -> list[Finding]:
        return [f for f in self.findings if f.severity == "error"]

    @property
    def warnings(self) -> list[Finding]:
        return [f for f in self.findings if f.severity == "warning"]

    @property
    def infos(self) -> list[Finding]:
        """Facts worth knowing that are no problem (``no_gradient``)."""
        return [f for f in self.findings if f.severity == "info"]

    def to_dict(self) -> dict[str, Any]:
        return json_safe(
            {
                "version": REPORT_VERSION,
                "script": self.script,
                "steps": self.steps,
                "status": self.status,
                "hits": self.hits,
                "findings": [f.to_dict() for f in self.sorted_findings()],
                "mode": self.mode,
                "command": self.command,
                "exit_code": self.exit_code,
                "error": self.error,
                "stop_reason": self.stop_reason,
                "breakpoints": self.breakpoints,
                "hits_dropped": self.hits_dropped,
                "gradient_norms": self.gradient_norms,
                "scalars": self.scalars,
                "graph": self.graph,
            }
        )

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Report:
        """Read back a report written by ``write_json`` (e.g. to render HTML later)."""
        if d.get("version") != REPORT_VERSION:
            raise ValueError(f"unsupported report version {d.get('version')!r}")
        fields = ("kind", "module", "site", "step", "severity", "message", "summary")
        extras = ("param", "module_class", "origin", "count", "last_step")
        findings = [
            Finding(**{k: f[k] for k in fields}, **{k: f[k] for k in extras if k in f})
            for f in d.get("findings", [])
        ]
        return cls(
            script=d["script"],
            mode=d.get("mode", "run"),
            command=list(d.get("command") or [d["script"]]),
            steps=d["steps"],
            status=d["status"],
            exit_code=d.get("exit_code", 0),
            hits=list(d.get("hits", [])),
            findings=findings,
            error=d.get("error"),
            stop_reason=d.get("stop_reason"),
            breakpoints=list(d.get("breakpoints", [])),
            gradient_norms=d.get("gradient_norms"),
            hits_dropped=d.get("hits_dropped", 0),
            scalars={
                k: [[p[0], _number(p[1])] for p in v] for k, v in (d.get("scalars") or {}).items()
            },
            graph=d.get("graph"),
        )

    def write_json(self, path: Path) -> None:
        """Write atomically (a half-written report is worse than none), strict JSON."""
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(json.dumps(self.to_dict(), indent=2, allow_nan=False) + "\n")
        tmp.replace(path)
