"""Group commit: one writer turns many concurrent ingest requests into few transactions.

Each ``POST /api/v1/events`` hands its events (one JSON text each) to :class:`GroupCommitWriter` and
waits. Two threads form a pipeline:

1. the *validator* takes every request queued at that moment (up to ``max_group_events``) and validates
   them in one pass;
2. the *committer* takes every validated group waiting for it, appends the good rows of all of them to
   the store in one transaction, and only after that commit answers each request with its own counts.

So a 200 always means "on disk", N concurrent requests cost one validation and one commit instead of N
(the fixed cost of either, about 20-40 ms on a small machine, is what limits one transaction per
request), and group k+1 is validated while group k commits. There is still exactly one writer.

Per-request counts stay exact inside a group: rows are attributed back to their request by position
(the validator keeps input order), an id repeated inside the group is accepted for the first request
that sent it, and ids already stored are found with one semi-join before the append. Stores without
``execute`` (not DuckDB) fall back to one append per request, still on the committer thread.

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
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ..errors import StoreError
from ..ingest.validate import RecordError
from ..service import IngestResult, LeadStats

log = logging.getLogger("leadstats.writer")




@dataclass(frozen=True)
class CommitStats:
    """What one group commit did, for metrics and benchmarks (``seconds``: append + commit)."""

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


@dataclass
class _Checked:
    """Validated requests: their good rows in request order, how many each owns, their rejections."""

    pending: list[_Pending]
    good: pa.Table
    counts: list[int]
    errors: list[list[RecordError]]
    events: int
    redacted: list[int] = field(default_factory=list)  # per request: records with a PII value replaced

    def split(self) -> list[_Checked]:
        out, start = [], 0
        redacted = self.redacted or [0] * len(self.pending)
        for p, count, errs, red in zip(self.pending, self.counts, self.errors, redacted, strict=True):
            out.append(_Checked([p], self.good.slice(start, count), [count], [errs], len(p.lines), [red]))
            start += count
        return out


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
        self._intake: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._closed = False
        self._threads: list[threading.Thread] = []
        self._queued_events = 0
        self.commits = 0

    # -- lifecycle -------------------------------------------------------------------------------
    def start(self) -> None:
        """Start the pipeline (idempotent; ``submit`` starts it too; again after ``close``)."""
        with self._lock:
            if any(t.is_alive() for t in self._threads):
                return  # running, or still draining after close()
            self._closed = False
            self._intake = queue.SimpleQueue()
            checked: queue.Queue[Any] = queue.Queue(maxsize=2)  # validation runs at most 2 groups ahead
            self._threads = [
                threading.Thread(target=self._validate_loop, args=(self._intake, checked), daemon=True,
                                 name="leadstats-validate"),
                threading.Thread(target=self._commit_loop, args=(checked,), daemon=True, name="leadstats-commit"),
            ]  # fmt: skip
            for thread in self._threads:
                thread.start()

    def close(self, timeout: float | None = 60.0) -> None:
        """Refuse new requests, finish every queued one (the batch in flight included), stop."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            threads = list(self._threads)
            self._intake.put(_STOP)
        deadline = None if timeout is None else time.monotonic() + timeout
        for thread in threads:
            thread.join(None if deadline is None else max(0.0, deadline - time.monotonic()))
            if thread.is_alive():
                log.error("writer did not finish within %ss; pending requests were not answered", timeout)

    @property
    def running(self) -> bool:
        return any(t.is_alive() for t in self._threads)

    @property
    def queued_events(self) -> int:
        """Events waiting for validation (not counting groups being validated or committed)."""
        return self._queued_events

    # -- producer side ---------------------------------------------------------------------------
    def submit(self, lines: pa.Array) -> concurrent.futures.Future[IngestResult]:
        """Queue one request's events (JSON texts); the future resolves after its group is durable."""
        future: concurrent.futures.Future[IngestResult] = concurrent.futures.Future()
        if not self._threads:
            self.start()  # apps used without their lifespan (plain TestClient calls) still ingest
        with self._lock:
            if self._closed:
                raise StoreError("the server is shutting down; retry shortly")
            self._queued_events += len(lines)
            self._intake.put(_Pending(lines, future))
        return future

    # -- stage 1: validate -----------------------------------------------------------------------
    def _validate_loop(self, intake: queue.SimpleQueue[Any], checked: queue.Queue[Any]) -> None:
        try:  # warm the validator (country table, query plan) so the first request is not slow
            self.ls.validator.validate_json_lines(pa.array(["{}"]), pa.array([0], pa.int64()))
        except Exception:
            log.exception("validator warm-up failed")
        stopping = False
        while not stopping:
            item = intake.get()
            if item is _STOP:
                break
            group, size, stopping = _gather(intake, item, lambda p: len(p.lines), self.max_group_events)
            with self._lock:
                self._queued_events -= size
            live = [p for p in group if p.future.set_running_or_notify_cancel()]
            for part in self._checked_parts(live):
                checked.put(part)
        checked.put(_STOP)

    def _checked_parts(self, group: list[_Pending]) -> list[_Checked]:
        if not group:
            return []
        try:
            return [self._validate(group)]
        except Exception as exc:
            if len(group) == 1:
                log.exception("validation failed")
                group[0].future.set_exception(exc)
                return []
        log.warning("validating a group of %d requests failed; validating them one by one", len(group))
        return [part for p in group for part in self._checked_parts([p])]

    def _validate(self, group: list[_Pending]) -> _Checked:
        sizes = [len(p.lines) for p in group]
        offsets = [int(x) for x in np.cumsum([0, *sizes[:-1]])]
        lines = group[0].lines if len(group) == 1 else pa.concat_arrays([p.lines.cast(pa.string()) for p in group])
        rows = pa.array(np.arange(sum(sizes), dtype=np.int64))
        result = self.ls.validator.validate_json_lines(lines, rows)
        errors: list[list[RecordError]] = [[] for _ in group]
        for err in result.errors:
            i = bisect.bisect_right(offsets, err.row) - 1
            errors[i].append(RecordError(err.row - offsets[i], err.event_id, err.field, err.message))
        counts = [size - len(errs) for size, errs in zip(sizes, errors, strict=True)]
        if result.good.num_rows != sum(counts):  # the attribution below relies on it
            raise StoreError(f"validator returned {result.good.num_rows} rows for {sum(counts)} good records")
        redacted = [0] * len(group)
        for row in result.redacted_rows:
            redacted[bisect.bisect_right(offsets, row) - 1] += 1
        return _Checked(group, result.good, counts, errors, sum(sizes), redacted)

    # -- stage 2: commit -------------------------------------------------------------------------
    def _commit_loop(self, checked: queue.Queue[Any]) -> None:
        stopping = False
        while not stopping:
            item = checked.get()
            if item is _STOP:
                break
            parts, _size, stopping = _gather(checked, item, lambda c: c.events, self.max_group_events)
            merged = parts[0] if len(parts) == 1 else _merge(parts)
            self._commit_and_answer(merged)

    def _commit_and_answer(self, group: _Checked) -> None:
        started = time.perf_counter()
        try:
            results = self._commit(group)
        except Exception as exc:
            if len(group.pending) == 1:
                log.exception("ingest failed")
                group.pending[0].future.set_exception(exc)
                return
            log.warning("group commit of %d requests failed (%s); retrying them one by one", len(group.pending), exc)
            for part in group.split():
                self._commit_and_answer(part)
            return
        self.commits += 1
        for p, result, red in zip(group.pending, results, group.redacted or [0] * len(results), strict=True):
            result.redacted = red
            p.future.set_result(result)
        if self.on_commit is not None:
            self.on_commit(
                CommitStats(
                    requests=len(group.pending),
                    events=group.events,
                    accepted=sum(r.accepted for r in results),
                    duplicates=sum(r.duplicates for r in results),
                    rejected=sum(len(r.rejected) for r in results),
                    seconds=time.perf_counter() - started,
                )
            )

    def _commit(self, group: _Checked) -> list[IngestResult]:
        """Append a validated group in one transaction; one IngestResult per request."""
        good, counts, errors = group.good, group.counts, group.errors
        if len(group.pending) == 1:
            appended = self.ls.store.append(good)
            return [IngestResult(appended.accepted, appended.duplicates, errors[0])]

        existing = self._existing_ids(good.column("event_id"))
        if existing is None:  # no cheap membership test on this backend: one transaction per request
            out = []
            for part in group.split():
                appended = self.ls.store.append(part.good)
                out.append(IngestResult(appended.accepted, appended.duplicates, part.errors[0]))
            return out

        owner = np.repeat(np.arange(len(counts)), counts)
        new = self._first_occurrences(good.column("event_id"))
        if existing:
            stored = pc.is_in(good.column("event_id"), value_set=pa.array(sorted(existing), pa.string()))
            new &= ~stored.to_numpy(zero_copy_only=False)
        accepted = np.bincount(owner[new], minlength=len(counts)).astype(np.int64)
        appended = self.ls.store.append(good.filter(pa.array(new)))
        shortfall = int(accepted.sum()) - appended.accepted
        if shortfall:  # another writer in this process stored some of these ids in between
            log.warning("group commit: %d ids were stored concurrently by another writer", shortfall)
            for i in reversed(range(len(counts))):
                take = min(shortfall, int(accepted[i]))
                accepted[i] -= take
                shortfall -= take
        return [
            IngestResult(int(acc), count - int(acc), errs)
            for acc, count, errs in zip(accepted, counts, errors, strict=True)
        ]

    def _existing_ids(self, ids: pa.ChunkedArray) -> set[str] | None:
        """Which of ``ids`` the store already holds, or None when the backend cannot say."""
        stored_ids = getattr(self.ls.store, "stored_ids", None)
        return None if stored_ids is None else stored_ids(ids.to_pylist())

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


def _gather(q: Any, first: Any, size_of: Callable[[Any], int], limit: int) -> tuple[list[Any], int, bool]:
    """``first`` plus whatever is already queued, up to ``limit`` events; True when ``_STOP`` was met
    (the caller finishes this group, then stops: nothing is queued after ``_STOP``)."""
    group = [first]
    size = size_of(first)
    while size < limit:
        try:
            nxt = q.get_nowait()
        except queue.Empty:
            break
        if nxt is _STOP:
            return group, size, True
        group.append(nxt)
        size += size_of(nxt)
    return group, size, False


def _merge(parts: list[_Checked]) -> _Checked:
    return _Checked(
        [p for part in parts for p in part.pending],
        pa.concat_tables([part.good for part in parts]),
        [c for part in parts for c in part.counts],
        [e for part in parts for e in part.errors],
        sum(part.events for part in parts),
        [r for part in parts for r in (part.redacted or [0] * len(part.pending))],
    )
