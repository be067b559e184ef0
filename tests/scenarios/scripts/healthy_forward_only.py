"""Healthy: inference only, no optimizer and no ``backward()``: a feature extractor is
called 5 times and a second model (a probe) runs on each result.

Planted: nothing. Right answer: no error finding; steps = completed calls of the FIRST root
module = 5 (the probe, another root, never advances it)."""

import torch
from torch import nn

EXPECTED = None
ORACLE = "full"

torch.manual_seed(0)
features = nn.Sequential(nn.Conv1d(3, 8, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool1d(1))
probe = nn.Linear(8, 2)
steps = 0
with torch.no_grad():
    for _ in range(5):
        h = features(torch.randn(2, 3, 10)).squeeze(-1)
        probe(h)
        steps += 1
print(f"scenario steps={steps}")
