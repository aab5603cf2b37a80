"""wrangler d1 export dumps: read without executing them, and they give the same reports as the file."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

import leadstats
from d1_fixtures import build_small, dump_sql
from leadstats.errors import InputError
from leadstats.sources.d1 import import_d1
from leadstats.sources.d1.dump import evaluate_values, load_dump, parse_create, statements

DAY = ("2026-03-06", "2026-03-09")
DIMS = ["event_type", "project", "source", "referer", "cta", "utm_source", "country", "city", "engagement_label"]


def full_report(path: str) -> list[dict[str, Any]]:
    with leadstats.connect(path, read_only=True) as ls:
        return ls.report(*DAY, bucket="15m", dimensions=DIMS).to_dict()["rows"]


@pytest.mark.parametrize("column_lists", [True, False])
def test_dump_gives_identical_reports(tmp_path: Path, column_lists: bool) -> None:
    db = tmp_path / "d1.sqlite"
    build_small(db)
    dump = tmp_path / "dump.sql"
    dump_sql(db, dump, column_lists=column_lists)
    text = dump.read_text()
    assert "replace('https://harbor.example/a\\nb','\\n',char(10))" in text
    assert "x=''y''" in text
    from_file, from_dump = str(tmp_path / "a.duckdb"), str(tmp_path / "b.duckdb")
    with leadstats.connect(from_file) as ls:
        a = import_d1(ls, str(db))
    with leadstats.connect(from_dump) as ls:
        b = import_d1(ls, str(dump))
        assert import_d1(ls, str(dump)).accepted == 0
    assert a.accepted == b.accepted == 18
    assert [e.line() for e in a.errors] == [e.line() for e in b.errors]
    rows = full_report(from_file)
    assert rows and rows == full_report(from_dump)


def test_file_and_dump_share_event_ids(tmp_path: Path, db_path: str) -> None:
    db = tmp_path / "d1.sqlite"
    build_small(db)
    dump = tmp_path / "dump.sql"
    dump_sql(db, dump)
    with leadstats.connect(db_path) as ls:
        first = import_d1(ls, str(db))
        second = import_d1(ls, str(dump), full=True)
    assert second.accepted == 0 and second.duplicates == first.accepted


def test_evaluate_values_handles_dump_expressions() -> None:
    rows = evaluate_values(
        "(1,'it''s',NULL,-2.5,X'6869',replace('a\\nb','\\n',char(10)),"
        "replace(replace('a\\r\\nb','\\r',char(13)),'\\n',char(10)),unistr('x\\000ay'),'a'||'b'),(2,'x;y',0x10,1e3)"
    )
    assert rows == [
        (1, "it's", None, -2.5, b"hi", "a\nb", "a\r\nb", "x\ny", "ab"),
        (2, "x;y", 16, 1000.0),
    ]


@pytest.mark.parametrize("values", ["(load_extension('x'))", "(1, (SELECT 1))", "(1) ; DROP TABLE t", "(1"])
def test_evaluate_values_refuses_anything_else(values: str) -> None:
    with pytest.raises((ValueError, IndexError)):
        evaluate_values(values)


def test_statements_split_outside_strings_and_comments() -> None:
    lines = [
        "PRAGMA defer_foreign_keys=TRUE;\n",
        "-- a comment; with 'quote\n",
        "CREATE TABLE t (a TEXT, -- don't split here, 'x'\n",
        "  b INT);\n",
        "INSERT INTO t VALUES('semi; colon\n",
        "and -- not a comment', 1);\n",
    ]
    got = [s for _, s in statements(iter(lines))]
    assert got[0] == "PRAGMA defer_foreign_keys=TRUE;\n"
    assert got[1] == "CREATE TABLE t (a TEXT, \n  b INT);\n"
    assert got[2] == "INSERT INTO t VALUES('semi; colon\nand -- not a comment', 1);\n"


def test_parse_create_reads_names_only() -> None:
    cols = parse_create('"Lead""Id" INTEGER PRIMARY KEY, Name TEXT DEFAULT (\'a,b\'), x, CHECK (x > 0)')
    assert cols == [('Lead"Id', "INTEGER"), ("Name", "TEXT"), ("x", "")]


def test_dump_is_never_executed(tmp_path: Path) -> None:
    target = tmp_path / "pwned.db"
    dump = tmp_path / "evil.sql"
    dump.write_text(
        f"ATTACH DATABASE '{target}' AS pwn;\n"
        "CREATE TABLE pwn.x (a);\n"
        'CREATE TABLE "TestingLeads" (Id INTEGER PRIMARY KEY, ReceivedAt TEXT, ProjectName TEXT);\n'
        "CREATE TRIGGER t AFTER INSERT ON TestingLeads BEGIN\n"
        "  INSERT INTO TestingLeads VALUES (99, '2026-03-07T00:00:00Z', 'trigger');\n"
        "END;\n"
        "INSERT INTO \"TestingLeads\" VALUES(1,'2026-03-07T01:00:00Z','ok');\n"
        "INSERT INTO BlockedIPs VALUES('203.0.113.9','honeypot',NULL);\n"
    )
    con = load_dump(str(dump), {"TestingLeads": "Id", "Leads": "LeadId"})
    assert con.execute("SELECT * FROM TestingLeads").fetchall() == [(1, "2026-03-07T01:00:00Z", "ok")]
    assert [r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type = 'table'")] == ["TestingLeads"]
    assert not target.exists()
    bad = tmp_path / "bad.sql"
    bad.write_text("INSERT INTO \"TestingLeads\" VALUES(1, load_extension('/tmp/x.so'));\n")
    with pytest.raises(InputError, match=r"bad.sql:1: .*load_extension\(\) is not allowed"):
        load_dump(str(bad), {"TestingLeads": "Id"})
