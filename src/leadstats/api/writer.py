"""Group commit: one writer turns many concurrent ingest requests into few transactions.

Each ``POST /api/v1/events`` hands its events (one JSON text each) to :class:`GroupCommitWriter` and
waits. Two threads form a pipeline:

1. the *validator* takes every request queued at that moment (up to ``max_group_events``) and validates
   them in one pass; it starts a pass only once the committer has taken the previous one, so it stays
   one group ahead and requests arriving while it waits share the next pass;
2. the *committer* takes every validated group waiting for it, appends the good rows of all of them to
   the store in one transaction, and only after that commit answers each request with its own counts.

So a 200 always means "on disk", N concurrent requests cost one validation and one commit instead of N
(the fixed cost of either, about 20-40 ms on a small machine, is what limits one transaction per
request), and group k+1 is validated while group k commits. There is still exactly one writer.

The ingest rules themselves are not here: the validator stage calls ``LeadStats.check_json`` (one part
per request) and the committer ``LeadStats.commit``, the one pipeline every writer uses. That pipeline
keeps per-request counts exact inside a group: rows are attributed back to their request by position,
an id repeated inside the group is accepted for the first request that sent it, and ids already stored
are found with one look-up before the single append.

Requests on their way in join the group: the ingest route holds ``receiving()`` from the moment it
starts reading a body until it has submitted it, and the validator, before it starts a pass, waits up
to ``gather_s`` (20 ms) while any request is in that state. A body takes a few milliseconds to arrive
and be split; the fixed cost of a validation pass and of a commit (planning DuckDB's statements: most of
a 1,000-event pass) is then paid once for every request that was already on its way, not once for the
first and again for the rest. With nothing arriving there is no wait.

Reads come first: while a report is running (``reading()``, entered by the report routes), each stage
waits up to ``yield_s`` (20 ms) before it starts its next group, so a report gets the cores instead of
queueing behind validation and commit work. The wait is bounded, so ingest keeps moving under a
steady stream of reports, and requests arriving meanwhile join the next, larger group. Both stages also
run at a lower CPU priority (``BACKGROUND_NICE``; Linux schedules threads one by one), and so do the
DuckDB threads the validator starts from its stage: a report's threads get the cores first.

If a group fails as a whole, each of its requests is retried alone, so one poisoned request cannot
fail its neighbours. ``close()`` stops taking requests and finishes everything already queued: the
graceful-shutdown guarantee.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import logging
import os
import queue
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pyarrow as pa

from ..errors import StoreError
from ..ingest.pipeline import CheckedBatch
from ..service import IngestResult, LeadStats

log = logging.getLogger("leadstats.writer")




#: how much lower (``nice``) the writer's threads run than the request and report threads
BACKGROUND_NICE = 10


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


_STOP = object()


class _InFlight:
    """How many of something are in progress (reports running, request bodies arriving), and a bounded
    wait for that count to drop to zero."""

    def __init__(self) -> None:
        self._count = 0
        self._zero = threading.Condition(threading.Lock())

    @contextlib.contextmanager
    def held(self) -> Iterator[None]:
        with self._zero:
            self._count += 1
        try:
            yield
        finally:
            with self._zero:
                self._count -= 1
                if not self._count:
                    self._zero.notify_all()

    @property
    def count(self) -> int:
        return self._count

    def wait_clear(self, limit_s: float) -> None:
        """Return once nothing is in progress, or after ``limit_s`` at the most (at once when idle)."""
        if not self._count or limit_s <= 0:
            return
        deadline = time.monotonic() + limit_s
        with self._zero:
            while self._count:
                left = deadline - time.monotonic()
                if left <= 0:
                    return
                self._zero.wait(left)


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
        yield_s: float = 0.02,
        gather_s: float = 0.02,
    ) -> None:
        self.ls = ls
        self.max_group_events = max_group_events
        self.yield_s = yield_s
        self.gather_s = gather_s
        self._arrivals = _InFlight()
        self._reads = _InFlight()
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
            checked: queue.Queue[Any] = queue.Queue(maxsize=2)  # see _wait_until_taken
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

    # -- reads first -----------------------------------------------------------------------------
    def reading(self) -> contextlib.AbstractContextManager[None]:
        """Mark a report as running: the writer's stages hold back (up to ``yield_s``) meanwhile."""
        return self._reads.held()

    @property
    def reads_in_flight(self) -> int:
        return self._reads.count

    def _yield_to_reads(self) -> None:
        self._reads.wait_clear(self.yield_s)

    # -- requests on their way in ----------------------------------------------------------------
    def receiving(self) -> contextlib.AbstractContextManager[None]:
        """Mark a request whose body is being read and split: a validation pass about to start waits
        (up to ``gather_s``) for it to be submitted, so it joins that pass. Submit inside the block."""
        return self._arrivals.held()

    @property
    def arriving(self) -> int:
        """Requests inside ``receiving()``: being read or split, not yet submitted."""
        return self._arrivals.count

    def _wait_for_arrivals(self) -> None:
        self._arrivals.wait_clear(self.gather_s)

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
        _background_priority()
        try:  # warm the validator (country table, query plan) so the first request is not slow
            self.ls.warm_up()
        except Exception:
            log.exception("validator warm-up failed")
        stopping = False
        while not stopping:
            item = intake.get()
            if item is _STOP:
                break
            self._yield_to_reads()
            _wait_until_taken(checked)
            self._wait_for_arrivals()
            group, size, stopping = _gather(intake, item, lambda p: len(p.lines), self.max_group_events)
            with self._lock:
                self._queued_events -= size
            live = [p for p in group if p.future.set_running_or_notify_cancel()]
            for part in self._checked_parts(live):
                checked.put(part)
        checked.put(_STOP)

    def _checked_parts(self, group: list[_Pending]) -> list[tuple[list[_Pending], CheckedBatch]]:
        if not group:
            return []
        try:
            return [(group, self.ls.check_json([p.lines for p in group]))]
        except Exception as exc:
            if len(group) == 1:
                log.exception("validation failed")
                group[0].future.set_exception(exc)
                return []
        log.warning("validating a group of %d requests failed; validating them one by one", len(group))
        return [part for p in group for part in self._checked_parts([p])]

    # -- stage 2: commit -------------------------------------------------------------------------
    def _commit_loop(self, checked: queue.Queue[Any]) -> None:
        _background_priority()
        stopping = False
        while not stopping:
            item = checked.get()
            if item is _STOP:
                break
            self._yield_to_reads()
            parts, _size, stopping = _gather(checked, item, lambda c: c[1].events, self.max_group_events)
            pending = [p for group, _ in parts for p in group]
            self._commit_and_answer(pending, CheckedBatch.merge([batch for _, batch in parts]))

    def _commit_and_answer(self, pending: list[_Pending], group: CheckedBatch) -> None:
        started = time.perf_counter()
        try:
            results = self.ls.commit(group)
        except Exception as exc:
            if len(pending) == 1:
                log.exception("ingest failed")
                pending[0].future.set_exception(exc)
                return
            log.warning("group commit of %d requests failed (%s); retrying them one by one", len(pending), exc)
            for p, part in zip(pending, group.split(), strict=True):
                self._commit_and_answer([p], part)
            return
        self.commits += 1
        # Counted before anyone is answered: a client that reads /metrics after its 200 sees its commit.
        if self.on_commit is not None:
            try:
                self.on_commit(
                    CommitStats(
                        requests=len(pending),
                        events=group.events,
                        accepted=sum(r.accepted for r in results),
                        duplicates=sum(r.duplicates for r in results),
                        rejected=sum(len(r.rejected) for r in results),
                        seconds=time.perf_counter() - started,
                    )
                )
            except Exception:  # the events are durable: a failing observer must not withhold the answers
                log.exception("commit observer failed")
        for p, result in zip(pending, results, strict=True):
            p.future.set_result(result)


def _background_priority(step: int = BACKGROUND_NICE) -> None:
    """Lower the calling thread's CPU priority by ``step`` (Linux schedules threads one by one; elsewhere,
    or when not allowed, nothing happens). The writer's stages run at it, and so do the DuckDB worker
    threads the validator starts from its stage (threads inherit it), so on a busy machine a report's
    threads get the cores first while ingest still gets every cycle they leave."""
    with contextlib.suppress(AttributeError, OSError):
        tid = threading.get_native_id()
        os.setpriority(os.PRIO_PROCESS, tid, os.getpriority(os.PRIO_PROCESS, tid) + step)


def _wait_until_taken(checked: queue.Queue[Any]) -> None:
    """Block while a validated group still waits for the committer. Validating now would only make a
    second, smaller group that waits too; requests arriving meanwhile join this one instead, so one
    validation pass (whose fixed cost is most of a small one) covers more requests."""
    with checked.not_full:  # notified by the committer's get(); shares the queue's mutex
        while checked.queue:
            checked.not_full.wait()


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
