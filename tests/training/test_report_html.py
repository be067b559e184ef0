"""The report's training pictures: inline SVG curves with findings marked and the graph of
modules, every string from the run escaped; and the report JSON round trip of scalars/graph."""

from __future__ import annotations

import json
import re
from html.parser import HTMLParser

import pytest

from tensorpeek.render.graph import layout_graph
from tensorpeek.report.html import render_html
from tensorpeek.report.model import Finding, Report
from tensorpeek.report.training_svg import LEFT, RIGHT, W

EVIL = '<script>alert("x")</script>&"'


class Elements(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.text: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))

    def handle_data(self, data):
        self.text.append(data)


def report() -> Report:
    loss = [[s, 1.0 + 0.01 * (s % 3)] for s in range(50)]
    loss[30][1] = 8.0
    loss[40][1] = "nan"
    return Report(
        script="train.py",
        mode="doctor",
        command=["train.py"],
        steps=50,
        findings=[
            Finding("loss_spike", "fc2", "loss", 30, "warning", f"spike {EVIL}", None),
            Finding("learning_rate", "", "lr", 10, "warning", "lr is 0", None),
        ],
        scalars={"loss": loss, "lr": [[s, 0.1] for s in range(50)], EVIL: [[0, 1.0], [5, 2.0]]},
        graph={
            "nodes": [
                {"id": "", "label": "input", "type": "Net", "health": "healthy"},
                {"id": EVIL, "label": EVIL, "type": EVIL, "health": "origin"},
            ],
            "edges": [{"source": "", "target": EVIL, "kind": "functional", "label": EVIL}],
        },
    )


def test_curves_and_graph_are_drawn_escaped_with_no_script() -> None:
    page = render_html(report(), draw=lambda *a, **k: b"<svg/>")
    parsed = Elements()
    parsed.feed(page)
    tags = [t for t, _ in parsed.tags]
    assert "script" not in tags
    assert EVIL not in page and "&lt;script&gt;" in page
    series = [a for t, a in parsed.tags if t == "polyline" and a.get("class") == "series"]
    loss = [a for a in series if a["data-series"] == "loss"]
    assert len(loss) == 2  # the NaN at step 40 splits the loss curve in two
    assert sum(len(a["points"].split()) for a in loss) == 49
    assert any(a["data-series"] == EVIL for a in series)  # the attribute came back unescaped
    marks = [a for t, a in parsed.tags if t == "line" and a.get("class") == "mark"]
    assert len(marks) == 2  # the spike on the loss chart, the lr finding on the lr chart
    x_spike = LEFT + 30 / 49 * (W - LEFT - RIGHT)
    assert any(abs(float(a["x1"]) - x_spike) < 0.1 for a in marks)
    nodes = [a for t, a in parsed.tags if t == "g" and a.get("class") == "node"]
    assert [a["data-health"] for a in nodes] == ["healthy", "origin"]
    assert sum(EVIL in text for text in parsed.text) >= 2  # the label and its tooltip


def test_graph_boxes_are_the_layout_the_panel_gets() -> None:
    r = report()
    page = render_html(r, draw=lambda *a, **k: b"<svg/>")
    layout = layout_graph(r.graph)
    for box in layout["nodes"]:
        assert f'<rect x="{box["x"]}" y="{box["y"]}" width="{box["w"]}"' in page


def test_scalars_and_graph_survive_the_json_round_trip() -> None:
    r = report()
    d = json.loads(json.dumps(r.to_dict(), allow_nan=False))
    assert d["scalars"]["loss"][40] == [40, "nan"]
    back = Report.from_dict(d)
    assert back.graph == r.graph
    assert back.scalars["loss"][30] == [30, 8.0]
    assert back.scalars["loss"][40][1] != back.scalars["loss"][40][1]  # NaN again
    assert re.search(r"Training curves", render_html(back, draw=lambda *a, **k: b"<svg/>"))


def test_a_curve_spanning_decades_is_drawn_in_log_scale() -> None:
    from tensorpeek.report.training_svg import BOTTOM, TOP, H, curves_svg

    svg = curves_svg("loss", {"loss": [[0, 1.0], [1, 100.0], [2, 10000.0]]}, [])
    assert "loss (log scale)" in svg
    points = re.search(r'points="([^"]+)"', svg).group(1).split()
    ys = [float(p.split(",")[1]) for p in points]
    assert ys[1] == pytest.approx((ys[0] + ys[2]) / 2, abs=0.1)  # 100 halfway between 1 and 1e4
    assert ys[2] == pytest.approx(TOP) and ys[0] == pytest.approx(H - BOTTOM)
    assert "log scale" not in curves_svg("loss", {"loss": [[0, 1.0], [1, 50.0]]}, [])
