"""Breakpoints armed around a user's script for ``tensorpeek run`` and ``tensorpeek doctor``.

A ``RunSession`` arms the specs through ``tensorpeek.engine.api.set_breakpoints`` and watches
for new hits at two points the training loop passes through often: every root forward (a
root listener of the engine's registry) and every ``optimizer.step()`` (listeners of the one
step counter, ``tensorpeek.common.steps``). Hits recorded in between are handed to ``on_hit``
in order. The same points enforce ``--max-steps`` and end the run early (``StopRun``) when
asked to. Leaving the session removes every hook and breakpoint it added. ``report()`` builds
the run's ``Report`` (the one place it is built, for ``run`` and ``doctor`` alike).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from types import TracebackType
from typing import Any

import torch

from tensorpeek.cli.gradient_norms import GradientNorms
from tensorpeek.cli.script import ScriptResult, StopRun
from tensorpeek.common.steps import STEPS
from tensorpeek.engine import api, history
from tensorpeek.engine.breakpoint import Breakpoint
from tensorpeek.engine.hit import Hit
from tensorpeek.engine.registry import REGISTRY
from tensorpeek.report.findings import training_findings
from tensorpeek.report.model import Finding, Report
from tensorpeek.training import analysis
from tensorpeek.training.capture import CAPTURE
from tensorpeek.training.series import STORE

MAX_REPORT_HITS = 100  # hit dicts kept for the JSON report; later ones are only counted


class RunSession:
    """Arms ``specs`` for the duration of a ``with`` block; see the module docstring.

    ``on_hit(hit)`` runs for each new hit and may call ``stop(reason)``; ``on_step(step)`` runs
    after each optimizer step (progress lines). ``max_steps`` ends the run after that many
    optimizer steps."""

    def __init__(
        self,
        specs: list[Any],
        *,
        on_hit: Callable[[Hit], None],
        on_step: Callable[[int], None] | None = None,
        max_steps: int | None = None,
        gradient_norms: bool = False,
    ) -> None:
        self.specs = specs
        self.on_hit = on_hit
        self.on_step = on_step
        self.max_steps = max_steps
        self.norms = GradientNorms() if gradient_norms else None
        self.hit_dicts: list[dict[str, Any]] = []
        self.hits_dropped = 0
        self.armed: list[Breakpoint] = []
        self._stop: str | None = None
        self._last_hit: Hit | None = None
        self._listeners: list[Any] = []
        self._started = 0.0
        self._interval = CAPTURE.interval

    def stop(self, reason: str) -> None:
        """End the script at the next root forward or optimizer step."""
        if self._stop is None:
            self._stop = reason

    @property
    def step_count(self) -> int:
        """Steps completed: optimizer steps; without an optimizer, ``backward()`` calls;
        with neither, forwards of the first root module."""
        if STEPS.seen_optimizer:
            return STEPS.current()
        return STEPS.backward_calls or STEPS.root_forwards_started

    def __enter__(self) -> RunSession:
        self._started = time.monotonic()
        earlier = api.hits()
        self._last_hit = earlier[-1] if earlier else None  # only hits from now on are ours
        CAPTURE.install()  # the loss, lr, norms and graph are captured while steps count
        self._interval = CAPTURE.interval
        if self.norms is not None:  # doctor: update ratios every step, to name a spike's layer
            CAPTURE.interval = 1
        STEPS.acquire()
        REGISTRY.add_root_listener(self._at_root_forward)
        try:
            self.armed = api.set_breakpoints(self.specs)
        except BaseException:
            REGISTRY.remove_root_listener(self._at_root_forward)
            STEPS.release()
            raise
        self._listeners = [
            STEPS.listen("pre", self._before_step),
            STEPS.listen("counted", self._after_step),
        ]
        if self.norms is not None:
            self.norms.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        api.flush()
        self.poll()
        for listener in self._listeners:
            listener.remove()
        self._listeners = []
        if self.norms is not None:
            self.norms.stop()
        REGISTRY.remove_root_listener(self._at_root_forward)
        api.set_breakpoints([])  # removes every hook tensorpeek installed
        STEPS.release()
        CAPTURE.interval = self._interval

    def poll(self) -> None:
        """Hand the hits recorded since the last poll to ``on_hit``, oldest first."""
        recent = api.hits()
        start = 0
        if self._last_hit is not None:
            for i in range(len(recent) - 1, -1, -1):
                if recent[i] is self._last_hit:
                    start = i + 1
                    break
        for hit in recent[start:]:
            self._last_hit = hit
            if len(self.hit_dicts) < MAX_REPORT_HITS:
                self.hit_dicts.append(hit.to_dict())
            else:
                self.hits_dropped += 1
            self.on_hit(hit)

    def _check_stop(self) -> None:
        if self._stop is not None:
            reason, self._stop = self._stop, None
            raise StopRun(reason)

    def _at_root_forward(self) -> None:
        self.poll()
        without_optimizer = not STEPS.seen_optimizer and self.max_steps is not None
        if without_optimizer and self.step_count >= self.max_steps:  # type: ignore[operator]
            self.stop(f"--max-steps {self.max_steps} reached")
        self._check_stop()

    def _before_step(self, optimizer: torch.optim.Optimizer, step: int) -> None:
        if self.norms is not None:
            self.norms.record(optimizer, step)

    def _after_step(self, optimizer: torch.optim.Optimizer, step: int) -> None:
        self.poll()
        if self.on_step is not None:
            self.on_step(step)
        if self.max_steps is not None and step >= self.max_steps:
            self.stop(f"--max-steps {self.max_steps} reached")
        self._check_stop()

    def report(
        self,
        mode: str,
        script: str,
        args: list[str],
        result: ScriptResult,
        findings: list[Finding] | None = None,
    ) -> Report:
        """The run's report: what the session saw plus how the script ended; under ``doctor``
        also the findings the captured curves show (loss spikes, plateaus, learning rates)."""
        scalars = STORE.snapshot()
        norms = self.norms.payload() if self.norms else None
        findings = list(findings or [])
        if mode == "doctor":
            findings += training_findings(scalars, norms)
        return Report(
            script=script,
            mode=mode,
            command=[script, *args],
            steps=self.step_count,
            status=result.status,
            exit_code=result.exit_code,
            hits=self.hit_dicts,
            findings=findings,
            error=result.error,
            stop_reason=result.stop_reason,
            breakpoints=[bp.spec.to_dict() for bp in self.armed],
            gradient_norms=norms,
            hits_dropped=self.hits_dropped,
            scalars=scalars,
            graph=self._graph(findings),
        )

    def _graph(self, findings: list[Finding]) -> dict[str, Any] | None:
        """The traced module graph, each node coloured by the findings (and the history)."""
        graph = STORE.graph
        if graph is None:
            return None
        records = [(f.module, f.kind, f.origin) for f in findings]
        records += [(h["module"], h["condition"], bool(h.get("origin"))) for h in self.hit_dicts]
        colours = analysis.health(
            (n["id"] for n in graph["nodes"]),
            records,
            analysis.observed_in(history.layer_history()),
        )
        return analysis.with_health(graph, colours)
