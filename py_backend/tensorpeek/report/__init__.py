"""tensorpeek.report.model."""
