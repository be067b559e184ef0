"""Planted: a NaN image in ``pixel_values=`` (HF vision style): a small conv net called as
``model(pixel_values=..., labels=...)`` that returns a ``ModelOutput``-like dataclass with
the loss inside. At step 2 one pixel of one image is NaN.

Right answer: ("", "input", 2)."""

from dataclasses import dataclass

import torch
from torch import nn

EXPECTED = {"module": "", "site": "input", "step": 2}
ORACLE = "full"


@dataclass
class ImageClassifierOutput:
    loss: torch.Tensor
    logits: torch.Tensor


class TinyConvNet(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3, padding=1)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Linear(4, 3)

    def forward(self, pixel_values: torch.Tensor, labels: torch.Tensor) -> ImageClassifierOutput:
        logits = self.classifier(self.pool(torch.relu(self.conv(pixel_values))).flatten(1))
        return ImageClassifierOutput(nn.functional.cross_entropy(logits, labels), logits)


torch.manual_seed(0)
model = TinyConvNet()
opt = torch.optim.SGD(model.parameters(), lr=1e-2)
for step in range(4):
    pixels, labels = torch.rand(2, 3, 8, 8), torch.randint(0, 3, (2,))
    if step == 2:
        pixels[1, 0, 4, 4] = float("nan")
    out = model(pixel_values=pixels, labels=labels)
    opt.zero_grad()
    out.loss.backward()
    opt.step()
