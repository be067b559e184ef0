"""PyTorch's global hooks, installed only while a breakpoint is armed.

Why these mechanisms:
- forward: ``register_module_forward_pre_hook`` / ``register_module_forward_hook`` see every
  module of every model without touching the model, so ``torch.save``/``deepcopy``/pickle of
  the model are unaffected and no code change is needed.
- backward: ``Tensor.register_hook`` on a module's outputs (grad_output) and inputs
  (grad_input). Unlike ``register_full_backward_hook`` this wraps nothing in an autograd
  Function, so an in-place op after the module (``ReLU(inplace=True)``) still works; a hook
  registered before an in-place op receives the gradient for the pre-modification value,
  i.e. exactly the module's grad_output.
- param_grad: ``register_post_accumulate_grad_hook`` on the parameters of watched modules.
- param: the step counter's optimizer post-step listener (``tensorpeek.common.steps``).

The root module is the outermost module whose forward is running; a module that is already
part of the current root's tree and is called on its own (activation checkpointing
recomputation) keeps its path instead of becoming a new root.
"""

from __future__ import annotations

import sys
import threading
import weakref
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

import torch

from tensorpeek.common.flatten import flatten_tensors
from tensorpeek.common.steps import STEPS
from tensorpeek.engine import history
from tensorpeek.engine.compile_warnings import is_compiled_wrapper

if TYPE_CHECKING:
    from tensorpeek.engine.breakpoint import Breakpoint

MAX_TENSORS_PER_EVENT = 64  # tensors flattened per output at most (10k-entry dicts stay cheap)
MAX_ROOTS = 4  # module-path maps kept for this many recent roots (a GAN alternates two)
Table = dict[str, list["Breakpoint"]]  # site -> breakpoints watching it (at one module)
_EMPTY: Table = {}


@dataclass
class Event:
    """One place a tensor can be checked: a module, a site, the tensors there, and for origin
    checks the tensors that flowed in (forward inputs, or incoming gradients)."""

    module: torch.nn.Module | None
    path: str
    site: str
    tensors: list[tuple[str, torch.Tensor]]
    inputs: list[torch.Tensor] = field(default_factory=list)
    param: str | None = None
    step: int = 0


class Dispatcher(Protocol):
    """What the hooks call (``tensorpeek.engine.dispatch.Dispatcher``)."""

    @property
    def generation(self) -> int: ...

    def table_for(self, module: torch.nn.Module, path: str) -> Table: ...
    def on_event(self, event: Event) -> None: ...
    def on_root_forward(self, root: torch.nn.Module) -> None: ...


def _bounded(value: Any) -> list[tuple[str, torch.Tensor]]:
    out = []
    for item in flatten_tensors(value):
        out.append(item)
        if len(out) >= MAX_TENSORS_PER_EVENT:
            break
    return out


class HookSet:
    """The installed global hooks plus the per-tensor and per-parameter hooks they add."""

    def __init__(self) -> None:
        self.dispatcher: Dispatcher | None = None
        self._handles: list[Any] = []
        self._tensor_handles: list[Any] = []
        self._param_hooks: dict[int, tuple[weakref.ref[torch.Tensor], Any]] = {}
        self._tl = threading.local()
        self._root: weakref.ref[torch.nn.Module] | None = None
        self._paths: dict[int, tuple[weakref.ref[torch.nn.Module], str]] = {}
        # id(param) -> (owning module path, param name, owning module)
        self._param_names: dict[int, tuple[str, str, weakref.ref[torch.nn.Module]]] = {}
        self._tables: dict[int, tuple[weakref.ref[torch.nn.Module], int, str, Table]] = {}
        self._root_maps: dict[int, tuple[weakref.ref[torch.nn.Module], Any, Any]] = {}
        self._install_count = 0
        self._params_hooked_for: tuple[int, int] = (0, -1)

    @property
    def installed(self) -> bool:
        return bool(self._handles)

    def install(self, dispatcher: Dispatcher) -> None:
        self.dispatcher = dispatcher
        if self._handles:
            return
        STEPS.acquire()  # steps are counted from the moment tensorpeek starts counting
        self._install_count += 1  # thread stacks from an earlier installation are stale
        mm = torch.nn.modules.module
        self._handles = [
            mm.register_module_forward_pre_hook(self._pre),
            mm.register_module_forward_hook(self._post, with_kwargs=True, always_call=True),
        ]

    def uninstall(self) -> None:
        """Remove every hook tensorpeek added: global, per-tensor and per-parameter."""
        if self._handles:
            root = self._root() if self._root is not None else None
            if root is not None:
                STEPS.root_forward_ended(root)  # uninstalled inside its forward
            STEPS.global_hooks = False
            STEPS.release()
        for h in self._handles:
            h.remove()
        self._handles = []
        for h in self._tensor_handles:
            h.remove()
        self._tensor_handles = []
        for _ref, h in self._param_hooks.values():
            h.remove()
        self._param_hooks.clear()
        self._tables.clear()
        self._root_maps.clear()
        self._params_hooked_for = (0, -1)
        self._paths = {}
        self._param_names = {}
        self._root = None

    def invalidate(self) -> None:
        """Breakpoints changed: forget which module watches what."""
        self._tables.clear()

    def _stack(self) -> list[torch.nn.Module]:
        stack: list[torch.nn.Module] | None = getattr(self._tl, "stack", None)
        if stack is None or self._tl.installation != self._install_count:
            stack = self._tl.stack = []
            self._tl.installation = self._install_count
        return stack

    def path_of(self, module: torch.nn.Module) -> str:
        entry = self._paths.get(id(module))
        if entry is not None and entry[0]() is module:
            return entry[1]
        return f"<{type(module).__name__}>"  # not registered under the current root

    def _set_root(self, root: torch.nn.Module) -> None:
        self._root = weakref.ref(root)
        cached = self._root_maps.get(id(root))
        if cached is not None and cached[0]() is root:
            self._paths, self._param_names = cached[1], cached[2]
        else:
            self._paths, self._param_names = {}, {}
            # torch.compile's wrapper: paths are those of the model it wraps
            tree = getattr(root, "_orig_mod", root) if is_compiled_wrapper(root) else root
            self._paths[id(root)] = (weakref.ref(root), "")
            for name, m in tree.named_modules(remove_duplicate=False):
                self._paths.setdefault(id(m), (weakref.ref(m), name))
                for pname, p in m.named_parameters(recurse=False):
                    self._param_names.setdefault(id(p), (name, pname, weakref.ref(m)))
            if len(self._root_maps) >= MAX_ROOTS:  # e.g. a GAN alternates two roots
                self._root_maps.pop(next(iter(self._root_maps)))
            self._root_maps[id(root)] = (weakref.ref(root), self._paths, self._param_names)
        self._tables.clear()
        history.set_live_modules(list(dict.fromkeys(n for _, n in self._paths.values())))

    def _hook_all_params(self) -> None:
        """Hook the parameters of every module watching ``param_grad``, from the root's eager
        pre-hook: inside a torch.compile'd region the modules' own pre-hooks never run."""
        d = self.dispatcher
        key = (id(self._root() if self._root else None), d.generation if d else -1)
        if d is None or key == self._params_hooked_for:
            return
        self._params_hooked_for = key
        for ref, _name in list(self._paths.values()):
            m = ref()
            if m is not None:
                path, table = self.table(m)
                if "param_grad" in table:
                    self._hook_params(m, path)

    def _enter_root(self, module: torch.nn.Module) -> None:
        root = self._root() if self._root is not None else None
        if root is not None and module is not root and id(module) in self._paths:
            return  # a submodule run on its own (checkpoint recomputation): not a new pass
        if root is not module:
            self._set_root(module)
        self._tensor_handles = [h for h in self._tensor_handles if h.hooks_dict_ref() is not None]
        STEPS.root_forward_started(module, torch.is_grad_enabled(), global_hooks=True)
        self._hook_all_params()
        if self.dispatcher is not None:
            self.dispatcher.on_root_forward(module)

    def table(self, module: torch.nn.Module) -> tuple[str, Table]:
        """The module's path under the current root and the breakpoints watching it, by site."""
        d = self.dispatcher
        if d is None:
            return "", _EMPTY
        entry = self._tables.get(id(module))
        if entry is not None and entry[1] == d.generation and entry[0]() is module:
            return entry[2], entry[3]
        path = self.path_of(module)
        table = d.table_for(module, path) or _EMPTY
        self._tables[id(module)] = (weakref.ref(module), d.generation, path, table)
        return path, table

    def _pre(self, module: torch.nn.Module, args: tuple[Any, ...]) -> None:
        if torch.compiler.is_compiling():
            return
        stack = self._stack()
        if not stack:
            self._enter_root(module)
        stack.append(module)
        path, table = self.table(module)
        if not table:
            return
        if "param_grad" in table:
            self._hook_params(module, path)
        if "input" in table or len(stack) == 1:
            inputs = _bounded(args)
            if inputs and self.dispatcher is not None:
                self.dispatcher.on_event(Event(module, path, "input", inputs, step=STEPS.current()))

    def _post(self, module: torch.nn.Module, args: tuple[Any, ...], *rest: Any) -> None:
        kwargs, output = (rest[0], rest[1]) if len(rest) == 2 else ({}, rest[0])
        if torch.compiler.is_compiling():
            return
        stack = self._stack()
        if stack and stack[-1] is module:
            stack.pop()
        elif module in stack:  # an exception unwound past inner modules' hooks
            del stack[stack.index(module) :]
        if not stack:
            STEPS.root_forward_ended(module)
        if sys.exc_info()[0] is not None:
            return  # forward raised: always_call hooks run from an except block; nothing to check
        path, table = self.table(module)
        if not table or self.dispatcher is None:
            return
        outputs = _bounded(output)
        if not outputs:
            return
        step = STEPS.current()
        if "output" in table:
            inputs = [t for _, t in _bounded(args)] + [t for _, t in _bounded(kwargs)]
            self.dispatcher.on_event(Event(module, path, "output", outputs, inputs, step=step))
        if torch.is_grad_enabled():
            if "grad_output" in table:
                self._hook_grads(module, path, "grad_output", outputs, step)
            if "grad_input" in table:
                self._hook_grads(
                    module, path, "grad_input", _bounded(args) + _bounded(kwargs), step
                )

    def _hook_grads(
        self,
        module: torch.nn.Module,
        path: str,
        site: str,
        tensors: list[tuple[str, torch.Tensor]],
        step: int,
    ) -> None:
        mref = weakref.ref(module)
        for label, t in tensors:
            if not t.requires_grad:
                continue

            def hook(grad: torch.Tensor, label: str = label) -> None:
                d = self.dispatcher
                if d is not None and grad is not None:
                    d.on_event(Event(mref(), path, site, [(label, grad)], step=step))

            self._tensor_handles.append(t.register_hook(hook))

    def _hook_params(self, module: torch.nn.Module, path: str) -> None:
        for pname, p in module.named_parameters(recurse=False):
            known = self._param_hooks.get(id(p))
            if not p.requires_grad or (known is not None and known[0]() is p):
                continue
            mref = weakref.ref(module)

            def hook(
                param: torch.Tensor, pname: str = pname, mref: weakref.ref[torch.nn.Module] = mref
            ) -> None:
                d = self.dispatcher
                if d is not None and param.grad is not None:
                    step = STEPS.current()
                    d.on_event(
                        Event(
                            mref(),
                            path,
                            "param_grad",
                            [(pname, param.grad)],
                            param=pname,
                            step=step,
                        )
                    )

            self._param_hooks[id(p)] = (weakref.ref(p), p.register_post_accumulate_grad_hook(hook))

    def optimizer_params(
        self, optimizer: torch.optim.Optimizer
    ) -> Iterator[tuple[torch.Tensor, torch.nn.Module, str, str]]:
        """(param, owning module, its path, param name) for the optimizer's params we know."""
        for group in optimizer.param_groups:
            for p in group["params"]:
                owner = self._param_names.get(id(p))
                module = owner[2]() if owner is not None else None
                if owner is not None and module is not None:
                    yield p, module, owner[0], owner[1]


HOOKS = HookSet()
