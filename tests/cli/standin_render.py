"""A small real renderer with ``tensorpeek.render.render``'s signature, for the HTML tests
while that module has not landed: matplotlib (object API) draws the histogram and timeseries
payloads to SVG. The tests use the real renderer whenever it is importable."""

from __future__ import annotations

import io
from typing import Any

from matplotlib.figure import Figure


def render(
    kind: str, payload: dict[str, Any], *, fmt: str = "svg", theme: Any = None,
    width: int = 480, height: int = 300,
) -> bytes:  # fmt: skip
    fig = Figure(figsize=(width / 100, height / 100), dpi=100)
    ax = fig.add_subplot()
    if kind == "histogram":
        edges, counts = payload["hist"]["edges"], payload["hist"]["counts"]
        if counts:
            ax.stairs(counts, edges, fill=True)
        bad = [f"{k}={payload[k]}" for k in ("nan", "posinf", "neginf") if payload.get(k)]
        ax.set_title(f"{payload.get('name', '')} {' '.join(bad)}", fontsize=8)
    elif kind == "timeseries":
        for s in payload["series"]:
            values = [float("nan") if v is None else v for v in s["values"]]
            ax.plot(s["steps"], values, label=s["module"])
        ax.set_yscale("log")
        ax.legend(fontsize=6)
    else:
        raise ValueError(f"stand-in renderer draws histogram and timeseries, not {kind!r}")
    buf = io.BytesIO()
    fig.savefig(buf, format=fmt)
    return buf.getvalue()
