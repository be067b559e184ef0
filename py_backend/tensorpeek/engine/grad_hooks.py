"""The backward half of the hooks: grad_output, grad_input (a leaf module's own contribution,
found by a bounded walk of its part of the autograd graph) and param_grad, and the guard that
keeps every hook body from raising into the user's code. ``hooks.HookSet`` builds on it; see
its module docstring for why these mechanisms."""

from __future__ import annotations

import warnings
import weakref
from collections.abc import Callable
from typing import Any

import torch

from tensorpeek.common.steps import STEPS
from tensorpeek.engine.events import Dispatcher, Event
from tensorpeek.engine.hit import TensorBreakpointError

MAX_WALK = 48  # autograd nodes walked per leaf module to find its own input edges


class GradientHooks:
    """Node, tensor and parameter hooks added during forwards, and the guard around them."""

    def __init__(self) -> None:
        self.dispatcher: Dispatcher | None = None
        self._grad_handles: list[Any] = []  # node / tensor hooks of recent passes
        self._leaf_hooks: dict[tuple[int, int, str], tuple[weakref.ref[torch.Tensor], Any]] = {}
        self._param_hooks: dict[int, tuple[weakref.ref[torch.Tensor], Any]] = {}
        self._leaf_modules: weakref.WeakKeyDictionary[torch.nn.Module, bool] = (
            weakref.WeakKeyDictionary()
        )
        self._install_count = 0  # hooks from an earlier installation are stale
        self._internal_errors: set[str] = set()

    def _internal_error(self, where: str, err: Exception) -> None:
        """Say once per place and kind of failure; never raise into the user's code."""
        key = f"{where}:{type(err).__name__}"
        if key in self._internal_errors:
            return
        self._internal_errors.add(key)
        warnings.warn(
            f"tensorpeek: internal error in the {where} hook ({type(err).__name__}: {err}); "
            "this check is skipped, training goes on",
            RuntimeWarning,
            stacklevel=3,
        )

    def _guarded(self, where: str, fn: Callable[[], None]) -> None:
        try:
            fn()
        except Exception as err:  # noqa: BLE001 - the guard: nothing of ours reaches the user
            self._reraise_or_warn(where, err)

    def _reraise_or_warn(self, where: str, err: Exception) -> None:
        """The guard's verdict on an exception from a hook body: a hit's own (action="raise",
        the user quitting pdb) goes on to the user; anything else is ours, said once."""
        if isinstance(err, TensorBreakpointError) or type(err).__module__ == "bdb":
            raise err
        self._internal_error(where, err)

    def _site_bps(self, module: torch.nn.Module | None, path: str, site: str) -> list[Any]:
        """The breakpoints watching ``module``'s ``site`` now, from its path: a backward hook
        runs on autograd's thread for the device (CUDA's worker, or the thread that called
        ``backward()``), which is not the thread whose forward knows the module's table."""
        d = self.dispatcher
        if d is None or module is None:
            return []
        return d.table_for(module, path).get(site, [])

    def _is_leaf_module(self, module: torch.nn.Module) -> bool:
        known = self._leaf_modules.get(module)
        if known is None:
            known = self._leaf_modules[module] = next(module.children(), None) is None
        return known

    def _emit(self, event_of: Callable[[], Event | None]) -> None:
        """Report a backward event (hooks run inside autograd: guarded like the others)."""

        def emit() -> None:
            d = self.dispatcher
            event = event_of()
            if d is not None and event is not None:
                d.on_event(event)

        self._guarded("backward", emit)

    def _hook_grad_outputs(
        self,
        module: torch.nn.Module,
        path: str,
        outputs: list[tuple[str, torch.Tensor]],
        watching: list[Any],
        generation: int,
    ) -> None:
        """A pre-hook on each output's node; ``watching`` are the breakpoints on the module's
        grad_output at ``generation`` (looked up again in the backward if they changed)."""
        mref = weakref.ref(module)
        installation = self._install_count
        for label, t in outputs:
            if not t.requires_grad:
                continue
            node = t.grad_fn
            if node is None:  # a leaf returned by the module (a latent Parameter)
                self._hook_leaf(t, module, path, "grad_output", label)
                continue
            index = t.output_nr

            def prehook(
                grad_outputs: tuple[torch.Tensor | None, ...],
                label: str = label,
                index: int = index,
            ) -> None:
                if installation != self._install_count:
                    return  # a graph kept from before the breakpoints were re-armed
                grad = grad_outputs[index] if index < len(grad_outputs) else None
                d = self.dispatcher
                if grad is None or d is None:
                    return
                try:  # the guard, inline (one call per module output per backward)
                    module = mref()
                    step = STEPS.current()
                    tensors = [(label, grad)]
                    bps = (
                        watching
                        if d.registry.generation == generation
                        else self._site_bps(module, path, "grad_output")
                    )
                    if not bps:
                        return
                    if d.screen(bps, path, "grad_output", tensors, step):
                        return
                    d.on_event(Event(module, path, "grad_output", tensors, step=step), bps)
                except Exception as err:  # noqa: BLE001 - the guard: nothing of ours reaches the user
                    self._reraise_or_warn("backward", err)

            self._grad_handles.append(node.register_prehook(prehook))

    def _hook_grad_inputs(
        self,
        module: torch.nn.Module,
        path: str,
        inputs: list[tuple[str, torch.Tensor]],
        outputs: list[tuple[str, torch.Tensor]],
    ) -> None:
        wanted = [(label, t) for label, t in inputs if t.requires_grad]
        if not wanted:
            return
        if self._is_leaf_module(module):
            edges = _own_input_edges(wanted, outputs)
            if edges is not None:
                self._hook_own_contribution(module, path, edges, outputs)
                return
        for label, t in wanted:  # parents, and leaves whose graph part could not be walked
            if t.grad_fn is None:
                self._hook_leaf(t, module, path, "grad_input", label)
            else:
                self._hook_accumulated(t, module, path, label)

    def _hook_own_contribution(
        self,
        module: torch.nn.Module,
        path: str,
        edges: dict[Any, list[tuple[int, str]]],
        outputs: list[tuple[str, torch.Tensor]],
    ) -> None:
        mref = weakref.ref(module)
        installation = self._install_count
        # the gradient arriving at the module's outputs (what its own backward starts from),
        # kept for the origin verdict: its output nodes run before the nodes inside it
        arriving: list[torch.Tensor] = []
        for _label, t in outputs:
            if t.grad_fn is None or not t.requires_grad:
                continue
            index = t.output_nr

            def keep(grad_outputs: tuple[torch.Tensor | None, ...], index: int = index) -> None:
                grad = grad_outputs[index] if index < len(grad_outputs) else None
                if grad is not None:
                    arriving.append(grad)

            self._grad_handles.append(t.grad_fn.register_prehook(keep))
        for node, found in edges.items():

            def posthook(
                grad_inputs: tuple[torch.Tensor | None, ...],
                grad_outputs: tuple[torch.Tensor | None, ...],
                found: list[tuple[int, str]] = found,
            ) -> None:
                if installation != self._install_count:
                    return

                def event() -> Event | None:
                    tensors = [
                        (label, grad_inputs[i])
                        for i, label in found
                        if i < len(grad_inputs) and grad_inputs[i] is not None
                    ]
                    if not tensors:
                        return None
                    return Event(
                        mref(),
                        path,
                        "grad_input",
                        tensors,  # type: ignore[arg-type]
                        list(arriving),
                        step=STEPS.current(),
                        own_contribution=True,
                    )

                self._emit(event)

            self._grad_handles.append(node.register_hook(posthook))

    def _hook_accumulated(
        self, t: torch.Tensor, module: torch.nn.Module, path: str, label: str
    ) -> None:
        mref = weakref.ref(module)
        installation = self._install_count

        def hook(grad: torch.Tensor) -> None:
            if installation == self._install_count and grad is not None:
                self._emit(
                    lambda: Event(mref(), path, "grad_input", [(label, grad)], step=STEPS.current())
                )

        self._grad_handles.append(t.register_hook(hook))

    def _hook_leaf(
        self, t: torch.Tensor, module: torch.nn.Module, path: str, site: str, label: str
    ) -> None:
        """One hook per (leaf tensor, module, site) for as long as the tensor lives: a leaf's
        hooks outlive the backward, so hooking it at every step would pile them up."""
        key = (id(t), id(module), site)
        known = self._leaf_hooks.get(key)
        if known is not None and known[0]() is t:
            return
        mref = weakref.ref(module)
        installation = self._install_count

        def hook(grad: torch.Tensor) -> None:
            if installation == self._install_count and grad is not None:
                self._emit(lambda: Event(mref(), path, site, [(label, grad)], step=STEPS.current()))

        self._leaf_hooks[key] = (weakref.ref(t), t.register_hook(hook))

    def _hook_params(self, module: torch.nn.Module, path: str) -> None:
        for pname, p in module.named_parameters(recurse=False):
            known = self._param_hooks.get(id(p))
            if not p.requires_grad or (known is not None and known[0]() is p):
                continue
            if not isinstance(p, torch.nn.Parameter) or not p.is_leaf:
                continue  # fast weights swapped in by functional_call (MAML), or vmap's copies
            if torch._C._functorch.is_functorch_wrapped_tensor(p):
                continue  # a parameter seen inside torch.func.grad: a new wrapper every call
            mref = weakref.ref(module)

            def hook(
                param: torch.Tensor, pname: str = pname, mref: weakref.ref[torch.nn.Module] = mref
            ) -> None:
                if param.grad is None:
                    return
                grad = param.grad
                self._emit(
                    lambda: Event(
                        mref(),
                        path,
                        "param_grad",
                        [(pname, grad)],
                        param=pname,
                        step=STEPS.current(),
                    )
                )

            try:
                handle = p.register_post_accumulate_grad_hook(hook)
            except RuntimeError:  # a leaf torch still refuses (e.g. a functorch-wrapped one)
                continue
            self._param_hooks[id(p)] = (weakref.ref(p), handle)


def _own_input_edges(
    inputs: list[tuple[str, torch.Tensor]], outputs: list[tuple[str, torch.Tensor]]
) -> dict[Any, list[tuple[int, str]]] | None:
    """The autograd nodes inside a leaf module with an edge to one of its inputs, and which
    edge index leads to which input; None when the module's part of the graph is larger than
    ``MAX_WALK`` nodes or reaches tensors that are not its inputs (then its contribution
    cannot be told apart)."""
    by_node: dict[int, str] = {}
    by_leaf: dict[int, str] = {}
    for name, t in inputs:
        if t.grad_fn is not None:
            by_node.setdefault(id(t.grad_fn), name)
        else:
            by_leaf.setdefault(id(t), name)
    todo = [t.grad_fn for _, t in outputs if t.grad_fn is not None]
    todo = [n for n in todo if id(n) not in by_node]  # an input returned as-is: nothing inside
    seen: set[int] = set()
    found: dict[Any, list[tuple[int, str]]] = {}
    while todo:
        node = todo.pop()
        if id(node) in seen:
            continue
        seen.add(id(node))
        if len(seen) > MAX_WALK:
            return None
        for i, (nxt, _nr) in enumerate(node.next_functions):
            if nxt is None:
                continue
            label: str | None = by_node.get(id(nxt))
            if label is None and type(nxt).__name__ == "AccumulateGrad":
                variable = nxt.variable  # type: ignore[attr-defined]
                label = by_leaf.get(id(variable))
                if label is None:
                    if isinstance(variable, torch.nn.Parameter) or not variable.requires_grad:
                        continue  # the module's own parameter: not an input
                    return None  # a leaf from outside its inputs
            if label is not None:
                found.setdefault(node, []).append((i, label))
                continue
            todo.append(nxt)
    return found
