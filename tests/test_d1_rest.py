"""The D1 REST path against a real local HTTP server that answers like the D1 API from a real SQLite file."""

from __future__ import annotations

import json
import re
import sqlite3
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

import leadstats
from d1_fixtures import build_bulk, build_small
from leadstats.cli import app
from leadstats.errors import AuthError, UpstreamError
from leadstats.sources.d1 import import_d1
from leadstats.sources.d1.rest import RestSource

DAY = ("2026-03-06", "2026-03-09")
TOKEN = "test-token-123"
runner = CliRunner()


class FakeD1:
    """Holds the SQLite file, the statuses to fail with first, and every statement received."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.fail_with: list[int] = []
        self.sql: list[str] = []
        self.lock = threading.Lock()

    def answer(self, sql: str, params: list[Any]) -> dict[str, Any]:
        con = sqlite3.connect(f"file:{self.path}?mode=ro", uri=True)
        try:
            cur = con.execute(sql, params)
            names = [d[0] for d in cur.description or ()]
            results = [dict(zip(names, row, strict=True)) for row in cur.fetchall()]
        except sqlite3.Error as exc:
            return {"result": [], "success": False, "errors": [{"code": 7500, "message": f"{exc}: SQLITE_ERROR"}],
                    "messages": []}
        finally:
            con.close()
        meta = {"served_by": "v3-test", "duration": 0.1, "changes": 0, "last_row_id": 0, "changed_db": False,
                "size_after": 0, "rows_read": len(results), "rows_written": 0}
        return {"result": [{"results": results, "success": True, "meta": meta}], "success": True, "errors": [],
                "messages": []}


def make_handler(d1: FakeD1) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:  # keep test output quiet
            pass

        def send(self, status: int, doc: dict[str, Any], headers: dict[str, str] | None = None) -> None:
            body = json.dumps(doc).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            for k, v in (headers or {}).items():
                self.send_header(k, v)
            self.end_headers()
            self.wfile.write(body)

        def do_POST(self) -> None:  # noqa: N802 - http.server's naming
            length = int(self.headers.get("Content-Length") or 0)
            body = json.loads(self.rfile.read(length))
            if not re.fullmatch(r"/client/v4/accounts/acc123/d1/database/db456/query", self.path):
                self.send(404, {"success": False, "errors": [{"code": 7404, "message": "not found"}]})
                return
            if self.headers.get("Authorization") != f"Bearer {TOKEN}":
                self.send(401, {"success": False, "errors": [{"code": 10000, "message": "Authentication error"}]})
                return
            with d1.lock:
                status = d1.fail_with.pop(0) if d1.fail_with else 200
                d1.sql.append(body["sql"])
            if status != 200:
                self.send(status, {"success": False, "errors": [{"code": 971, "message": "try again"}]},
                          {"Retry-After": "0"} if status == 429 else None)
                return
            self.send(200, d1.answer(body["sql"], body.get("params") or []))

    return Handler


@pytest.fixture
def d1_server(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeD1]:
    d1 = FakeD1(tmp_path / "remote.sqlite")
    server = ThreadingHTTPServer(("127.0.0.1", 0), make_handler(d1))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    monkeypatch.setenv("LEADSTATS_CLOUDFLARE_API_BASE", f"http://127.0.0.1:{server.server_address[1]}/client/v4")
    monkeypatch.setenv("CLOUDFLARE_API_TOKEN", TOKEN)
    monkeypatch.setenv("LEADSTATS_HTTP_BACKOFF_S", "0.01")
    yield d1
    server.shutdown()
    server.server_close()


def report_rows(path: str) -> list[dict[str, Any]]:
    with leadstats.connect(path, read_only=True) as ls:
        dims = ["event_type", "project", "source", "cta", "utm_campaign", "country", "city", "engagement_label"]
        return ls.report(*DAY, bucket="60m", dimensions=dims).to_dict()["rows"]


def test_rest_matches_file_with_paging_and_retries(d1_server: FakeD1, tmp_path: Path) -> None:
    planted = build_small(d1_server.path)
    d1_server.fail_with = [429, 503, 500]
    rest_db, file_db = str(tmp_path / "rest.duckdb"), str(tmp_path / "file.duckdb")
    result = runner.invoke(app, ["import", "d1", "d1://acc123/db456", "--db", rest_db, "--batch-size", "2"])
    assert result.exit_code == 1, result.output  # the fixture's unreadable rows
    assert "imported 18 events" in result.output
    with leadstats.connect(file_db) as ls:
        import_d1(ls, str(d1_server.path))
    assert report_rows(rest_db) == report_rows(file_db)
    # paged by primary key: several page requests per table, and the contact columns never asked for
    pages = [s for s in d1_server.sql if "FROM \"LeadSubmissions\" r" in s]
    assert len(pages) >= 4 and any('r."SubmissionId" > ?' in s for s in pages)
    for sql in d1_server.sql:
        assert not re.search(r"ContactName|ContactEmail|ContactPhone|\bIP\b", sql), sql
    with leadstats.connect(rest_db) as ls:
        assert ls.report(*DAY).totals["received"] == planted.totals["received"]
        again = import_d1(ls, "d1://acc123/db456")
        assert again.accepted == 0 and again.read == 0


def test_rest_resumes_after_a_failed_run(d1_server: FakeD1, tmp_path: Path, db_path: str) -> None:
    build_bulk(d1_server.path, 400)
    with leadstats.connect(db_path) as ls:
        source = RestSource.from_url("d1://acc123/db456")
        source.page_size = 50
        source.attempts = 2
        d1_server.fail_with = [200] * 6 + [500, 500]  # dies inside the LeadSubmissions pages
        with pytest.raises(UpstreamError, match="still failing after 2 attempts: HTTP 500"):
            import_d1(ls, source)
        partial = ls.store.count()
        assert 0 < partial < 400
        report = import_d1(ls, source)
        source.close()
        assert report.error_count == 0
        total = ls.report("2025-12-01", "2026-06-01").totals
    with leadstats.connect(str(tmp_path / "clean.duckdb")) as clean:
        import_d1(clean, str(d1_server.path))
        assert clean.report("2025-12-01", "2026-06-01").totals == total


def test_rest_needs_a_token_and_reports_api_errors(d1_server: FakeD1, monkeypatch: pytest.MonkeyPatch,
                                                   db_path: str) -> None:
    build_small(d1_server.path)
    monkeypatch.delenv("CLOUDFLARE_API_TOKEN")
    res = runner.invoke(app, ["import", "d1", "d1://acc123/db456", "--db", db_path])
    assert res.exit_code == 2 and "CLOUDFLARE_API_TOKEN" in res.output
    monkeypatch.setenv("CLOUDFLARE_API_TOKEN", "wrong-token-value")
    res = runner.invoke(app, ["import", "d1", "d1://acc123/db456", "--db", db_path])
    assert res.exit_code == 2 and "refused the token (HTTP 401)" in res.output
    assert "wrong-token-value" not in res.output
    source = RestSource("acc123", "db456", TOKEN)
    with pytest.raises(UpstreamError, match="no such table"):
        source.query("SELECT * FROM nope")
    source.close()
    with pytest.raises(AuthError):
        RestSource.from_url("d1://acc123/db456").query("SELECT 1")
    bad = runner.invoke(app, ["import", "d1", "d1://only-account", "--db", db_path])
    assert bad.exit_code == 2 and "d1://ACCOUNT_ID/DATABASE_ID" in bad.output


def test_sync_runs_and_logs_each_run(d1_server: FakeD1, db_path: str) -> None:
    build_small(d1_server.path)
    res = runner.invoke(app, ["sync", "d1", "d1://acc123/db456", "--db", db_path, "--every", "0.05s",
                              "--max-runs", "2"])
    assert res.exit_code == 1  # the fixture's unreadable rows, on the first run
    runs = re.findall(r"sync d1 run (\d): imported (\d+) events", res.output)
    assert runs == [("1", "18"), ("2", "0")]
    con = sqlite3.connect(d1_server.path)
    con.execute("INSERT INTO TestingLeads (IP, ProjectName, ReceivedAt) VALUES ('10.1.1.1', 'S',"
                " '2026-03-07T12:00:00Z')")
    con.commit()
    con.close()
    res = runner.invoke(app, ["sync", "d1", "d1://acc123/db456", "--db", db_path, "--once"])
    assert res.exit_code == 0, res.output
    assert "run 1: imported 1 events (LeadSubmissions 0, Leads 0, TestingLeads 1, BlockedIPLeads 0)" in res.output
    bad = runner.invoke(app, ["sync", "d1", "d1://acc123/db456", "--db", db_path, "--every", "soon", "--once"])
    assert bad.exit_code == 2 and "--every" in bad.output
