"""Reads `nn.Module` subclasses out of Python source with `ast`: where each sub-module is
assigned (`self.fc = nn.Linear(...)`) and where `forward` is. A syntax error in one part of
the file does not hide the classes that do parse."""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass

_MODULE_BASES = {"Module", "nn.Module", "torch.nn.Module"}
_NOT_SUBMODULES = {"Parameter", "Buffer", "Tensor", "tensor", "UninitializedParameter"}
_TOP_LEVEL_CLASS = re.compile(r"^(class\s|@)")


@dataclass(frozen=True)
class Site:
    """A place in a module class a breakpoint can be set from: a sub-module attribute, or
    `forward` itself (attribute None). `line` is 0-based, as LSP counts."""

    class_name: str
    attribute: str | None
    line: int
    column: int


def dotted(node: ast.expr) -> str:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        inner = dotted(node.value)
        return f"{inner}.{node.attr}" if inner else ""
    return ""


def _parse_parts(source: str) -> list[tuple[ast.Module, int]]:
    """The whole file when it parses; else each top-level class block (with its
    decorators) parsed on its own, with the line offset to add back."""
    try:
        return [(ast.parse(source), 0)]
    except (SyntaxError, ValueError):
        pass
    lines = source.splitlines()
    starts = [i for i, line in enumerate(lines) if _TOP_LEVEL_CLASS.match(line)]
    # a block runs to the next line that starts at column 0 and is not blank or a comment
    parts: list[tuple[ast.Module, int]] = []
    for start in starts:
        if lines[start].startswith("@") and start - 1 in starts:
            continue
        end = start + 1
        while end < len(lines) and (
            not lines[end].strip() or lines[end][:1] in (" ", "\t", "#", ")")
        ):
            end += 1
        try:
            parts.append((ast.parse("\n".join(lines[start:end])), start))
        except (SyntaxError, ValueError):
            continue
    return parts


def _nn_aliases(trees: list[tuple[ast.Module, int]]) -> tuple[str, ...]:
    """Names the file binds to `torch.nn` (`import torch.nn as tnn`, `from torch import nn`)."""
    aliases = {"nn", "torch.nn"}
    for tree, _ in trees:
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                aliases.update(a.asname for a in node.names if a.name == "torch.nn" and a.asname)
            elif isinstance(node, ast.ImportFrom) and node.module == "torch":
                aliases.update(a.asname or a.name for a in node.names if a.name == "nn")
    return tuple(f"{a}." for a in sorted(aliases))


def _in_nn(name: str, nn_prefixes: tuple[str, ...]) -> bool:
    return name.startswith(nn_prefixes)


def _is_submodule_call(value: ast.expr, module_classes: set[str], nn: tuple[str, ...]) -> bool:
    if not isinstance(value, ast.Call):
        return False
    name = dotted(value.func)
    last = name.rsplit(".", 1)[-1]
    if not name or last in _NOT_SUBMODULES:
        return False
    return _in_nn(name, nn) or name in module_classes or last[:1].isupper()


def module_sites(source: str) -> list[Site]:
    """Every sub-module assignment and `forward` of the file's `nn.Module` subclasses,
    nested classes included, in source order."""
    parts = _parse_parts(source)
    nn = _nn_aliases(parts)
    classes: list[tuple[ast.ClassDef, int]] = []
    for tree, offset in parts:
        classes.extend((node, offset) for node in ast.walk(tree) if isinstance(node, ast.ClassDef))
    module_classes: set[str] = set()
    changed = True
    while changed:  # classes deriving from module classes of this file are modules too
        changed = False
        for cls, _ in classes:
            bases = {dotted(b) for b in cls.bases}
            is_module = bool(bases & (_MODULE_BASES | module_classes)) or any(
                _in_nn(b, nn) for b in bases
            )
            if is_module and cls.name not in module_classes:
                module_classes.add(cls.name)
                changed = True
    sites: list[Site] = []
    for cls, offset in classes:
        if cls.name not in module_classes:
            continue
        for item in cls.body:
            if not isinstance(item, (ast.FunctionDef, ast.AsyncFunctionDef)):
                continue
            if item.name == "forward":
                sites.append(Site(cls.name, None, item.lineno - 1 + offset, item.col_offset))
            for node in ast.walk(item):
                sites.extend(_assignment_sites(node, cls.name, offset, module_classes, nn))
    sites.sort(key=lambda s: (s.line, s.column))
    return sites


def _assignment_sites(
    node: ast.AST, cls: str, offset: int, classes: set[str], nn: tuple[str, ...]
) -> list[Site]:
    if isinstance(node, ast.Assign):
        targets, value = node.targets, node.value
    elif isinstance(node, ast.AnnAssign) and node.value is not None:
        targets, value = [node.target], node.value
    else:
        return []
    if not _is_submodule_call(value, classes, nn):
        return []
    return [
        Site(cls, t.attr, node.lineno - 1 + offset, node.col_offset)
        for t in targets
        if isinstance(t, ast.Attribute) and isinstance(t.value, ast.Name) and t.value.id == "self"
    ]
