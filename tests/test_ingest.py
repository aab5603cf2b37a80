"""Importing files into a real DuckDB file: dedupe, bad records, formats, streaming."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

import leadstats
from conftest import ev
from leadstats.cli import app
from leadstats.sources import files

runner = CliRunner()
GOOD = [
    ev(
        "a1",
        "primary",
        "2026-03-07T04:30:00Z",
        project="Alpha, Phase 2",
        country="India",
        engagement_label="very hot",
        referer="https://x.in/" + "p" * 600,
    ),
    ev("a2", "bot", "2026-03-07T04:29:59.999Z", project="Skyline"),
    ev("a3", "follow_up", "2026-03-07T10:00:00+05:30", vpn="true", suspicion_score="55"),
]


def test_import_twice_adds_nothing_and_reports_counts(db_path: str, write_jsonl: Callable[..., Path]) -> None:
    path = write_jsonl(GOOD)
    first = runner.invoke(app, ["import", "events", str(path), "--db", db_path])
    assert first.exit_code == 0, first.output
    assert "imported 3, skipped 0 duplicates, rejected 0" in first.output
    second = runner.invoke(app, ["import", "events", str(path), "--db", db_path])
    assert second.exit_code == 0
    assert "imported 0, skipped 3 duplicates, rejected 0" in second.output
    with leadstats.connect(db_path) as ls:
        assert ls.store.count() == 3
        row = ls.store.execute("SELECT country, engagement_label, length(referer) FROM events WHERE event_id='a1'")
        assert row == [("IN", "Very Hot", 500)]


def test_bad_records_named_by_line_and_field_good_ones_kept(
    db_path: str, write_jsonl: Callable[..., Path], capsys: pytest.CaptureFixture[str]
) -> None:
    path = write_jsonl(
        [
            GOOD[0],
            ev("n1", "primary", "2026-03-07T10:00:00"),  # naive time
            "",  # a blank line still counts as a line
            "{not json",
            ev("n2", "lead", "2026-03-07T10:00:00Z"),
            {"event_type": "primary", "occurred_at": "2026-03-07T10:00:00Z"},
            ev("n3", "primary", "2026-03-07T10:00:00Z", suspicion_score=101),
            ev("n4", "primary", "2026-03-07T10:00:00Z", engagement_label="Lukewarm"),
            ev("x" * 129, "primary", "2026-03-07T10:00:00Z"),
            GOOD[1],
        ]
    )
    result = runner.invoke(app, ["import", "events", str(path), "--db", db_path])
    assert result.exit_code == 1
    out = result.output
    for expected in (
        f"{path}:2: occurred_at: has no timezone",
        f"{path}:4: record: is not valid JSON",
        f"{path}:5: event_type: must be one of",
        f"{path}:6: event_id: is required",
        f"{path}:7: suspicion_score: must be between 0 and 100",
        f"{path}:8: engagement_label:",
        f"{path}:9: event_id: is longer than 128",
    ):
        assert expected in out, out
    assert "imported 2, skipped 0 duplicates, rejected 7" in out
    with leadstats.connect(db_path) as ls:
        assert ls.store.count() == 2


def test_csv_and_parquet_and_stdin(tmp_path: Path, db_path: str) -> None:
    csv_path = tmp_path / "e.csv"
    csv_path.write_text(
        "event_id,event_type,occurred_at,project,vpn,suspicion_score\n"
        'c1,primary,2026-03-07T05:00:00Z,"Alpha, Phase 2",true,41\n'
        "c2,bot,2026-03-07 05:00:00+00:00,,,\n"
        "c3,primary,not-a-time,,,\n"
    )
    pq_path = tmp_path / "e.parquet"
    pq.write_table(
        pa.table(
            {
                "event_id": ["p1", "p2"],
                "event_type": ["primary", "test"],
                "occurred_at": pa.array([1772859600000000, 1772859600000000], pa.timestamp("us", tz="UTC")),
                "vpn": [True, None],
                "suspicion_score": [40.0, None],
            }
        ),
        pq_path,
    )
    naive = tmp_path / "naive.parquet"
    pq.write_table(
        pa.table(
            {
                "event_id": ["q1"],
                "event_type": ["primary"],
                "occurred_at": pa.array([1772859600000000], pa.timestamp("us")),
            }
        ),
        naive,
    )
    result = runner.invoke(app, ["import", "events", str(csv_path), str(pq_path), str(naive), "--db", db_path])
    assert result.exit_code == 1
    assert f"{csv_path}:4: occurred_at: is not an ISO 8601 instant" in result.output
    assert f"{naive}: row 1 (event_id q1): occurred_at: has no timezone" in result.output
    assert "imported 4, skipped 0 duplicates, rejected 2" in result.output
    stdin = subprocess.run(
        [sys.executable, "-m", "leadstats", "import", "events", "-", "--db", db_path],
        input=json.dumps(ev("s1", "primary", "2026-03-07T05:00:00Z")) + "\n",
        capture_output=True,
        text=True,
        check=False,
    )
    assert stdin.returncode == 0, stdin.stderr
    assert "imported 1" in stdin.stdout
    with leadstats.connect(db_path) as ls:
        totals = ls.report("2026-03-07", "2026-03-08").totals
    assert totals["received"] == 5 and totals["primary"] == 3 and totals["suspicious"] == 2 and totals["vpn"] == 2


def test_jsonl_streams_in_bounded_chunks(
    monkeypatch: pytest.MonkeyPatch, db_path: str, write_jsonl: Callable[..., Path]
) -> None:
    """Read in small chunks, checked one at a time, committed in transactions of exactly COMMIT_ROWS rows
    (the last one shorter): many small transactions, never the whole file, and nothing lost between them."""
    monkeypatch.setattr(files, "CHUNK_BYTES", 4096)
    monkeypatch.setattr(files, "COMMIT_ROWS", 64)
    records = [ev(f"e{i}", "primary", "2026-03-07T05:00:00Z", project=f"p{i % 7}") for i in range(2000)]
    records[1500] = ev("bad", "primary", "yesterday")
    path = write_jsonl(records)
    calls: list[int] = []
    checks: list[int] = []
    ls = leadstats.connect(db_path)
    original, check = ls.store.append, ls.check_new
    monkeypatch.setattr(ls.store, "append", lambda t: calls.append(t.num_rows) or original(t))
    monkeypatch.setattr(ls, "check_new", lambda r, n: checks.append(len(n)) or check(r, n))
    report = files.import_file(ls, str(path))
    assert report.result.accepted == 1999
    assert [e.row for e in report.result.rejected] == [1501]
    assert len(checks) > 20 and max(checks) < 100 and sum(checks) == 2000
    assert calls == [64] * (1999 // 64) + [1999 % 64]
    assert ls.store.count() == 1999
    ls.close()


def test_in_batch_duplicates_and_retry_across_processes(db_path: str) -> None:
    with leadstats.connect(db_path) as ls:
        r = ls.ingest([ev("d", "primary", "2026-03-07T05:00:00Z"), ev("d", "bot", "2026-03-07T06:00:00Z")])
        assert (r.accepted, r.duplicates) == (1, 1)
    with leadstats.connect(db_path) as ls:  # a new process would see the same file
        assert ls.ingest([ev("d", "primary", "2026-03-07T05:00:00Z")]).duplicates == 1
        assert ls.report("2026-03-07", "2026-03-08").totals["received"] == 1


def test_unknown_file_type_and_missing_file(db_path: str, tmp_path: Path) -> None:
    result = runner.invoke(app, ["import", "events", str(tmp_path / "x.xlsx"), "--db", db_path])
    assert result.exit_code == 2 and "unknown file type" in result.output
    result = runner.invoke(app, ["import", "events", str(tmp_path / "missing.jsonl"), "--db", db_path])
    assert result.exit_code == 2 and "no such file" in result.output
