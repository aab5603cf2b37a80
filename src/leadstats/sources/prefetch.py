"""Produce an iterator's items in a second thread, a bounded number ahead of the consumer: reading and
checking the next chunk of a file, or the next pages of a D1 table, overlaps storing this one (DuckDB,
Arrow and SQLite release the GIL while they work)."""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterator
from typing import TypeVar

_T = TypeVar("_T")
_END = object()


def prefetch(items: Iterator[_T], depth: int = 1, name: str = "leadstats-prefetch") -> Iterator[_T]:
    """``items``, produced by a thread named ``name`` up to ``depth`` ahead of the caller. An exception
    in the producer is raised here; when the caller stops early, the producer stops at its next item
    and closes ``items`` (a generator's ``finally`` blocks, e.g. closing a file, run in that thread)."""
    channel: queue.Queue[tuple[bool, object]] = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def put(entry: tuple[bool, object]) -> bool:
        while not stop.is_set():
            try:
                channel.put(entry, timeout=0.05)
                return True
            except queue.Full:
                continue
        return False

    def produce() -> None:
        try:
            for item in items:
                if not put((True, item)):
                    return
            put((True, _END))
        except BaseException as exc:  # noqa: BLE001 - handed to the consumer, which raises it
            put((False, exc))
        finally:
            close = getattr(items, "close", None)
            if close is not None:
                close()

    worker = threading.Thread(target=produce, name=name, daemon=True)
    worker.start()
    try:
        while True:
            ok, item = channel.get()
            if not ok:
                assert isinstance(item, BaseException)
                raise item
            if item is _END:
                return
            yield item  # type: ignore[misc]
    finally:
        stop.set()
        worker.join()
