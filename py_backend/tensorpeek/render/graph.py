"""A layered layout of the module graph: ``layout_graph(graph) -> {width, height, nodes, edges}``.

The graph is the agent's ``training`` graph (``docs/training-protocol.md``): ``nodes`` with an
``id`` and a ``label``, ``edges`` from ``source`` to ``target``. The layout is Sugiyama's
layered drawing (layers top to bottom, crossings reduced, long edges bent around the layers
they cross) as computed by ``grandalf``, a pure-Python library: the language server answers the
panel's ``tensorpeek/layoutGraph`` with it and the HTML report draws the same picture, so one
layout serves both, with no Graphviz binary or JavaScript needed. Each connected part is laid
out on its own and the parts are placed side by side.

Node boxes: ``x``, ``y`` are the top-left corner; width from the label, height ``NODE_H``.
Edges are polylines from the bottom of the source box to the top of the target box (edges
that go upwards, cycles from a module called twice, are drawn too).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from tensorpeek.render.errors import RenderError

MAX_NODES = 2000
MAX_EDGES = 8000
NODE_H = 28.0
CHAR_W = 7.0
PAD = 16.0
MIN_W = 48.0
MARGIN = 10.0
GAP = 24.0  # between connected parts
XSPACE = 20.0
YSPACE = 36.0


class _Box:
    """grandalf's vertex view: a size in, a centre out."""

    def __init__(self, w: float, h: float) -> None:
        self.w = w
        self.h = h
        self.xy = (0.0, 0.0)


class _Path:
    """grandalf's edge view: the polyline it routes."""

    def __init__(self) -> None:
        self.points: list[tuple[float, float]] = []

    def setpath(self, pts: list[tuple[float, float]]) -> None:
        self.points = [(float(x), float(y)) for x, y in pts]


def node_width(label: str) -> float:
    return max(MIN_W, CHAR_W * len(label) + PAD)


def _checked(graph: Any) -> tuple[list[dict[str, Any]], list[tuple[str, str]]]:
    if not isinstance(graph, Mapping):
        raise RenderError(
            f"graph must be an object with nodes and edges, got {type(graph).__name__}"
        )
    nodes, edges = graph.get("nodes"), graph.get("edges", [])
    if not isinstance(nodes, list) or not isinstance(edges, list):
        raise RenderError("graph.nodes and graph.edges must be lists")
    if len(nodes) > MAX_NODES or len(edges) > MAX_EDGES:
        raise RenderError(
            f"graph has {len(nodes)} nodes and {len(edges)} edges; at most {MAX_NODES} nodes "
            f"and {MAX_EDGES} edges are laid out"
        )
    out_nodes: list[dict[str, Any]] = []
    ids: set[str] = set()
    for i, node in enumerate(nodes):
        if not isinstance(node, Mapping) or not isinstance(node.get("id"), str):
            raise RenderError(f"graph.nodes[{i}] must be an object with a string id")
        if node["id"] in ids:
            raise RenderError(f"graph.nodes[{i}]: id {node['id']!r} appears twice")
        label = node.get("label", node["id"])
        if not isinstance(label, str):
            raise RenderError(f"graph.nodes[{i}].label must be a string")
        ids.add(node["id"])
        out_nodes.append({"id": node["id"], "label": label or node["id"] or "input"})
    out_edges: list[tuple[str, str]] = []
    for i, edge in enumerate(edges):
        if not isinstance(edge, Mapping):
            raise RenderError(f"graph.edges[{i}] must be an object with source and target")
        source, target = edge.get("source"), edge.get("target")
        for end, name in ((source, "source"), (target, "target")):
            if not isinstance(end, str) or end not in ids:
                raise RenderError(f"graph.edges[{i}].{name} {end!r} is not a node id")
        out_edges.append((str(source), str(target)))
    return out_nodes, out_edges


def layout_graph(graph: Any) -> dict[str, Any]:
    """See the module docstring; a graph that is not one raises ``RenderError``."""
    from grandalf.graphs import Edge, Graph, Vertex
    from grandalf.layouts import SugiyamaLayout
    from grandalf.routing import route_with_lines

    nodes, edges = _checked(graph)
    vertices = {}
    for node in nodes:
        v = Vertex(node["id"])
        v.view = _Box(node_width(node["label"]), NODE_H)
        vertices[node["id"]] = v
    g_edges = []
    for source, target in dict.fromkeys(edges):
        if source == target:
            continue
        e = Edge(vertices[source], vertices[target])
        e.view = _Path()
        g_edges.append(e)
    g = Graph(list(vertices.values()), g_edges)

    placed: dict[str, dict[str, float]] = {}
    x_offset = MARGIN
    height = 0.0
    for part in g.C:
        sug = SugiyamaLayout(part)
        sug.xspace, sug.yspace = XSPACE, YSPACE
        sug.route_edge = route_with_lines
        roots = [v for v in part.sV if len(v.e_in()) == 0]
        sug.init_all(roots=roots or None)
        sug.draw(3)
        boxes = [v for v in part.sV]
        left = min(v.view.xy[0] - v.view.w / 2 for v in boxes)
        top = min(v.view.xy[1] - v.view.h / 2 for v in boxes)
        dx, dy = x_offset - left, MARGIN - top
        right = x_offset
        for v in boxes:
            cx, cy = v.view.xy
            box = {
                "x": cx - v.view.w / 2 + dx,
                "y": cy - v.view.h / 2 + dy,
                "w": v.view.w,
                "h": v.view.h,
            }
            placed[v.data] = box
            right = max(right, box["x"] + box["w"])
            height = max(height, box["y"] + box["h"])
        for e in part.sE:
            e.view.points = [(x + dx, y + dy) for x, y in e.view.points]
        x_offset = right + GAP

    out_edges = []
    for e in g_edges:
        source, target = e.v[0].data, e.v[1].data
        points = _edge_points(e.view.points, placed[source], placed[target])
        out_edges.append({"source": source, "target": target, "points": points})
    return {
        "width": round(max(x_offset - GAP + MARGIN, 2 * MARGIN), 2),
        "height": round(height + MARGIN, 2),
        "nodes": [{"id": n["id"], **_rounded(placed[n["id"]])} for n in nodes],
        "edges": out_edges,
    }


def _edge_points(
    routed: list[tuple[float, float]], source: dict[str, float], target: dict[str, float]
) -> list[list[float]]:
    """The routed polyline, its ends moved onto the boxes' bottom and top edges."""
    start = (source["x"] + source["w"] / 2, source["y"] + source["h"])
    end = (target["x"] + target["w"] / 2, target["y"])
    if target["y"] + target["h"] <= source["y"]:  # drawn upwards: leave from the top
        start = (start[0], source["y"])
        end = (end[0], target["y"] + target["h"])
    middle = routed[1:-1] if len(routed) > 2 else []
    return [[round(x, 2), round(y, 2)] for x, y in [start, *middle, end]]


def _rounded(box: dict[str, float]) -> dict[str, float]:
    return {k: round(v, 2) for k, v in box.items()}
