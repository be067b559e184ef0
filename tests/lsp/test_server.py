"""The language server over stdio, driven by a real LSP client (pytest-lsp) that announces
VS Code's capabilities: pictures, code lenses, inline values, and errors that do not stop it."""

from __future__ import annotations

import base64
import struct
import sys
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest
import pytest_lsp
import torch
from lsprotocol import types
from pygls.exceptions import JsonRpcException
from pytest_lsp import ClientServerConfig, LanguageClient, client_capabilities

import tensorpeek
from tensorpeek.render import KINDS

FIXTURES = Path(__file__).parent / "fixtures"
DARK = {"foreground": "#cccccc", "background": "#1e1e1e", "accent": "#3794ff", "fontSize": 11}


@pytest_lsp.fixture(
    config=ClientServerConfig(server_command=[sys.executable, "-m", "tensorpeek.server"])
)
async def client(lsp_client: LanguageClient):  # type: ignore[no-untyped-def]
    await lsp_client.initialize_session(
        types.InitializeParams(
            capabilities=client_capabilities("visual-studio-code"),
            root_uri=FIXTURES.as_uri(),
        )
    )
    yield
    await lsp_client.shutdown_session()


def open_file(client: LanguageClient, path: Path) -> str:
    uri = path.as_uri()
    client.text_document_did_open(
        types.DidOpenTextDocumentParams(
            text_document=types.TextDocumentItem(
                uri=uri, language_id="python", version=1, text=path.read_text()
            )
        )
    )
    return uri


async def render(client: LanguageClient, **params: Any) -> Any:
    return await client.protocol.send_request_async("tensorpeek/render", params)


def summary(x: torch.Tensor) -> dict[str, Any]:
    return tensorpeek.summarize(x).to_dict()


@pytest.mark.parametrize(
    "tensor",
    [torch.randn(1000), torch.full((5,), float("nan")), torch.full((5,), 2.0), torch.empty(0)],
    ids=["normal", "all-nan", "constant", "empty"],
)
async def test_render_returns_valid_svg_and_png_of_the_asked_size(
    client: LanguageClient, tensor: torch.Tensor
) -> None:
    svg = await render(client, kind="histogram", payload=summary(tensor), format="svg", theme=DARK)
    assert svg.mime == "image/svg+xml"
    ET.fromstring(svg.data)
    # the hover map travels with the picture when there are bins to point at
    finite = int(torch.isfinite(tensor).sum())
    hover = getattr(svg, "hover", None)
    assert (hover is not None) == (finite > 0)
    if hover is not None:
        assert hover.kind == "bins" and sum(hover.counts) == finite
    png = await render(
        client, kind="histogram", payload=summary(tensor), format="png", width=300, height=200
    )
    data = base64.b64decode(png.data)
    assert png.mime == "image/png" and data[:8] == b"\x89PNG\r\n\x1a\n"
    assert struct.unpack(">II", data[16:24]) == (300, 200)
    sharp = await render(
        client,
        kind="histogram",
        payload=summary(tensor),
        format="png",
        width=300,
        height=200,
        pixelRatio=2,
    )
    assert struct.unpack(">II", base64.b64decode(sharp.data)[16:24]) == (600, 400)


async def test_every_picture_kind_renders(client: LanguageClient) -> None:
    payloads = {
        "heatmap": {"name": "w", "shape": [1, 2], "block": [1, 1], "mean": [[1, None]],
                    "min": [[1, None]], "max": [[1, None]]},
        "channels": {"name": "im", "shape": [1, 1, 1], "batch_index": 0,
                     "channels": [{"index": 0, "data": [[0.5]], "min": 0.5, "max": 0.5}]},
        "layers": {"metric": "norm", "site": "grad_output",
                   "layers": [{"module": "fc", "value": 2.0, "flag": None}]},
        "timeseries": {"metric": "norm",
                       "series": [{"module": "fc", "site": "output", "steps": [0, 1],
                                   "values": [1, 2]}]},
        "batch": {"name": "im", "shape": [2, 1, 1, 1], "normalize": "channel",
                  "images": [{"index": i, "channels": [{"index": 0, "data": [[0.5]]}]}
                             for i in range(2)]},
    }  # fmt: skip
    assert set(payloads) | {"histogram"} == set(KINDS), "every kind the renderer knows"
    for kind, payload in payloads.items():
        reply = await render(client, kind=kind, payload=payload, format="svg")
        ET.fromstring(reply.data)


async def test_malformed_render_gets_an_error_and_the_server_keeps_serving(
    client: LanguageClient,
) -> None:
    with pytest.raises(JsonRpcException, match="valid kinds"):
        await render(client, kind="pie", payload={})
    with pytest.raises(JsonRpcException, match="edges"):
        await render(client, kind="histogram", payload={"hist": {"edges": [0], "counts": [1, 2]}})
    reply = await render(client, kind="histogram", payload=summary(torch.ones(3)))
    ET.fromstring(reply.data)


async def test_code_lenses_sit_on_submodule_assignments_and_forward(
    client: LanguageClient,
) -> None:
    uri = open_file(client, FIXTURES / "models.py")
    lenses = await client.text_document_code_lens_async(
        types.CodeLensParams(text_document=types.TextDocumentIdentifier(uri=uri))
    )
    assert lenses is not None
    places = sorted(
        {(lens.range.start.line + 1, a["className"], a["attribute"])
         for lens in lenses for a in lens.command.arguments}  # type: ignore[union-attr]
    )  # fmt: skip
    assert places == [
        (9, "Block", "fc"),
        (13, "Block", None),
        (23, "Head", "out"),
        (27, "Net", "blocks"),
        (28, "Net", "head"),
    ]
    titles = {lens.command.title for lens in lenses if lens.range.start.line == 8}  # type: ignore[union-attr]
    assert titles == {"Break on NaN/Inf", "Break when…"}
    first = lenses[0].command
    assert first is not None and first.command == "tensorpeek.addTensorBreakpoint"
    assert first.arguments[0]["uri"] == uri
    assert {a["preset"] for lens in lenses for a in lens.command.arguments} == {"nonfinite", None}  # type: ignore[union-attr]


async def test_a_syntax_error_elsewhere_keeps_the_lenses_that_parse(
    client: LanguageClient,
) -> None:
    uri = open_file(client, FIXTURES / "broken.py")
    lenses = await client.text_document_code_lens_async(
        types.CodeLensParams(text_document=types.TextDocumentIdentifier(uri=uri))
    )
    assert lenses is not None
    assert sorted({lens.range.start.line + 1 for lens in lenses}) == [11, 13]


async def test_inline_values_cover_the_names_assigned_up_to_the_stop(
    client: LanguageClient,
) -> None:
    uri = open_file(client, FIXTURES / "models.py")
    stop = types.Range(
        start=types.Position(line=40, character=0), end=types.Position(line=40, character=0)
    )
    values = await client.text_document_inline_value_async(
        types.InlineValueParams(
            text_document=types.TextDocumentIdentifier(uri=uri),
            range=types.Range(
                start=types.Position(line=0, character=0), end=types.Position(line=41, character=0)
            ),
            context=types.InlineValueContext(frame_id=1, stopped_location=stop),
        )
    )
    assert values is not None
    names = {v.expression for v in values}  # type: ignore[union-attr]
    assert names == {"steps", "model", "x", "step", "loss"}
    lines = {v.expression: v.range.start.line + 1 for v in values}  # type: ignore[union-attr]
    assert lines["model"] == 37 and lines["loss"] == 40
