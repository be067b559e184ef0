"""tensorpeek.common."""
