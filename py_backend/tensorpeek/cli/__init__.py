"""tensorpeek.cli.main."""
