"""`python -m tensorpeek.server`: the language server over stdio."""

from __future__ import annotations

from tensorpeek.server.app import build_server

build_server().start_io()
