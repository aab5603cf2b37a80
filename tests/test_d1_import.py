"""D1 import from real SQLite files built from d1_schema.sql, into real DuckDB stores."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

import leadstats
from d1_fixtures import NBSP, NNBSP, build_small, create
from leadstats.cli import app
from leadstats.sources.d1 import hash_lead_id, import_d1, lead_id_secret
from leadstats.sources.d1.sql import enquiry_match_sql, enquiry_time_sql, utc_time_sql

DAY = ("2026-03-06", "2026-03-09")
runner = CliRunner()


def events(ls: leadstats.LeadStats) -> dict[str, dict[str, Any]]:
    cols = ["event_id", "event_type", "occurred_at", "project", "source", "referer", "cta", "utm_source",
            "utm_medium", "utm_campaign", "engagement_label", "vpn", "suspicion_score", "country", "region",
            "city", "phone_country_code", "lead_id"]
    rows = ls.store.execute(f"SELECT {', '.join(cols)} FROM events")  # type: ignore[attr-defined]
    return {r[0]: dict(zip(cols, r, strict=True)) for r in rows}


@pytest.fixture
def small(tmp_path: Path) -> tuple[Path, Any]:
    path = tmp_path / "d1.sqlite"
    return path, build_small(path)


def test_small_database_maps_every_rule(small: tuple[Path, Any], db_path: str) -> None:
    path, planted = small
    with leadstats.connect(db_path) as ls:
        report = import_d1(ls, str(path))
        totals = ls.report(*DAY).totals
        ev = events(ls)
        secret = lead_id_secret(ls)
    for name, count in planted.totals.items():
        assert totals[name] == count, name
    assert sorted((e.table, e.key, e.column) for e in report.errors) == sorted(planted.bad)
    # primary submission: VPN/suspicion/engagement from Leads; cta/utm/city from PayloadJson; country normalized
    s1 = ev["d1:LeadSubmissions:1"]
    assert (s1["event_type"], s1["vpn"], s1["suspicion_score"], s1["engagement_label"]) == ("primary", True, 55, "Hot")
    assert (s1["cta"], s1["utm_medium"], s1["country"], s1["city"], s1["region"]) == (
        "hero", "cpc", "IN", "Mysuru", "Karnataka")
    assert s1["lead_id"] == hash_lead_id(secret, "1") and len(s1["lead_id"]) == 64
    # follow-up keeps its own payload, lead attributes still from Leads
    assert ev["d1:LeadSubmissions:2"]["event_type"] == "follow_up"
    assert ev["d1:LeadSubmissions:2"]["cta"] == "footer"
    # 'very hot' label normalized; empty row Source falls back to Leads.ProjectSource
    assert ev["d1:LeadSubmissions:3"]["engagement_label"] == "Very Hot"
    assert ev["d1:LeadSubmissions:3"]["source"] == "google"
    assert ev["d1:LeadSubmissions:3"]["utm_source"] is None
    # malformed PayloadJson: dimensions come from Leads; '' project/source fall back to Leads too
    s4 = ev["d1:LeadSubmissions:4"]
    assert (s4["country"], s4["city"], s4["cta"]) == ("US", "San Jose", None)
    s5 = ev["d1:LeadSubmissions:5"]
    assert (s5["project"], s5["source"]) == ("Harbor", "meta")
    # lead 4 has only a follow-up: it is a legacy primary of its own, timed by CreatedAt
    assert ev["d1:Leads:4"]["event_type"] == "primary"
    assert "d1:Leads:1" not in ev and "d1:Leads:2" not in ev and "d1:Leads:3" not in ev
    # bot / blocked by Reason (case-insensitive), test rows
    assert ev["d1:BlockedIPLeads:1"]["event_type"] == "bot"
    assert ev["d1:BlockedIPLeads:2"]["event_type"] == "blocked"
    assert ev["d1:BlockedIPLeads:3"]["event_type"] == "bot"
    assert ev["d1:TestingLeads:1"]["event_type"] == "test"
    assert ev["d1:TestingLeads:2"]["referer"] == "https://harbor.example/a\nb"


def test_time_formats(small: tuple[Path, Any], db_path: str) -> None:
    path, _ = small
    with leadstats.connect(db_path) as ls:
        import_d1(ls, str(path))
        ev = events(ls)
    when = {k: v["occurred_at"].isoformat() for k, v in ev.items()}
    assert when["d1:LeadSubmissions:1"] == "2026-03-07T04:30:00"  # SubmittedAt, UTC
    assert when["d1:TestingLeads:1"] == "2026-03-07T10:15:00.123000"  # ReceivedAt ISO Z
    assert when["d1:BlockedIPLeads:3"] == "2026-03-07T09:10:00"  # ReceivedAt without T/Z
    assert when["d1:Leads:5"] == "2026-03-07T08:15:00"  # CreatedAt
    assert when["d1:Leads:6"] == "2026-03-07T10:15:00"  # 3:45:00 pm IST
    assert when["d1:Leads:7"] == "2026-03-07T05:35:00"  # U+202F before am, CreatedAt ''
    assert when["d1:Leads:8"] == "2026-03-07T15:30:00"  # U+00A0 before PM
    assert when["d1:Leads:9"] == "2026-03-06T18:35:05"  # 24:05:05 = 00:05:05 IST
    assert when["d1:Leads:10"] == "2026-03-06T18:35:05"  # 12:05:05 am; CreatedAt unreadable -> EnquiryDateTime


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("7/3/2026, 3:45:00 pm", "2026-03-07 10:15:00+00"),
        (f"7/3/2026, 3:45:00{NNBSP}PM", "2026-03-07 10:15:00+00"),
        (f"07/03/2026, 03:45:00{NBSP}p.m.", "2026-03-07 10:15:00+00"),
        ("1/1/2026, 12:00:00 am", "2025-12-31 18:30:00+00"),
        ("1/1/2026, 12:00:00 pm", "2026-01-01 06:30:00+00"),
        ("1/1/2026, 24:00:01", "2025-12-31 18:30:01+00"),
        ("1/1/2026, 13:00:00", "2026-01-01 07:30:00+00"),
        ("1/1/2026, 9:15", "2026-01-01 03:45:00+00"),
        ("31/12/2025, 11:59:59 PM", "2025-12-31 18:29:59+00"),
        ("29/2/2026, 1:00:00 pm", None),
        ("1/13/2026, 1:00:00 pm", None),
        ("1/1/2026, 13:00:00 pm", None),
        ("1/1/2026, 10:61:00 am", None),
        ("2026-03-07 10:00:00", None),
        ("", None),
    ],
)
def test_enquiry_datetime_parser(text: str, expected: str | None) -> None:
    import duckdb

    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    row = con.execute(
        f"SELECT CAST({enquiry_time_sql('m', 330)} AS VARCHAR) FROM (SELECT {enquiry_match_sql('$1')} AS m)",
        [text],
    ).fetchone()
    assert row is not None and row[0] == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-03-07 04:30:00", "2026-03-07 04:30:00+00"),
        ("2026-03-07T10:15:00.123Z", "2026-03-07 10:15:00.123+00"),
        ("2026-03-07T10:15:00+05:30", "2026-03-07 04:45:00+00"),
        ("2026-03-07 04:30", "2026-03-07 04:30:00+00"),
        ("2026-02-30 04:30:00", None),
        ("2026/03/07 04:30:00", None),
        ("yesterday", None),
    ],
)
def test_utc_time_parser(text: str, expected: str | None) -> None:
    import duckdb

    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    row = con.execute(f"SELECT CAST({utc_time_sql('$1')} AS VARCHAR)", [text]).fetchone()
    assert row is not None and row[0] == expected


def test_second_import_adds_nothing_and_full_rescan_does_not_double(small: tuple[Path, Any], db_path: str) -> None:
    path, planted = small
    with leadstats.connect(db_path) as ls:
        first = import_d1(ls, str(path))
        again = import_d1(ls, str(path))
        assert (again.read, again.accepted, again.error_count) == (0, 0, 0)
        full = import_d1(ls, str(path), full=True)
        assert full.accepted == 0 and full.duplicates == first.accepted
        assert full.error_count == first.error_count  # full rescan reports the unreadable rows again
        assert ls.report(*DAY).totals["received"] == planted.totals["received"]


def test_new_rows_are_picked_up_and_late_primary_is_not_counted_twice(small: tuple[Path, Any], db_path: str) -> None:
    path, planted = small
    with leadstats.connect(db_path) as ls:
        import_d1(ls, str(path))
        con = sqlite3.connect(path)
        # lead 5 was a legacy lead; its primary submission shows up late (a write racing the import)
        con.execute("INSERT INTO LeadSubmissions (LeadId, ProjectName, IsPrimaryLead, SubmittedAt)"
                    " VALUES (5, 'Skyline', 1, '2026-03-07 08:15:05')")
        con.execute("INSERT INTO LeadSubmissions (LeadId, ProjectName, IsPrimaryLead, SubmittedAt)"
                    " VALUES (5, 'Skyline', 0, '2026-03-07 09:00:00')")
        con.execute("INSERT INTO TestingLeads (IP, ProjectName, ReceivedAt) VALUES ('10.9.9.9', 'X',"
                    " '2026-03-07T12:00:00Z')")
        con.commit()
        con.close()
        report = import_d1(ls, str(path))
        totals = ls.report(*DAY).totals
        assert report.accepted == 2
        assert report.tables["LeadSubmissions"].superseded == 1
        assert totals["primary"] == planted.totals["primary"]
        assert totals["follow_up"] == planted.totals["follow_up"] + 1
        assert totals["test"] == planted.totals["test"] + 1
        full = import_d1(ls, str(path), full=True)
        assert full.accepted == 0
        assert ls.report(*DAY).totals == totals


def test_cli_import_reports_unreadable_rows_and_exits_1(small: tuple[Path, Any], db_path: str) -> None:
    path, planted = small
    result = runner.invoke(app, ["import", "d1", str(path), "--db", db_path])
    assert result.exit_code == 1, result.output
    out = result.output
    assert "LeadSubmissions 7: SubmittedAt '2026/03/07 05:10': cannot be read as a time" in out
    assert "BlockedIPLeads 4: ReceivedAt 'yesterday'" in out
    assert "imported 18 events" in out
    for secret in planted.pii:
        assert secret not in out
    again = runner.invoke(app, ["import", "d1", str(path), "--db", db_path])
    assert again.exit_code == 0, again.output
    assert "imported 0 events" in again.output


def test_cli_refuses_unknown_source_and_missing_columns(tmp_path: Path, db_path: str) -> None:
    bad = runner.invoke(app, ["import", "d1", str(tmp_path / "x.csv"), "--db", db_path])
    assert bad.exit_code == 2 and "unknown D1 source" in bad.output
    path = tmp_path / "odd.sqlite"
    con = sqlite3.connect(path)
    con.execute("CREATE TABLE LeadSubmissions (SubmissionId INTEGER PRIMARY KEY, LeadId INTEGER)")
    con.close()
    res = runner.invoke(app, ["import", "d1", str(path), "--db", db_path])
    assert res.exit_code == 2 and "has no column IsPrimaryLead, SubmittedAt" in res.output


def test_pii_never_reaches_the_store_file(small: tuple[Path, Any], tmp_path: Path) -> None:
    path, planted = small
    store = tmp_path / "pii.duckdb"
    with leadstats.connect(str(store)) as ls:
        import_d1(ls, str(path))
        # a control value proves the byte scan can see plain strings in this file
        ls.ingest([{"event_id": "control", "event_type": "test", "occurred_at": "2026-03-07T00:00:00Z",
                    "project": "CONTROL-MARKER-7f3a"}])
        values = ls.store.execute(  # type: ignore[attr-defined]
            "SELECT string_agg(CAST(COLUMNS(*) AS VARCHAR), '|') FROM events")
        state = ls.store.execute("SELECT string_agg(key || value, '|') FROM leadstats_state")  # type: ignore[attr-defined]
        ls.store._con.execute("CHECKPOINT")  # type: ignore[attr-defined]
    text = " ".join(str(v) for v in values[0]) + str(state[0])
    raw = b"".join(p.read_bytes() for p in tmp_path.iterdir() if p.name.startswith("pii.duckdb"))
    assert b"CONTROL-MARKER-7f3a" in raw
    for secret in planted.pii:
        assert secret not in text, secret
        assert secret.encode() not in raw, secret
        assert secret.encode("utf-16-le") not in raw, secret


def test_source_without_optional_columns_and_tables(tmp_path: Path, db_path: str) -> None:
    path = tmp_path / "minimal.db"
    con = sqlite3.connect(path)
    con.execute("CREATE TABLE Leads (LeadId INTEGER PRIMARY KEY, ProjectName TEXT, CreatedAt TEXT)")
    con.execute("INSERT INTO Leads VALUES (1, 'Solo', '2026-03-07 05:00:00'), (2, 'Solo', NULL)")
    con.commit()
    con.close()
    with leadstats.connect(db_path) as ls:
        report = import_d1(ls, str(path))
        assert report.accepted == 1 and report.error_count == 1
        assert any("no table LeadSubmissions" in n for n in report.notes)
        assert any("Leads: no column" in n and "EnquiryDateTime" in n for n in report.notes)
        assert ls.report(*DAY).totals["primary"] == 1


def test_prefix_keeps_two_databases_apart(small: tuple[Path, Any], tmp_path: Path, db_path: str) -> None:
    path, planted = small
    other = tmp_path / "other.sqlite"
    build_small(other)
    with leadstats.connect(db_path) as ls:
        import_d1(ls, str(path))
        second = import_d1(ls, str(other), prefix="site-b")
        assert second.accepted == planted.totals["received"]
        assert ls.report(*DAY).totals["received"] == 2 * planted.totals["received"]


def test_schema_only_database_imports_nothing(tmp_path: Path, db_path: str) -> None:
    path = tmp_path / "empty.sqlite3"
    create(path).close()
    with leadstats.connect(db_path) as ls:
        report = import_d1(ls, str(path))
    assert (report.read, report.accepted, report.error_count, report.notes) == (0, 0, 0, [])


def test_times_outside_the_store_range_are_reported_with_their_column(tmp_path: Path, db_path: str) -> None:
    path = tmp_path / "old.sqlite"
    con = create(path)
    con.execute("INSERT INTO TestingLeads (Id, IP, ProjectName, ReceivedAt) VALUES (1, '10.0.0.1', 'P',"
                " '1900-01-01T00:00:00Z'), (2, '10.0.0.2', 'P', '2026-03-07T00:00:00Z')")
    con.commit()
    con.close()
    with leadstats.connect(db_path) as ls:
        report = import_d1(ls, str(path))
    assert report.accepted == 1
    assert [(e.table, e.key, e.column) for e in report.errors] == [("TestingLeads", 1, "ReceivedAt")]
    assert "1970..2199" in report.errors[0].message


def _one_table(db: Path, table: str, out: Path, *, dump: bool) -> Path:
    """What ``wrangler d1 export --table TABLE`` gives: the database with only that table."""
    import shutil

    from d1_fixtures import dump_sql

    copy = out.with_suffix(".sqlite")
    shutil.copy(db, copy)
    con = sqlite3.connect(copy)
    for (name,) in con.execute("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'")\
            .fetchall():
        if name != table:
            con.execute(f'DROP TABLE "{name}"')
    con.commit()
    con.close()
    if not dump:
        return copy
    dump_sql(copy, out)
    return out


def _event_keys(ls: leadstats.LeadStats) -> set[tuple[Any, ...]]:
    """Every stored column but lead_id (each store hashes it under its own secret)."""
    return {tuple(v for k, v in e.items() if k != "lead_id") for e in events(ls).values()}


@pytest.mark.parametrize("dump", [False, True])
@pytest.mark.parametrize("order", [("LeadSubmissions", "Leads"), ("Leads", "LeadSubmissions")])
def test_per_table_exports_in_any_order_equal_one_whole_import(
    small: tuple[Path, Any], tmp_path: Path, order: tuple[str, str], dump: bool
) -> None:
    """Issue 11.4: per-table exports give the events of one whole import, in either order."""
    path, planted = small
    with leadstats.connect(str(tmp_path / "whole.duckdb")) as ls:
        import_d1(ls, str(path))
        whole, whole_totals = _event_keys(ls), ls.report(*DAY).totals
    whole = {k for k in whole if k[0].split(":")[1] in order}
    assert len({k[0] for k in whole}) == len(whole)
    parts = [_one_table(path, t, tmp_path / f"{t}.sql", dump=dump) for t in order]
    with leadstats.connect(str(tmp_path / "parts.duckdb")) as ls:
        first = import_d1(ls, str(parts[0]))
        second = import_d1(ls, str(parts[1]))
        got, totals = _event_keys(ls), ls.report(*DAY).totals
        assert import_d1(ls, str(parts[0]), full=True).accepted == 0  # re-runs add nothing, either file
        assert import_d1(ls, str(parts[1]), full=True).accepted == 0
        assert _event_keys(ls) == got
    assert got == whole
    other = ("received", "test", "bot", "blocked")  # rows of the two tables left out of these exports
    assert {k: v for k, v in totals.items() if k not in other} == {
        k: v for k, v in whole_totals.items() if k not in other}  # hot, vpn, suspicious: the lead's values
    assert totals["primary"] == planted.totals["primary"]
    assert first.accepted + second.accepted == len(whole)
    if order[0] == "Leads":  # leads 1-3 were stored as legacy; their primary submissions replace them
        assert second.tables["LeadSubmissions"].removed == 3
        assert "3 legacy-lead events replaced by their primary submissions" in second.summary()
    else:
        assert second.tables["Leads"].superseded == 3
        assert "Leads rows with a stored primary submission: 3 superseded" in second.summary()
    assert second.duplicates == 0


def test_lead_id_is_hashed_the_same_on_every_path(small: tuple[Path, Any], db_path: str) -> None:
    """Issue 16.17: one lead gives one stored lead_id whether it came from D1, HTTP-style ingest or a file."""
    path, _ = small
    with leadstats.connect(db_path) as ls:
        import_d1(ls, str(path))
        ls.ingest([{"event_id": "http-1", "event_type": "follow_up", "occurred_at": "2026-03-07T10:00:00Z",
                    "lead_id": "1"}])
        ev = events(ls)
        secret = lead_id_secret(ls)
    assert ev["http-1"]["lead_id"] == ev["d1:LeadSubmissions:1"]["lead_id"] == hash_lead_id(secret, "1")


def test_leads_export_after_a_whole_import_adds_no_legacy_leads(small: tuple[Path, Any], tmp_path: Path,
                                                               db_path: str) -> None:
    """A Leads-only export after a whole import: the stored primary submissions keep leads 1-3 from
    being counted again as legacy leads (issue 11.4's double count)."""
    path, planted = small
    leads = _one_table(path, "Leads", tmp_path / "Leads.sql", dump=True)
    with leadstats.connect(db_path) as ls:
        import_d1(ls, str(path))
        before = ls.report(*DAY).totals
        again = import_d1(ls, str(leads), full=True)
        assert again.accepted == 0 and again.tables["Leads"].superseded == 3
        assert ls.report(*DAY).totals == before
    assert before["primary"] == planted.totals["primary"]


def test_later_submission_of_an_imported_lead_is_completed_by_a_full_leads_pass(
        small: tuple[Path, Any], tmp_path: Path, db_path: str) -> None:
    path, _ = small
    subs = _one_table(path, "LeadSubmissions", tmp_path / "subs.sql", dump=False)
    leads = _one_table(path, "Leads", tmp_path / "leads.sql", dump=False)
    with leadstats.connect(db_path) as ls:
        import_d1(ls, str(subs))
        import_d1(ls, str(leads))
        con = sqlite3.connect(subs)
        con.execute("INSERT INTO LeadSubmissions (SubmissionId, LeadId, ProjectName, IsPrimaryLead, SubmittedAt)"
                    " VALUES (50, 1, 'Skyline', 0, '2026-03-07 09:00:00')")
        con.commit()
        con.close()
        assert import_d1(ls, str(subs)).accepted == 1
        assert events(ls)["d1:LeadSubmissions:50"]["engagement_label"] is None
        done = import_d1(ls, str(leads), full=True)
        assert done.accepted == 0 and done.tables["Leads"].completed == 1
        s50 = events(ls)["d1:LeadSubmissions:50"]
    assert (s50["engagement_label"], s50["vpn"], s50["suspicion_score"]) == ("Hot", True, 55)
