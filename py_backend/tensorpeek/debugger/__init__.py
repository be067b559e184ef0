"""tensorpeek.debugger."""
