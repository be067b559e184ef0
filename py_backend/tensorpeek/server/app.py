"""The tensorpeek language server: builds the pygls server and registers one handler per
feature module. It never talks to the debuggee; it draws pictures and reads source."""

from __future__ import annotations

from importlib.metadata import version
from typing import Any

from lsprotocol import types
from pygls.lsp.server import LanguageServer

from tensorpeek.server.code_lens import code_lenses
from tensorpeek.server.graph_layout import METHOD as LAYOUT_GRAPH
from tensorpeek.server.graph_layout import handle_layout_graph
from tensorpeek.server.inline_values import inline_values
from tensorpeek.server.render_request import METHOD as RENDER
from tensorpeek.server.render_request import handle_render


def build_server() -> LanguageServer:
    server = LanguageServer("tensorpeek", version("tensorpeek"))

    @server.feature(types.TEXT_DOCUMENT_CODE_LENS)
    def _code_lens(ls: LanguageServer, params: types.CodeLensParams) -> list[types.CodeLens]:
        document = ls.workspace.get_text_document(params.text_document.uri)
        return code_lenses(document.uri, document.source)

    @server.feature(types.TEXT_DOCUMENT_INLINE_VALUE)
    def _inline_value(
        ls: LanguageServer, params: types.InlineValueParams
    ) -> list[types.InlineValue]:
        document = ls.workspace.get_text_document(params.text_document.uri)
        return inline_values(document.source, params.range, params.context.stopped_location)

    @server.feature(RENDER)
    def _render(ls: LanguageServer, params: Any) -> dict[str, Any]:
        return handle_render(params)

    @server.feature(LAYOUT_GRAPH)
    def _layout_graph(ls: LanguageServer, params: Any) -> dict[str, Any]:
        return handle_layout_graph(params)

    return server
