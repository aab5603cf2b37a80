"""chDB and ClickHouse specifics: URL routing and the CLI, physical layout, locks, clear errors."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

import leadstats
from conftest_backends import CHDB_DIR, new_database
from leadstats.cli import app
from leadstats.errors import StoreError
from leadstats.model.report import ReportQuery
from leadstats.query.compiler import compile_report
from leadstats.query.dialect import CLICKHOUSE
from leadstats.store.chdb import ChDBStore
from leadstats.store.clickhouse import events_ddl

EVENTS = [
    {"event_id": "a", "event_type": "primary", "occurred_at": "2026-03-07T04:30:00Z", "project": "Alpha, Phase 2"},
    {"event_id": "b", "event_type": "bot", "occurred_at": "2026-03-07T04:29:59.999Z", "project": "Skyline"},
    {"event_id": "c", "event_type": "primary", "occurred_at": "2026-11-01T06:30:00Z", "vpn": True},
]


def test_cli_report_on_chdb_equals_duckdb(tmp_path: Path) -> None:
    store = ChDBStore(CHDB_DIR)  # the default database, which `--db chdb://DIR` opens
    store.execute("TRUNCATE TABLE leadstats_events")
    store.close()
    with leadstats.connect(f"chdb://{CHDB_DIR}") as ch, leadstats.connect(str(tmp_path / "d.duckdb")) as dk:
        assert ch.store.backend == "chdb"
        assert ch.ingest(EVENTS).accepted == dk.ingest(EVENTS).accepted == 3
    args = ["report", "--from", "2026-03-07", "--to", "2026-03-08", "--tz", "Asia/Kolkata", "--bucket", "60m",
            "--by", "project", "--filter", 'project="Alpha, Phase 2",Skyline', "--format", "json"]
    runner = CliRunner()
    docs = []
    for db in (f"chdb://{CHDB_DIR}", str(tmp_path / "d.duckdb")):
        result = runner.invoke(app, [*args, "--db", db])
        assert result.exit_code == 0, result.output
        docs.append(json.loads(result.stdout))
    assert [d.pop("meta")["backend"] for d in docs] == ["chdb", "duckdb"]
    assert docs[0] == docs[1] and len(docs[0]["rows"]) == 2


def test_layout_partitions_by_month_and_prunes_by_time() -> None:
    ddl = events_ddl()
    for part in ("ENGINE = MergeTree", "PARTITION BY toYYYYMM(occurred_at)", "Enum8('primary' = 1",
                 "LowCardinality(Nullable(String))", "weight UInt32", "MATERIALIZED cityHash64(event_id)"):
        assert part in ddl
    db = new_database()
    store = ChDBStore(CHDB_DIR, database=db)
    try:
        ls = leadstats.service.LeadStats(store)
        ls.ingest(EVENTS)
        parts = store.execute(
            "SELECT DISTINCT partition FROM system.parts WHERE active AND database = {d:String}"
            " AND table = 'leadstats_events' ORDER BY 1", {"d": db})
        assert [p[0] for p in parts] == ["202603", "202611"]
        q = ReportQuery.create("2026-03-07", "2026-03-08", bucket="60m")
        compiled = compile_report(q, store._relation, CLICKHOUSE)
        plan = "\n".join(r[0] for r in store.execute("EXPLAIN indexes = 1 " + compiled.sql, compiled.params))
        assert "Min-Max" in plan and "Partition" in plan and "PrimaryKey" in plan
        assert "Parts: 1/2" in plan  # the November part is never read for a March window
        read = plan[plan.index("ReadFromMergeTree"):]
        assert "project" not in read.split("Prewhere")[0]  # only the columns the metrics need are read
        assert "toStartOfInterval" not in compiled.sql and "+ 19800000000" in compiled.sql
    finally:
        store.execute(f"DROP DATABASE IF EXISTS {db}")
        store.close()


def test_one_directory_per_process_and_locks(tmp_path: Path) -> None:
    store = ChDBStore(CHDB_DIR, database=new_database())
    try:
        with pytest.raises(StoreError, match="one directory per process"):
            ChDBStore(str(tmp_path / "other"))
    finally:
        store.execute(f"DROP DATABASE IF EXISTS {store.database}")
        store.close()
    held = tmp_path / "held"
    code = (f"from leadstats.store.chdb import ChDBStore; s = ChDBStore({str(held)!r}); "
            "print('ready', flush=True); input()")
    proc = subprocess.Popen([sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
        with pytest.raises(StoreError, match="in use by another process"):
            ChDBStore(str(held))
    finally:
        proc.communicate("\n", timeout=30)
    ChDBStore(CHDB_DIR, database=new_database()).close()  # the failed open left nothing behind


def test_clickhouse_url_errors_are_clear() -> None:
    with pytest.raises(StoreError, match="cannot connect to ClickHouse at clickhouse://127.0.0.1:9/leads"):
        leadstats.connect("clickhouse://user:secret@127.0.0.1:9/leads?connect_timeout=2")
    with pytest.raises(StoreError, match="database name"):
        ChDBStore(CHDB_DIR, database="x; DROP TABLE y")


def test_two_store_objects_writing_at_once_stay_exact() -> None:
    import threading

    db = new_database()
    stores = [ChDBStore(CHDB_DIR, database=db), ChDBStore(CHDB_DIR, database=db)]
    events = [{"event_id": f"x{i}", "event_type": "primary", "occurred_at": "2026-03-07T05:00:00Z"} for i in range(240)]
    accepted: list[int] = []

    def write(store: ChDBStore, chunk: list[dict[str, str]]) -> None:
        service = leadstats.service.LeadStats(store)
        for i in range(0, len(chunk), 30):
            accepted.append(service.ingest(chunk[i : i + 30]).accepted)

    # Overlapping halves: ids 60..179 are sent by both writers at the same time.
    threads = [threading.Thread(target=write, args=(stores[0], events[:180])),
               threading.Thread(target=write, args=(stores[1], events[60:][::-1]))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    try:
        assert sum(accepted) == 240 and stores[0].count() == 240
    finally:
        stores[0].execute(f"DROP DATABASE IF EXISTS {db}")
        for s in stores:
            s.close()


def test_why_not_to_start_of_interval() -> None:
    """ClickHouse's toStartOfInterval(t, INTERVAL n MINUTE, tz) counts from the Unix epoch: 10:00 IST
    (04:30 UTC) lands in a "09:30" hour and 12:00 NPT in "11:45". The compiled report gets both right."""
    db = new_database()
    store = ChDBStore(CHDB_DIR, database=db)
    try:
        trap = store.execute(
            "SELECT toString(toStartOfInterval(toDateTime('2026-03-07 04:30:00', 'UTC'), INTERVAL 60 MINUTE,"
            " 'Asia/Kolkata')), toString(toStartOfInterval(toDateTime('2026-03-07 06:15:00', 'UTC'),"
            " INTERVAL 30 MINUTE, 'Asia/Kathmandu'))")
        assert trap == [("2026-03-07 09:30:00", "2026-03-07 11:45:00")]
        ls = leadstats.service.LeadStats(store)
        ls.ingest([{"event_id": "i", "event_type": "primary", "occurred_at": "2026-03-07T04:30:00Z"},
                   {"event_id": "n", "event_type": "primary", "occurred_at": "2026-03-07T06:15:00Z"}])
        ist = ls.report("2026-03-07", "2026-03-08", timezone="Asia/Kolkata", bucket="60m").rows
        npt = ls.report("2026-03-07", "2026-03-08", timezone="Asia/Kathmandu", bucket="30m").rows
        assert [r["bucket_start"] for r in ist if r["received"]][0] == "2026-03-07T10:00:00+05:30"
        assert [r["bucket_start"] for r in npt if r["received"]][-1] == "2026-03-07T12:00:00+05:45"
    finally:
        store.execute(f"DROP DATABASE IF EXISTS {db}")
        store.close()
