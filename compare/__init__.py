"""compare — hakmem's comparison suite (runner.py is the entry point; see README.md)."""
