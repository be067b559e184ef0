"""The graph of modules: which leaf module's output feeds which, from one traced forward pass.

``TRACER.attach(root)`` puts one forward pre-hook on the root (until counting stops). When a
forward of the root starts with autograd on and input shapes not traced before (at most
``MAX_TRACES`` per root), that pass is traced: a forward hook goes on every leaf module (no
submodules) and one on the root (``always_call``: it also runs when the forward raises); the
root's hook builds the graph and removes them all. Nothing else is hooked, nothing is kept
from the pass but strings.

An edge ``A -> B`` is found from B's inputs, as B's hook sees them:
- ``"module"``: B received A's output tensor itself (same object, checked through a weak
  reference so a reused ``id`` cannot fool it);
- ``"functional"``: B's input was computed outside any leaf from A's output. We walk the
  autograd graph back from the input's ``grad_fn`` (at most ``MAX_WALK`` nodes per input) and
  stop at the nodes that produced a leaf's output; the label is the operation right after A
  (``AddBackward0`` -> ``"add"``). A residual ``x + f(x)`` gives two edges into the next
  module: from ``f``'s last leaf and from whatever produced ``x``.
- the root's own inputs (the data) are node ``""``.
Only reading ``grad_fn`` and ``next_functions``: no graph is built, no tensor is touched.
"""

from __future__ import annotations

import re
import threading
import weakref
from collections import deque
from typing import Any

from tensorpeek.common.flatten import flatten_tensors
from tensorpeek.training.series import STORE

MAX_TRACES = 4  # traced passes per root (new input shapes after that are not traced)
MAX_WALK = 256  # autograd nodes visited per input
MAX_LEAVES = 4096  # leaf modules hooked at most
_SUFFIX = re.compile(r"Backward\d*$")


def op_name(node: Any) -> str:
    """``AddBackward0`` -> ``"add"``, ``ViewBackward0`` -> ``"view"``."""
    name = _SUFFIX.sub("", type(node).__name__) or type(node).__name__
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


class _Pass:
    """What one traced pass has seen so far."""

    def __init__(self, root: Any) -> None:
        self.root_inputs: dict[int, weakref.ref[Any]] = {}
        self.outputs: dict[int, tuple[weakref.ref[Any], str]] = {}  # id(tensor) -> producer
        self.nodes: dict[Any, str] = {}  # grad_fn of a leaf's output -> that leaf
        self.order: list[str] = []
        self.types: dict[str, str] = {"": type(root).__name__}
        self.edges: dict[tuple[str, str], dict[str, Any]] = {}
        self.handles: list[Any] = []


class GraphTracer:
    """See the module docstring."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._roots: dict[int, tuple[weakref.ref[Any], Any, set[Any]]] = {}
        self._pass: _Pass | None = None
        # kept while the module lives, across arming sessions: a model armed again is not
        # traced again for shapes it was traced for, and its graph comes back at once
        self._traced: weakref.WeakKeyDictionary[Any, set[Any]] = weakref.WeakKeyDictionary()
        self._graphs: weakref.WeakKeyDictionary[Any, dict[str, Any]] = weakref.WeakKeyDictionary()
        self.graphs: dict[int, dict[str, Any]] = {}  # id(root) -> graph, of attached roots

    def attach(self, root: Any) -> None:
        """Watch ``root``'s forwards (idempotent). A TorchScript model takes no Python hooks and
        hides its layers (the engine says so once): it is left alone."""
        import torch

        if isinstance(root, torch.jit.ScriptModule):
            return
        with self._lock:
            entry = self._roots.get(id(root))
            if entry is not None and entry[0]() is root:
                return
            handle = root.register_forward_pre_hook(_root_starts, with_kwargs=True)
            traced = self._traced.setdefault(root, set())
            self._roots[id(root)] = (weakref.ref(root), handle, traced)
            graph = self._graphs.get(root)
            if graph is not None:
                self.graphs[id(root)] = graph
                STORE.graph = graph

    def detach_all(self) -> None:
        """Remove every hook (counting stopped)."""
        with self._lock:
            for _, handle, _ in self._roots.values():
                handle.remove()
            self._roots.clear()
            self.graphs.clear()
            self._end_pass()

    def _root_starts(self, root: Any, args: Any, kwargs: Any) -> None:
        try:
            self._maybe_trace(root, args, kwargs)
        except Exception:  # noqa: BLE001 - a failed trace must not stop training
            self._end_pass()
            _say_failure()

    def _maybe_trace(self, root: Any, args: Any, kwargs: Any) -> None:
        import torch

        if not torch.is_grad_enabled() or self._pass is not None:
            return
        if torch.jit.is_tracing() or torch.compiler.is_compiling():
            return  # our hooks would become part of the user's traced or compiled graph
        entry = self._roots.get(id(root))
        if entry is None:
            return
        inputs = list(flatten_tensors(args)) + list(flatten_tensors(kwargs))
        key = tuple((name, tuple(t.shape), str(t.dtype)) for name, t in inputs)
        traced = entry[2]
        if key in traced or len(traced) >= MAX_TRACES:
            return
        traced.add(key)
        current = self._pass = _Pass(root)
        for _, t in inputs:
            current.root_inputs[id(t)] = weakref.ref(t)
        leaves = [(p, m) for p, m in root.named_modules() if next(m.children(), None) is None]
        for path, module in leaves[:MAX_LEAVES]:
            if module is root:
                continue
            current.types[path] = type(module).__name__
            hook = _leaf_hook(self._leaf_ran, path)
            current.handles.append(module.register_forward_hook(hook, with_kwargs=True))
        current.handles.append(
            root.register_forward_hook(self._root_ends, with_kwargs=True, always_call=True)
        )

    def _leaf_ran(self, path: str, module: Any, args: Any, kwargs: Any, output: Any) -> None:
        current = self._pass
        if current is None:
            return
        try:
            if path not in current.order:
                current.order.append(path)
            for _, x in [*flatten_tensors(args), *flatten_tensors(kwargs)]:
                self._edges_into(current, path, x)
            for _, y in flatten_tensors(output):
                current.outputs[id(y)] = (weakref.ref(y), path)
                if y.grad_fn is not None:
                    current.nodes[y.grad_fn] = path
        except Exception:  # noqa: BLE001 - the user's forward goes on
            _say_failure()

    def _edges_into(self, current: _Pass, target: str, x: Any) -> None:
        made = current.outputs.get(id(x))
        if made is not None and made[0]() is x:
            self._edge(current, made[1], target, "module", None)
            return
        data = current.root_inputs.get(id(x))
        if data is not None and data() is x:
            self._edge(current, "", target, "module", None)
            return
        start = x.grad_fn
        if start is None:
            return
        if start in current.nodes:  # another output of the same operation (a split's part)
            self._edge(current, current.nodes[start], target, "module", None)
            return
        seen = {start}
        queue: deque[Any] = deque([start])
        visited = 0
        while queue and visited < MAX_WALK:
            node = queue.popleft()
            visited += 1
            for child, _ in node.next_functions:
                if child is None or child in seen:
                    continue
                seen.add(child)
                source = current.nodes.get(child)
                if source is not None:
                    self._edge(current, source, target, "functional", op_name(node))
                else:
                    queue.append(child)
        # the root's inputs, when they require grad, are reached as AccumulateGrad leaves
        for node in seen:
            variable = getattr(node, "variable", None)
            if variable is not None:
                ref = current.root_inputs.get(id(variable))
                if ref is not None and ref() is variable:
                    self._edge(current, "", target, "functional", None)

    @staticmethod
    def _edge(current: _Pass, source: str, target: str, kind: str, label: str | None) -> None:
        if source == target or (source, target) in current.edges:
            return
        edge: dict[str, Any] = {"source": source, "target": target, "kind": kind}
        if label:
            edge["label"] = label
        current.edges[(source, target)] = edge

    def _root_ends(self, root: Any, args: Any, kwargs: Any, output: Any) -> None:
        current = self._pass
        if current is None:
            return
        try:
            nodes = [{"id": "", "label": "input", "type": current.types[""]}]
            nodes += [{"id": p, "label": p, "type": current.types[p]} for p in current.order]
            graph = {"nodes": nodes, "edges": list(current.edges.values())}
            self.graphs[id(root)] = graph
            self._graphs[root] = graph
            STORE.graph = graph
        finally:
            self._end_pass()

    def _end_pass(self) -> None:
        current, self._pass = self._pass, None
        if current is not None:
            for handle in current.handles:
                handle.remove()
            current.handles.clear()
            current.nodes.clear()
            current.outputs.clear()


def _leaf_hook(fn: Any, path: str) -> Any:
    def hook(module: Any, args: Any, kwargs: Any, output: Any) -> None:
        fn(path, module, args, kwargs, output)

    return hook


_said: list[bool] = []


def _say_failure() -> None:
    """Say once that tracing failed (that pass's graph is then missing); never raises."""
    import traceback
    import warnings

    if not _said:
        _said.append(True)
        warnings.warn(
            "tensorpeek: tracing the module graph failed: "
            + traceback.format_exc(limit=2).strip().splitlines()[-1],
            RuntimeWarning,
            stacklevel=2,
        )


TRACER = GraphTracer()


def _root_starts(root: Any, args: Any, kwargs: Any) -> None:
    """The root's pre-hook: a module-level function, so that a model can still be pickled,
    saved and deep-copied while it is attached (a bound method would take the tracer along)."""
    TRACER._root_starts(root, args, kwargs)
