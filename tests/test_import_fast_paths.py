"""The import's fast paths give exactly what the general paths give (issue 13): typed Parquet instants,
lead_id HMACs from copied hash states, personal data screened per distinct value, all-duplicate batches."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import os
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

import leadstats
from leadstats.ingest.pii import REDACTED
from leadstats.ingest.pipeline import hash_column, hash_lead_id
from leadstats.ingest.validate import Validator
from leadstats.sources import files

UTC = dt.UTC


def _result(v: object) -> tuple[object, ...]:
    return (v.good.to_pylist(), [e.to_dict() for e in v.errors], v.redacted_rows, v.redacted_values)  # type: ignore[attr-defined]


def _events(n: int, ts: pa.Array) -> pa.Table:
    return pa.table({"event_id": [f"e{i}" for i in range(n)], "event_type": ["primary"] * n, "occurred_at": ts})


def test_typed_instants_equal_their_text_in_every_case() -> None:
    """A timestamptz column skips the text round trip; in range or not, null or not, every row is
    accepted or refused exactly as the same instants sent as text, with the same message."""
    values = [
        dt.datetime(2026, 3, 7, 4, 30, 0, 123456, tzinfo=UTC),
        dt.datetime(1969, 12, 31, 23, 59, 59, 999999, tzinfo=UTC),
        dt.datetime(1970, 1, 1, tzinfo=UTC),
        dt.datetime(2199, 12, 31, 23, 59, 59, 999999, tzinfo=UTC),
        dt.datetime(2200, 1, 1, tzinfo=UTC),
        None,
        dt.datetime(1, 1, 1, tzinfo=UTC),
    ]
    v = Validator()
    for tz in ("UTC", "Asia/Kolkata"):
        typed = pa.array(values, pa.timestamp("us", tz="UTC")).cast(pa.timestamp("us", tz=tz))
        text = pa.array([None if x is None else x.isoformat() for x in values], pa.string())
        fast = v.validate(_events(len(values), typed))
        slow = v.validate(_events(len(values), text))
        assert fast.good.to_pylist() == slow.good.to_pylist()
        assert [(e.row, e.field) for e in fast.errors] == [(2, "occurred_at"), (5, "occurred_at"), (6, "occurred_at"),
                                                           (7, "occurred_at")]
        assert [e.message for e in fast.errors][:2] == [
            "is outside 1970..2199: 1969-12-31 23:59:59.999999+00", "is outside 1970..2199: 2200-01-01 00:00:00+00"]
        assert fast.errors[2].message == "is required"
    stored = v.validate(_events(1, pa.array(values[:1], pa.timestamp("us", tz="Asia/Kolkata"))))
    assert stored.good.column("occurred_at").to_pylist() == [dt.datetime(2026, 3, 7, 4, 30, 0, 123456)]


def test_typed_columns_of_the_wrong_type_are_refused_by_row_and_field(tmp_path: Path) -> None:
    """Parquet columns typed unlike the contract (a naive timestamp, an integer time, a text vpn) take
    the general path: each bad row is refused naming its row and field, good rows are kept."""
    db = str(tmp_path / "s.duckdb")
    naive = pa.table({"event_id": ["n1"], "event_type": ["primary"],
                      "occurred_at": pa.array([dt.datetime(2026, 3, 7)], pa.timestamp("us"))})
    ints = pa.table({"event_id": ["i1"], "event_type": ["primary"], "occurred_at": pa.array([1_700_000_000])})
    vpn = pa.table({"event_id": ["v1", "v2"], "event_type": ["primary"] * 2,
                    "occurred_at": pa.array([dt.datetime(2026, 3, 7, tzinfo=UTC)] * 2, pa.timestamp("ms", tz="UTC")),
                    "vpn": ["maybe", "true"]})
    with leadstats.connect(db) as ls:
        for name, table in (("naive", naive), ("ints", ints), ("vpn", vpn)):
            path = tmp_path / f"{name}.parquet"
            pq.write_table(table, path)
            report = files.import_file(ls, str(path))
            lines = list(report.error_lines())
            if name == "naive":
                assert report.result.accepted == 0 and "row 1 (event_id n1): occurred_at: has no timezone" in lines[0]
            elif name == "ints":
                assert report.result.accepted == 0
                assert "row 1 (event_id i1): occurred_at: is not an ISO 8601" in lines[0]
            else:
                assert report.result.accepted == 1
                assert lines == [f"{path}: row 1 (event_id v1): vpn: must be true or false, got maybe"]
        assert ls.store.execute("SELECT event_id, occurred_at, vpn FROM events") == [
            ("v2", dt.datetime(2026, 3, 7), True)]


def test_lead_id_hmac_from_copied_states_is_python_hmac() -> None:
    """Many distinct lead ids are hashed from the copied SHA-256 states of the padded keys: byte for byte
    ``hmac.new(secret, id, sha256)``,
    for short, padded-block and longer-than-a-block secrets and any text."""
    ids = [str(i) for i in range(600)] + ["é€😀", "", "x" * 300, "a\tb", None]
    arr = pa.array(ids * 2, pa.string())
    for secret in (os.urandom(32), b"k", os.urandom(64), os.urandom(100)):
        got = hash_column(secret, arr).to_pylist()
        want = [None if x is None else hmac.new(secret, x.encode(), hashlib.sha256).hexdigest() for x in ids * 2]
        assert got == want
        assert got[0] == hash_lead_id(secret, "0")


def test_personal_data_screened_per_distinct_value_row_by_row() -> None:
    """Every row whose value is personal data is replaced and counted, whatever rows share the value; a
    referer is tested in full (an e-mail past character 500) and cut to 500 characters after."""
    n = 900
    email_late = "https://x.in/" + "p" * 600 + "?to=a@b.com"
    pool = ["a@b.com", "+91 98765 43210", "plain", None, "r" * 600, email_late, "2026-03-07"]
    referer = [pool[i % len(pool)] for i in range(n)]
    utm_term = ["9876543210" if i % 5 == 0 else "brand" for i in range(n)]
    table = _events(n, pa.array(["2026-03-07T04:30:00Z"] * n)).append_column("referer", pa.array(referer)) \
        .append_column("utm_term", pa.array(utm_term))
    table = table.set_column(1, "event_type", pa.array(["primary" if i % 11 else "nope" for i in range(n)]))
    v = Validator()
    out = v.validate(table)
    good = out.good.to_pylist()
    kept_rows = [i for i in range(n) if i % 11]
    assert len(good) == len(kept_rows) and len(out.errors) == n - len(kept_rows)
    want_ref = [REDACTED if referer[i] in ("a@b.com", "+91 98765 43210", email_late) else
                (None if referer[i] is None else referer[i][:500]) for i in kept_rows]
    assert [g["referer"] for g in good] == want_ref
    assert [g["utm_term"] for g in good] == [REDACTED if i % 5 == 0 else "brand" for i in kept_rows]
    hit = [i + 1 for i in kept_rows if want_ref[kept_rows.index(i)] == REDACTED or i % 5 == 0]
    assert out.redacted_rows == hit
    assert out.redacted_values == {"referer": sum(r == REDACTED for r in want_ref),
                                   "utm_term": sum(1 for i in kept_rows if i % 5 == 0)}
    assert v.redacted_totals == out.redacted_values


def test_all_duplicate_reimport_adds_nothing_and_still_refuses_bad_records(tmp_path: Path) -> None:
    """A re-import whose ids are all stored changes nothing (events, rollups), counts every good record
    as a duplicate, and still refuses a record that is invalid now; a partly new file stores the new ones."""
    n = 3000
    ts = pa.array([dt.datetime(2026, 3, 7, tzinfo=UTC) + dt.timedelta(minutes=i) for i in range(n)],
                  pa.timestamp("us", tz="UTC"))
    table = _events(n, ts).append_column("lead_id", pa.array([f"L{i % 700}" for i in range(n)]))
    path = tmp_path / "a.parquet"
    pq.write_table(table, path)
    db = str(tmp_path / "s.duckdb")
    with leadstats.connect(db) as ls:
        first = files.import_file(ls, str(path)).result
        assert (first.accepted, first.duplicates, first.rejected) == (n, 0, [])
        state = [ls.store.execute(f"SELECT * FROM {t} ORDER BY ALL") for t in ("events", "rollup_15m", "rollup_scores")]
        again = files.import_file(ls, str(path)).result
        assert (again.accepted, again.duplicates, again.rejected) == (0, n, [])
        assert [ls.store.execute(f"SELECT * FROM {t} ORDER BY ALL") for t in ("events", "rollup_15m",
                                                                               "rollup_scores")] == state
        changed = table.set_column(1, "event_type", pa.array(["nope"] + ["primary"] * (n - 1)))
        pq.write_table(changed, path)
        bad = files.import_file(ls, str(path)).result
        assert (bad.accepted, bad.duplicates) == (0, n - 1)
        assert [(e.row, e.event_id, e.field) for e in bad.rejected] == [(1, "e0", "event_type")]
        more = pa.concat_tables([table, _events(5, ts.slice(0, 5)).append_column("lead_id", pa.nulls(5, pa.string()))
                                 .set_column(0, "event_id", pa.array([f"new{i}" for i in range(5)]))])
        pq.write_table(more, path)
        mixed = files.import_file(ls, str(path)).result
        assert (mixed.accepted, mixed.duplicates, mixed.rejected) == (5, n, [])
        assert ls.store.count() == n + 5
        hashed = ls.store.execute("SELECT lead_id FROM events WHERE event_id = 'e1'")[0][0]
        assert hashed == hash_lead_id(ls.lead_id_secret(), "L1")
        assert pc.sum(pa.array([r[0] for r in ls.store.execute('SELECT "primary" FROM rollup_15m')])).as_py() == n + 5


def test_first_occurrence_wins_across_the_chunks_of_a_big_parquet_batch(tmp_path: Path) -> None:
    """A Parquet batch arrives in several Arrow chunks and is validated by a parallel scan; the record
    kept for an id sent twice in it is still the first one of the file."""
    n = 200_000
    ts = pa.array([dt.datetime(2026, 3, 7, tzinfo=UTC)] * n, pa.timestamp("us", tz="UTC"))
    ids = [f"e{i}" for i in range(n)]
    ids[n - 1] = "e0"  # the same id as row 1, with another project
    table = pa.table({"event_id": ids, "event_type": ["primary"] * n, "occurred_at": ts,
                      "project": ["first"] + ["other"] * (n - 1)})
    path = tmp_path / "dup.parquet"
    pq.write_table(table, path, row_group_size=65_536)
    with leadstats.connect(str(tmp_path / "s.duckdb")) as ls:
        result = files.import_file(ls, str(path)).result
        assert (result.accepted, result.duplicates) == (n - 1, 1)
        assert ls.store.execute("SELECT project FROM events WHERE event_id = 'e0'") == [("first",)]
    chunked = pa.Table.from_batches(table.to_batches(max_chunksize=70_000))
    good = Validator().validate(chunked).good
    assert good.column("event_id").to_pylist() == ids
