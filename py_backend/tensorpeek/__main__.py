"""``python -m tensorpeek`` is the ``tensorpeek`` command."""

from __future__ import annotations

from tensorpeek.cli.main import main

raise SystemExit(main())
