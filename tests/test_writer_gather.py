"""The group-commit writer's cost-sharing mechanisms, against a real DuckDB file: a validation pass waits
for requests already on their way in (``receiving()``), and a group commit learns which ids were stored
from the append itself (``AppendResult.stored``) instead of a look-up before it."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pyarrow as pa
from fastapi.testclient import TestClient

import leadstats
from leadstats.api import create_app
from leadstats.api.writer import CommitStats, GroupCommitWriter
from leadstats.settings import Settings
from leadstats.store.duckdb import DuckDBStore

INGEST = "ingest-secret-gather"
ING = {"Authorization": f"Bearer {INGEST}"}


def lines(prefix: str, n: int) -> pa.Array:
    return pa.array([json.dumps({"event_id": f"{prefix}-{i}", "event_type": "primary",
                                 "occurred_at": "2026-03-01T10:00:00Z"}) for i in range(n)])


def test_a_pass_waits_for_a_request_being_received(tmp_path: Path) -> None:
    """A request inside ``receiving()`` when a pass is about to start joins that pass: one commit for
    both. (gather_s is an hour: only the end of ``receiving()`` can let the pass start in time.)"""
    ls = leadstats.connect(str(tmp_path / "g.duckdb"), create=True)
    stats: list[CommitStats] = []
    writer = GroupCommitWriter(ls, gather_s=3600.0, on_commit=stats.append)
    try:
        assert writer.submit(lines("warm", 1)).result(timeout=60).accepted == 1  # warmed up and idle
        with writer.receiving():
            assert writer.arriving == 1
            first = writer.submit(lines("a", 5))
            time.sleep(0.3)  # without the wait, the validator takes "a" alone meanwhile
            assert not first.done()
            second = writer.submit(lines("b", 7))
        assert (first.result(timeout=60).accepted, second.result(timeout=60).accepted) == (5, 7)
    finally:
        writer.close()
        ls.close()
    assert writer.arriving == 0
    assert [(s.requests, s.events) for s in stats] == [(1, 1), (2, 12)]


def test_nothing_arriving_means_no_wait(tmp_path: Path) -> None:
    """With nothing inside ``receiving()`` a pass starts at once, however long gather_s is."""
    ls = leadstats.connect(str(tmp_path / "n.duckdb"), create=True)
    writer = GroupCommitWriter(ls, gather_s=3600.0)
    try:
        for r in range(3):
            assert writer.submit(lines(f"r{r}", 2)).result(timeout=60).accepted == 2
    finally:
        writer.close()
        ls.close()


def test_the_ingest_route_leaves_receiving_on_every_outcome(tmp_path: Path) -> None:
    """A request that fails (bad body, too many events) or succeeds leaves ``receiving()``: a count left
    behind would make every later pass wait."""
    ls = leadstats.connect(str(tmp_path / "r.duckdb"), create=True)
    settings = Settings(ingest_tokens=(INGEST,), read_tokens=(), rate_limit_per_minute=0, max_events_per_request=3)
    with TestClient(create_app(ls, settings)) as client:
        writer = client.app.state.writer  # type: ignore[attr-defined]
        ok = [{"event_id": "x1", "event_type": "bot", "occurred_at": "2026-03-01T00:00:00Z"}]
        assert client.post("/api/v1/events", json=ok, headers=ING).json()["accepted"] == 1
        assert client.post("/api/v1/events", content=b"[{", headers={**ING, "Content-Type": "application/json"}
                           ).status_code == 400
        assert client.post("/api/v1/events", json=ok * 4, headers=ING).status_code == 413
        assert client.post("/api/v1/events", json=[], headers=ING).status_code == 200
        assert writer.arriving == 0
    ls.close()


def test_append_tells_which_ids_were_stored_before(tmp_path: Path) -> None:
    """``AppendResult.stored``: exactly the batch's ids already in the store, from inside the append's
    transaction (the group commit attributes duplicates with it)."""
    store = DuckDBStore(str(tmp_path / "s.duckdb"))
    ls = leadstats.LeadStats(store)
    try:
        first = ls.check_json([lines("s", 4)]).good
        assert store.append(first).stored == frozenset()
        again = ls.check_json([lines("s", 6)]).good  # s-0..s-3 stored, s-4 and s-5 new
        result = store.append(again)
        assert (result.accepted, result.duplicates) == (2, 4)
        assert result.stored == frozenset({"s-0", "s-1", "s-2", "s-3"})
        all_old = store.append(ls.check_json([lines("s", 3)]).good)  # every id stored: the short path
        assert (all_old.accepted, all_old.stored) == (0, frozenset({"s-0", "s-1", "s-2"}))
    finally:
        store.close()


def test_group_commit_counts_stored_ids_per_request(tmp_path: Path) -> None:
    """Three requests in one commit over ids partly stored before and partly repeated between requests:
    each request's counts are exact (the stored ids come from the append, not a look-up before it)."""
    ls = leadstats.connect(str(tmp_path / "c.duckdb"), create=True)
    try:
        ls.ingest_json_texts(lines("p", 5).to_pylist())  # p-0..p-4 stored
        parts = [lines("p", 8), lines("p", 10), lines("q", 2)]  # p-5..p-7 new in part 0, p-8, p-9 in part 1
        results = ls.commit(ls.check_json(parts))
        assert [(r.accepted, r.duplicates) for r in results] == [(3, 5), (2, 8), (2, 0)]
        assert ls.count() == 5 + 3 + 2 + 2
    finally:
        ls.close()


def test_a_commit_is_counted_before_its_requests_are_answered(tmp_path: Path) -> None:
    """The commit observer (the /metrics counters) runs before the futures resolve, so a client that
    reads /metrics after its 200 always sees its own commit; an observer that fails withholds nothing."""
    ls = leadstats.connect(str(tmp_path / "m.duckdb"), create=True)
    seen: list[bool] = []
    futures: list[object] = []

    def observe(stats: CommitStats) -> None:
        seen.append(futures[-1].done())  # type: ignore[attr-defined]
        raise RuntimeError("observer broke")

    writer = GroupCommitWriter(ls, on_commit=observe)
    try:
        for i in range(3):
            futures.append(future := writer.submit(lines(f"m{i}", 2)))
            assert future.result(timeout=60).accepted == 2
    finally:
        writer.close()
        ls.close()
    assert seen == [False, False, False]
