"""From a hook event to a hit: which breakpoints watch a module, whether their condition
holds, whether the value starts here (``origin.OriginRules``), and firing: recording the
``Hit`` and carrying out the breakpoint's action (``pause.deliver``).

``rewire(registry)`` is the registry's ``wiring``, called by ``Registry.changed()``: it
installs PyTorch's hooks while anything is armed and removes every one of them with the last
breakpoint.
"""

from __future__ import annotations

import functools
import warnings
import weakref
from typing import TYPE_CHECKING, Any

import torch

from tensorpeek.common.steps import STEPS
from tensorpeek.common.vocabulary import BACKWARD_SITES
from tensorpeek.engine import amp, deferred, history, pause
from tensorpeek.engine.compile_warnings import CompileWarnings
from tensorpeek.engine.conditions import EvalContext, is_checkable
from tensorpeek.engine.events import Event, Table
from tensorpeek.engine.hit import MAX_INPUT_SUMMARIES, Hit
from tensorpeek.engine.hooks import HOOKS
from tensorpeek.engine.origin import OriginRules
from tensorpeek.engine.registry import REGISTRY, Registry
from tensorpeek.engine.screen import clean_norm, summary_or_note, unreadable
from tensorpeek.summary.sharded import is_sharded

if TYPE_CHECKING:
    from tensorpeek.engine.breakpoint import Breakpoint


MAX_TABLES = 8192  # (module, path) tables cached for events that come without one


class Dispatcher:
    """What the hooks call (``hooks.Dispatcher`` protocol): it reads the registry, applies the
    origin rules and fires hits."""

    def __init__(self, registry: Registry) -> None:
        self.registry = registry
        self.origins = OriginRules()
        self.compile_warnings = CompileWarnings()
        self._step_listeners: list[Any] = []
        self._roots_checked: set[tuple[int, int]] = set()
        self._unmatched_said: set[int] = set()
        # (id(module), path) -> (module, table) of the current registry generation
        self._tables: dict[tuple[int, str], tuple[weakref.ref[torch.nn.Module], Table]] = {}
        self._tables_generation = -1

    @property
    def generation(self) -> int:
        return self.registry.generation

    def rewired(self) -> None:
        self.origins.grad_input_watched = any(
            bp.spec.site == "grad_input" for bp in self.registry.enabled()
        )

    def listen_to_steps(self) -> None:
        if not self._step_listeners:
            self._step_listeners = [
                STEPS.listen("pre", self._before_optimizer_step),
                STEPS.listen("post", self._after_optimizer_step),
                STEPS.listen("backward", self._backward_starts),
            ]

    def stop_listening(self) -> None:
        for listener in self._step_listeners:
            listener.remove()
        self._step_listeners = []

    def table_for(self, module: torch.nn.Module, path: str) -> Table:
        table: Table = {}
        for bp in self.registry.enabled():
            if bp.matches(module, path):
                table.setdefault(bp.spec.site, []).append(bp)
                # bad data entering the root is an origin at ("", "input") for output watchers too
                origin_mode = bp.condition.nonfinite_family and not bp.spec.propagated
                if origin_mode and bp.spec.site == "output" and path == "":
                    table.setdefault("input", []).append(bp)
        return table

    def on_root_forward(self, root: torch.nn.Module) -> None:
        self.flush()
        self.origins.new_pass()
        for listener in list(self.registry.root_listeners):
            listener()
        self.compile_warnings.root_forward(root)
        self._say_unmatched(root)

    def _say_unmatched(self, root: torch.nn.Module) -> None:
        """A breakpoint whose target names no module of the model whose forward starts is
        said once (a typo in a path never fires otherwise); it stays armed for other models.
        Checked once per root and set of breakpoints."""
        key = (self.registry.generation, id(root))
        if key in self._roots_checked:
            return
        if len(self._roots_checked) > 4096:  # bounded over a long run of re-armings
            self._roots_checked.clear()
        self._roots_checked.add(key)
        candidates = [bp for bp in self.registry.enabled() if bp.id not in self._unmatched_said]
        if not candidates:
            return
        named = list(root.named_modules())
        for bp in candidates:
            if bp.scoped or any(bp.matches(m, path) for path, m in named):
                continue
            self._unmatched_said.add(bp.id)
            shown = ", ".join(p or '""' for p, _ in named[:8]) + (", ..." if len(named) > 8 else "")
            warnings.warn(
                f"tensorpeek: breakpoint #{bp.id} '{bp.spec}' matches no module of "
                f"{type(root).__name__} (its module paths: {shown}); it stays armed for other "
                "models",
                RuntimeWarning,
                stacklevel=4,
            )

    def on_root_output(self, root: torch.nn.Module, outputs: list[torch.Tensor]) -> None:
        """The root's forward returned ``outputs`` (what a loss is computed from)."""
        self.origins.set_root_outputs(outputs)

    def _backward_starts(self, tensors: Any, step: int) -> None:
        if isinstance(tensors, torch.Tensor):
            tensors = [tensors]
        elif not isinstance(tensors, (list, tuple)):
            tensors = []
        self.origins.backward_started([t for t in tensors[:4] if isinstance(t, torch.Tensor)], step)
        amp.backward_starts()

    def _before_optimizer_step(self, optimizer: torch.optim.Optimizer, step: int) -> None:
        self.flush()

    def _after_optimizer_step(self, optimizer: torch.optim.Optimizer, step: int) -> None:
        sites = {bp.spec.site for bp in self.registry.enabled()}
        self.compile_warnings.optimizer_step(optimizer, sites)
        if "param" not in sites:
            return
        for p, module, path, pname in HOOKS.optimizer_params(optimizer):
            table = HOOKS.table(module)[1]
            if "param" in table:
                grad = [p.grad] if p.grad is not None else []
                self.on_event(
                    Event(module, path, "param", [(pname, p)], grad, param=pname, step=step)
                )

    def on_event(self, event: Event, bps: list[Breakpoint] | None = None) -> None:
        """Check ``event`` against the breakpoints watching its site (``bps`` when the hook has
        just looked them up in the module's table)."""
        for bp in list(self._bps_for(event) if bps is None else bps):
            root_input_only = event.site == "input" and bp.spec.site != "input"
            if root_input_only and (bp.spec.propagated or not bp.condition.nonfinite_family):
                continue
            self._check(bp, event)

    def screen(
        self, bps: list[Breakpoint], path: str, site: str, tensors: list[tuple[str, Any]], step: int
    ) -> bool:
        """The hooks' shortcut for the common event, before any ``Event`` is built: True when
        every breakpoint in ``bps`` is a non-finite condition checking now and every tensor is
        a plain CPU float tensor found clean (its norm recorded in the history); False sends
        the event down ``on_event``'s general path (which re-reads only what it must: the last
        clean tensor is remembered)."""
        # (``deferred.inline_on_cpu()`` and ``bp.enabled``, inline: this runs at every module
        # output and gradient)
        if deferred._mode == "always":
            return False
        for bp in bps:
            if bp.screens_every_step and bp._enabled:
                continue
            if not (bp.condition.nonfinite_family and bp._enabled and bp.in_steps(step)):
                return False
        for _label, x in tensors:
            norm = clean_norm(x)
            if norm is None:
                return False
            history.record_norm(path, site, step, norm)
        return True

    def _bps_for(self, event: Event) -> list[Breakpoint]:
        """The breakpoints watching the event's module and site, by the path its forward found
        (not by this thread's root: a backward hook runs on autograd's thread for the device,
        CUDA's worker or the thread that called ``backward()``)."""
        module = event.module
        if module is None:
            return []
        generation = self.registry.generation
        if self._tables_generation != generation or len(self._tables) > MAX_TABLES:
            self._tables = {}
            self._tables_generation = generation
        key = (id(module), event.path)
        cached = self._tables.get(key)
        if cached is not None and cached[0]() is module:
            return cached[1].get(event.site, [])
        table = self.table_for(module, event.path)
        self._tables[key] = (weakref.ref(module), table)
        return table.get(event.site, [])

    def _check(self, bp: Breakpoint, event: Event) -> None:
        if not bp.enabled or not bp.in_steps(event.step):
            return
        # the common case first: a non-finite condition on a plain CPU float tensor that is
        # clean (one dot product, no context objects); anything else takes the general path
        screen = bp.condition.nonfinite_family and deferred.inline_on_cpu()
        for label, x in event.tensors:
            if screen:
                norm = clean_norm(x)
                if norm is not None:
                    history.record_norm(event.path, event.site, event.step, norm)
                    continue
            if not isinstance(x, torch.Tensor):
                continue
            if is_sharded(x):
                # FSDP2 / DTensor: this rank checks its own shard (a reduction of the DTensor
                # would be a collective inside a hook); every rank checks its own
                x = x.to_local()  # type: ignore[attr-defined]  # a DTensor (is_sharded)
                if screen and (norm := clean_norm(x)) is not None:
                    history.record_norm(event.path, event.site, event.step, norm)
                    continue
            if (
                bp.condition.nonfinite_family
                and is_checkable(x)
                and deferred.should_defer(x, bp.spec.exact)
            ):
                deferred.QUEUE.add(
                    bp,
                    Event(event.module, event.path, event.site, [], [], event.param, event.step),
                    label,
                    x,
                )
                continue
            why = unreadable(x)
            if why is not None:
                bp.skip(why)
                continue
            if (
                not bp.condition.nonfinite_family
                and event.site in BACKWARD_SITES
                and amp.in_scaled_backward()
            ):
                continue  # GradScaler's scaled gradients: their statistics are not the model's
            ctx = EvalContext(
                event.step, event.site, event.module, f"{event.path}:{event.site}:{label}", bp.state
            )
            try:
                fired, values = bp.condition.evaluate(x, ctx)
            except (RuntimeError, NotImplementedError) as e:
                bp.skip(f"tensors torch cannot reduce here ({type(e).__name__}: {e})"[:200])
                continue
            except Exception as e:  # noqa: BLE001 - the user's expression failed: say so once
                bp.fail(e, event)
                return
            history.record(event.path, event.site, event.step, values)
            if not fired:
                continue
            if not bp.condition.nonfinite_family:
                self._fire(bp, event, label, x, origin=True)
                return
            origin = self.origins.is_origin(event, x)
            if origin or bp.spec.propagated or self._first_bad_input(bp, event):
                if event.site in BACKWARD_SITES and amp.in_scaled_backward():
                    # GradScaler decides at update() whether this was a routine overflow (amp)
                    amp.hold(functools.partial(
                        self._fire, bp, event, label, x, origin=origin, note=self.origins.note
                    ))  # fmt: skip
                    return
                self._fire(bp, event, label, x, origin=origin)
                return

    def _first_bad_input(self, bp: Breakpoint, event: Event) -> bool:
        if event.site != "input" or bp.spec.site != "input":
            return False
        return self.origins.first_bad_input(bp.id, event)

    def flush(self) -> None:
        """Read the deferred checks queued since the last flush and fire their hits."""
        seen: set[int] = set()
        for p, _confirmed in deferred.QUEUE.flush():
            bp: Breakpoint = p.breakpoint
            if not bp.enabled or (not bp.spec.propagated and id(bp) in seen):
                continue
            seen.add(id(bp))
            x = p.tensor()
            self._fire(bp, p.event, p.label, x, origin=True, deferred_meta=p)

    def _fire(
        self,
        bp: Breakpoint,
        event: Event,
        label: str,
        x: torch.Tensor | None,
        origin: bool,
        deferred_meta: Any = None,
        note: str | None = None,
    ) -> None:
        bp.hit_count += 1
        module = event.module
        if note is None and origin:
            note = self.origins.note
        if x is not None:
            summary = summary_or_note(x)
        else:
            m = deferred_meta
            summary = {"shape": list(m.shape), "dtype": m.dtype, "device": m.device, "freed": True}
        inputs = [
            summary_or_note(t)
            for t in event.input_tensors()[:MAX_INPUT_SUMMARIES]
            if isinstance(t, torch.Tensor)
        ]
        hit = Hit(
            breakpoint_id=bp.id,
            spec=bp.spec.to_dict(),
            module=event.path,
            module_class=type(module).__name__ if module is not None else "?",
            source=forward_source(type(module)) if module is not None else None,
            site=event.site,
            step=event.step,
            condition=bp.spec.condition,
            origin=origin,
            param=event.param,
            label=label,
            summary=summary,
            input_summaries=[s for s in inputs if s is not None],
            deferred=deferred_meta is not None,
            note=note,
            _tensor=x,
            _module=module,
        )
        self.registry.record_hit(hit)
        if bp.spec.once:
            bp.disable()
        pause.deliver(hit, bp.spec.action)

    def amp_overflow(self, details: dict[str, Any]) -> None:
        """GradScaler skipped a step (``amp``): one hit of its own, never paused at unless the
        scale collapsed (then the breakpoints' own action applies, as for an error)."""
        condition = "amp_overflow"
        collapsed = bool(details.get("collapsed"))
        before, after = details.get("scale_before"), details.get("scale_after")
        note = (
            f"GradScaler skipped the optimizer step: the scaled gradients overflowed "
            f"(scale {before:g} -> {after:g}, {details.get('consecutive_skips')} skip(s) in a row)"
            if isinstance(before, float) and isinstance(after, float)
            else "GradScaler skipped the optimizer step: the scaled gradients overflowed"
        )
        hit = Hit(
            breakpoint_id=0,
            spec={"target": "", "site": "grad_output", "condition": condition},
            module="",
            module_class="GradScaler",
            site="grad_output",
            step=STEPS.current(),
            condition=condition,
            origin=True,
            param=None,
            label="",
            summary=None,
            note=note,
            details=dict(details),
        )
        self.registry.record_hit(hit)
        if collapsed:
            actions = [bp.spec.action for bp in self.registry.enabled()]
            pause.deliver(hit, actions[0] if actions else None)


_SOURCES: dict[type, str | None] = {}


def forward_source(cls: type) -> str | None:
    """``path/to/model.py:42``, where the class's ``forward`` is defined (clickable in
    terminals and VS Code), or None for builtins and code without a file."""
    if cls in _SOURCES:
        return _SOURCES[cls]
    where: str | None = None
    forward = getattr(cls, "forward", None)
    try:
        code = forward.__code__ if forward is not None else None
        if code is not None and not code.co_filename.startswith("<"):
            where = f"{code.co_filename}:{code.co_firstlineno}"
    except AttributeError:
        where = None
    _SOURCES[cls] = where
    return where


DISPATCHER = Dispatcher(REGISTRY)


def rewire(registry: Registry) -> None:
    """Install the hooks while anything is armed; remove every one with the last breakpoint."""
    DISPATCHER.rewired()
    HOOKS.invalidate()
    if registry.active:
        HOOKS.install(DISPATCHER)
        DISPATCHER.listen_to_steps()
        amp.install(DISPATCHER.amp_overflow)
    else:
        amp.uninstall()
        DISPATCHER.stop_listening()
        HOOKS.uninstall()
        deferred.QUEUE.clear()


REGISTRY.wiring = rewire
