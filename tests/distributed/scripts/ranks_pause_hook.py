"""``PYTHONBREAKPOINT`` targets standing in for a user at pdb (``action="pdb"`` calls
``breakpoint()``): ``continue_later`` continues after ``RANKS_PAUSE_S`` seconds, ``quit``
quits as pdb's ``q`` does (``bdb.BdbQuit``)."""

from __future__ import annotations

import bdb
import os
import time


def continue_later() -> None:
    time.sleep(float(os.environ.get("RANKS_PAUSE_S", "2")))


def quit() -> None:
    raise bdb.BdbQuit
