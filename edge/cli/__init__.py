"""The station's commands, mounted by the top-level ``cli.py``."""
