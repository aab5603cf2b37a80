"""Turning outside records into store rows: vectorized validation and file readers."""
