"""The tensorpeek language server (pygls): pictures, code lenses and inline values.
Start it with ``python -m tensorpeek.server`` (stdio). It never talks to the debuggee.

May import: ``tensorpeek.render``, pygls and lsprotocol, nothing else of tensorpeek.
"""
