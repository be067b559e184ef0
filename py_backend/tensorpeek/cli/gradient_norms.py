"""Per-layer norms of the parameter gradients at each optimizer step, for the report's chart."""

from __future__ import annotations

from typing import Any

import torch

from tensorpeek.engine.hooks import HOOKS

MAX_SERIES_POINTS = 400  # gradient-norm points kept per layer (decimated beyond)


class GradientNorms:
    """Per-layer norm of the parameter gradients at each ``optimizer.step()``, for the HTML
    chart. One vector-norm reduction per parameter (accumulated in float64, which costs a
    temporary float64 copy of one gradient at a time) and one host read per step; at most
    ``MAX_SERIES_POINTS`` points per layer."""

    def __init__(self) -> None:
        self.series: dict[str, tuple[list[int], list[float | None]]] = {}
        self.stride = 1

    def record(self, optimizer: torch.optim.Optimizer, step: int) -> None:
        if step % self.stride:
            return
        per_module: dict[str, list[torch.Tensor]] = {}
        for p, _module, path, _pname in HOOKS.optimizer_params(optimizer):
            if p.grad is not None and p.grad.layout == torch.strided:
                per_module.setdefault(path, []).append(p.grad)
        if not per_module:
            return
        paths = list(per_module)
        with torch.no_grad():  # float64: a float32 norm overflows once |g| passes ~1e19
            norms = torch.stack(
                [
                    torch.linalg.vector_norm(
                        torch.stack(
                            [
                                torch.linalg.vector_norm(g.detach(), dtype=torch.float64)
                                for g in grads
                            ]
                        )
                    )
                    for grads in per_module.values()
                ]
            ).tolist()
        for path, value in zip(paths, norms, strict=True):
            steps, values = self.series.setdefault(path, ([], []))
            steps.append(step)
            values.append(value if value == value and abs(value) != float("inf") else None)
        if max(len(s) for s, _ in self.series.values()) > MAX_SERIES_POINTS:
            self.stride *= 2
            for steps, values in self.series.values():
                del steps[1::2], values[1::2]

    def payload(self) -> dict[str, Any] | None:
        """The renderer's ``"timeseries"`` payload, or ``None`` when nothing was recorded."""
        if not self.series:
            return None
        return {
            "metric": "norm",
            "series": [
                {"module": path, "site": "param_grad", "steps": s, "values": v}
                for path, (s, v) in self.series.items()
            ],
        }
