"""A D1 import killed midway (a real process, killed at the worst moment) and rerun ends exact; a TOML
mapping reads a deployment whose tables and columns are named differently."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path

from typer.testing import CliRunner

import leadstats
from d1_fixtures import build_bulk, build_small
from leadstats.cli import app
from leadstats.sources.d1 import import_d1

WINDOW = ("2025-12-01", "2026-06-01")
runner = CliRunner()

KILLER = textwrap.dedent(
    """
    import os, sys
    import leadstats
    from leadstats.sources.d1 import import_d1
    pages = 0
    def progress(table, rows):
        # called after a page is stored and before its watermark is saved: the worst moment to die
        global pages
        pages += 1
        if pages == int(sys.argv[3]):
            os._exit(9)
    ls = leadstats.connect(sys.argv[2])
    import_d1(ls, sys.argv[1], page_size=500, progress=progress)
    """
)


def test_killed_import_resumes_exactly(tmp_path: Path) -> None:
    source = tmp_path / "d1.sqlite"
    rows = build_bulk(source, 6000)
    killed = str(tmp_path / "killed.duckdb")
    script = tmp_path / "killer.py"
    script.write_text(KILLER)
    # die during LeadSubmissions (page 3), then during Leads (page 9 overall), then finish
    for die_at in (3, 9):
        proc = subprocess.run([sys.executable, str(script), str(source), killed, str(die_at)], timeout=120)
        assert proc.returncode == 9
    with leadstats.connect(killed) as ls:
        stored_before = ls.store.count()
        report = import_d1(ls, str(source))
        assert 0 < stored_before < sum(rows.values())
        assert report.duplicates > 0  # the page stored just before each kill was read again
        resumed = ls.report(*WINDOW, bucket="1d", dimensions=["project"]).to_dict()
    with leadstats.connect(str(tmp_path / "clean.duckdb")) as ls:
        import_d1(ls, str(source))
        clean = ls.report(*WINDOW, bucket="1d", dimensions=["project"]).to_dict()
    assert resumed["totals"] == clean["totals"]
    assert resumed["rows"] == clean["rows"]
    expected_events = rows["LeadSubmissions"] + rows["Leads"] // 10 + rows["TestingLeads"] + rows["BlockedIPLeads"]
    assert clean["totals"]["received"] == expected_events


MAPPING = """
[d1.tables]
LeadSubmissions = "lead_submissions"
Leads = "leads_v2"
TestingLeads = "test_leads"
BlockedIPLeads = "blocked"

[d1.columns.LeadSubmissions]
SubmissionId = "id"
SubmittedAt = "submitted_at"
IsPrimaryLead = "is_primary"
PayloadJson = "payload"

[d1.columns.Leads]
LeadId = "lead_id"
CreatedAt = "created_at"
EngagementLabel = ""

[d1.columns.BlockedIPLeads]
Reason = "why"

[d1.payload]
utm_source = "utmSource"

[d1]
bot_reasons = ["honeypot", "captcha"]
"""


def test_mapping_file_reads_renamed_deployment(tmp_path: Path) -> None:
    original = tmp_path / "d1.sqlite"
    planted = build_small(original)
    renamed = tmp_path / "renamed.sqlite"
    renamed.write_bytes(original.read_bytes())
    con = sqlite3.connect(renamed)
    for sql in (
        'ALTER TABLE LeadSubmissions RENAME COLUMN SubmissionId TO id',
        'ALTER TABLE LeadSubmissions RENAME COLUMN SubmittedAt TO submitted_at',
        'ALTER TABLE LeadSubmissions RENAME COLUMN IsPrimaryLead TO is_primary',
        'ALTER TABLE LeadSubmissions RENAME COLUMN PayloadJson TO payload',
        'ALTER TABLE LeadSubmissions RENAME TO lead_submissions',
        'ALTER TABLE Leads RENAME COLUMN LeadId TO lead_id',
        'ALTER TABLE Leads RENAME COLUMN CreatedAt TO created_at',
        'ALTER TABLE Leads RENAME TO leads_v2',
        'ALTER TABLE TestingLeads RENAME TO test_leads',
        'ALTER TABLE BlockedIPLeads RENAME COLUMN Reason TO why',
        'ALTER TABLE BlockedIPLeads RENAME TO blocked',
        "UPDATE blocked SET why = 'captcha' WHERE Id = 2",
        """UPDATE lead_submissions SET payload = replace(payload, '"utm_source"', '"utmSource"')""",
    ):
        con.execute(sql)
    con.commit()
    con.close()
    mapping = tmp_path / "mapping.toml"
    mapping.write_text(MAPPING)
    db = str(tmp_path / "mapped.duckdb")
    res = runner.invoke(app, ["import", "d1", str(renamed), "--db", db, "--mapping", str(mapping)])
    assert res.exit_code == 1, res.output  # the fixture's unreadable rows
    assert "lead_submissions 7: submitted_at '2026/03/07 05:10'" in res.output
    with leadstats.connect(db, read_only=True) as ls:
        totals = ls.report("2026-03-06", "2026-03-09").totals
        by_utm = {r["utm_source"]: r["received"] for r in ls.report(
            "2026-03-06", "2026-03-09", dimensions=["utm_source"]).rows}
    assert totals["bot"] == planted.totals["bot"] + 1 and totals["blocked"] == planted.totals["blocked"] - 1
    assert totals["primary"] == planted.totals["primary"]
    assert totals["hot"] == 0  # EngagementLabel mapped to "" = this deployment has none
    assert by_utm["google"] == 3  # submissions 1, 2 and 6 (their payload key renamed to utmSource)


def test_bad_mapping_files_are_refused(tmp_path: Path, db_path: str) -> None:
    source = tmp_path / "d1.sqlite"
    build_small(source)
    cases = {
        "[d1.tables]\nNope = 'x'\n": "unknown key 'Nope'",
        "[d1.columns.LeadSubmissions]\nSubmittedAt = ''\n": "SubmittedAt is required",
        "[ae.columns]\nproject = 'blob21'\n": "not an AE column",
        "[d1]\nenquiry_utc_offset = 'IST'\n": "+05:30",
        "not toml = = =\n": "not valid TOML",
    }
    for text, message in cases.items():
        path = tmp_path / "m.toml"
        path.write_text(text)
        res = runner.invoke(app, ["import", "d1", str(source), "--db", db_path, "--mapping", str(path)])
        assert res.exit_code == 2 and message in res.output, (text, res.output)
