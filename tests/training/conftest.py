"""Fixtures of the training tests: every test starts and ends with nothing armed, nothing
counted and no captured curves."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tensorpeek.common.steps import STEPS
from tensorpeek.engine import api, history
from tensorpeek.training.capture import CAPTURE
from tensorpeek.training.series import STORE


@pytest.fixture(autouse=True)
def clean_training_state() -> Iterator[None]:
    api.clear()
    history.clear()
    STORE.clear()
    CAPTURE.install()
    yield
    api.clear()
    history.clear()
    assert not STEPS.counting, "a test left the step counter counting"
    STORE.clear()
