"""Test support shared by several test folders (the DAP client for real debugpy sessions)."""
