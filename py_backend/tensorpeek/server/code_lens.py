"""`textDocument/codeLens`: "Break on NaN/Inf" and "Break when…" above every sub-module
assignment of an `nn.Module` subclass and above its `forward`, so a tensor breakpoint is one
click from the line that defines the layer. The extension's `tensorpeek.addTensorBreakpoint`
command receives `{className, attribute, preset, uri, line}`."""

from __future__ import annotations

from lsprotocol import types

from tensorpeek.server.module_source import module_sites

COMMAND = "tensorpeek.addTensorBreakpoint"


def code_lenses(uri: str, source: str) -> list[types.CodeLens]:
    lenses: list[types.CodeLens] = []
    for site in module_sites(source):
        where = types.Range(
            start=types.Position(line=site.line, character=site.column),
            end=types.Position(line=site.line, character=site.column),
        )
        for title, preset in (("Break on NaN/Inf", "nonfinite"), ("Break when…", None)):
            argument = {
                "className": site.class_name,
                "attribute": site.attribute,
                "preset": preset,
                "uri": uri,
                "line": site.line,
            }
            command = types.Command(title=title, command=COMMAND, arguments=[argument])
            lenses.append(types.CodeLens(range=where, command=command))
    return lenses
