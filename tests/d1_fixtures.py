"""Builders of real D1 (SQLite) databases from ``/work/shared/spec/d1_schema.sql``, for tests and benchmarks.

``build_small`` writes a hand-made database that covers every mapping rule and time format, and returns
what an independent reading of CONTRACT §6 expects from it plus the PII it planted. ``build_bulk`` fills a
database with ``n`` rows in SQL (no Python loop per row), for the speed benchmark and batch tests.
``dump_sql`` writes a ``wrangler d1 export``-style SQL dump of a database.
"""

from __future__ import annotations

import json
import os
import sqlite3
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

SCHEMA_CANDIDATES = (
    Path(os.environ.get("LEADSTATS_D1_SCHEMA", "/nonexistent")),
    Path(__file__).resolve().parents[2] / "shared" / "spec" / "d1_schema.sql",  # shared/ beside the repo
    Path(__file__).resolve().parents[1] / "docs" / "d1_schema.sql",  # the repo's copy
)

NNBSP = "\u202f"
NBSP = "\u00a0"


def schema_sql() -> str:
    for path in SCHEMA_CANDIDATES:
        if path.exists():
            return path.read_text()
    raise FileNotFoundError("d1_schema.sql not found; set LEADSTATS_D1_SCHEMA")


def create(path: str | Path) -> sqlite3.Connection:
    """A new D1 database at ``path`` with the contract schema."""
    con = sqlite3.connect(str(path))
    con.executescript(schema_sql())
    return con


@dataclass
class Planted:
    """What ``build_small`` put in: expected counts, and the PII that must never reach the store."""

    totals: dict[str, int]
    pii: list[str] = field(default_factory=list)
    bad: list[tuple[str, int, str]] = field(default_factory=list)  # (table, key, column) reported as bad


def _lead(con: sqlite3.Connection, lead_id: int, **cols: Any) -> None:
    base = {
        "LeadId": lead_id,
        "ProjectName": "Skyline",
        "ProjectSource": "google",
        "ContactName": f"Asha Verma{lead_id}",
        "ContactEmail": f"asha{lead_id}@mail.example",
        "ContactPhone": f"+91 98450 {lead_id:05d}",
        "ContactCountryCode": "+91",
        "ContactCountryName": "India",
        "ContactRegion": "Karnataka",
        "ContactCity": "Bengaluru",
        "Referer": "https://skyline.example/pricing",
        "EnquiryDateTime": None,
        "CreatedAt": None,
        "LeadScore": 10,
        "EngagementLabel": "Warm",
        "VpnSuspected": 0,
        "SuspicionScore": 0,
        "SuspicionReasons": "[]",
        "Status": "new",
    }
    base.update(cols)
    names = ", ".join(base)
    con.execute(f"INSERT INTO Leads ({names}) VALUES ({', '.join('?' * len(base))})", list(base.values()))


def _payload(lead_id: int, **extra: Any) -> str:
    body = {
        "name": f"Asha Verma{lead_id}",
        "email": f"asha{lead_id}@mail.example",
        "phone": f"+91 98450 {lead_id:05d}",
        "cta": "hero",
        "utm_source": "google",
        "utm_medium": "cpc",
        "utm_campaign": "spring",
    }
    body.update(extra)
    return json.dumps({k: v for k, v in body.items() if v is not None}, ensure_ascii=False)


def build_small(path: str | Path) -> Planted:
    """A database exercising every rule of CONTRACT §6 and every time format.

    All valid events fall on 2026-03-07 IST (2026-03-06T18:30Z .. 2026-03-07T18:30Z) except those that
    say otherwise below; ``Planted.totals`` are the whole-database totals of a correct import.
    """
    con = create(path)
    pii: list[str] = []
    for i in range(1, 13):
        pii += [f"Asha Verma{i}", f"asha{i}@mail.example", f"+91 98450 {i:05d}"]
    # Leads 1..4 have submissions (primary + follow-ups).
    _lead(con, 1, CreatedAt="2026-03-07 04:30:00", EngagementLabel="Hot", VpnSuspected=1, SuspicionScore=55,
          SuspicionReasons="vpn\nfast submit")
    _lead(con, 2, CreatedAt="2026-03-07 05:00:00", EngagementLabel="very hot", ContactCountryName="IN")
    _lead(con, 3, CreatedAt="2026-03-07 06:00:00", EngagementLabel=None, ContactCountryName="United States",
          ProjectName="Harbor", ProjectSource="meta", ContactRegion="California", ContactCity="San Jose")
    _lead(con, 4, CreatedAt="2026-03-07 07:00:00", EngagementLabel="Cold", SuspicionScore=40)
    # Legacy leads (no primary submission): each time format of EnquiryDateTime / CreatedAt.
    _lead(con, 5, CreatedAt="2026-03-07 08:15:00")                                  # CreatedAt
    _lead(con, 6, EnquiryDateTime="7/3/2026, 3:45:00 pm")                           # 10:15Z
    _lead(con, 7, EnquiryDateTime=f"7/3/2026, 11:05:00{NNBSP}am", CreatedAt="")     # U+202F, 05:35Z
    _lead(con, 8, EnquiryDateTime=f"7/3/2026, 9:00:00{NBSP}PM")                     # U+00A0, PM, 15:30Z
    _lead(con, 9, EnquiryDateTime="7/3/2026, 24:05:05")                             # 00:05:05 IST = 6th 18:35Z
    _lead(con, 10, EnquiryDateTime="7/3/2026, 12:05:05 am", CreatedAt="not a time")  # 6th 18:35:05Z
    _lead(con, 11, EnquiryDateTime="31/2/2026, 1:00:00 pm")                         # bad: no 31 Feb
    _lead(con, 12, EnquiryDateTime=None, CreatedAt=None, EngagementLabel="Hot")     # bad: no time at all
    # Lead 4 has only a follow-up submission: it is a legacy primary too (timed by its CreatedAt).
    subs = [
        # (id, lead, project, source, referer, primary, payload, submitted)
        (1, 1, "Skyline", "google", None, 1, _payload(1, user_country="India", user_city="Mysuru"),
         "2026-03-07 04:30:00"),
        (2, 1, "Skyline", "google", None, 0, _payload(1, cta="footer"), "2026-03-07 04:40:00"),
        (3, 2, "Skyline", None, "https://skyline.example/", 1, _payload(2, utm_source=None, cta="popup"),
         "2026-03-07 05:00:00"),
        (4, 3, "Harbor", "meta", None, 1, "{not json", "2026-03-07 06:00:00"),
        (5, 3, "", "", None, 0, None, "2026-03-07 06:30:00"),
        (6, 4, "Skyline", "google", None, 0, _payload(4, user_country="in"), "2026-03-07 07:10:00"),
        (7, 2, "Skyline", "google", None, 0, _payload(2), "2026/03/07 05:10"),  # bad SubmittedAt
    ]
    con.executemany(
        "INSERT INTO LeadSubmissions (SubmissionId, LeadId, ProjectName, Source, Referer, IsPrimaryLead,"
        " PayloadJson, SubmittedAt) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        subs,
    )
    ips = ["203.0.113.7", "198.51.100.23", "192.0.2.44", "2001:db8::17"]
    pii += ips
    con.executemany(
        "INSERT INTO TestingLeads (Id, IP, ProjectName, Source, Referer, PayloadJson, ReceivedAt)"
        " VALUES (?, ?, ?, ?, ?, ?, ?)",
        [
            (1, ips[0], "Skyline", "direct", None, _payload(90, cta="test"), "2026-03-07T10:15:00.123Z"),
            (2, ips[0], "Harbor", None, "https://harbor.example/a\nb", None, "2026-03-07T11:00:00Z"),
        ],
    )
    con.executemany(
        "INSERT INTO BlockedIPLeads (Id, IP, Reason, ProjectName, Source, Referer, PayloadJson, ReceivedAt)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        [
            (1, ips[1], "honeypot", "Skyline", "google", None, _payload(91), "2026-03-07T09:00:00.000Z"),
            (2, ips[2], "blocked_ip", "Skyline", "google", None, None, "2026-03-07T09:05:00Z"),
            (3, ips[3], "Honeypot", "Harbor", None, "https://harbor.example/?x='y'", None,
             "2026-03-07 09:10:00"),
            (4, ips[1], "blocked_ip", "Skyline", None, None, None, "yesterday"),  # bad ReceivedAt
        ],
    )
    con.execute("INSERT INTO BlockedIPs (IP, Reason) VALUES (?, 'honeypot')", (ips[1],))
    con.commit()
    con.close()
    totals = {
        # primary: subs 1, 3, 4 + legacy leads 4..10 (11, 12 bad); follow_up: subs 2, 5, 6 (7 bad)
        "primary": 3 + 7,
        "follow_up": 3,
        "test": 2,
        "bot": 2,
        "blocked": 1,
    }
    totals["submissions"] = totals["primary"] + totals["follow_up"]
    totals["received"] = totals["submissions"] + totals["test"] + totals["bot"] + totals["blocked"]
    bad = [
        ("Leads", 11, "EnquiryDateTime"),
        ("Leads", 12, "CreatedAt/EnquiryDateTime"),
        ("LeadSubmissions", 7, "SubmittedAt"),
        ("BlockedIPLeads", 4, "ReceivedAt"),
    ]
    return Planted(totals, pii, bad)


def build_bulk(path: str | Path, n: int, *, legacy_every: int = 10) -> dict[str, int]:
    """About ``n`` rows over the four imported tables, generated in SQL; returns rows per table.

    Per 20 rows: 5 Leads, 10 LeadSubmissions (5 primary except legacy leads, 5 follow-ups), 1 TestingLeads,
    4 BlockedIPLeads. Every ``legacy_every``-th lead has no primary submission and only an
    EnquiryDateTime (IST, D/M/YYYY with am/pm), so the slow path of time parsing is exercised too.
    """
    con = create(path)
    con.execute("PRAGMA journal_mode = OFF")
    con.execute("PRAGMA synchronous = OFF")
    leads = max(1, n // 4)
    subs = n // 2
    tests = n // 20
    blocked = n - leads - subs - tests
    t0 = "unixepoch('2026-01-01')"
    con.execute(
        f"""WITH RECURSIVE k(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM k WHERE i < {leads}),
        t AS (SELECT i, {t0} + i * 7 AS ts FROM k),
        ist AS (SELECT i, ts, datetime(ts + 19800, 'unixepoch') AS loc FROM t)
        INSERT INTO Leads (LeadId, ProjectName, ProjectSource, ContactName, ContactEmail, ContactPhone,
          ContactCountryCode, ContactCountryName, ContactRegion, ContactCity, Referer, EnquiryDateTime,
          CreatedAt, LeadScore, EngagementLabel, VpnSuspected, SuspicionScore, Status)
        SELECT i, 'Project ' || (i % 9), CASE i % 3 WHEN 0 THEN 'google' WHEN 1 THEN 'meta' ELSE 'direct' END,
          'Person ' || i, 'person' || i || '@mail.example', '+91 98' || printf('%08d', i), '+91',
          CASE i % 4 WHEN 0 THEN 'India' WHEN 1 THEN 'IN' WHEN 2 THEN 'in' ELSE 'United Arab Emirates' END,
          'Region ' || (i % 5), 'City ' || (i % 11), 'https://site.example/p/' || (i % 13),
          CAST(strftime('%d', loc) AS INTEGER) || '/' || CAST(strftime('%m', loc) AS INTEGER) || '/'
            || strftime('%Y', loc) || ', '
            || ((CAST(strftime('%H', loc) AS INTEGER) + 11) % 12 + 1) || strftime(':%M:%S', loc)
            || CASE WHEN i % 2 = 0 THEN ' ' ELSE char(8239) END
            || CASE WHEN CAST(strftime('%H', loc) AS INTEGER) < 12 THEN 'am' ELSE 'pm' END,
          CASE WHEN i % {legacy_every} = 0 THEN NULL ELSE datetime(ts, 'unixepoch') END,
          i % 100, CASE i % 5 WHEN 0 THEN 'Cold' WHEN 1 THEN 'Warm' WHEN 2 THEN 'Hot'
                              WHEN 3 THEN 'Very Hot' ELSE NULL END,
          i % 7 = 0, (i * 37) % 101, 'new'
        FROM ist"""
    )
    con.execute(
        f"""WITH RECURSIVE k(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM k WHERE i < {subs})
        INSERT INTO LeadSubmissions (SubmissionId, LeadId, ProjectName, Source, Referer, IsPrimaryLead,
          PayloadJson, SubmittedAt)
        SELECT i, lead, 'Project ' || (lead % 9), CASE WHEN i % 6 = 0 THEN NULL ELSE 'google' END,
          'https://site.example/p/' || (i % 13),
          CASE WHEN i % 2 = 1 AND lead % {legacy_every} <> 0 THEN 1 ELSE 0 END,
          json_object('name', 'Person ' || lead, 'email', 'person' || lead || '@mail.example',
                      'cta', 'cta' || (i % 4), 'utm_source', 'src' || (i % 5), 'utm_medium', 'cpc',
                      'utm_campaign', 'camp' || (i % 17), 'user_country', CASE WHEN i % 3 = 0 THEN 'India' END,
                      'user_city', CASE WHEN i % 3 = 0 THEN 'Pune' END),
          datetime({t0} + lead * 7 + (i % 2) * 60, 'unixepoch')
        FROM (SELECT i, min((i + 1) / 2, {leads}) AS lead FROM k)"""
    )
    con.execute(
        f"""WITH RECURSIVE k(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM k WHERE i < {tests})
        INSERT INTO TestingLeads (Id, IP, ProjectName, Source, Referer, PayloadJson, ReceivedAt)
        SELECT i, '10.0.' || (i % 250) || '.' || (i % 200), 'Project ' || (i % 9), 'direct', NULL,
          json_object('cta', 'test'), strftime('%Y-%m-%dT%H:%M:%fZ', {t0} + i * 140, 'unixepoch')
        FROM k"""
    )
    con.execute(
        f"""WITH RECURSIVE k(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM k WHERE i < {blocked})
        INSERT INTO BlockedIPLeads (Id, IP, Reason, ProjectName, Source, Referer, PayloadJson, ReceivedAt)
        SELECT i, '172.16.' || (i % 250) || '.' || (i % 199), CASE WHEN i % 3 = 0 THEN 'honeypot'
          ELSE 'blocked_ip' END, 'Project ' || (i % 9), 'google', NULL, NULL,
          strftime('%Y-%m-%dT%H:%M:%fZ', {t0} + i * 35, 'unixepoch')
        FROM k"""
    )
    con.commit()
    con.close()
    return {"Leads": leads, "LeadSubmissions": subs, "TestingLeads": tests, "BlockedIPLeads": blocked}


def _sql_value(value: Any) -> str:
    if value is None:
        return "NULL"
    if isinstance(value, (int, float)):
        return repr(value)
    text = str(value).replace("'", "''")
    if "\n" in text:
        # wrangler writes newlines as replace('..\n..','\n',char(10))
        return "replace('" + text.replace("\n", "\\n") + "','\\n',char(10))"
    return f"'{text}'"


def dump_sql(db: str | Path, out: str | Path, *, column_lists: bool = True) -> None:
    """Write a ``wrangler d1 export``-style dump of ``db`` (schema + INSERTs) to ``out``."""
    con = sqlite3.connect(str(db))
    lines = ["PRAGMA defer_foreign_keys=TRUE;"]
    tables = [
        (name, sql)
        for name, sql in con.execute(
            "SELECT name, sql FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY rowid"
        )
    ]
    for name, sql in tables:
        lines.append(sql + ";")
        cur = con.execute(f'SELECT * FROM "{name}"')
        cols = ",".join(f'"{d[0]}"' for d in cur.description)
        head = f'INSERT INTO "{name}" ({cols}) VALUES' if column_lists else f'INSERT INTO "{name}" VALUES'
        for row in cur:
            lines.append(f"{head}({','.join(_sql_value(v) for v in row)});")
    for (sql,) in con.execute("SELECT sql FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL"):
        lines.append(sql + ";")
    con.close()
    Path(out).write_text("\n".join(lines) + "\n", encoding="utf-8")
