"""tensorpeek.summary.tensor_summary."""
