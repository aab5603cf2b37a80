"""Greedy reports are bounded (issue 16.4): a row limit refused with the count, a time limit and a client
going away interrupt the engine, a memory limit, and a bounded number of reports at once."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import duckdb
import pytest
from fastapi.testclient import TestClient

import leadstats
from leadstats.api import create_app
from leadstats.errors import QueryError, QueryTimeout, SettingsError, StoreError
from leadstats.service import LeadStats
from leadstats.settings import Settings
from leadstats.store.base import ReportLimits
from leadstats.store.duckdb import DuckDBStore
from leadstats.store.durability import watchdog

READ = "limits-read"


def _events(n: int) -> list[dict[str, Any]]:
    return [{"event_id": f"p{i}", "event_type": "primary", "occurred_at": "2026-03-07T05:00:00Z",
             "project": f"Project {i:02d}"} for i in range(n)]


@pytest.fixture
def filled(tmp_path: Path) -> str:
    path = str(tmp_path / "store.duckdb")
    with leadstats.connect(path) as ls:
        ls.ingest(_events(12))
    return path


def test_row_limit_refuses_with_the_count_in_python_and_http(filled: str) -> None:
    settings = Settings(read_tokens=(READ,), rate_limit_per_minute=0, report_max_rows=10)
    ls = LeadStats(DuckDBStore(filled), settings)
    with pytest.raises(QueryError, match=r"12 rows, over the limit of 10"):
        ls.report("2026-03-07", "2026-03-08", dimensions=["project"])
    assert ls.report("2026-03-07", "2026-03-08", bucket="1d").totals["primary"] == 12  # small answers pass
    with TestClient(create_app(ls, settings)) as client:
        r = client.get("/api/v1/report", params={"from": "2026-03-07", "to": "2026-03-08", "by": "project"},
                       headers={"Authorization": f"Bearer {READ}"})
        assert r.status_code == 400
        assert r.json()["error"]["code"] == "invalid_query" and "12 rows" in r.json()["error"]["message"]
        assert client.get("/healthz").status_code == 200
    ls.close()


def test_watchdog_stops_a_statement_past_its_time_limit(tmp_path: Path) -> None:
    con = duckdb.connect(str(tmp_path / "x.duckdb"))
    endless = "SELECT sum(range) FROM range(100000000000)"  # minutes of work on any machine
    started = time.monotonic()
    with pytest.raises(duckdb.InterruptException), watchdog(con, ReportLimits(timeout_s=0.2)):
        con.execute(endless).fetchall()
    assert time.monotonic() - started < 60
    cancel = threading.Event()
    threading.Timer(0.2, cancel.set).start()
    with pytest.raises(duckdb.InterruptException), watchdog(con, ReportLimits(cancel=cancel)):
        con.execute(endless).fetchall()
    con.close()


def test_limits_name_the_setting_or_the_client() -> None:
    assert "LEADSTATS_REPORT_TIMEOUT_S" in ReportLimits(timeout_s=5).timed_out().message
    cancel = threading.Event()
    cancel.set()
    assert "client went away" in ReportLimits(cancel=cancel).timed_out().message
    assert isinstance(ReportLimits().timed_out(), QueryTimeout) and QueryTimeout.http_status == 503


def test_reports_at_once_are_bounded(filled: str) -> None:
    settings = Settings(report_concurrency=1, report_timeout_s=0.2)
    ls = LeadStats(DuckDBStore(filled), settings)
    assert ls._report_slots.acquire(timeout=1)  # a report holds the only slot
    try:
        with pytest.raises(StoreError, match="reports are running already"):
            ls.report("2026-03-07", "2026-03-08")
    finally:
        ls._report_slots.release()
    assert ls.report("2026-03-07", "2026-03-08").totals["primary"] == 12
    ls.close()


def test_memory_limit_is_applied_and_checked(filled: str) -> None:
    with leadstats.connect(filled, settings=Settings(memory_limit="256MB")) as ls:
        limit = ls.store.execute("SELECT current_setting('memory_limit')")  # type: ignore[attr-defined]
        assert limit[0][0].replace(" ", "").upper().startswith(("256", "244"))
    with pytest.raises(SettingsError, match="LEADSTATS_MEMORY_LIMIT"):
        Settings.from_env({"LEADSTATS_MEMORY_LIMIT": "lots"})
