"""The layered layout of the module graph (``render.graph``, grandalf's Sugiyama layout) and
the language server's ``tensorpeek/layoutGraph`` request over stdio."""

from __future__ import annotations

import sys
from typing import Any

import pytest
import pytest_lsp
from lsprotocol import types
from pygls.exceptions import JsonRpcException
from pytest_lsp import ClientServerConfig, LanguageClient, client_capabilities
from test_graph import resnet_wiring

from tensorpeek.render.errors import RenderError
from tensorpeek.render.graph import NODE_H, layout_graph, node_width
from tensorpeek.server.render_request import as_plain


def resnet_graph() -> dict[str, Any]:
    wiring = resnet_wiring(2)
    ids = list(dict.fromkeys(n for edge in wiring for n in edge))
    return {
        "nodes": [
            {"id": i, "label": i or "input", "type": "Linear", "health": "healthy"} for i in ids
        ],
        "edges": [{"source": s, "target": t, "kind": k} for (s, t), k in wiring.items()],
    }


def check_layout(graph: dict[str, Any], layout: dict[str, Any]) -> None:
    boxes = {n["id"]: n for n in layout["nodes"]}
    assert set(boxes) == {n["id"] for n in graph["nodes"]}
    for n in graph["nodes"]:
        box = boxes[n["id"]]
        assert box["w"] == node_width(n["label"]) and box["h"] == NODE_H
        assert box["x"] >= 0 and box["x"] + box["w"] <= layout["width"]
        assert box["y"] >= 0 and box["y"] + box["h"] <= layout["height"]
    items = list(boxes.values())
    for i, a in enumerate(items):  # no two boxes overlap
        for b in items[i + 1 :]:
            apart_x = a["x"] + a["w"] <= b["x"] or b["x"] + b["w"] <= a["x"]
            apart_y = a["y"] + a["h"] <= b["y"] or b["y"] + b["h"] <= a["y"]
            assert apart_x or apart_y, (a, b)
    assert {(e["source"], e["target"]) for e in layout["edges"]} == {
        (e["source"], e["target"]) for e in graph["edges"]
    }
    for e in layout["edges"]:  # layered: every edge of this DAG goes down, box to box
        s, t = boxes[e["source"]], boxes[e["target"]]
        assert s["y"] + s["h"] <= t["y"]
        (x0, y0), (x1, y1) = e["points"][0], e["points"][-1]
        assert y0 == s["y"] + s["h"] and s["x"] <= x0 <= s["x"] + s["w"]
        assert y1 == t["y"] and t["x"] <= x1 <= t["x"] + t["w"]


def test_layout_of_a_residual_network_is_layered_without_overlaps() -> None:
    graph = resnet_graph()
    layout = layout_graph(graph)
    check_layout(graph, layout)
    ys = {n["id"]: n["y"] for n in layout["nodes"]}
    assert ys[""] < ys["stem"] < ys["blocks.0.fc1"] < ys["blocks.1.fc1"] < ys["head"]


def test_disconnected_parts_sit_side_by_side_and_a_cycle_is_drawn() -> None:
    graph = {
        "nodes": [{"id": i, "label": i} for i in ("a", "b", "c", "d")],
        "edges": [
            {"source": "a", "target": "b"},
            {"source": "b", "target": "a"},
            {"source": "c", "target": "d"},
        ],
    }
    layout = layout_graph(graph)
    assert len(layout["edges"]) == 3
    boxes = {n["id"]: n for n in layout["nodes"]}
    left = max(boxes[i]["x"] + boxes[i]["w"] for i in ("a", "b"))
    assert left < min(boxes[i]["x"] for i in ("c", "d"))


@pytest.mark.parametrize(
    ("graph", "message"),
    [
        ([], "graph must be an object with nodes and edges, got list"),
        (
            {"nodes": [{"label": "x"}], "edges": []},
            "graph.nodes[0] must be an object with a string id",
        ),
        (
            {"nodes": [{"id": "a"}], "edges": [{"source": "a", "target": "zz"}]},
            "graph.edges[0].target 'zz' is not a node id",
        ),
        ({"nodes": [{"id": "a"}, {"id": "a"}]}, "graph.nodes[1]: id 'a' appears twice"),
        ({"nodes": [{"id": str(i)} for i in range(2001)]}, "at most 2000 nodes"),
    ],
)
def test_bad_graphs_get_a_clear_message(graph: Any, message: str) -> None:
    with pytest.raises(RenderError) as err:
        layout_graph(graph)
    assert message in str(err.value)


@pytest_lsp.fixture(
    config=ClientServerConfig(server_command=[sys.executable, "-m", "tensorpeek.server"])
)
async def client(lsp_client: LanguageClient):  # type: ignore[no-untyped-def]
    await lsp_client.initialize_session(
        types.InitializeParams(capabilities=client_capabilities("visual-studio-code"))
    )
    yield
    await lsp_client.shutdown_session()


async def test_the_language_server_answers_layout_graph(client: LanguageClient) -> None:
    graph = resnet_graph()
    reply = await client.protocol.send_request_async("tensorpeek/layoutGraph", {"graph": graph})
    layout = as_plain(reply)
    check_layout(graph, layout)
    assert layout == layout_graph(graph)  # the panel and the report draw the same picture
    with pytest.raises(JsonRpcException, match="is not a node id"):
        bad = {"nodes": [{"id": "a"}], "edges": [{"source": "a", "target": "b"}]}
        await client.protocol.send_request_async("tensorpeek/layoutGraph", {"graph": bad})
    with pytest.raises(JsonRpcException, match="takes"):
        await client.protocol.send_request_async("tensorpeek/layoutGraph", {"nodes": []})
    again = await client.protocol.send_request_async("tensorpeek/layoutGraph", {"graph": graph})
    assert as_plain(again) == layout  # still serving after the errors
