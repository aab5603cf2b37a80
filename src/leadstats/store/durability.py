"""What keeps a DuckDB store honest under hostile conditions: the report watchdog (time limit, client
gone), the engine memory limit, and ``<store>.seq``, which detects a torn write-ahead log (docs/storage.md)."""

from __future__ import annotations

import contextlib
import os
import threading
import time
from collections.abc import Iterator

import duckdb

from ..errors import StoreError
from .base import ReportLimits


@contextlib.contextmanager
def watchdog(cur: duckdb.DuckDBPyConnection, limits: ReportLimits) -> Iterator[None]:
    """Interrupt ``cur``'s statement when the time limit passes or ``limits.cancel`` is set."""
    if not limits.timeout_s and limits.cancel is None:
        yield
        return
    done = threading.Event()
    deadline = time.monotonic() + limits.timeout_s if limits.timeout_s else None

    def watch() -> None:
        while not done.wait(0.05):
            late = deadline is not None and time.monotonic() >= deadline
            if late or (limits.cancel is not None and limits.cancel.is_set()):
                cur.interrupt()
                return

    watcher = threading.Thread(target=watch, name="leadstats-report-watchdog", daemon=True)
    watcher.start()
    try:
        yield
    finally:
        done.set()
        watcher.join()


def memory_text(limit: str) -> str:
    text = limit.strip().upper().replace(" ", "")
    if not text or not (text[0].isdigit() and text.rstrip("KMGTIB").replace(".", "").isdigit()):
        raise StoreError(f"LEADSTATS_MEMORY_LIMIT must look like 2GB or 512MB, got {limit!r}")
    return text


class CommitLog:
    """``<store>.seq``: the sequence number of the last acknowledged append, written after DuckDB's
    commit. DuckDB replays its write-ahead log up to the last whole commit and drops a torn tail without
    a word; a store whose own commit counter is behind this file has lost acknowledged batches."""

    def __init__(self, store_path: str) -> None:
        self.path = store_path + ".seq"

    def read(self) -> tuple[int, int]:
        try:
            with open(self.path, "rb") as fh:
                seq, events = fh.read(64).split()[:2]
            return int(seq), int(events)
        except (OSError, ValueError):
            return 0, 0

    def write(self, seq: int, events: int) -> None:
        """Overwrite the record in place, then flush it: one ``fdatasync`` per commit (a group commit
        answers all its requests with one). The record has a fixed size, so after the first write the
        flush has no metadata to write (no size change; the modification time is not needed)."""
        fd = os.open(self.path, os.O_WRONLY | os.O_CREAT, 0o644)
        try:
            os.pwrite(fd, f"{seq:020d} {events:020d}\n".encode(), 0)
            _datasync(fd)
        finally:
            os.close(fd)


def _datasync(fd: int) -> None:
    sync = getattr(os, "fdatasync", None)  # not on macOS / Windows
    (sync or os.fsync)(fd)

