"""Crash safety: a 200 means durable, and retrying is always safe.

Two clients send 20,000 events in 500-event batches, retrying each batch until it gets a 200, while the
test SIGKILLs ``leadstats serve`` three times and restarts it on the same DuckDB file. Afterwards the
store holds exactly 20,000 distinct events: nothing acknowledged was lost, nothing retried was doubled.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

import leadstats
from servers import INGEST, ServerProcess, auth, events

TOTAL, BATCH, CLIENTS = 20_000, 500, 2


@pytest.mark.slow
def test_sigkill_three_times_loses_and_doubles_nothing(tmp_path: Path) -> None:
    srv = ServerProcess(tmp_path / "crash.duckdb", tmp_path / "crash.log").start()
    batches = [events(f"k{b}", BATCH, f"2026-03-0{1 + b % 7}T0{b % 10}:00:00Z") for b in range(TOTAL // BATCH)]
    acked: list[dict[str, Any]] = []
    failures: list[int] = [0]
    deadline = time.monotonic() + 270  # only bounds a hang (the test timeout is 300 s): never reached when it works

    def client(mine: list[list[dict[str, Any]]]) -> None:
        with httpx.Client(base_url=srv.url, timeout=30.0) as http:
            for batch in mine:
                while time.monotonic() < deadline:
                    try:
                        resp = http.post("/api/v1/events", json=batch, headers=auth(INGEST))
                        if resp.status_code == 200:
                            acked.append(resp.json())
                            break
                        assert resp.status_code >= 500, resp.text  # only a dying server may refuse
                    except httpx.TransportError:
                        pass
                    failures[0] += 1
                    time.sleep(0.05)

    threads = [threading.Thread(target=client, args=(batches[c::CLIENTS],)) for c in range(CLIENTS)]
    for t in threads:
        t.start()
    kills = 0
    for threshold in (8, 18, 28):
        while len(acked) < threshold and time.monotonic() < deadline:
            time.sleep(0.01)
        srv.kill()  # SIGKILL: no shutdown, no checkpoint; requests in flight get a broken connection
        kills += 1
        srv.start()
    for t in threads:
        t.join(timeout=max(1.0, deadline - time.monotonic()))
    assert not any(t.is_alive() for t in threads), "clients did not finish in time"
    assert srv.stop() == 0

    assert kills == 3 and len(acked) == TOTAL // BATCH
    assert failures[0] >= kills  # the clients did see the server die and had to retry
    assert all(doc["accepted"] + doc["duplicates"] == BATCH and not doc["rejected"] for doc in acked)
    assert sum(doc["accepted"] for doc in acked) <= TOTAL  # a retry of a committed batch reports duplicates
    with leadstats.connect(str(tmp_path / "crash.duckdb")) as ls:
        rows, distinct = ls.store.execute("SELECT count(*), count(DISTINCT event_id) FROM events")[0]
        assert (rows, distinct) == (TOTAL, TOTAL)
        report = ls.report("2026-03-01", "2026-03-08", timezone="UTC")
        assert report.totals["received"] == TOTAL  # the rollup agrees with the rows
