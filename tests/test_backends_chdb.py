"""chDB and ClickHouse specifics: URL routing and the CLI, physical layout, locks, clear errors."""

from __future__ import annotations

import json
import random
import re
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pytest
from typer.testing import CliRunner

import leadstats
from conftest_backends import CHDB_DIR, document, new_database, open_backend, random_events
from leadstats.cli import app
from leadstats.errors import StoreError
from leadstats.ingest.validate import STORE_SCHEMA
from leadstats.model.report import ReportQuery
from leadstats.query.compiler import compile_report
from leadstats.query.dialect import CLICKHOUSE
from leadstats.store.chdb import ChDBStore
from leadstats.store.clickhouse import ClickHouseStore, events_ddl

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


# -- issue 13: the ids index and the 15-minute rollup ------------------------------------------------
def _rows(first: int, n: int, day: int = 7) -> pa.Table:
    """``n`` stored-form events with ids ``k<first>``.. (zero-padded: sequential ids sort together)."""
    ids = [f"k{i:08d}" for i in range(first, first + n)]
    cols: dict[str, Any] = {f.name: pa.nulls(n, f.type) for f in STORE_SCHEMA}
    cols["event_id"] = pa.array(ids, pa.string())
    cols["event_type"] = pa.array(["primary" if i % 3 else "bot" for i in range(first, first + n)], pa.string())
    base = int(datetime(2026, 3, day, tzinfo=UTC).timestamp()) * 10**6
    cols["occurred_at"] = pa.array([base + i * 1_000_000 for i in range(n)], pa.timestamp("us"))
    cols["suspicion_score"] = pa.array([float(i % 100) for i in range(first, first + n)], pa.float64())
    cols["weight"] = pa.array([1] * n, pa.int64())
    return pa.Table.from_pydict(cols, schema=STORE_SCHEMA)


def _granules(plan: str) -> tuple[int, int]:
    found = re.findall(r"Granules: (\d+)/(\d+)", plan)
    assert found, plan
    read, total = found[-1]
    return int(read), int(total)


def test_id_check_reads_only_the_granules_that_can_hold_the_batch() -> None:
    """The check's cost follows the batch, not the table: the ids index is ordered by event_id, so a
    batch of new ids reads the granules around them, not every stored id (the 100M-event load slowed
    down because each batch read the whole table's id_hash)."""
    db = new_database()
    store = ChDBStore(CHDB_DIR, database=db)
    try:
        for first in range(0, 60_000, 20_000):
            assert store.append(_rows(first, 20_000)).accepted == 20_000
        # 100 ids, half of them stored (the end of the last batch), half new.
        store._stage_ids(pa.table({"event_id": pa.array([f"k{i:08d}" for i in range(59_950, 60_050)])}))
        assert len(store.execute(store._check_sql())) == 50
        plan = "\n".join(r[0] for r in store.execute("EXPLAIN indexes = 1 " + store._check_sql()))
        read, total = _granules(plan)
        assert "leadstats_ids" in plan and total >= 6 and read <= 2, plan
        result = store.append(pa.concat_tables([_rows(59_990, 10), _rows(60_000, 100)]))
        assert (result.accepted, result.duplicates) == (100, 10)
        assert store.stored_ids(["k00000005", "k00060050", "nope"]) == {"k00000005", "k00060050"}
    finally:
        store.execute(f"DROP DATABASE IF EXISTS {db}")
        store.close()


def test_rollup_exact_through_deletes_and_replacements(tmp_path: Path) -> None:
    """Time-only reports come from the slot rollup (and the score histogram for other thresholds) and
    equal DuckDB's after deletes and replacements; deleted ids can be stored again."""
    events = random_events(random.Random(5), 300)
    with open_backend("chdb", tmp_path) as ch, open_backend("duckdb", tmp_path, "ref") as dk:
        for ls in (ch, dk):
            assert ls.ingest(events).accepted == 300
            assert ls.delete_events([f"r{i}" for i in range(0, 300, 7)] + ["nope"]) == 43
            stored = pa.concat_tables(ls.scan_rows())
            picked = stored.filter(pc.is_in(stored.column("event_id"),
                                                    value_set=pa.array([e["event_id"] for e in events[1:40:3]])))
            n = picked.num_rows
            for name, value in (("event_type", pa.array(["primary"] * n)), ("suspicion_score", pa.array([55.0] * n)),
                                ("occurred_at", pa.array([1772792100 * 10**6] * n, pa.timestamp("us")))):
                typed = value.cast(STORE_SCHEMA.field(name).type)
                picked = picked.set_column(picked.schema.get_field_index(name), name, typed)
            assert ls.replace_rows(picked).accepted == n > 5  # moved to 2026-03-06 10:15 UTC, primary, score 55
            assert ls.ingest([events[7]]).accepted == 1  # deleted, so new again
        assert ch.store._in_step()  # type: ignore[attr-defined]
        queries = [
            {"date_range": [start, end], "timezone": tz, "bucket": bucket, "suspicious_min": smin,
             "dimensions": dims}
            for start, end in (("2026-03-06", "2026-03-12"), ("2026-10-29", "2026-11-05"),
                               ("2026-04-01", "2026-04-09"))
            for tz, bucket, smin, dims in (("Asia/Kolkata", "30m", 40, []), ("America/New_York", "1d", 39.5, []),
                                           ("Asia/Kathmandu", "15m", 0, ["hour_of_day"]),
                                           ("UTC", None, 80, ["weekday"]))
        ]
        for q in queries:
            assert ch.store.report_rows(ch.build_json_query(q)).engine == "rollup", q
            assert document(ch, q) == document(dk, q), q
        assert document(ch, queries[0])["totals"]["received"] > 0


def _drop_derived(store: ChDBStore) -> None:
    """What a schema-1 store looks like: events and state only."""
    for name in ("leadstats_ids", "leadstats_rollup_15m", "leadstats_rollup_scores"):
        store.execute(f"DROP VIEW IF EXISTS {store.database}.{name}_mv")
        store.execute(f"DROP TABLE IF EXISTS {store.database}.{name}")
    store.set_state("schema_version", "1")


def test_schema_1_store_is_migrated_once(tmp_path: Path) -> None:
    events = random_events(random.Random(8), 200)
    q = {"date_range": ["2026-03-06", "2026-04-10"], "timezone": "Asia/Kolkata", "bucket": "1d",
         "suspicious_min": 39.5}
    db = new_database()
    store = ChDBStore(CHDB_DIR, database=db)
    try:
        ls = leadstats.service.LeadStats(store)
        ls.ingest(events)
        expected = document(ls, q)
        _drop_derived(store)
        store.close()
        old = ChDBStore(CHDB_DIR, database=db, read_only=True)  # not migrated: events path, hash check
        assert old.schema_version() == 1 and old.report_rows(ls.build_json_query(q)).engine == "events"
        assert document(leadstats.service.LeadStats(old), q) == expected
        assert old.stored_ids(["r1", "r2", "x"]) == {"r1", "r2"}
        old.close()
        store = ChDBStore(CHDB_DIR, database=db)
        ls = leadstats.service.LeadStats(store)
        assert store.schema_version() == 2 and store._in_step()
        assert store.report_rows(ls.build_json_query(q)).engine == "rollup"
        assert document(ls, q) == expected
        assert ls.ingest(events).duplicates == 200
    finally:
        store.execute(f"DROP DATABASE IF EXISTS {db}")
        store.close()


@pytest.mark.parametrize("kind", ["chdb", "connect"])
def test_derived_tables_out_of_step_are_rebuilt(kind: str) -> None:
    """A write interrupted between the events and their views (simulated: derived rows lost) is found by
    the row counts (chDB when it opens, a server store before its first write) and rebuilt from the events."""
    events = random_events(random.Random(9), 150)
    q = {"date_range": ["2026-03-06", "2026-04-10"], "timezone": "Asia/Kolkata", "bucket": "60m"}
    db = new_database()

    def open_store() -> Any:
        if kind == "chdb":
            return ChDBStore(CHDB_DIR, database=db)
        import clickhouse_connect

        return ClickHouseStore(client=clickhouse_connect.get_client(interface="chdb", path=CHDB_DIR), database=db)

    store = open_store()
    try:
        ls = leadstats.service.LeadStats(store)
        ls.ingest(events)
        expected = document(ls, q)
        store.execute(f"DELETE FROM {db}.leadstats_ids WHERE event_id IN ('r1', 'r2')")
        store.execute(f"TRUNCATE TABLE {db}.leadstats_rollup_scores")
        assert not store._in_step()
        store.close()
        store = open_store()
        ls = leadstats.service.LeadStats(store)
        assert ls.ingest(events[:3]).duplicates == 3  # r1, r2 found again: the index was rebuilt
        assert store._in_step()
        assert document(ls, q) == expected
    finally:
        store.execute(f"DROP DATABASE IF EXISTS {db}")
        store.close()
