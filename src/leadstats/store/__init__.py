"""Backends behind one small interface, chosen by URL (``duckdb:///path``, ``chdb:///path``, ...)."""

from __future__ import annotations

from .base import AppendResult, Store
from .url import open_store, parse_url

__all__ = ["AppendResult", "Store", "open_store", "parse_url"]
