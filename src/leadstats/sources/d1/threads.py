"""The writer thread of a D1 import (the reader is :func:`leadstats.sources.prefetch.prefetch`): one
thread reads the next pages while this one stores the current page."""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable
from typing import Generic, TypeVar

T = TypeVar("T")


class Writer(Generic[T]):
    """Runs ``write(job)`` for each job in order in a thread of its own, so that storing page n overlaps
    reading and transforming page n+1. A failure stops the run at the next ``put`` or at ``close``."""

    def __init__(self, write: Callable[[T], None], depth: int = 2) -> None:
        self._write = write
        self._q: queue.Queue[T | None] = queue.Queue(maxsize=depth)
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="d1-writer", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while True:
            job = self._q.get()
            if job is None:
                return
            if self._error is None:
                try:
                    self._write(job)
                except BaseException as exc:  # raised again in the importing thread
                    self._error = exc

    def _check(self) -> None:
        if self._error is not None:
            raise self._error

    def put(self, job: T) -> None:
        self._check()
        self._q.put(job)

    def close(self) -> None:
        self._q.put(None)
        self._thread.join()
        self._check()


