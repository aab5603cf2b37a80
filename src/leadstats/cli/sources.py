"""`leadstats sources` commands (filled in by their own issue)."""

from __future__ import annotations
