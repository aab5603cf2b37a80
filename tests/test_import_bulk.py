"""The bulk import's own mechanisms (issue 13): stored ids looked up before the work, records of stored ids
only checked, row-group sized transactions, the check of the next chunk in a second thread."""

from __future__ import annotations

import datetime as dt
import json
import threading
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import leadstats
from leadstats.errors import InputError
from leadstats.ingest.validate import Validator
from leadstats.sources import files

UTC = dt.UTC
T0 = dt.datetime(2026, 3, 7, tzinfo=UTC)


def _records(n: int, prefix: str = "e") -> list[dict[str, object]]:
    return [{"event_id": f"{prefix}{i}", "event_type": "primary" if i % 3 else "bot",
             "occurred_at": (T0 + dt.timedelta(minutes=i)).isoformat().replace("+00:00", "Z"),
             "project": f"p{i % 4}", "utm_term": "a@b.com" if i % 10 == 0 else "brand",
             "suspicion_score": str(i % 100), "lead_id": f"L{i % 50}"} for i in range(n)]


def _write(path: Path, records: list[dict[str, object]]) -> Path:
    if path.suffix == ".parquet":
        pq.write_table(pa.Table.from_pylist(records), path)
    else:
        path.write_text("".join(json.dumps(r) + "\n" for r in records))
    return path


def _state(ls: leadstats.LeadStats) -> list[object]:
    return [ls.store.execute(f"SELECT * FROM {t} ORDER BY ALL") for t in ("events", "rollup_15m", "rollup_scores")]


def test_errors_only_finds_exactly_the_errors_of_a_full_validation() -> None:
    """The records of stored ids get the same rules (one statement) but no output rows."""
    records = _records(40)
    records[3]["event_type"] = "nope"
    records[7]["occurred_at"] = "2026-03-07T10:00:00"
    records[8]["suspicion_score"] = "150"
    records[9]["event_id"] = " e9"
    records[11].pop("event_id")
    table = pa.Table.from_pylist(records)
    lines = pa.array([json.dumps(r) for r in records] + ["{not json", "[1]"])
    rows = pa.array(range(1, len(lines) + 1), pa.int64())
    v = Validator()
    for full, quick in ((v.validate(table), v.validate(table, errors_only=True)),
                        (v.validate_json_lines(lines, rows), v.validate_json_lines(lines, rows, errors_only=True))):
        assert quick.errors == full.errors and len(full.errors) >= 5
        assert quick.good.num_rows == 0 and full.good.num_rows == len(records) - 5


@pytest.mark.parametrize("suffix", [".parquet", ".jsonl"])
def test_reimport_of_a_partly_stored_file(tmp_path: Path, suffix: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Stored ids are counted as duplicates and change nothing; a bad record with a stored id is still
    refused naming its record and field (not counted as a duplicate); new records, and the first of an id
    repeated in the file, are stored; ``redacted`` counts the records that went on to the store only."""
    monkeypatch.setattr(files, "PARQUET_BATCH", 25)  # several chunks, several transactions
    monkeypatch.setattr(files, "COMMIT_ROWS", 32)
    old = _records(100)
    path = _write(tmp_path / f"a{suffix}", old)
    with leadstats.connect(str(tmp_path / "s.duckdb")) as ls:
        first = files.import_file(ls, str(path)).result
        assert (first.accepted, first.duplicates, len(first.rejected), first.redacted) == (100, 0, 0, 10)
        before = _state(ls)
        again = files.import_file(ls, str(path)).result
        assert (again.accepted, again.duplicates, again.rejected, again.redacted) == (0, 100, [], 0)
        assert _state(ls) == before
        bad = [dict(r) for r in old]
        bad[4]["event_type"] = "nope"  # a stored id, now invalid
        new = _records(30, prefix="n")
        repeat = dict(new[0], project="second")  # the same new id twice: the first one wins
        mixed = _write(tmp_path / f"b{suffix}", [*bad[:50], new[0], repeat, *new[1:], *bad[50:]])
        result = files.import_file(ls, str(path.with_name(mixed.name))).result
        assert (result.accepted, result.duplicates) == (30, 99 + 1)
        assert [(e.row, e.event_id, e.field) for e in result.rejected] == [(5, "e4", "event_type")]
        # n0, its repeat (in the same chunk: the store's own check drops it), n10, n20; not the stored ones
        assert result.redacted == 4
        assert ls.store.execute("SELECT project FROM events WHERE event_id = 'n0'") == [("p0",)]
        assert ls.count() == 130
        totals = ls.report("2026-03-06", "2026-03-09").totals
        assert totals["received"] == 130 and totals["bot"] == 34 + 10


def test_transactions_are_whole_commit_slices_for_parquet(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Rows are carried over chunks so every transaction but the last has exactly COMMIT_ROWS rows."""
    monkeypatch.setattr(files, "PARQUET_BATCH", 30)
    monkeypatch.setattr(files, "COMMIT_ROWS", 64)
    records = _records(500)
    records[17]["event_type"] = "nope"
    path = _write(tmp_path / "a.parquet", records)
    with leadstats.connect(str(tmp_path / "s.duckdb")) as ls:
        calls: list[int] = []
        original = ls.store.append
        monkeypatch.setattr(ls.store, "append", lambda t: calls.append(t.num_rows) or original(t))
        result = files.import_file(ls, str(path)).result
        assert (result.accepted, [e.row for e in result.rejected]) == (499, [18])
        assert calls == [64] * 7 + [499 - 7 * 64]
        assert sorted(r[0] for r in ls.store.execute("SELECT event_id FROM events")) == sorted(
            r["event_id"] for i, r in enumerate(records) if i != 17)


def test_a_failure_on_either_side_stops_both(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A reader's error (malformed CSV) reaches the caller as itself; a failing commit stops the checker
    thread; neither leaves a thread behind."""
    monkeypatch.setattr(files, "CHUNK_BYTES", 4096)
    csv = tmp_path / "bad.csv"
    csv.write_text("event_id,event_type,occurred_at\n" + "".join(
        f"c{i},primary,2026-03-07T05:00:00Z\n" for i in range(3000)) + 'x,"unterminated\n')
    path = _write(tmp_path / "a.jsonl", _records(3000))
    with leadstats.connect(str(tmp_path / "s.duckdb")) as ls:
        with pytest.raises(InputError, match="malformed CSV"):
            files.import_file(ls, str(csv))
        monkeypatch.setattr(files, "COMMIT_ROWS", 100)
        checked: list[int] = []
        check = ls.check_new
        monkeypatch.setattr(ls, "check_new", lambda r, n: checked.append(len(n)) or check(r, n))

        def boom(table: pa.Table) -> None:
            raise RuntimeError("disk on fire")

        monkeypatch.setattr(ls.store, "append", boom)
        with pytest.raises(RuntimeError, match="disk on fire"):
            files.import_file(ls, str(path))
        assert sum(checked) < 3000  # stopped at the next chunk, not run to the end
    assert not [t for t in threading.enumerate() if t.name == "leadstats-import-check"]
