"""Group commit: one writer thread turns many concurrent ingest requests into one transaction.

Each ``POST /api/v1/events`` hands its events (one JSON text each) to :class:`GroupCommitWriter` and
waits. The writer thread takes every request queued at that moment (up to ``max_group_events``),
validates them in one pass, appends the good rows of all of them to the store in one transaction, and
only after that commit answers each request with its own counts. So a 200 always means "on disk", and
N concurrent requests cost one validation and one commit instead of N: the fixed cost of either
(about 20 ms and 30 ms on a small machine) is what limits a one-request-per-transaction design.

Per-request counts stay exact inside a group: rows are attributed back to their request by position
(the validator keeps input order), an id repeated inside the group is accepted for the first request
that sent it, and ids already stored are found with one semi-join before the append. Stores without
``execute`` (not DuckDB) fall back to one append per request, still on this one thread.

If a group fails as a whole, each of its requests is retried alone, so one poisoned request cannot
fail its neighbours. ``close()`` stops taking requests and finishes everything already queued: the
graceful-shutdown guarantee.
"""

from __future__ import annotations

import bisect
import concurrent.futures
import logging
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ..errors import StoreError
from ..ingest.validate import RecordError
from ..service import IngestResult, LeadStats

log = logging.getLogger("leadstats.writer")

_EXISTING_SQL = """
SELECT e.event_id FROM events e
SEMI JOIN (SELECT hash(x) AS h FROM (SELECT unnest($1::VARCHAR[]) AS x)) n ON e.id_hash = n.h"""


@dataclass(frozen=True)
class CommitStats:
    """What one group commit did, for metrics and benchmarks."""

    requests: int
    events: int
    accepted: int
    duplicates: int
    rejected: int
    seconds: float


@dataclass
class _Pending:
    lines: pa.Array
    future: concurrent.futures.Future[IngestResult]


_STOP = object()


class GroupCommitWriter:
    """The single writer of an API process. Thread-safe ``submit``; results arrive as futures.

    >>> import leadstats, pyarrow as pa
    >>> w = GroupCommitWriter(leadstats.connect(":memory:"))
    >>> w.submit(pa.array(['{"event_id": "a", "event_type": "bot", "occurred_at": "2026-03-01T00:00:00Z"}'])
    ...          ).result(timeout=30).accepted
    1
    >>> w.close()
    """

    def __init__(
        self,
        ls: LeadStats,
        *,
        max_group_events: int = 50_000,
        on_commit: Callable[[CommitStats], None] | None = None,
    ) -> None:
        self.ls = ls
        self.max_group_events = max_group_events
        self.on_commit = on_commit
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._closed = False
        self._thread: threading.Thread | None = None
        self._queued_events = 0
        self.commits = 0

    # -- lifecycle -------------------------------------------------------------------------------
    def start(self) -> None:
        """Start the writer thread (idempotent; ``submit`` starts it too; again after ``close``)."""
        with self._lock:
            if self._thread is not None and self._thread.is_alive():
                return  # running, or still draining after close()
            self._closed = False
            self._queue = queue.SimpleQueue()
            self._thread = threading.Thread(target=self._run, args=(self._queue,), name="leadstats-writer", daemon=True)
            self._thread.start()

    def close(self, timeout: float | None = 60.0) -> None:
        """Refuse new requests, finish every queued one (the batch in flight included), stop."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            thread = self._thread
            self._queue.put(_STOP)
        if thread is not None:
            thread.join(timeout)
            if thread.is_alive():
                log.error("writer did not finish within %ss; pending requests were not answered", timeout)

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    @property
    def queued_events(self) -> int:
        """Events waiting for the writer (not counting the group being committed)."""
        return self._queued_events

    # -- producer side ---------------------------------------------------------------------------
    def submit(self, lines: pa.Array) -> concurrent.futures.Future[IngestResult]:
        """Queue one request's events (JSON texts); the future resolves after its group is durable."""
        future: concurrent.futures.Future[IngestResult] = concurrent.futures.Future()
        if self._thread is None:
            self.start()  # apps used without their lifespan (plain TestClient calls) still ingest
        with self._lock:
            if self._closed:
                raise StoreError("the server is shutting down; retry shortly")
            self._queued_events += len(lines)
            self._queue.put(_Pending(lines, future))
        return future

    # -- writer thread ---------------------------------------------------------------------------
    def _run(self, requests: queue.SimpleQueue[Any]) -> None:
        try:  # warm the validator (country table, query plan) so the first request is not slow
            self.ls.validator.validate_json_lines(pa.array(["{}"]), pa.array([0], pa.int64()))
        except Exception:
            log.exception("validator warm-up failed")
        stopping = False
        while not stopping:
            item = requests.get()
            if item is _STOP:
                break
            group: list[_Pending] = [item]
            size = len(item.lines)
            while size < self.max_group_events:
                try:
                    nxt = requests.get_nowait()
                except queue.Empty:
                    break
                if nxt is _STOP:
                    stopping = True  # finish this group, then stop: nothing can be queued after _STOP
                    break
                group.append(nxt)
                size += len(nxt.lines)
            with self._lock:
                self._queued_events -= size
            self._commit_group(group)

    def _commit_group(self, group: list[_Pending]) -> None:
        live = [p for p in group if p.future.set_running_or_notify_cancel()]
        if not live:
            return
        started = time.perf_counter()
        try:
            results = self._write(live)
        except Exception as exc:  # isolate: retry one by one so one bad request fails alone
            if len(live) == 1:
                log.exception("ingest failed")
                live[0].future.set_exception(exc)
                return
            log.warning("group commit of %d requests failed (%s); retrying them one by one", len(live), exc)
            for p in live:
                try:
                    p.future.set_result(self._write([p])[0])
                except Exception as one_exc:
                    log.exception("ingest failed")
                    p.future.set_exception(one_exc)
            return
        self.commits += 1
        for p, result in zip(live, results, strict=True):
            p.future.set_result(result)
        if self.on_commit is not None:
            self.on_commit(
                CommitStats(
                    requests=len(live),
                    events=sum(len(p.lines) for p in live),
                    accepted=sum(r.accepted for r in results),
                    duplicates=sum(r.duplicates for r in results),
                    rejected=sum(len(r.rejected) for r in results),
                    seconds=time.perf_counter() - started,
                )
            )

    def _write(self, group: list[_Pending]) -> list[IngestResult]:
        """Validate and append a group in one transaction; one IngestResult per request."""
        sizes = [len(p.lines) for p in group]
        offsets = list(np.cumsum([0, *sizes[:-1]]))
        lines = pa.concat_arrays([p.lines.cast(pa.string()) for p in group]) if len(group) > 1 else group[0].lines
        rows = pa.array(np.arange(sum(sizes), dtype=np.int64))
        checked = self.ls.validator.validate_json_lines(lines, rows)
        errors: list[list[RecordError]] = [[] for _ in group]
        for err in checked.errors:
            i = bisect.bisect_right(offsets, err.row) - 1
            errors[i].append(RecordError(err.row - int(offsets[i]), err.event_id, err.field, err.message))
        good_counts = [size - len(errs) for size, errs in zip(sizes, errors, strict=True)]
        good = checked.good  # in input order, so request i owns the next good_counts[i] rows
        if good.num_rows != sum(good_counts):
            raise StoreError(f"validator returned {good.num_rows} rows for {sum(good_counts)} good records")

        if len(group) == 1:
            appended = self.ls.store.append(good)
            return [IngestResult(appended.accepted, appended.duplicates, errors[0])]

        existing = self._existing_ids(good.column("event_id"))
        if existing is None:  # no cheap membership test on this backend: one transaction per request
            out, start = [], 0
            for count, errs in zip(good_counts, errors, strict=True):
                appended = self.ls.store.append(good.slice(start, count))
                out.append(IngestResult(appended.accepted, appended.duplicates, errs))
                start += count
            return out

        owner = np.repeat(np.arange(len(group)), good_counts)
        new = self._first_occurrences(good.column("event_id"))
        if existing:
            stored = pc.is_in(good.column("event_id"), value_set=pa.array(sorted(existing), pa.string()))
            new &= ~stored.to_numpy(zero_copy_only=False)
        accepted = np.bincount(owner[new], minlength=len(group)).astype(np.int64)
        appended = self.ls.store.append(good.filter(pa.array(new)))
        shortfall = int(accepted.sum()) - appended.accepted
        if shortfall:  # another writer in this process stored some of these ids in between
            log.warning("group commit: %d ids were stored concurrently by another writer", shortfall)
            for i in reversed(range(len(group))):
                take = min(shortfall, int(accepted[i]))
                accepted[i] -= take
                shortfall -= take
        return [
            IngestResult(int(acc), count - int(acc), errs)
            for acc, count, errs in zip(accepted, good_counts, errors, strict=True)
        ]

    def _existing_ids(self, ids: pa.ChunkedArray) -> set[str] | None:
        """Which of ``ids`` the store already holds, or None when the backend cannot say cheaply."""
        execute = getattr(self.ls.store, "execute", None)
        if execute is None or self.ls.store.backend != "duckdb":
            return None
        wanted = ids.to_pylist()
        found = {row[0] for row in execute(_EXISTING_SQL, [wanted])}
        return found & set(wanted) if found else found

    @staticmethod
    def _first_occurrences(ids: pa.ChunkedArray) -> np.ndarray:
        """Boolean mask: True at the first position of each distinct id."""
        n = len(ids)
        mask = np.zeros(n, dtype=bool)
        if n:
            table = pa.table({"id": ids, "pos": pa.array(np.arange(n, dtype=np.int64))})
            firsts = table.group_by("id").aggregate([("pos", "min")]).column("pos_min")
            mask[firsts.to_numpy()] = True
        return mask
