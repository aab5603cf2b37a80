"""`leadstats demo`."""

from __future__ import annotations
