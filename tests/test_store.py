"""The DuckDB store itself: migrations, optimize, the writer lock, readers during writes."""

from __future__ import annotations

import subprocess
import sys
import threading

import duckdb
import pytest
from typer.testing import CliRunner

import leadstats
from conftest import ev
from leadstats.cli import app
from leadstats.errors import StoreError
from leadstats.store.duckdb import MIGRATIONS, SCHEMA_VERSION, DuckDBStore


def test_old_schema_file_is_migrated_in_place(db_path: str) -> None:
    con = duckdb.connect(db_path)
    con.execute("CREATE TABLE leadstats_migrations (version INTEGER PRIMARY KEY, name VARCHAR, applied_at TIMESTAMP)")
    for sql in MIGRATIONS[0][2]:
        con.execute(sql)
    con.execute("INSERT INTO leadstats_migrations VALUES (1, 'v1', now())")
    con.execute(
        "INSERT INTO events (event_id, id_hash, occurred_at, event_type) VALUES ('old', hash('old'), "
        "TIMESTAMP '2026-03-07 05:00:00', 'primary')"
    )
    con.close()
    store = DuckDBStore(db_path)
    assert store.schema_version() == SCHEMA_VERSION == 3
    assert store.execute("SELECT weight FROM events WHERE event_id = 'old'") == [(1,)]
    store.close()


def test_v2_rollup_is_folded_into_slots_and_score_histogram(db_path: str) -> None:
    """A store written before migration 3 (rollup keyed by slot and exact score) answers the same
    time-only reports from the new rollup, at the default and at other thresholds."""
    con = duckdb.connect(db_path)
    con.execute("CREATE TABLE leadstats_migrations (version INTEGER PRIMARY KEY, name VARCHAR, applied_at TIMESTAMP)")
    for version, _name, statements in MIGRATIONS[:2]:
        for sql in statements:
            con.execute(sql)
        con.execute("INSERT INTO leadstats_migrations VALUES (?, 'old', now())", [version])
    rows = [("p1", "primary", 40.0), ("p2", "primary", 39.5), ("p3", "primary", None), ("p4", "primary", 80.0),
            ("f1", "follow_up", 90.0), ("b1", "bot", None)]
    for i, (event_id, event_type, score) in enumerate(rows):
        con.execute(
            "INSERT INTO events (event_id, id_hash, occurred_at, event_type, suspicion_score, weight) "
            "VALUES (?, hash(?), TIMESTAMP '2026-03-07 05:00:00' + to_minutes(?), ?, ?, 1)",
            [event_id, event_id, 20 * i, event_type, score],
        )
    # The old rollup, as the old writer kept it: one row per (slot, primary score or -inf).
    con.execute(
        """INSERT INTO rollup_15m SELECT CAST(epoch_us(occurred_at) // 900000000 AS INTEGER),
             CASE WHEN event_type = 'primary' AND suspicion_score IS NOT NULL THEN suspicion_score
                  ELSE '-inf'::DOUBLE END,
             count(*), count_if(event_type IN ('primary', 'follow_up')), count_if(event_type = 'primary'),
             count_if(event_type = 'follow_up'), count_if(event_type = 'test'), count_if(event_type = 'blocked'),
             count_if(event_type = 'bot'), 0, 0
           FROM events GROUP BY ALL"""
    )
    con.close()
    with leadstats.connect(db_path) as ls:
        assert ls.store.schema_version() == 3
        for smin in (40, 39.5, 0, 81):
            via_rollup = ls.report("2026-03-07", "2026-03-08", bucket="60m", suspicious_min=smin)
            assert ls.store.report_rows(via_rollup.query).engine == "rollup"
            via_events = ls.report("2026-03-07", "2026-03-08", bucket="60m", suspicious_min=smin,
                                   dimensions=["event_type"])
            expected = sum(1 for _id, t, sc in rows if t == "primary" and sc is not None and sc >= smin)
            assert via_rollup.totals["suspicious"] == via_events.totals["suspicious"] == expected
            assert via_rollup.totals["received"] == len(rows)
        # New events keep both tables exact.
        ls.ingest([ev("p5", "primary", "2026-03-07T05:01:00Z", suspicion_score=39.5)])
        again = ls.report("2026-03-07", "2026-03-08", bucket="1d", suspicious_min=39.5)
        assert again.totals["suspicious"] == 4 and again.totals["primary"] == 5


def test_rollup_size_is_bounded_by_slots(db_path: str) -> None:
    """Distinct suspicion scores do not multiply the slot rollup (issue 13): one row per slot."""
    with leadstats.connect(db_path) as ls:
        ls.ingest([ev(f"s{i}", "primary", "2026-03-07T05:00:00Z", suspicion_score=i / 10) for i in range(500)])
        assert ls.store.execute("SELECT count(*) FROM rollup_15m") == [(1,)]
        assert ls.report("2026-03-07", "2026-03-08", bucket="15m").totals["suspicious"] == 100
        assert ls.report("2026-03-07", "2026-03-08", bucket="15m", suspicious_min=45).totals["suspicious"] == 50
        assert ls.report("2026-03-07", "2026-03-08", bucket="15m", suspicious_min=49.95).totals["suspicious"] == 0


def test_stored_id_lookups_after_a_partly_read_result(db_path: str) -> None:
    """stored_ids/stored_mask answer exactly even right after a read that left the thread's cursor with a
    result not read to the end (count() fetches one row): the look-up registers its ids on a cursor of
    its own."""
    import pyarrow as pa

    with leadstats.connect(db_path) as ls:
        ls.ingest([ev(f"k{i}", "primary", "2026-03-07T05:00:00Z") for i in range(5)])
        store = ls.store
        assert store.count() == 5
        assert store.stored_ids(["k1", "k4", "nope", "k1 "]) == {"k1", "k4"}
        assert store.count() == 5
        assert store.stored_mask(pa.array(["k0", "x", "k3"])).to_pylist() == [True, False, True]


def test_changed_hash_function_is_rederived(db_path: str) -> None:
    with leadstats.connect(db_path) as ls:
        ls.ingest([ev("a", "primary", "2026-03-07T05:00:00Z")])
        ls.store.execute("SELECT 1")
    con = duckdb.connect(db_path)
    con.execute("UPDATE events SET id_hash = 42")  # what an upgrade that changed hash() would leave behind
    con.execute("UPDATE leadstats_state SET value = 'duckdb-0.0' WHERE key = 'id_hash'")
    con.close()
    with leadstats.connect(db_path) as ls:
        assert ls.ingest([ev("a", "primary", "2026-03-07T05:00:00Z")]).duplicates == 1


def test_optimize_keeps_counts_schema_and_order(db_path: str) -> None:
    with leadstats.connect(db_path) as ls:
        ls.ingest([ev(f"e{i}", "primary", f"2026-03-{7 + i % 5:02d}T05:00:00Z") for i in range(50)])
        before = ls.report("2026-03-01", "2026-03-31", bucket="1d").to_dict()["rows"]
    result = CliRunner().invoke(app, ["optimize", "--db", db_path])
    assert result.exit_code == 0 and "optimized 50 events" in result.output
    with leadstats.connect(db_path) as ls:
        assert ls.report("2026-03-01", "2026-03-31", bucket="1d").to_dict()["rows"] == before
        times = [r[0] for r in ls.store.execute("SELECT occurred_at FROM events")]  # type: ignore[attr-defined]
        assert times == sorted(times)
        nullable = ls.store.execute(  # type: ignore[attr-defined]
            "SELECT is_nullable FROM information_schema.columns WHERE table_name='events' AND column_name='event_id'"
        )
        assert nullable == [("NO",)]
    info = CliRunner().invoke(app, ["info", "--db", db_path, "--format", "json"])
    assert '"events": 50' in info.output and f'"schema_version": {SCHEMA_VERSION}' in info.output


def test_second_process_gets_a_clear_error_not_a_traceback(db_path: str) -> None:
    holder = leadstats.connect(db_path, create=True)
    try:
        code = (
            "import leadstats.store.duckdb as d\n"
            "from leadstats.errors import StoreError\n"
            f"try:\n    d.DuckDBStore({db_path!r}, lock_wait_s=0.3)\n"
            "except StoreError as e:\n    print('refused:', e.message)\n"
        )
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
        assert "refused:" in out.stdout and "in use by another process" in out.stdout
    finally:
        holder.close()


def test_read_only_store_must_exist(tmp_path: object) -> None:
    with pytest.raises(StoreError, match="no leadstats store"):
        DuckDBStore(f"{tmp_path}/missing.duckdb", read_only=True)


def test_readers_see_whole_batches_while_a_writer_appends(db_path: str) -> None:
    ls = leadstats.connect(db_path, create=True)
    batch = 500
    seen: list[int] = []
    done = threading.Event()

    def writer() -> None:
        for b in range(20):
            ls.ingest([ev(f"b{b}-{i}", "primary", "2026-03-07T05:00:00Z") for i in range(batch)])
        done.set()

    def reader() -> None:
        while not done.is_set():
            seen.append(ls.report("2026-03-07", "2026-03-08").totals["received"])

    threads = [threading.Thread(target=writer), threading.Thread(target=reader)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert seen and all(n % batch == 0 for n in seen)  # never half a batch
    assert ls.report("2026-03-07", "2026-03-08").totals["received"] == 20 * batch
    ls.close()
