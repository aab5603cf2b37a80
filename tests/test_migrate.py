"""``leadstats migrate``: DuckDB <-> chDB copies in bounded batches, resumable, exact."""

from __future__ import annotations

import random
from pathlib import Path

import pyarrow as pa
import pytest
from typer.testing import CliRunner

import leadstats
from conftest_backends import CHDB_DIR, document, open_backend, random_events, random_query
from leadstats.cli import app
from leadstats.cli.migrate import checkpoint_key, migrate
from leadstats.errors import StoreError
from leadstats.service import LeadStats
from leadstats.store.chdb import ChDBStore

runner = CliRunner()


def _weighted(n: int) -> pa.Table:
    events = random_events(random.Random(2), n)
    table = pa.Table.from_pylist(events)
    return table.append_column("weight", pa.array([1 + i % 4 for i in range(n)], pa.int64()))


def test_duckdb_to_chdb_with_the_cli_then_back(tmp_path: Path) -> None:
    src_path = str(tmp_path / "src.duckdb")
    with leadstats.connect(src_path) as src:
        assert src.ingest_table(_weighted(700)).accepted == 700
    _empty_default_database()  # the CLI opens chDB's default database in the shared test directory
    result = runner.invoke(app, ["migrate", "--from", src_path, "--to", f"chdb://{CHDB_DIR}", "--batch-size", "128"])
    assert result.exit_code == 0, result.output
    assert "copied 700 rows: 700 new, 0 already there; the target now holds" in result.stdout
    again = runner.invoke(app, ["migrate", "--from", src_path, "--to", f"chdb://{CHDB_DIR}"])
    assert again.exit_code == 0 and "copied 0 rows (resumed after r99)" in again.stdout  # ids sort as text
    back = str(tmp_path / "back.duckdb")
    there = runner.invoke(app, ["migrate", "--from", f"chdb://{CHDB_DIR}", "--to", back, "--batch-size", "300"])
    assert there.exit_code == 0, there.output
    rng = random.Random(4)
    with leadstats.connect(src_path, read_only=True) as a, leadstats.connect(back) as b:
        store = ChDBStore(CHDB_DIR)
        try:
            c = LeadStats(store)
            assert a.store.count() == b.store.count() == store.count() > 700
            for _ in range(12):
                q = random_query(rng)
                assert document(a, q) == document(b, q) == document(c, q)
        finally:
            store.execute("DROP TABLE IF EXISTS leadstats_events")
            store.execute("DROP TABLE IF EXISTS leadstats_state")
            store.close()


def _empty_default_database() -> None:
    """Other tests use databases of their own; the CLI's ``chdb://DIR`` store is the default one."""
    store = ChDBStore(CHDB_DIR)
    store.execute("TRUNCATE TABLE leadstats_events")
    store.execute("TRUNCATE TABLE leadstats_state")
    store.close()


class Interrupt(Exception):
    pass


@pytest.mark.parametrize("kinds", [("duckdb", "chdb"), ("chdb", "duckdb")])
def test_resume_after_interruption_is_exact(tmp_path: Path, kinds: tuple[str, str]) -> None:
    with open_backend(kinds[0], tmp_path, "src") as src, open_backend(kinds[1], tmp_path, "dst") as dst:
        assert src.ingest_table(_weighted(1000)).accepted == 1000
        seen: list[int] = []

        def stop_after_three(n: int) -> None:
            seen.append(n)
            if len(seen) == 3:
                raise Interrupt

        with pytest.raises(Interrupt):
            migrate(src.store, dst.store, source_url="src", batch_size=100, progress=stop_after_three)
        assert dst.store.get_state(checkpoint_key("src")) is not None and dst.health()["rows"] == 300
        # A crash between append and checkpoint: the next batch landed, the checkpoint did not move.
        after = dst.store.get_state(checkpoint_key("src"))
        dst.store.append(next(src.store.scan(100, after=after)))
        result = migrate(src.store, dst.store, source_url="src", batch_size=100)
        assert result.resumed_after == after
        assert (result.rows, result.accepted, result.duplicates) == (700, 600, 100)
        assert dst.health()["rows"] == 1000 and dst.store.count() == src.store.count()
        q = {"date_range": ["2026-03-01", "2026-11-10"], "timezone": "Asia/Kolkata", "bucket": "1d",
             "dimensions": ["project"]}
        assert document(src, q) == document(dst, q)
        assert migrate(src.store, dst.store, source_url="src", restart=True).duplicates == 1000
        assert src.store.count() == dst.store.count()  # the abandoned scan left the source usable


def test_refusals(tmp_path: Path) -> None:
    path = str(tmp_path / "a.duckdb")
    leadstats.connect(path).close()
    same = runner.invoke(app, ["migrate", "--from", path, "--to", path])
    assert same.exit_code == 1 and "same store" in same.output
    with open_backend("duckdb", tmp_path) as src, pytest.raises(StoreError, match="batch-size"):
        migrate(src.store, src.store, source_url="x", batch_size=0)
