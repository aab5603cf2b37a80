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


def _hostile_dump(db: Path, out: Path) -> None:
    """The dump of ``db`` with what real dumps and hand edits hold: a block comment with an apostrophe
    inside CREATE TABLE, quoted identifiers, BEGIN/COMMIT, a view and a trigger holding ';', ANALYZE and
    sqlite_stat1 rows, a comment between statements."""
    dump_sql(db, out)
    text = out.read_text()
    text = text.replace("CREATE TABLE Leads (", "CREATE TABLE \"Leads\" ( /* the lead's row; one per person */", 1)
    text = text.replace("ProjectSource      TEXT,", "ProjectSource      TEXT /* the lead's source */,", 1)
    text = text.replace("PRAGMA defer_foreign_keys=TRUE;", "PRAGMA defer_foreign_keys=TRUE;\nBEGIN TRANSACTION;\n"
                        "/* it's a dump;\n   written by hand */", 1)
    text += (
        "CREATE VIEW \"v;x\" AS SELECT 'a;b' AS c /* don't */;\n"
        "CREATE TRIGGER trg AFTER INSERT ON TestingLeads BEGIN\n"
        "  INSERT INTO TestingLeads (ProjectName, ReceivedAt) VALUES ('x;y', '2026-03-07T00:00:00Z');\n"
        "END;\n"
        "ANALYZE;\n"
        "INSERT INTO sqlite_stat1 VALUES('Leads','idx_leads_created','10 1');\n"
        "INSERT INTO \"TestingLeads\" (\"Id\",\"ProjectName\",\"ReceivedAt\") VALUES(900,'it''s /* not a comment',"
        "'2026-03-07T02:00:00Z'); -- a trailing comment with an apostrophe: it's fine\n"
        "COMMIT;\n"
    )
    out.write_text(text)


def test_hostile_dump_loses_no_rows(tmp_path: Path) -> None:
    """Issue 11.3: a /* ... */ comment holding an apostrophe used to swallow the INSERTs after it."""
    db = tmp_path / "d1.sqlite"
    build_small(db)
    dump = tmp_path / "dump.sql"
    _hostile_dump(db, dump)
    import sqlite3

    con = sqlite3.connect(db)
    con.execute("INSERT INTO TestingLeads (Id, ProjectName, ReceivedAt) VALUES"
                " (900, 'it''s /* not a comment', '2026-03-07T02:00:00Z')")
    con.commit()
    con.close()
    from_file, from_dump = str(tmp_path / "a.duckdb"), str(tmp_path / "b.duckdb")
    with leadstats.connect(from_file) as ls:
        a = import_d1(ls, str(db))
    with leadstats.connect(from_dump) as ls:
        b = import_d1(ls, str(dump))
    assert a.read == b.read and a.accepted == b.accepted == 19
    assert b.tables["Leads"].read == a.tables["Leads"].read > 0
    assert full_report(from_file) == full_report(from_dump)


def test_statements_follow_sqlite_rules() -> None:
    lines = [
        "CREATE TABLE \"a;b\" (x TEXT /* it's; */, [y;z] INT, `w;` INT);\n",
        "/* only a comment */\n",
        "CREATE TRIGGER t AFTER INSERT ON x BEGIN\n",
        "  INSERT INTO y VALUES (1);\n",
        "END;\n",
        "INSERT INTO x VALUES ('a /* b'); -- it's\n",
    ]
    got = [s for _, s in statements(iter(lines))]
    assert got[0] == "CREATE TABLE \"a;b\" (x TEXT  , [y;z] INT, `w;` INT);\n"
    assert got[1].startswith("CREATE TRIGGER") and got[1].rstrip().endswith("END;")
    assert got[2].startswith("INSERT INTO x VALUES ('a /* b');")
    assert parse_create("x TEXT  , [y;z] INT, `w;` INT") == [("x", "TEXT"), ("y;z", "INT"), ("w;", "INT")]


def test_dump_ending_inside_a_comment_fails_loudly(tmp_path: Path, db_path: str) -> None:
    from typer.testing import CliRunner

    from leadstats.cli import app

    dump = tmp_path / "cut.sql"
    dump.write_text(
        'CREATE TABLE "TestingLeads" (Id INTEGER PRIMARY KEY, ReceivedAt TEXT, ProjectName TEXT);\n'
        "/* an unclosed comment\n"
        "INSERT INTO \"TestingLeads\" VALUES(1,'2026-03-07T01:00:00Z','ok');\n"
    )
    result = CliRunner().invoke(app, ["import", "d1", str(dump), "--db", db_path])
    assert result.exit_code != 0
    assert "cut.sql:2: the dump ends inside a statement" in result.output


def test_short_read_fails_with_exit_1(tmp_path: Path, db_path: str) -> None:
    """Rows the pages cannot reach (two rows with one key across a page boundary) fail the import."""
    from typer.testing import CliRunner

    from leadstats.cli import app

    dump = tmp_path / "dup.sql"
    dump.write_text(
        'CREATE TABLE "TestingLeads" (Id INTEGER, ReceivedAt TEXT, ProjectName TEXT);\n'
        "INSERT INTO \"TestingLeads\" VALUES(1,'2026-03-07T01:00:00Z','ok');\n"
        "INSERT INTO \"TestingLeads\" VALUES(1,'2026-03-07T01:00:00Z','twin');\n"
        "INSERT INTO \"TestingLeads\" VALUES(2,'2026-03-07T02:00:00Z','ok');\n"
    )
    result = CliRunner().invoke(app, ["import", "d1", str(dump), "--db", db_path, "--batch-size", "1"])
    assert result.exit_code == 1, result.output
    assert "the source holds 3 rows, the import read 2" in result.output
