"""pytest fixtures around ``DapSession``; import them into a folder's conftest::

from support.dap_fixtures import dap  # noqa: F401
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from support.dap_client import DapSession


@pytest.fixture
def dap() -> Iterator[DapSession]:
    """A started adapter (not yet initialized); the adapter and debuggee die with the test."""
    with DapSession() as session:
        yield session
