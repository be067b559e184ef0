"""A rank of a pretend two-rank job (torchrun's variables come from the test) under debugpy:
it arms a breakpoint, then runs a plain Python loop until ``stop.flag`` appears beside it or
60 s pass. The test pauses and resumes it through the ranks runtime's store protocol."""

from __future__ import annotations

import time
from pathlib import Path

import tensorpeek

tensorpeek.break_on("*", "output", "nonfinite", action="record")
flag = Path(__file__).with_name("stop.flag")
deadline = time.monotonic() + 60
iterations = 0
while not flag.exists() and time.monotonic() < deadline:
    iterations += 1  # @loop
    time.sleep(0.02)
print(f"iterations {iterations}")
