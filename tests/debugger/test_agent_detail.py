"""``detail``: render payloads for one tensor. Oracle: float64 block statistics computed here
with plain reshapes (numpy), and ``summarize``."""

from __future__ import annotations

import json
import math
from typing import Any

import numpy as np
import pytest
import torch

from tensorpeek.agent import request
from tensorpeek.summary.tensor_summary import summarize


def detail(frame: dict[str, Any], **params: Any) -> dict[str, Any]:
    text = request(json.dumps({"version": 1, "method": "detail", "params": params}), frame)
    reply = json.loads(text)
    assert reply["ok"], reply
    return reply["result"]  # type: ignore[no-any-return]


def detail_error(frame: dict[str, Any], **params: Any) -> str:
    reply = json.loads(
        request(json.dumps({"version": 1, "method": "detail", "params": params}), frame)
    )
    assert reply["ok"] is False
    return reply["error"]["message"]  # type: ignore[no-any-return]


def oracle_blocks(a: np.ndarray, br: int, bc: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rows, cols = a.shape
    nr, nc = math.ceil(rows / br), math.ceil(cols / bc)
    padded = np.full((nr * br, nc * bc), np.nan)
    padded[:rows, :cols] = a
    cells = padded.reshape(nr, br, nc, bc).transpose(0, 2, 1, 3).reshape(nr, nc, -1)
    finite = np.isfinite(cells)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.where(finite, cells, 0).sum(-1) / finite.sum(-1)
    low = np.where(finite, cells, np.inf).min(-1)
    high = np.where(finite, cells, -np.inf).max(-1)
    empty = finite.sum(-1) == 0
    return (
        np.where(empty, np.nan, mean),
        np.where(empty, np.nan, low),
        np.where(empty, np.nan, high),
    )


def as_array(grid: list[list[float | None]]) -> np.ndarray:
    return np.array([[np.nan if v is None else v for v in row] for row in grid], dtype=float)


def test_heatmap_keeps_a_single_outlier_visible_in_block_max() -> None:
    g = torch.Generator().manual_seed(3)
    w = torch.randn(1000, 700, generator=g)
    w[517, 333] = 1e4
    w[0:20, 0:20] = float("nan")  # one whole block with no finite value
    hm = detail({"w": w}, expression="w", heatmap_size=64)["heatmap"]
    assert hm["shape"] == [1000, 700] and hm["block"] == [16, 11]
    assert len(hm["mean"]) == 63 and len(hm["mean"][0]) == 64
    mean, low, high = oracle_blocks(w.double().numpy(), 16, 11)
    np.testing.assert_allclose(as_array(hm["mean"]), mean, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(as_array(hm["min"]), low, rtol=1e-5)
    np.testing.assert_allclose(as_array(hm["max"]), high, rtol=1e-5)
    assert hm["max"][517 // 16][333 // 11] == 1e4
    assert hm["mean"][0][0] is None and hm["min"][0][0] is None


def test_histogram_payload_is_the_full_summary_with_the_requested_bins() -> None:
    x = torch.linspace(-1, 1, 5000)
    d = detail({"x": x}, expression="x", bins=100)
    assert d["histogram"] == dict(summarize(x, bins=100).to_dict(), name="x")
    assert d["summary"] == summarize(x, bins=100).to_dict()
    assert "heatmap" not in d and "channels" not in d  # 1-D: histogram only


def test_image_batches_give_per_channel_tiles_of_the_chosen_image() -> None:
    g = torch.Generator().manual_seed(5)
    images = torch.rand(4, 3, 90, 120, generator=g)
    ch = detail({"images": images}, expression="images", heatmap_size=32, batch_index=2)["channels"]
    assert ch["name"] == "images" and ch["shape"] == [4, 3, 90, 120] and ch["batch_index"] == 2
    assert [c["index"] for c in ch["channels"]] == [0, 1, 2]
    for c in ch["channels"]:
        plane = images[2, c["index"]].double().numpy()
        mean, _, _ = oracle_blocks(plane, 3, 4)
        np.testing.assert_allclose(as_array(c["data"]), mean, rtol=1e-5)
        assert c["min"] == pytest.approx(plane.min(), rel=1e-5)
        assert c["max"] == pytest.approx(plane.max(), rel=1e-5)
    assert "out of range for a batch of 4" in detail_error(
        {"images": images}, expression="images", batch_index=4
    )


def test_higher_dimensional_tensors_are_viewed_as_rows_by_last_dim() -> None:
    conv = torch.arange(8 * 5 * 2 * 3, dtype=torch.float32).reshape(8, 5, 2, 3)
    d = detail({"conv": conv}, expression="conv")
    assert d["heatmap"]["shape"] == [80, 3] and d["heatmap"]["block"] == [2, 1]
    assert any("80 × 3 view" in n for n in d["notes"])


@pytest.mark.filterwarnings("ignore:torch.quantize_per_tensor:UserWarning")
@pytest.mark.parametrize(
    ("make", "has_map", "note"),
    [
        (lambda: torch.empty(4, 5, device="meta"), False, "cannot be read"),
        (lambda: torch.eye(6).to_sparse(), False, "sparse_coo tensor"),
        (lambda: torch.empty(0, 5), False, "empty"),
        (lambda: torch.randn(6, 6, dtype=torch.complex64), True, "magnitude"),
        (lambda: torch.quantize_per_tensor(torch.randn(6, 6), 0.1, 0, torch.qint8), True, None),
        (lambda: torch.ones(6, 6, dtype=torch.bool), True, None),
        (lambda: torch.tensor(1.5), False, None),
    ],
)
def test_odd_tensors_get_an_answer_never_an_error(
    make: Any, has_map: bool, note: str | None
) -> None:
    d = detail({"t": make()}, expression="t")
    assert ("heatmap" in d) is has_map
    if note is not None:
        assert any(note in n for n in d.get("notes", [])), d.get("notes")


def test_numpy_arrays_with_reversed_strides_keep_their_orientation() -> None:
    a = np.arange(12, dtype=np.float64).reshape(3, 4)[::-1]
    hm = detail({"a": a}, expression="a")["heatmap"]
    assert hm["mean"] == a.tolist()


def test_resolution_is_lowered_until_the_reply_fits_max_bytes() -> None:
    w = torch.randn(512, 512)
    d = detail({"w": w}, expression="w", heatmap_size=256, max_bytes=200_000)
    assert len(d["heatmap"]["mean"]) < 256
    assert any("resolution lowered" in n for n in d["notes"])


def test_paths_are_walked_not_evaluated() -> None:
    frame = {"batch": {"x": torch.ones(2, 2)}, "pair": (torch.zeros(3),), "n": 3}
    assert detail(frame, expression="batch['x']")["summary"]["shape"] == [2, 2]
    assert detail(frame, expression="pair[-1]")["summary"]["shape"] == [3]
    assert "not a variable path" in detail_error(frame, expression="batch['x'].sum()")
    assert "not a variable path" in detail_error(frame, expression="__import__('os').getcwd()")
    assert "has no item ['y']" in detail_error(frame, expression="batch['y']")
    assert "n holds a 'int' object, not a tensor" in detail_error(frame, expression="n")
