"""The group-commit writer holds back while reports run (``GroupCommitWriter.reading``), boundedly:
a report that never ends cannot stop ingest, and a finished report releases the writer at once."""

from __future__ import annotations

import json
import threading

import pyarrow as pa
from fastapi.testclient import TestClient

import leadstats
from leadstats.api import create_app
from leadstats.api.writer import GroupCommitWriter
from leadstats.settings import Settings


def _lines(prefix: str, n: int) -> pa.Array:
    return pa.array(
        [json.dumps({"event_id": f"{prefix}-{i}", "event_type": "bot", "occurred_at": "2026-03-01T00:00:00Z"})
         for i in range(n)]
    )


def test_a_report_that_never_ends_does_not_stop_ingest() -> None:
    ls = leadstats.connect(":memory:")
    writer = GroupCommitWriter(ls, yield_s=0.05)
    try:
        with writer.reading():  # a report "running" for the whole test
            assert writer.reads_in_flight == 1
            results = [writer.submit(_lines(f"r{k}", 10)) for k in range(3)]
            assert [f.result(timeout=60).accepted for f in results] == [10, 10, 10]
        assert writer.reads_in_flight == 0
        assert ls.count() == 30
    finally:
        writer.close()
        ls.close()


def test_a_finished_report_releases_the_writer_at_once() -> None:
    ls = leadstats.connect(":memory:")
    writer = GroupCommitWriter(ls, yield_s=3600.0)  # only the end of the read can release it in time
    writer.start()
    try:
        writer.submit(_lines("warm", 1)).result(timeout=60)
        entered, release = threading.Event(), threading.Event()

        def report() -> None:
            with writer.reading():
                entered.set()
                release.wait(60)

        reader = threading.Thread(target=report)
        reader.start()
        assert entered.wait(30)
        future = writer.submit(_lines("held", 5))
        release.set()
        reader.join(30)
        assert future.result(timeout=60).accepted == 5
    finally:
        writer.close()
        ls.close()


def test_report_routes_mark_their_reads_and_answer_the_same() -> None:
    ls = leadstats.connect(":memory:")
    app = create_app(ls, Settings(read_tokens=("r",), ingest_tokens=("i",), rate_limit_per_minute=0))
    seen: list[int] = []
    writer = app.state.writer
    original = writer.reading

    def spying():  # type: ignore[no-untyped-def]
        seen.append(1)
        return original()

    writer.reading = spying
    with TestClient(app) as http:
        body = [{"event_id": "a", "event_type": "primary", "occurred_at": "2026-03-01T10:00:00Z", "project": "P"}]
        assert http.post("/api/v1/events", json=body, headers={"Authorization": "Bearer i"}).json()["accepted"] == 1
        resp = http.get("/api/v1/report", params={"from": "2026-03-01", "to": "2026-03-02", "by": "project"},
                        headers={"Authorization": "Bearer r"})
        assert resp.status_code == 200 and resp.json()["totals"]["received"] == 1
        csv = http.get("/api/v1/report", params={"from": "2026-03-01", "to": "2026-03-02", "format": "csv"},
                       headers={"Authorization": "Bearer r"})
        assert csv.status_code == 200
    assert len(seen) == 2 and writer.reads_in_flight == 0


def test_validator_waits_until_the_committer_took_the_previous_group() -> None:
    import queue

    from leadstats.api.writer import _wait_until_taken

    checked: queue.Queue[object] = queue.Queue(maxsize=2)
    _wait_until_taken(checked)  # nothing waiting: returns at once
    checked.put("validated group")
    waiter = threading.Thread(target=_wait_until_taken, args=(checked,))
    waiter.start()
    waiter.join(0.2)
    assert waiter.is_alive()  # still held: the committer has not taken the group
    assert checked.get() == "validated group"
    waiter.join(30)
    assert not waiter.is_alive()


def test_many_concurrent_requests_all_answered_exactly() -> None:
    ls = leadstats.connect(":memory:")
    writer = GroupCommitWriter(ls)
    try:
        futures = [writer.submit(_lines(f"c{k % 7}", 20)) for k in range(40)]  # 7 distinct id sets
        results = [f.result(timeout=120) for f in futures]
        assert sum(r.accepted for r in results) == 7 * 20
        assert sum(r.duplicates for r in results) == 33 * 20
        assert ls.count() == 140
    finally:
        writer.close()
        ls.close()


def test_the_writer_threads_run_at_a_lower_cpu_priority_than_reports() -> None:
    """Linux schedules threads one by one: the validator and committer (and the DuckDB threads the
    validator starts from its stage) yield the cores to request and report threads."""
    import os

    from leadstats.api.writer import BACKGROUND_NICE

    ls = leadstats.connect(":memory:")
    writer = GroupCommitWriter(ls)
    try:
        assert writer.submit(_lines("nice", 3)).result(timeout=60).accepted == 3  # both stages have run
        mine = os.getpriority(os.PRIO_PROCESS, threading.get_native_id())
        stages = writer._threads
        assert sorted(t.name for t in stages) == ["leadstats-commit", "leadstats-validate"]
        for t in stages:
            assert t.native_id is not None
            assert os.getpriority(os.PRIO_PROCESS, t.native_id) == min(19, mine + BACKGROUND_NICE), t.name
        assert mine == os.getpriority(os.PRIO_PROCESS, threading.get_native_id())  # the caller is untouched
    finally:
        writer.close()
        ls.close()
