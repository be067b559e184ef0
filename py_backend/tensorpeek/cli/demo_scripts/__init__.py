"""Small CPU training scripts that ship with tensorpeek for ``tensorpeek demo``."""
