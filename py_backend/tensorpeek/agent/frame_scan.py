"""Find the tensors reachable from a paused frame, and resolve one of them by its path.

The snapshot lists every tensor the user can reach from the frame's locals: the locals
themselves, then — breadth first, so the shortest name wins — attributes and items up to
``max_depth`` steps away (``self.fc.weight`` is depth 2). Only stored data is read: instance
``__dict__`` entries, a module's parameters, buffers and submodules, dataclass fields, and the
items of lists, tuples and dicts. Properties and ``__getattr__`` are never called, so looking
at a frame cannot run user code or change the program.

Names are paths (``self.fc.weight``, ``batch['x']``, ``outs[0]``) that ``resolve_path`` turns
back into the object by *parsing* them (``ast``) and walking the same data — never ``eval``.
"""

from __future__ import annotations

import ast
import dataclasses
import itertools
import sys
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from tensorpeek.debugger.presentation import is_presentable, is_tensor_type

MAX_ITEMS_PER_CONTAINER = 256  # items of one list/tuple/dict looked at
MAX_OBJECTS_VISITED = 20_000  # total objects looked at by one scan
MAX_PATH_LENGTH = 2_000  # characters of a path given to resolve_path (parsing is not free)


class PathError(ValueError):
    """A path that is not a name followed by .attr / [int] / ['key'] steps, or leads nowhere."""


@dataclass
class FoundTensor:
    """One tensor (or array) and every name that reaches it, shortest first."""

    name: str
    value: Any
    aliases: list[str] = field(default_factory=list)
    scope: str = "local"  # "global": reached from a module global, not the function's locals


@dataclass
class ScanResult:
    tensors: list[FoundTensor]
    truncated: bool  # the tensor cap, a container's item cap or the visit cap was reached


def _is_internal_local(name: str) -> bool:
    return name.startswith("__") or name.startswith("_pydev")


def _is_module(value: Any) -> bool:
    torch = sys.modules.get("torch")
    return torch is not None and isinstance(value, torch.nn.Module)


_SCALARS = (type, type(sys), str, bytes, bytearray, int, float, complex, bool, range)


def _skip_object(value: Any) -> bool:
    """Objects whose attributes are not the user's data (classes, modules, functions...)."""
    if isinstance(value, _SCALARS):
        return True
    return callable(value) and not _is_module(value)


def _attr_name(parent: str, key: str) -> str:
    return f"{parent}.{key}"


def _item_name(parent: str, key: Any) -> str:
    return f"{parent}[{key!r}]"


def scan_children(value: Any) -> Iterator[tuple[str, Any]]:
    """``(step, child)`` pairs of one object's stored data; ``step`` is ``.name`` or ``[key]``.
    Yields at most MAX_ITEMS_PER_CONTAINER + 1 pairs (the extra one signals truncation)."""
    if is_presentable(value) or _skip_object(value):
        return
    yield from itertools.islice(_raw_children(value), MAX_ITEMS_PER_CONTAINER + 1)


def _instance_dict(value: Any) -> dict[str, Any] | None:
    """The instance ``__dict__`` without going through the class's ``__getattr__`` or
    ``__getattribute__`` (user code)."""
    try:
        d = object.__getattribute__(value, "__dict__")
    except (AttributeError, TypeError):
        return None
    return d if isinstance(d, dict) else None


def _module_step(key: str) -> str:
    """``.fc`` for ordinary names; ``[0]`` / ``['a-b']`` for the children of ``Sequential``,
    ``ModuleList``, ``ModuleDict`` and parameter containers, which index the same way."""
    if key.isidentifier():
        return f".{key}"
    if key.isdigit():
        return f"[{int(key)}]"
    return f"[{key!r}]"


def _raw_children(value: Any) -> Iterator[tuple[str, Any]]:
    if isinstance(value, (list, tuple)):
        for i, item in enumerate(value):
            yield f"[{i}]", item
        return
    if isinstance(value, dict):
        # a bounded copy: another thread may change the dict while we read it
        for key, item in list(itertools.islice(value.items(), MAX_ITEMS_PER_CONTAINER + 1)):
            if isinstance(key, (str, int)) and not isinstance(key, bool):
                yield f"[{key!r}]", item
        return
    if _is_module(value):
        stored = _instance_dict(value) or {}
        for group in ("_parameters", "_buffers", "_modules"):
            for key, item in stored.get(group, {}).items():
                if item is not None:
                    yield _module_step(key), item
        for key, item in stored.items():
            if not key.startswith("_") and key != "training":
                yield f".{key}", item
        return
    d = _instance_dict(value)
    if dataclasses.is_dataclass(value) and d is None:  # slots dataclass
        for f in dataclasses.fields(value):
            try:
                yield f".{f.name}", object.__getattribute__(value, f.name)
            except AttributeError:  # an unset slot has no value to show
                continue
        return
    if d is not None:
        for key, item in list(itertools.islice(d.items(), 4 * MAX_ITEMS_PER_CONTAINER)):
            if isinstance(key, str) and key.isidentifier() and not key.startswith("__"):
                yield f".{key}", item


def global_names(frame_locals: Mapping[str, Any]) -> set[str]:
    """The names in ``frame_locals`` that are its module's globals, not the function's own.

    debugpy evaluates in one dict holding the module globals *then* the frame locals. A name
    whose value is its module's global of the same name counts as a global (a local holding the
    very same object is listed either way). Empty when the frame is the module itself."""
    module = sys.modules.get(str(frame_locals.get("__name__", "")))
    module_globals = getattr(module, "__dict__", None)
    if not isinstance(module_globals, dict) or module_globals is frame_locals:
        return set()
    missing = object()
    return {k for k, v in list(frame_locals.items()) if module_globals.get(k, missing) is v}


def locals_first(frame_locals: Mapping[str, Any]) -> list[tuple[str, Any]]:
    """The frame's names with the function's own locals before the module's globals
    (``locals()`` there lists globals first)."""
    items = [(k, v) for k, v in list(frame_locals.items()) if not _is_internal_local(k)]
    shared = global_names(frame_locals)
    return [(k, v) for k, v in items if k not in shared] + [(k, v) for k, v in items if k in shared]


def root_name(path: str) -> str:
    """The local a path starts from: ``self.fc.weight`` -> ``self``, ``batch['x']`` -> ``batch``."""
    for i, ch in enumerate(path):
        if ch in ".[":
            return path[:i]
    return path


def scan_frame(
    frame_locals: Mapping[str, Any], *, max_depth: int = 2, max_tensors: int = 200
) -> ScanResult:
    """Tensors reachable from ``frame_locals`` within ``max_depth`` steps, at most
    ``max_tensors``; a tensor reached twice is listed once with its other names."""
    found: dict[int, FoundTensor] = {}
    shared = global_names(frame_locals)
    seen_objects: set[int] = set()
    truncated = False
    visited = 0
    level = locals_first(frame_locals)
    for depth in range(max_depth + 1):
        next_level: list[tuple[str, Any]] = []
        for name, value in level:
            visited += 1
            if visited > MAX_OBJECTS_VISITED:
                return ScanResult(list(found.values()), True)
            if is_presentable(value):
                entry = found.get(id(value))
                if entry is not None:
                    entry.aliases.append(name)
                elif len(found) >= max_tensors:
                    truncated = True
                else:
                    scope = "global" if root_name(name) in shared else "local"
                    found[id(value)] = FoundTensor(name, value, scope=scope)
                continue
            if depth == max_depth or id(value) in seen_objects:
                continue
            seen_objects.add(id(value))
            for n, (step, child) in enumerate(scan_children(value)):
                if n >= MAX_ITEMS_PER_CONTAINER:
                    truncated = True
                    break
                next_level.append((name + step, child))
        level = next_level
        if not level:
            break
    return ScanResult(list(found.values()), truncated)


def resolve_path(path: str, frame_locals: Mapping[str, Any]) -> Any:
    """The object a snapshot name (``self.fc.weight``, ``batch['x']``, ``x[0]``) refers to,
    found by walking the same stored data the scan reads, plus ``.grad`` of a tensor and
    integer indexing of a tensor (a view). Raises ``PathError`` with a readable message."""
    if path in frame_locals:  # any local, even one whose name is not an identifier
        return frame_locals[path]
    if len(path) > MAX_PATH_LENGTH:
        raise PathError(f"a variable path has at most {MAX_PATH_LENGTH} characters")
    try:
        tree = ast.parse(path.strip(), mode="eval").body
    except SyntaxError:
        raise PathError(_path_help(path)) from None
    steps: list[tuple[str, Any]] = []
    node: ast.expr = tree
    while not isinstance(node, ast.Name):
        if isinstance(node, ast.Attribute):
            steps.append(("attr", node.attr))
            node = node.value
        elif isinstance(node, ast.Subscript) and isinstance(node.slice, ast.Constant):
            key = node.slice.value
            if not isinstance(key, (int, str)) or isinstance(key, bool):
                raise PathError(_path_help(path))
            steps.append(("item", key))
            node = node.value
        elif (
            isinstance(node, ast.Subscript)
            and isinstance(node.slice, ast.UnaryOp)
            and isinstance(node.slice.op, ast.USub)
            and isinstance(node.slice.operand, ast.Constant)
            and type(node.slice.operand.value) is int
        ):
            steps.append(("item", -node.slice.operand.value))
            node = node.value
        else:
            raise PathError(_path_help(path))
    if node.id not in frame_locals:
        raise PathError(f"no variable named {node.id!r} in this frame")
    value = frame_locals[node.id]
    walked = node.id
    for kind, key in reversed(steps):
        value = _step(value, kind, key, walked)
        walked = f"{walked}.{key}" if kind == "attr" else f"{walked}[{key!r}]"
    return value


def _path_help(path: str) -> str:
    shown = path if len(path) <= 80 else path[:77] + "..."
    return (
        f"{shown!r} is not a variable path; use a name followed by .attribute, [index] "
        "or ['key'] steps, e.g. self.fc.weight or batch['x']"
    )


def _step(value: Any, kind: str, key: Any, walked: str) -> Any:
    if kind == "item":
        indexable = is_presentable(value) or isinstance(value, (list, tuple))
        if indexable and isinstance(key, int):
            length = len(value) if getattr(value, "ndim", 1) else 0
            if not -length <= key < length:
                raise PathError(f"{walked}[{key}] is out of range (length {length})")
            if is_tensor_type(type(value)):
                value = value.detach()  # indexing must not add to the autograd graph
            return value[key]
        if isinstance(value, dict) and key in value:
            return value[key]
        for step, child in _raw_children(value):
            if step == f"[{key!r}]":
                return child
        raise PathError(f"{walked} has no item [{key!r}]")
    if kind == "attr" and key == "grad" and is_presentable(value) and hasattr(value, "grad"):
        return value.grad
    for step, child in _raw_children(value):
        if step == f".{key}":
            return child
    raise PathError(f"{walked} has no stored attribute {key!r}")


def scan_modules(frame_locals: Mapping[str, Any]) -> Any:
    """The ``torch.nn.Module`` with the most submodules among the locals and their stored
    attributes (``model``, ``self``, ``self.model``), or None."""
    found = find_model(frame_locals)
    return found[1] if found is not None else None


def find_model(frame_locals: Mapping[str, Any]) -> tuple[str, Any] | None:
    """``(path, module)``: the ``torch.nn.Module`` with the most submodules among the locals
    and their stored attributes, with the path that reaches it (``model``, ``self.model``)."""
    torch = sys.modules.get("torch")
    if torch is None:
        return None
    candidates = locals_first(frame_locals)
    for name, value in list(candidates):
        candidates.extend((name + step, child) for step, child in scan_children(value))
    best: tuple[str, Any] | None = None
    best_count = 0
    for name, value in candidates:
        if isinstance(value, torch.nn.Module):
            count = sum(1 for _ in value.modules())
            if count > best_count:
                best, best_count = (name, value), count
    return best


def module_path_expression(root: str, dotted: str) -> str:
    """The path ``resolve_path`` accepts for ``named_parameters()``'s ``dotted`` name under the
    module at ``root``: ``features.0.weight`` -> ``model.features[0].weight``."""
    return root + "".join(_module_step(part) for part in dotted.split("."))
