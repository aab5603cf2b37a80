"""A newcomer's first hour with the CLI (issue 15): the demo piped or logged, a busy port, numbers never
cut, one spelling for people, and an empty window that says where the data is."""

from __future__ import annotations

import io
import json
import os
import re
import socket
import subprocess
import sys
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import httpx
import pytest
from fastapi.testclient import TestClient
from rich.table import Table
from typer.testing import CliRunner

import leadstats
from leadstats.api import create_app
from leadstats.cli import app
from leadstats.cli.common import _Console
from leadstats.demo import DemoSpec, build
from leadstats.settings import Settings

runner = CliRunner()
LEADSTATS = [sys.executable, "-c", "from leadstats.cli import main; main()"]
END = "2026-04-01"


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> str:
    path = str(tmp_path_factory.mktemp("firsthour") / "march.duckdb")
    with leadstats.connect(path, create=True) as ls:
        build(ls, DemoSpec(events=5_000, days=31, end=datetime(2026, 4, 1, tzinfo=ZoneInfo("Asia/Kolkata")), seed=7))
    return path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@pytest.fixture
def busy_port() -> Iterator[int]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        yield s.getsockname()[1]


# -- the demo, piped -----------------------------------------------------------------------------------
def test_demo_with_end_prints_the_same_bytes_and_says_how_to_serve_when_piped(tmp_path: Path) -> None:
    args = ["demo", "--db", str(tmp_path / "d.duckdb"), "--events", "3000", "--days", "3", "--end", END]
    first, second = runner.invoke(app, args), runner.invoke(app, args)
    assert first.exit_code == 0 and second.exit_code == 0, first.output
    assert first.output == second.output  # the store is rebuilt: same data, same report, no timings
    assert "Last day (2026-03-31, Asia/Kolkata) by hour" in first.output
    assert "not starting the dashboard: the output is not a terminal" in first.output
    assert f"serve it with: leadstats serve --db {tmp_path / 'd.duckdb'} --insecure-local" in first.output
    assert "…" not in first.output


def test_demo_refuses_a_bad_end(tmp_path: Path) -> None:
    out = runner.invoke(app, ["demo", "--db", str(tmp_path / "d.duckdb"), "--end", "2026-04-01T00:00"])
    assert out.exit_code == 2 and "--end" in out.output and "offset" in out.output


# -- a busy port ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("command", ["serve", "demo"])
def test_a_busy_port_is_one_line_naming_it_and_port(tmp_path: Path, busy_port: int, command: str) -> None:
    db = str(tmp_path / "x.duckdb")
    args = (["serve", "--db", db, "--insecure-local"] if command == "serve"
            else ["demo", "--db", db, "--events", "1000", "--days", "1", "--serve"])
    run = subprocess.run([*LEADSTATS, *args, "--port", str(busy_port)], capture_output=True, text=True, timeout=120,
                         env={k: v for k, v in os.environ.items() if not k.startswith("LEADSTATS_")})
    assert run.returncode == 1, run
    assert run.stderr.splitlines() == [
        f"error: port {busy_port} on 127.0.0.1 is already in use: stop the program using it, or choose another "
        "port with --port"
    ]
    assert "dashboard" not in run.stdout and "built" not in run.stdout  # the demo fails before building


def test_the_dashboard_url_is_printed_once_the_port_listens(tmp_path: Path) -> None:
    port = free_port()
    proc = subprocess.Popen(
        [*LEADSTATS, "demo", "--db", str(tmp_path / "d.duckdb"), "--events", "1000", "--days", "2", "--end", END,
         "--serve", "--port", str(port)],
        stdout=subprocess.PIPE, text=True, env={k: v for k, v in os.environ.items() if not k.startswith("LEADSTATS_")},
    )
    try:
        assert proc.stdout is not None
        for line in proc.stdout:
            if line.startswith("dashboard:"):
                break
        else:
            raise AssertionError(f"no dashboard line; exit {proc.wait()}")
        assert line.split()[1] == f"http://127.0.0.1:{port}/"
        socket.create_connection(("127.0.0.1", port), timeout=30).close()  # refused if it were not listening
        assert httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=60).status_code == 200
    finally:
        proc.terminate()
        proc.wait(timeout=60)


# -- numbers are never cut -----------------------------------------------------------------------------
def _wide_table() -> Table:
    table = Table(title="wide")
    for n in range(12):
        table.add_column(f"column_{n}", justify="right")
    table.add_row(*[str(973_412_118 + n) for n in range(12)])
    return table


@pytest.mark.parametrize("terminal", [True, False])
def test_a_table_wider_than_the_console_keeps_every_digit(terminal: bool) -> None:
    out = io.StringIO()
    console = _Console(file=out, force_terminal=terminal, width=80 if terminal else None, color_system=None)
    console.print_table(_wide_table())
    text = out.getvalue()
    assert "…" not in text
    assert all(str(973_412_118 + n) in text for n in range(12))
    assert max(len(line) for line in text.splitlines()) > 80


def test_off_a_terminal_long_lines_are_not_wrapped() -> None:
    out = io.StringIO()
    line = "try: leadstats report " + " ".join(f"--opt{n} value{n}" for n in range(20))
    _Console(file=out).print(line, highlight=False)
    assert out.getvalue() == line + "\n"


# -- words for people ----------------------------------------------------------------------------------
def test_tables_say_actual_and_none_while_csv_keeps_the_contract(store: str) -> None:
    args = ["report", "--from", "2026-03-02", "--to", "2026-03-09", "--by", "utm_campaign", "--db", store]
    table = runner.invoke(app, [*args, "--format", "table"])
    assert table.exit_code == 0, table.output
    header = next(ln for ln in table.output.splitlines() if ln.startswith("┃"))
    assert "actual" in header and "primary" not in header
    assert re.search(r"│ \(none\) +│", table.output)  # traffic without a campaign
    csv = runner.invoke(app, [*args, "--format", "csv"])
    assert csv.output.splitlines()[0].split(",")[3] == "primary"
    assert any(ln.startswith(",") for ln in csv.output.splitlines())  # null is an empty cell in CSV


# -- an empty window -----------------------------------------------------------------------------------
def test_an_empty_window_says_where_the_data_is_and_the_command_shows_it(store: str) -> None:
    out = runner.invoke(app, ["report", "--from", "2026-05-01", "--to", "2026-05-08", "--format", "table",
                              "--db", store])
    assert out.exit_code == 0, out.output
    assert "No leads in this window. Latest data: 1–31 Mar 2026 (Asia/Kolkata); see it with:" in out.output
    command = next(ln.strip() for ln in out.output.splitlines() if ln.strip().startswith("leadstats report"))
    assert command == f"leadstats report --from 2026-03-01 --to 2026-04-01 --bucket 1d --db {store}"
    shown = runner.invoke(app, [*command.split()[1:], "--format", "json"])
    assert json.loads(shown.stdout)["totals"]["received"] == 5_000  # the command shows all of the data

    as_json = runner.invoke(app, ["report", "--from", "2026-05-01", "--to", "2026-05-08", "--format", "json",
                                  "--db", store])
    assert json.loads(as_json.stdout)["totals"]["received"] == 0  # stdout stays the contract's document
    assert "Latest data: 1–31 Mar 2026" in as_json.stderr

    utc = runner.invoke(app, ["report", "--from", "2026-05-01", "--to", "2026-05-08", "--tz", "UTC",
                              "--format", "table", "--db", store])
    assert "Latest data: 28 Feb – 31 Mar 2026 (UTC)" in utc.output and "--tz UTC" in utc.output


def test_data_span_from_the_service_and_over_http(store: str, tmp_path: Path) -> None:
    with leadstats.connect(store, read_only=True) as ls:
        first, last = ls.data_span() or (None, None)
        assert first is not None and last is not None and first < last
        assert first >= datetime(2026, 3, 1, tzinfo=ZoneInfo("Asia/Kolkata"))
        assert last < datetime(2026, 4, 1, tzinfo=ZoneInfo("Asia/Kolkata"))
        with TestClient(create_app(ls, Settings(read_tokens=("r",), rate_limit_per_minute=0))) as http:
            assert http.get("/api/v1/data-span").status_code == 401
            doc = http.get("/api/v1/data-span", params={"tz": "Asia/Kolkata"},
                           headers={"Authorization": "Bearer r"}).json()
    assert (doc["first_day"], doc["last_day"], doc["timezone"]) == ("2026-03-01", "2026-03-31", "Asia/Kolkata")
    assert datetime.fromisoformat(doc["first"]) == first and datetime.fromisoformat(doc["last"]) == last
    with leadstats.connect(str(tmp_path / "empty.duckdb"), create=True) as empty:
        assert empty.data_span() is None
        assert empty.data_span_doc("UTC") == {"timezone": "UTC", "first": None, "last": None, "first_day": None,
                                              "last_day": None}
