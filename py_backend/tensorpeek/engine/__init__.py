"""tensorpeek.engine."""
