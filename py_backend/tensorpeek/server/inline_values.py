"""`textDocument/inlineValue`: while paused, the names assigned in the enclosing function
(and its parameters) up to the stopped line, as evaluatable expressions, so VS Code asks the
debugger for them and shows the one-line tensor summaries at the end of those lines."""

from __future__ import annotations

import ast

from lsprotocol import types

_Function = ast.FunctionDef | ast.AsyncFunctionDef


def _enclosing_function(tree: ast.Module, line1: int) -> _Function | None:
    best: _Function | None = None
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            end = node.end_lineno or node.lineno
            if node.lineno <= line1 <= end and (best is None or node.lineno > best.lineno):
                best = node
    return best


def _names(node: ast.AST) -> list[ast.Name]:
    return [n for n in ast.walk(node) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store)]


def inline_values(
    source: str, visible: types.Range, stopped: types.Range
) -> list[types.InlineValue]:
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError):
        return []
    stop_line1 = stopped.start.line + 1
    scope: ast.AST = _enclosing_function(tree, stop_line1) or tree
    found: list[tuple[int, int, str]] = []
    if isinstance(scope, (ast.FunctionDef, ast.AsyncFunctionDef)):
        args = scope.args
        for arg in [*args.posonlyargs, *args.args, *args.kwonlyargs, args.vararg, args.kwarg]:
            if arg is not None and arg.arg != "self":
                found.append((arg.lineno, arg.col_offset, arg.arg))
        body: list[ast.stmt] = scope.body
    else:
        body = [s for s in tree.body if not isinstance(s, (ast.FunctionDef, ast.ClassDef))]
    for stmt in body:
        found.extend((n.lineno, n.col_offset, n.id) for n in _names(stmt))
    values: list[types.InlineValue] = []
    for line1, col, name in sorted(set(found)):
        line = line1 - 1
        if line1 > stop_line1 or not visible.start.line <= line <= visible.end.line:
            continue
        where = types.Range(
            start=types.Position(line=line, character=col),
            end=types.Position(line=line, character=col + len(name)),
        )
        values.append(types.InlineValueEvaluatableExpression(range=where, expression=name))
    return values
