"""PyTorch's hooks, installed only while a breakpoint is armed, and what they report.

Why these mechanisms:
- forward: ``register_module_forward_pre_hook`` / ``register_module_forward_hook`` (with
  keyword arguments, called even when the forward raises) see every module of every model
  without touching the model, so ``torch.save``/``deepcopy``/pickle of the model are
  unaffected and no code change is needed.
- grad_output: a pre-hook on the autograd node that produced each output
  (``output.grad_fn.register_prehook``): it receives the gradient arriving at the module's
  output. Hooks on nodes, unlike ``Tensor.register_hook``, leave the tensor itself untouched
  (``torch.save`` of a live activation does not warn that a hook will not be serialised), and
  unlike ``register_full_backward_hook`` wrap nothing in an autograd Function, so an in-place
  op after the module (``ReLU(inplace=True)``) still works. A node hooked before an in-place
  op still receives the gradient of the pre-modification value: exactly the module's
  grad_output.
- grad_input, the module's *own* contribution: for a leaf module (no children), a post-hook on
  each autograd node inside the module that has an edge to one of its inputs
  (``node.register_hook``: ``grad_inputs[i]`` is what flows along edge ``i``). That is the
  gradient this module's backward sends to that input, before it is summed with what other
  consumers send (fan-out: residual connections, shared inputs, tied weights). The nodes are
  found by walking the module's part of the graph from its outputs to its inputs, at most
  ``MAX_WALK`` nodes; a module whose part is larger (or that reads tensors from outside its
  inputs), and every parent module, gets the accumulated gradient of its inputs instead.
- param_grad: ``register_post_accumulate_grad_hook`` on the (leaf) parameters of watched
  modules; param: the step counter's optimizer post-step listener.

Nothing runs while torch.compile or torch.jit.trace records the model: a check would become
part of the user's traced graph.

Roots and module paths are per thread: the root is the outermost module whose forward is
running on this thread; a module that is already part of the current root's tree and is
called on its own (activation checkpointing recomputation) keeps its path instead of becoming
a new root. Loss modules (``nn.CrossEntropyLoss()`` called on the model's output) are roots of
their own but auxiliary ones: they start no new pass, count no step, and their inputs are not
the data. Hooks on persistent leaf tensors (a Parameter passed to a submodule, a latent
returned by a module) are registered once per module and site, never once per step. Nothing
here raises into the user's code except on purpose (``action="raise"``, ``tensorpeek run``
stopping the script): an internal failure is said once and training goes on.
"""

from __future__ import annotations

import sys
import threading
import weakref
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import torch

from tensorpeek.common.flatten import flatten_tensors
from tensorpeek.common.steps import STEPS
from tensorpeek.engine import history
from tensorpeek.engine.compile_warnings import is_compiled_wrapper
from tensorpeek.engine.events import Dispatcher, Event, Table
from tensorpeek.engine.grad_hooks import GradientHooks

if TYPE_CHECKING:
    pass

MAX_TENSORS_PER_EVENT = 64  # tensors flattened per output at most (10k-entry dicts stay cheap)
MAX_ROOTS = 8  # module-path maps kept for this many recent roots (a GAN alternates two)
_EMPTY: Table = {}


def _bounded(value: Any) -> list[tuple[str, torch.Tensor]]:
    out = []
    for item in flatten_tensors(value):
        out.append(item)
        if len(out) >= MAX_TENSORS_PER_EVENT:
            break
    return out


def is_loss_module(module: torch.nn.Module) -> bool:
    return isinstance(module, torch.nn.modules.loss._Loss)


class RootMap:
    """Module paths, parameter owners and breakpoint tables under one root module."""

    __slots__ = ("auxiliary", "param_names", "paths", "root", "tables")

    def __init__(self, root: torch.nn.Module) -> None:
        self.root = weakref.ref(root)
        self.auxiliary = is_loss_module(root)
        self.paths: dict[int, tuple[weakref.ref[torch.nn.Module], str]] = {}
        # id(param) -> (owning module path, param name, owning module)
        self.param_names: dict[int, tuple[str, str, weakref.ref[torch.nn.Module]]] = {}
        self.tables: dict[int, tuple[weakref.ref[torch.nn.Module], int, str, Table]] = {}
        # torch.compile's wrapper: paths are those of the model it wraps
        tree = getattr(root, "_orig_mod", root) if is_compiled_wrapper(root) else root
        self.paths[id(root)] = (weakref.ref(root), "")
        for name, m in tree.named_modules(remove_duplicate=False):
            self.paths.setdefault(id(m), (weakref.ref(m), name))
            for pname, p in m.named_parameters(recurse=False):
                self.param_names.setdefault(id(p), (name, pname, weakref.ref(m)))

    def path_of(self, module: torch.nn.Module) -> str:
        entry = self.paths.get(id(module))
        if entry is not None and entry[0]() is module:
            return entry[1]
        return f"<{type(module).__name__}>"  # not registered under this root


class _ThreadState:
    """One thread's forward: the modules running (each with the exception being handled when
    it started, its path and its breakpoint table, looked up once per call) and the current
    root's map. Stale once the hooks are installed again."""

    __slots__ = ("installation", "map", "stack")

    def __init__(self, installation: int) -> None:
        self.installation = installation
        self.stack: list[StackEntry] = []
        self.map: RootMap | None = None


# (module, exception being handled at its start, path, table, registry generation then)
StackEntry = tuple[torch.nn.Module, BaseException | None, str, Table, int]
_tracing_state = torch._C._get_tracing_state
_is_compiling = torch.compiler.is_compiling
_grad_enabled = torch.is_grad_enabled
_NO_KWARGS: dict[str, Any] = {}  # (never written to)


class HookSet(GradientHooks):
    """The installed global hooks plus the node, tensor and parameter hooks they add."""

    def __init__(self) -> None:
        super().__init__()
        self._handles: list[Any] = []
        self._tl = threading.local()
        self._root_maps: dict[int, RootMap] = {}
        self._params_hooked_for: tuple[int, int] = (0, -1)

    @property
    def installed(self) -> bool:
        return bool(self._handles)

    def install(self, dispatcher: Dispatcher) -> None:
        self.dispatcher = dispatcher
        if self._handles:
            return
        STEPS.acquire()  # steps are counted from the moment tensorpeek starts counting
        self._install_count += 1  # thread stacks and hooks from an earlier installation are stale
        mm = torch.nn.modules.module
        self._handles = [
            mm.register_module_forward_pre_hook(self._pre),
            mm.register_module_forward_hook(self._post, with_kwargs=True, always_call=True),
        ]

    def uninstall(self) -> None:
        """Remove every hook tensorpeek added: global, node, tensor and per-parameter."""
        if self._handles:
            current = self._current_map()
            root = current.root() if current is not None else None
            if root is not None:
                STEPS.root_forward_ended(root)  # uninstalled inside its forward
            STEPS.global_hooks = False
            STEPS.release()
        for h in self._handles:
            h.remove()
        self._handles = []
        for h in self._grad_handles:
            h.remove()
        self._grad_handles = []
        for _ref, h in self._leaf_hooks.values():
            h.remove()
        self._leaf_hooks.clear()
        for _ref, h in self._param_hooks.values():
            h.remove()
        self._param_hooks.clear()
        self._root_maps.clear()
        self._params_hooked_for = (0, -1)

    def invalidate(self) -> None:
        """Breakpoints changed: forget which module watches what."""
        for m in self._root_maps.values():
            m.tables.clear()

    def hook_count(self) -> int:
        """Hooks tensorpeek holds on tensors, nodes and parameters right now (tests use it to
        check that the number stays constant over a long run)."""
        self._prune()
        return len(self._grad_handles) + len(self._leaf_hooks) + len(self._param_hooks)

    def _state(self) -> _ThreadState:
        state: _ThreadState | None = getattr(self._tl, "state", None)
        if state is None or state.installation != self._install_count:
            state = self._tl.state = _ThreadState(self._install_count)
        return state

    def _stack(self) -> list[StackEntry]:
        return self._state().stack

    def _current_map(self) -> RootMap | None:
        state: _ThreadState | None = getattr(self._tl, "state", None)
        if state is None or state.installation != self._install_count:
            return None
        return state.map

    def path_of(self, module: torch.nn.Module) -> str:
        current = self._current_map()
        return current.path_of(module) if current is not None else f"<{type(module).__name__}>"

    def _map_for(self, root: torch.nn.Module) -> RootMap:
        cached = self._root_maps.get(id(root))
        if cached is not None and cached.root() is root:
            return cached
        built = RootMap(root)
        if len(self._root_maps) >= MAX_ROOTS:
            self._root_maps.pop(next(iter(self._root_maps)))
        self._root_maps[id(root)] = built
        if not built.auxiliary:
            history.set_live_modules(list(dict.fromkeys(n for _, n in built.paths.values())))
        return built

    def _hook_all_params(self, current: RootMap) -> None:
        """Hook the parameters of every module watching ``param_grad``, from the root's eager
        pre-hook: inside a torch.compile'd region the modules' own pre-hooks never run."""
        d = self.dispatcher
        root = current.root()
        key = (id(root), d.generation if d else -1)
        if d is None or key == self._params_hooked_for:
            return
        self._params_hooked_for = key
        for ref, _name in list(current.paths.values()):
            m = ref()
            if m is not None:
                path, table = self.table(m)
                if "param_grad" in table:
                    self._hook_params(m, path)

    def _enter_root(self, module: torch.nn.Module) -> bool:
        """A forward starts with nothing running on this thread; False when it is a
        submodule of the current root run on its own (checkpoint recomputation)."""
        current = self._current_map()
        root = current.root() if current is not None else None
        if current is not None and root is not None and module is not root:  # noqa: SIM102
            if id(module) in current.paths:
                return False  # a submodule run on its own (checkpoint recomputation)
        current = self._map_for(module)
        self._state().map = current
        self._prune()
        if current.auxiliary:
            return True
        STEPS.root_forward_started(module, torch.is_grad_enabled(), global_hooks=True)
        self._hook_all_params(current)
        if self.dispatcher is not None:
            self.dispatcher.on_root_forward(module)
        return True

    def _prune(self) -> None:
        """Forget hooks whose node or tensor is gone (graphs freed after their backward) and
        leaf hooks of tensors that no longer exist."""
        self._grad_handles = [h for h in self._grad_handles if h.hooks_dict_ref() is not None]
        dead = [k for k, (ref, _h) in self._leaf_hooks.items() if ref() is None]
        for k in dead:
            del self._leaf_hooks[k]
        gone = [pid for pid, (ref, _h) in self._param_hooks.items() if ref() is None]
        for pid in gone:
            del self._param_hooks[pid]

    def table(self, module: torch.nn.Module) -> tuple[str, Table]:
        """The module's path under the current root and the breakpoints watching it, by site."""
        d = self.dispatcher
        current = self._current_map()
        if d is None or current is None:
            return "", _EMPTY
        entry = current.tables.get(id(module))
        if entry is not None and entry[1] == d.generation and entry[0]() is module:
            return entry[2], entry[3]
        path = current.path_of(module)
        table = d.table_for(module, path) or _EMPTY
        current.tables[id(module)] = (weakref.ref(module), d.generation, path, table)
        return path, table

    def _pre(self, module: torch.nn.Module, args: tuple[Any, ...]) -> None:
        if _tracing_state() is not None or _is_compiling():
            return
        try:
            state: _ThreadState = self._tl.state
        except AttributeError:  # this thread's first module call
            state = self._state()
        if state.installation != self._install_count:
            state = self._state()
        stack = state.stack
        new_root = False
        if not stack:
            new_root = self._enter_root(module)
        exc = sys.exc_info()[1]
        current = state.map
        d = self.dispatcher
        if (current is not None and current.auxiliary) or d is None:
            stack.append((module, exc, "", _EMPTY, -1))
            return
        generation = d.registry.generation
        try:  # the guard of ``_guarded``, inline: this runs at every module call
            entry = current.tables.get(id(module)) if current is not None else None
            if entry is not None and entry[1] == generation and entry[0]() is module:
                path, table = entry[2], entry[3]  # ``table()``'s cache hit, inline
            else:
                path, table = self.table(module)
        except Exception as err:  # noqa: BLE001 - the guard: nothing of ours reaches the user
            stack.append((module, exc, "", _EMPTY, -1))
            self._reraise_or_warn("forward pre", err)
            return
        stack.append((module, exc, path, table, generation))
        if table and ("param_grad" in table or "input" in table or new_root):
            try:
                self._check_pre(module, path, table, args, new_root)
            except Exception as err:  # noqa: BLE001 - the guard
                self._reraise_or_warn("forward pre", err)

    def _check_pre(
        self, module: torch.nn.Module, path: str, table: Table, args: tuple[Any, ...], root: bool
    ) -> None:
        if "param_grad" in table:
            self._hook_params(module, path)
        if "input" in table or root:
            inputs = _bounded(args)
            if inputs and self.dispatcher is not None:
                self.dispatcher.on_event(Event(module, path, "input", inputs, step=STEPS.current()))

    def _post(self, module: torch.nn.Module, args: tuple[Any, ...], *rest: Any) -> None:
        # one body, no helper calls on the common path: this runs at every module call
        if len(rest) == 2:
            kwargs, output = rest
        else:
            kwargs, output = _NO_KWARGS, rest[0]
        if _is_compiling() or _tracing_state() is not None:
            return
        try:
            state: _ThreadState = self._tl.state
        except AttributeError:  # this thread's first module call
            state = self._state()
        if state.installation != self._install_count:
            state = self._state()
        stack = state.stack
        entry: StackEntry | None = None
        if stack and stack[-1][0] is module:
            entry = stack.pop()
        else:
            for i in range(len(stack) - 1, -1, -1):
                if stack[i][0] is module:  # an exception unwound past inner modules' hooks
                    entry = stack[i]
                    del stack[i:]
                    break
        is_root = not stack
        if is_root:
            STEPS.root_forward_ended(module)
        current = state.map
        if current is not None and current.auxiliary:
            return
        exc = sys.exc_info()[1]
        if exc is not None and (entry is None or exc is not entry[1]):
            return  # this forward raised: always_call hooks run from torch's except block
        try:
            d = self.dispatcher
            if d is None:
                return
            generation = d.registry.generation
            if entry is not None and entry[4] == generation:
                path, table = entry[2], entry[3]
            else:  # breakpoints changed during this forward, or hooks installed inside it
                path, table = self.table(module)
            if not table:
                return
            if is_root and kwargs:
                keyword = _bounded(kwargs)
                if keyword:  # data passed by keyword (model(**batch)): the pre-hook cannot see it
                    d.on_event(Event(module, path, "input", keyword, step=STEPS.current()))
            outputs = [("", output)] if type(output) is torch.Tensor else _bounded(output)
            if is_root:
                d.on_root_output(module, [t for _, t in outputs])
            if not outputs:
                return
            watching = table.get("output")
            if watching:
                step = STEPS.current()
                if not d.screen(watching, path, "output", outputs, step):

                    def inputs_of() -> list[torch.Tensor]:
                        return [t for _, t in _bounded(args)] + [t for _, t in _bounded(kwargs)]

                    event = Event(module, path, "output", outputs, step=step, inputs_of=inputs_of)
                    d.on_event(event, watching)
            if _grad_enabled():
                grad_output = table.get("grad_output")
                if grad_output:
                    self._hook_grad_outputs(module, path, outputs, grad_output, generation)
                if "grad_input" in table:
                    self._hook_grad_inputs(module, path, _bounded(args) + _bounded(kwargs), outputs)
        except Exception as err:  # noqa: BLE001 - the guard: nothing of ours reaches the user
            self._reraise_or_warn("forward", err)

    def optimizer_params(
        self, optimizer: torch.optim.Optimizer
    ) -> Iterator[tuple[torch.Tensor, torch.nn.Module, str, str]]:
        """(param, owning module, its path, param name) for the optimizer's params we know."""
        maps = [m for m in self._root_maps.values() if not m.auxiliary]
        for group in optimizer.param_groups:
            for p in group["params"]:
                for known in maps:
                    owner = known.param_names.get(id(p))
                    module = owner[2]() if owner is not None else None
                    if owner is not None and module is not None:
                        yield p, module, owner[0], owner[1]
                        break


HOOKS = HookSet()
