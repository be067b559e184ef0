"""``Hit``: why a tensor breakpoint fired, and the error raised for ``action="raise"``.

Imports no torch: the agent reads hits at every debugger stop.

A hit keeps a reference to the offending tensor and module (never a copy) while it is the
latest hit; older hits in the ring buffer drop to weak references so that a long run does not
keep old activations alive.
"""

from __future__ import annotations

import weakref
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from tensorpeek.common.terminal_text import terminal_safe
from tensorpeek.engine import ranks
from tensorpeek.summary.text import histogram_lines, stats_table, summary_line

if TYPE_CHECKING:
    import torch

MAX_INPUT_SUMMARIES = 4


class TensorBreakpointError(RuntimeError):
    """Raised by a breakpoint with ``action="raise"``; the message is the hit report and
    ``.hit`` is the ``Hit``."""

    def __init__(self, hit: Hit) -> None:
        super().__init__(hit.report())
        self.hit = hit


def summary_dict(x: torch.Tensor | None) -> dict[str, Any] | None:
    """The full summary of a tensor (computed once per hit, so cost does not matter much)."""
    if x is None:
        return None
    from tensorpeek.summary.tensor_summary import summarize

    return summarize(x).to_dict()


@dataclass
class Hit:
    """One firing of a breakpoint: where (module path and class, site, parameter), when (step),
    why (condition, origin or propagated), and what (tensor summary, input summaries)."""

    breakpoint_id: int
    spec: dict[str, Any]
    module: str
    module_class: str
    site: str
    step: int
    condition: str
    origin: bool
    param: str | None
    label: str
    summary: dict[str, Any] | None
    input_summaries: list[dict[str, Any]] = field(default_factory=list)
    deferred: bool = False
    note: str | None = None  # why this is the origin, when the verdict needs explaining
    details: dict[str, Any] | None = None  # numbers of hits no tensor explains (amp_overflow)
    source: str | None = None  # file:line of the module's forward
    _tensor: Any = field(default=None, repr=False)
    _module: Any = field(default=None, repr=False)
    # in a multi-rank job (``docs/ranks-protocol.md``): this rank, stamped when the hit is made
    rank: int | None = None
    world_size: int | None = None
    local_rank: int | None = None
    host: str | None = None
    rank_seq: int | None = None  # the hit's sequence number in the job's store, if published
    first: dict[str, Any] | None = None  # the job's first bad record, as known at this hit

    def __post_init__(self) -> None:
        me = ranks.identity() if self.rank is None else None
        if me is not None:
            self.rank, self.world_size = me.rank, me.world_size
            self.local_rank, self.host = me.local_rank, me.host

    @property
    def tensor(self) -> torch.Tensor | None:
        """The offending tensor (``None`` once an older hit's tensor has been freed)."""
        t = self._tensor
        return t() if isinstance(t, weakref.ref) else t

    @property
    def module_object(self) -> torch.nn.Module | None:
        m = self._module
        return m() if isinstance(m, weakref.ref) else m

    def weaken(self) -> None:
        """Drop the strong references (the hit is no longer the latest one)."""
        for name in ("_tensor", "_module"):
            value = getattr(self, name)
            if value is not None and not isinstance(value, weakref.ref):
                try:
                    setattr(self, name, weakref.ref(value))
                except TypeError:
                    setattr(self, name, None)

    def where(self) -> str:
        """The short line of a hit, after ``[rank r/n]`` in a multi-rank job."""
        d = self.to_dict()
        return rank_tag(d) + where_text(d)

    def report(self) -> str:
        """The text printed for a hit (terminals, ``action="log"``, exception messages)."""
        return hit_text(self.to_dict())

    def spec_text(self) -> str:
        return f"{self.spec.get('target')}:{self.spec.get('site')}:{self.spec.get('condition')}"

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe form (the agent's snapshot and the CLI's report use it)."""
        return {
            "breakpoint": self.breakpoint_id,
            "spec": dict(self.spec),
            "module": self.module,
            "module_class": self.module_class,
            "site": self.site,
            "step": self.step,
            "condition": self.condition,
            "origin": self.origin,
            "param": self.param,
            "label": self.label,
            "deferred": self.deferred,
            "note": self.note,
            "details": self.details,
            "source": self.source,
            "summary": self.summary,
            "inputs": list(self.input_summaries),
            **self.rank_fields(),
        }

    def rank_fields(self) -> dict[str, Any]:
        """``rank``, ``world_size``, ``local_rank``, ``host``, ``rank_seq`` and ``first`` in a
        multi-rank job; nothing in a single process (its JSON stays as it was)."""
        if self.rank is None:
            return {}
        return {
            "rank": self.rank,
            "world_size": self.world_size,
            "local_rank": self.local_rank,
            "host": self.host,
            "rank_seq": self.rank_seq,
            "first": dict(self.first) if self.first else None,
        }

    def __str__(self) -> str:
        return self.report()

    def __repr__(self) -> str:
        """One short line for Variables, hovers and inline values (``str`` is the report)."""
        module = self.module or "<root>"
        param = f".{self.param}" if self.param else ""
        kind = "origin" if self.origin else "propagated"
        rank = f"rank {self.rank}/{self.world_size} " if self.rank is not None else ""
        return (
            f"<Hit #{self.breakpoint_id} {rank}{module}{param} ({self.module_class}) {self.site} "
            f"step {self.step} {self.condition} {kind}>"
        )


def where_text(hit: dict[str, Any]) -> str:
    """``blocks.0.fc.weight (Linear) param_grad at step 12``, from a hit's JSON form. Module
    paths, parameter names, labels and class names come from user code: they are escaped
    (``terminal_safe``), so the text is safe to print."""
    module = hit.get("module") or "<root>"
    param = f".{hit['param']}" if hit.get("param") else ""
    label = hit.get("label")
    label = f"[{label}]" if label and label != hit.get("param") else ""
    return terminal_safe(
        f"{module}{param} ({hit.get('module_class')}) {hit['site']}{label} at step {hit['step']}"
    )


def hit_text(hit: dict[str, Any]) -> str:
    """The one readable text of a hit, from its JSON form (``Hit.to_dict()``): where, why, a
    statistics table, a histogram and the inputs' summaries."""
    spec = hit.get("spec") or {}
    spec_text = terminal_safe(f"{spec.get('target')}:{spec.get('site')}:{spec.get('condition')}")
    kind = "origin" if hit.get("origin") else "propagated"
    if hit.get("deferred"):
        kind += ", deferred check"
    lines = [
        f"━━ tensorpeek: {rank_tag(hit)}breakpoint #{hit.get('breakpoint')} '{spec_text}' hit at "
        + where_text(hit),
        f"  condition: {terminal_safe(hit['condition'])} ({kind})",
    ]
    if hit.get("note"):
        lines.append(f"  why: {terminal_safe(hit['note'])}")
    first = hit.get("first")
    if isinstance(first, dict) and first.get("seq") != hit.get("rank_seq"):
        lines.append(f"  first in the job: {terminal_safe(str(first.get('message')))}")
    summary = hit.get("summary")
    if summary:
        lines.append("  tensor:")
        lines.extend("  " + line for line in stats_table(summary))
        lines.append("  histogram:")
        lines.extend("  " + line for line in histogram_lines(summary))
    for i, s in enumerate(hit.get("inputs") or []):
        lines.append(f"  input {i}: {summary_line(s)}")
    return "\n".join(lines)


def rank_tag(hit: dict[str, Any]) -> str:
    """``"[rank 1/2] "`` for a hit of a multi-rank job, ``""`` otherwise."""
    rank, world_size = hit.get("rank"), hit.get("world_size")
    if isinstance(rank, int) and isinstance(world_size, int):
        return f"[rank {rank}/{world_size}] "
    return ""
