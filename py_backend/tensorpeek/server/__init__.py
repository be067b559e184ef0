"""The tensorpeek language server (pygls): pictures, code lenses and inline values.
Start it with ``python -m tensorpeek.server`` (stdio)."""
