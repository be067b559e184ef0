"""The renderer draws what the payload says: bar heights are the histogram counts, bad values
get their own labelled bars, theme colours reach the picture, and bad payloads are refused
with a message naming the field."""

from __future__ import annotations

import itertools
import struct
import threading
import xml.etree.ElementTree as ET
from typing import Any

import pytest
import torch
from matplotlib.figure import Figure

import tensorpeek
from tensorpeek.render import RenderError, Theme, render
from tensorpeek.render.histogram import draw_histogram

DARK = Theme.from_request(
    {"foreground": "#cccccc", "background": "#1e1e1e", "accent": "#3794ff", "fontSize": 11}
)


def summary(x: torch.Tensor, name: str = "x") -> dict[str, Any]:
    d = tensorpeek.summarize(x).to_dict()
    d["name"] = name
    return d


def png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", data[16:24])
    return width, height


def test_histogram_bars_are_the_summary_counts_and_nonfinite_gets_labelled_bars() -> None:
    x = torch.randn(5000, generator=torch.Generator().manual_seed(0))
    x[:7] = float("nan")
    x[7:9] = float("inf")
    payload = summary(x)
    fig = Figure()
    draw_histogram(fig, payload, Theme())
    main, side = fig.axes
    (stairs,) = [p for p in main.patches if type(p).__name__ == "StepPatch"]
    assert list(stairs.get_data().values) == payload["hist"]["counts"]
    # oracle: float64 numpy-style counts of the finite values over the same edges
    finite = x[torch.isfinite(x)].double()
    edges = torch.tensor(payload["hist"]["edges"], dtype=torch.float64)
    oracle = torch.histogram(finite, bins=edges).hist.tolist()
    assert [int(c) for c in oracle] == payload["hist"]["counts"]
    labels = [t.get_text() for t in side.get_xticklabels()]
    heights = [bar.get_height() for bar in side.patches]
    assert labels == ["NaN", "+Inf"] and heights == [7, 2]


def test_mean_and_range_are_marked() -> None:
    x = torch.linspace(-2.0, 6.0, 1001)
    payload = summary(x)
    fig = Figure()
    draw_histogram(fig, payload, Theme())
    xs = sorted(line.get_xdata()[0] for line in fig.axes[0].get_lines())
    assert xs == pytest.approx([-2.0, float(x.double().mean()), 6.0], rel=1e-6)


@pytest.mark.parametrize(
    "tensor",
    [torch.full((10,), float("nan")), torch.full((8,), 3.0), torch.empty(0), torch.tensor(1.5)],
    ids=["all-nan", "constant", "empty", "0-d"],
)
def test_degenerate_tensors_render_a_readable_picture(tensor: torch.Tensor) -> None:
    svg = render("histogram", summary(tensor), fmt="svg")
    ET.fromstring(svg)
    assert png_size(render("histogram", summary(tensor), fmt="png", width=200, height=120)) == (
        200,
        120,
    )


def test_theme_colours_reach_the_svg() -> None:
    svg = render("histogram", summary(torch.randn(100)), theme=DARK).decode()
    assert "#1e1e1e" in svg  # background
    assert "#3794ff" in svg  # accent bars


def test_every_kind_renders_svg_and_png_of_the_asked_size() -> None:
    payloads = {
        "histogram": summary(torch.randn(300)),
        "heatmap": {
            "name": "w",
            "shape": [2, 3],
            "block": [1, 1],
            "mean": [[1, 2, None], [0.5, -1, 3]],
            "min": [[1, 2, None], [0.5, -1, 3]],
            "max": [[1, 2, None], [0.5, -1, 3]],
        },
        "channels": {
            "name": "img",
            "shape": [2, 2, 2],
            "batch_index": 0,
            "channels": [
                {"index": c, "data": [[0, 1], [2, None]], "min": 0, "max": 2} for c in (0, 1)
            ],
        },
        "layers": {
            "metric": "norm",
            "site": "grad_output",
            "layers": [
                {"module": "fc1", "value": 0.5, "flag": None},
                {"module": "fc2", "value": None, "flag": "nonfinite"},
                {"module": "fc3", "value": 1e-12, "flag": "vanishing"},
            ],
        },
        "timeseries": {
            "metric": "norm",
            "series": [
                {"module": "fc1", "site": "output", "steps": [0, 1, 2], "values": [1, "inf", 2]}
            ],
        },
    }
    for kind, payload in payloads.items():
        ET.fromstring(render(kind, payload))
        assert png_size(render(kind, payload, fmt="png", width=320, height=240)) == (320, 240)


def test_layers_flags_colour_bad_layers() -> None:
    payload = {
        "metric": "norm",
        "site": "grad_output",
        "layers": [
            {"module": "ok", "value": 1.0, "flag": None},
            {"module": "boom", "value": 1e9, "flag": "exploding"},
        ],
    }
    from tensorpeek.render.layers import draw_layers

    fig = Figure()
    theme = Theme()
    draw_layers(fig, payload, theme)
    ok, boom = fig.axes[0].patches
    assert tuple(ok.get_facecolor()) == theme.accent
    assert tuple(boom.get_facecolor()) == theme.bad


@pytest.mark.parametrize(
    ("kind", "payload", "message"),
    [
        ("pie", {}, "valid kinds"),
        ("histogram", {"hist": {"edges": [0, 1], "counts": [1, 2]}}, "edges"),
        ("histogram", {"nan": -1}, "non-negative"),
        ("heatmap", {"mean": [[1, 2], [3]]}, "rows"),
        ("layers", {"layers": [{"module": "a", "flag": "melting"}]}, "flag"),
    ],
)
def test_bad_payloads_are_refused_with_the_field_named(
    kind: str, payload: dict[str, Any], message: str
) -> None:
    with pytest.raises(RenderError, match=message):
        render(kind, payload)


def test_bad_theme_and_size_are_refused() -> None:
    with pytest.raises(RenderError, match="background"):
        Theme.from_request({"background": "not-a-colour"})
    with pytest.raises(RenderError, match="width"):
        render("histogram", summary(torch.randn(4)), width=10)


def test_css_rgb_colours_are_understood() -> None:
    theme = Theme.from_request({"background": "rgba(30, 30, 30, 1)", "foreground": "#ccc"})
    assert theme.background == pytest.approx((30 / 255, 30 / 255, 30 / 255, 1.0))
    assert theme.is_dark


def test_rendering_is_thread_safe_and_deterministic() -> None:
    payload = summary(torch.randn(1000, generator=torch.Generator().manual_seed(1)))
    # PNG: SVG carries random clip-path ids, PNG bytes depend on the drawing alone
    expected = render("histogram", payload, fmt="png", cache=False)
    results: list[bytes] = []

    def work() -> None:
        results.append(render("histogram", payload, fmt="png", cache=False))

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == [expected] * 4


def _figure(width: int, height: int) -> Figure:
    from tensorpeek.render.canvas import new_figure

    return new_figure(width, height, Theme())


def test_the_histogram_legend_sits_above_the_bars_at_any_width() -> None:
    x = torch.randn(4000, generator=torch.Generator().manual_seed(1))
    for width, height in ((480, 300), (1240, 400)):
        fig = _figure(width, height)
        draw_histogram(fig, summary(x), Theme())
        fig.canvas.draw()
        ax = fig.axes[0]
        legend = ax.get_legend()
        assert legend is not None
        box, data = legend.get_window_extent(), ax.get_window_extent()
        assert box.y0 >= data.y1 - 1, "the legend is outside the data area"
        assert box.x1 <= width + 1, "and inside the picture"
        title = ax._left_title.get_window_extent()  # type: ignore[attr-defined]
        assert not box.overlaps(title), f"the legend does not cover the title at {width} px"
        assert title.y1 <= height + 1


def test_a_one_column_heatmap_has_integer_index_ticks() -> None:
    from tensorpeek.render.grids import draw_heatmap

    payload = {
        "name": "w",
        "shape": [64, 1],
        "block": [1, 1],
        "mean": [[float(i)] for i in range(64)],
        "min": [[float(i)] for i in range(64)],
        "max": [[float(i)] for i in range(64)],
    }
    fig = _figure(600, 300)
    draw_heatmap(fig, payload, Theme())
    fig.canvas.draw()
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["0"]
    rows = [t.get_text() for t in ax.get_yticklabels() if t.get_text()]
    assert rows and all(r.isdigit() and 0 <= int(r) <= 63 for r in rows), rows


def test_block_means_are_labelled_in_element_indices() -> None:
    from tensorpeek.render.grids import draw_heatmap

    grid = [[1.0] * 8 for _ in range(4)]
    payload = {
        "name": "w",
        "shape": [16, 64],
        "block": [4, 8],
        "mean": grid,
        "min": grid,
        "max": grid,
    }
    fig = _figure(600, 300)
    draw_heatmap(fig, payload, Theme())
    fig.canvas.draw()
    cols = [int(t.get_text()) for t in fig.axes[0].get_xticklabels() if t.get_text()]
    assert cols and all(c % 8 == 0 and 0 <= c < 64 for c in cols), cols


def test_a_nonfinite_layer_is_labelled_not_drawn_as_a_short_bar() -> None:
    from tensorpeek.render.layers import draw_layers

    payload = {
        "metric": "norm",
        "site": "output",
        "layers": [
            {"module": "fc1", "value": 2.0, "flag": None},
            {"module": "fc2", "value": "nan", "flag": "nonfinite"},
        ],
    }
    fig = _figure(600, 300)
    draw_layers(fig, payload, Theme())
    texts = [t.get_text() for t in fig.axes[0].texts]
    assert texts == ["NaN/Inf"]


def test_small_multiple_titles_fit_their_panel() -> None:
    from tensorpeek.render.layers import draw_timeseries

    series = [
        {
            "module": f"features.{i}.block.attention.output_projection",
            "site": "grad_output",
            "steps": [1, 2, 3],
            "values": [1.0, 2.0, 3.0],
        }
        for i in range(6)
    ]
    fig = _figure(700, 400)
    draw_timeseries(fig, {"metric": "norm", "series": series}, Theme())
    fig.canvas.draw()
    for ax in fig.axes:
        title = ax.title if ax.title.get_text() else ax._left_title  # type: ignore[attr-defined]
        assert title.get_text().startswith("features.")
        assert title.get_window_extent().x1 <= ax.get_window_extent().x1 + 40, title.get_text()
        steps = [t.get_text() for t in ax.get_xticklabels() if t.get_text()]
        assert all(s.lstrip("−-").isdigit() for s in steps), steps


def test_three_channels_get_an_rgb_composite_scaled_by_the_chosen_range() -> None:
    from tensorpeek.render.grids import _rgb, draw_channels

    red = [[0.0, 10.0]]
    green = [[0.0, 5.0]]
    blue = [[0.0, 0.0]]
    payload = {
        "name": "img",
        "shape": [3, 1, 2],
        "batch_index": 0,
        "channels": [
            {"index": c, "data": d, "min": 0.0, "max": max(d[0])}
            for c, d in enumerate((red, green, blue))
        ],
    }
    fig = _figure(800, 300)
    draw_channels(fig, payload, Theme())
    titles = [ax._left_title.get_text() or ax.title.get_text() for ax in fig.axes]  # type: ignore[attr-defined]
    assert titles[0] == "img[0] RGB (image range)" and len(fig.axes) == 4
    import numpy as np

    grids = [np.array(g) for g in (red, green, blue)]
    joint = _rgb(grids, "image")
    assert joint is not None and joint[0, 1].tolist() == [1.0, 0.5, 0.0]  # one range for all
    own = _rgb(grids, "channel")
    assert own is not None and own[0, 1].tolist() == [1.0, 1.0, 0.0]  # each by its own
    with pytest.raises(RenderError, match="normalize"):
        render("channels", {**payload, "normalize": "log"})


def _embedded_png_sizes(svg: str) -> list[tuple[int, int]]:
    import base64
    import re

    found = re.findall(r'xlink:href="data:image/png;base64,([^"]+)"', svg)
    return [png_size(base64.b64decode(b)) for b in found]


def test_pixel_ratio_multiplies_raster_pixels_and_keeps_the_layout() -> None:
    x = torch.randn(2000, generator=torch.Generator().manual_seed(1))
    one = render("histogram", summary(x), fmt="png", width=300, height=200)
    two = render("histogram", summary(x), fmt="png", width=300, height=200, pixel_ratio=2)
    assert png_size(one) == (300, 200)
    assert png_size(two) == (600, 400)
    grid = [[float(i * 8 + j) for j in range(8)] for i in range(8)]
    heatmap = {"name": "w", "shape": [8, 8], "block": [1, 1], "mean": grid}
    flat = render("heatmap", heatmap, width=400, height=300).decode()
    sharp = render("heatmap", heatmap, width=400, height=300, pixel_ratio=2).decode()
    # the SVG keeps its size in points; the heatmap image inside it gets twice the pixels
    size = 'width="288pt" height="216pt"'
    assert size in flat and size in sharp
    (w1, h1), (w2, h2) = _embedded_png_sizes(flat)[0], _embedded_png_sizes(sharp)[0]
    assert abs(w2 - 2 * w1) <= 2 and abs(h2 - 2 * h1) <= 2


@pytest.mark.parametrize("ratio", [0.5, 5, "2", True, float("nan")])
def test_a_bad_pixel_ratio_is_refused(ratio: Any) -> None:
    x = torch.randn(10)
    with pytest.raises(RenderError, match="pixel ratio must be a number from 1 to 4"):
        render("histogram", summary(x), pixel_ratio=ratio)


def test_the_histogram_hover_map_puts_each_bin_where_the_picture_drew_it() -> None:
    import io

    import numpy as np
    from matplotlib.image import imread

    from tensorpeek.render import render_picture

    payload = {
        "name": "x",
        "numel": 10,
        "hist": {"edges": [0.0, 1.0, 2.0, 3.0, 4.0], "counts": [0, 0, 10, 0]},
    }
    theme = Theme.from_request(
        {"foreground": "#000000", "background": "#ffffff", "accent": "#0000ff"}
    )
    picture = render_picture("histogram", payload, fmt="png", theme=theme, width=400, height=300)
    hover = picture.hover
    assert hover is not None and hover["kind"] == "bins"
    assert hover["edges"] == payload["hist"]["edges"] and hover["counts"] == [0, 0, 10, 0]
    left, top, right, bottom = hover["plot"]
    lo, hi = hover["xlim"]
    # oracle: the columns of strong accent-blue pixels inside the plot area of the PNG itself
    image = imread(io.BytesIO(picture.data))[..., :3]
    rows = slice(int(top * 300) + 2, int(bottom * 300) - 2)
    blue = (image[rows, :, 2] > 0.9) & (image[rows, :, 0] < 0.35)
    columns = np.flatnonzero(blue.sum(axis=0) > 20)

    def px(value: float) -> float:
        return (left + (value - lo) / (hi - lo) * (right - left)) * 400

    assert abs(columns.min() - px(2.0)) <= 2 and abs(columns.max() - px(3.0)) <= 2
    # a constant tensor's one zero-width bin is drawn widened, and the map says so
    constant = {"name": "c", "numel": 5, "hist": {"edges": [2.0, 2.0], "counts": [5]}}
    drawn = render_picture("histogram", constant, width=400, height=300).hover
    assert drawn is not None and drawn["edges"] == [1.9, 2.1] and drawn["counts"] == [5]
    empty = {"name": "e", "numel": 0, "hist": {"edges": [], "counts": []}}
    assert render_picture("histogram", empty, width=400, height=300).hover is None


def test_the_channels_hover_map_finds_each_cell_where_the_picture_drew_its_colour() -> None:
    import io

    import numpy as np
    from matplotlib import colormaps
    from matplotlib.image import imread

    from tensorpeek.render import render_picture

    rows, cols = 6, 10
    grid = [[float(i * cols + j) for j in range(cols)] for i in range(rows)]
    payload = {
        "name": "images",
        "shape": [2, 1, rows, cols],
        "batch_index": 1,
        "channels": [{"index": 0, "data": grid, "min": 0.0, "max": 59.0}],
    }
    light = Theme.from_request({"foreground": "#000000", "background": "#ffffff"})
    picture = render_picture("channels", payload, fmt="png", theme=light, width=500, height=300)
    hover = picture.hover
    assert hover is not None and hover["kind"] == "pixels" and hover["batched"]
    assert hover["shape"] == [rows, cols] and hover["batch_index"] == 1
    (tile,) = hover["tiles"]
    assert tile["channels"] == ["0"] and (tile["rows"], tile["cols"]) == (rows, cols)
    assert hover["grids"]["0"] == grid
    image = imread(io.BytesIO(picture.data))[..., :3]
    left, top, right, bottom = tile["plot"]
    viridis = colormaps["viridis"]
    # oracle: the colour at each cell's centre, as the hover map places it, is the colour map's
    for i, j in [(0, 0), (2, 7), (5, 9), (3, 1)]:
        x = (left + (j + 0.5) / cols * (right - left)) * 500
        y = (top + (i + 0.5) / rows * (bottom - top)) * 300
        want = np.array(viridis(grid[i][j] / 59.0)[:3])
        got = image[int(y), int(x)]
        assert np.abs(got - want).max() < 0.03, (i, j, got, want)
    # three channels: the RGB composite comes first and covers all three
    rgb = dict(payload, shape=[3, rows, cols])
    rgb["channels"] = [{"index": c, "data": grid, "min": 0.0, "max": 59.0} for c in range(3)]
    tiles = render_picture("channels", rgb, width=500, height=300).hover["tiles"]  # type: ignore[index]
    assert [t["channels"] for t in tiles] == [["0", "1", "2"], ["0"], ["1"], ["2"]]


def test_a_batch_grid_draws_each_image_as_rgb_and_normalize_changes_the_colours() -> None:
    import io

    import numpy as np
    from matplotlib.image import imread

    # image 0 is pure red in the top half (channel 0 = 1 there), image 1 a grey ramp
    red = [[1.0] * 4] * 2 + [[0.0] * 4] * 2
    zero = [[0.0] * 4] * 4
    ramp = [[float(i * 4 + j) for j in range(4)] for i in range(4)]
    payload = {
        "name": "images",
        "shape": [2, 3, 4, 4],
        "images": [
            {
                "index": 0,
                "channels": [{"index": c, "data": d} for c, d in enumerate([red, zero, zero])],
            },
            {"index": 1, "channels": [{"index": c, "data": ramp} for c in range(3)]},
        ],
    }
    light = Theme.from_request({"foreground": "#000000", "background": "#ffffff"})
    data = render("batch", payload, fmt="png", theme=light, width=400, height=200)
    image = imread(io.BytesIO(data))[..., :3]
    fig = Figure(figsize=(4, 2), dpi=100)
    from tensorpeek.render.grids import draw_batch

    draw_batch(fig, payload, light)
    first, second = [ax for ax in fig.axes if ax.get_images()]
    assert first.get_title() == "images[0]" and second.get_title() == "images[1]"
    rgb = first.get_images()[0].get_array()
    assert np.allclose(rgb[0, 0], [1, 0, 0]) and np.allclose(rgb[3, 0], [0, 0, 0])
    grey = second.get_images()[0].get_array()
    assert np.allclose(grey[..., 0], grey[..., 2]) and grey[0, 0, 0] == 0 and grey[3, 3, 0] == 1
    assert image.shape[:2] == (200, 400)
    # "channel" scales each channel by its own range: a channel spanning 0..1 beside one
    # spanning 0..15 reaches full brightness only then
    small = [[v / 15 for v in row] for row in ramp]
    mixed = {
        "name": "m",
        "shape": [3, 4, 4],
        "images": [{"index": 0, "channels": [{"data": ramp}, {"data": small}, {"data": small}]}],
    }
    for normalize, top_green in (("image", 1 / 15), ("channel", 1.0)):
        f = Figure(figsize=(4, 2), dpi=100)
        draw_batch(f, dict(mixed, normalize=normalize), light)
        (ax,) = [a for a in f.axes if a.get_images()]
        assert ax.get_images()[0].get_array()[3, 3, 1] == pytest.approx(top_green)
    with pytest.raises(RenderError, match="normalize"):
        render("batch", dict(payload, normalize="batch"), width=400, height=200)
    with pytest.raises(RenderError, match="images"):
        render("batch", {"name": "x"}, width=400, height=200)


def test_the_batch_hover_map_places_each_image_and_cell_where_the_grid_drew_them() -> None:
    import io

    import numpy as np
    from matplotlib import colormaps
    from matplotlib.image import imread

    from tensorpeek.render import render_picture

    # three RGB images whose values name them: image k, channel c, cell (i, j) = 100k + 10c + 4i + j
    rows, cols = 4, 5

    def grid(k: int, c: int) -> list[list[float]]:
        return [[100.0 * k + 10 * c + 4 * i + j for j in range(cols)] for i in range(rows)]

    payload: dict[str, Any] = {
        "name": "images",
        "shape": [5, 3, rows, cols],
        "images": [
            {"index": k, "channels": [{"index": c, "data": grid(k, c)} for c in range(3)]}
            for k in (0, 1, 3)  # image 2 was left out: each tile keeps its own batch index
        ],
    }
    light = Theme.from_request({"foreground": "#000000", "background": "#ffffff"})
    picture = render_picture("batch", payload, fmt="png", theme=light, width=600, height=300)
    hover = picture.hover
    assert hover is not None and hover["kind"] == "pixels" and hover["batched"]
    assert hover["name"] == "images" and hover["shape"] == [rows, cols]
    assert [t["batch_index"] for t in hover["tiles"]] == [0, 1, 3]
    for t, k in zip(hover["tiles"], (0, 1, 3), strict=True):
        assert t["channels"] == ["0", "1", "2"] and (t["rows"], t["cols"]) == (rows, cols)
        assert t["grids"] == {str(c): grid(k, c) for c in range(3)}
    image = imread(io.BytesIO(picture.data))[..., :3]
    # oracle: each cell's centre, as the hover map places it, has the composite's colour there
    # (normalize "image": each image scaled by its own joint range)
    for t, k in zip(hover["tiles"], (0, 1, 3), strict=True):
        left, top, right, bottom = t["plot"]
        stack = np.stack([np.array(grid(k, c)) for c in range(3)], axis=-1)
        lo, hi = stack.min(), stack.max()
        for i, j in [(0, 0), (1, 3), (3, 4), (2, 0)]:
            x = (left + (j + 0.5) / cols * (right - left)) * 600
            y = (top + (i + 0.5) / rows * (bottom - top)) * 300
            want = (stack[i, j] - lo) / (hi - lo)
            assert np.abs(image[int(y), int(x)] - want).max() < 0.03, (k, i, j)
    # one channel per image: a colour-mapped tile covers that channel; an image with no finite
    # value draws nothing and has no tile to hover
    mono = {
        "name": "masks",
        "shape": [2, 1, rows, cols],
        "images": [
            {"index": 0, "channels": [{"index": 0, "data": grid(0, 0)}]},
            {"index": 1, "channels": [{"index": 0, "data": [[None] * cols] * rows}]},
        ],
    }
    picture = render_picture("batch", mono, fmt="png", theme=light, width=400, height=200)
    assert picture.hover is not None
    (tile,) = picture.hover["tiles"]
    assert (
        tile["batch_index"] == 0 and tile["channels"] == ["0"] and tile["grids"]["0"] == grid(0, 0)
    )
    image = imread(io.BytesIO(picture.data))[..., :3]
    left, top, right, bottom = tile["plot"]
    x = (left + 4.5 / cols * (right - left)) * 400
    y = (top + 3.5 / rows * (bottom - top)) * 200
    want = np.array(colormaps["viridis"](1.0)[:3])  # the largest value, at (3, 4)
    assert np.abs(image[int(y), int(x)] - want).max() < 0.03


@pytest.mark.parametrize("width", [360, 480, 1200])
def test_channel_tile_titles_fit_their_column(width: int) -> None:
    from tensorpeek.render.grids import draw_channels

    grid = [[0.0, 1.0], [2.0, 3.0]]
    payload = {
        "name": "encoder_images",
        "shape": [8, 3, 2, 2],
        "batch_index": 4,
        "channels": [{"index": c, "data": grid, "min": 0.0, "max": 3.0} for c in range(3)],
    }
    fig = _figure(width, 300)
    draw_channels(fig, payload, Theme())
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()  # type: ignore[attr-defined]
    column = width / 4  # four tiles: RGB and three channels
    titles = [ax.title for ax in fig.axes]
    for title in titles:
        assert title.get_window_extent(renderer).width <= column, title.get_text()
    if width >= 1200:  # room for the whole title
        assert titles[0].get_text() == "encoder_images[4] RGB (image range)"


def test_log_scale_tick_labels_of_a_series_spanning_decades_never_overlap() -> None:
    """A gradient norm from 1 to 8e5 (a run that blew up): every visible y label is apart from
    the next one (labelling every minor tick piled them up into unreadable text)."""
    from tensorpeek.render.layers import draw_timeseries

    values = [1.0 + 0.01 * i for i in range(40)] + [8e5, 2e4, 3e5, 5.0, 6e5, 1.2]
    series = [{"module": "fc", "site": "param_grad", "steps": list(range(46)), "values": values}]
    for size in ((260, 160), (700, 300)):
        fig = _figure(*size)
        draw_timeseries(fig, {"metric": "norm", "series": series}, Theme())
        fig.canvas.draw()
        ax = fig.axes[0]
        labels = [
            t
            for t in ax.get_yticklabels(minor=False) + ax.get_yticklabels(minor=True)
            if t.get_text() and t.get_visible()
        ]
        lo, hi = ax.get_ylim()
        boxes = sorted(
            (t.get_window_extent() for t in labels if lo <= t.get_position()[1] <= hi),
            key=lambda b: b.y0,
        )
        assert len(boxes) >= 2, [t.get_text() for t in labels]
        for below, above in itertools.pairwise(boxes):
            assert above.y0 >= below.y1 - 1, (size, [t.get_text() for t in labels])


def test_log_scale_within_one_decade_still_has_labels() -> None:
    from tensorpeek.render.layers import draw_timeseries

    series = [
        {
            "module": "fc",
            "site": "param_grad",
            "steps": [0, 1, 2, 3],
            "values": [2.1, 2.5, 3.0, 4.4],
        }
    ]
    fig = _figure(400, 250)
    draw_timeseries(fig, {"metric": "norm", "series": series}, Theme())
    fig.canvas.draw()
    ax = fig.axes[0]
    lo, hi = ax.get_ylim()
    shown = [
        t.get_text()
        for t in ax.get_yticklabels(minor=False) + ax.get_yticklabels(minor=True)
        if t.get_text() and lo <= t.get_position()[1] <= hi
    ]
    assert shown, "a y axis without any number"
