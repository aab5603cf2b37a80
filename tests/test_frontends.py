"""Front ends share one core: same refusals in CLI, HTTP and MCP, settings validated at start, one exit-code
convention, read-only readers, `leadstats summary`, no store created by reading, repeated parameters refused."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from mcp import Client, StdioServerParameters
from typer.testing import CliRunner

import leadstats
from leadstats.api import create_app
from leadstats.cli import app
from leadstats.errors import NotFound, QueryError
from leadstats.insights.summary import summary
from leadstats.settings import Settings

runner = CliRunner()
READ = "fe-read"


@pytest.fixture
def filled(tmp_path: Path) -> str:
    path = str(tmp_path / "filled.duckdb")
    with leadstats.connect(path, create=True) as ls:
        ls.ingest([{"event_id": f"e{i}", "event_type": "primary", "occurred_at": f"2026-03-0{1 + i % 7}T05:00:00Z",
                    "project": "Skyline" if i % 2 else "Palm", "engagement_label": "Hot"} for i in range(40)])
    return path


# Each bad query in the three spellings: CLI flags, HTTP GET parameters, the JSON form (MCP lead_stats).
BAD = [
    ({"--bucket": "7m"}, {"bucket": "7m"}, {"bucket": "7m"}),
    ({"--tz": "Mars/Base"}, {"tz": "Mars/Base"}, {"timezone": "Mars/Base"}),
    ({"--by": "email"}, {"by": "email"}, {"dimensions": ["email"]}),
    ({"--filter": "nope=1"}, {"filter": "nope=1"}, {"filters": [["is", "nope", ["1"]]]}),
    ({"--from": "2026-03-09"}, {"from": "2026-03-09"}, {"date_range": ["2026-03-09", "2026-03-08"]}),
    ({"--from": "0001-01-01"}, {"from": "0001-01-01"}, {"date_range": ["0001-01-01", "2026-03-08"]}),
]


def test_an_absurd_threshold_is_refused_in_python_and_the_cli(filled: str) -> None:
    with leadstats.connect(filled, read_only=True) as ls:
        for value in (1e308, -1e12):
            with pytest.raises(QueryError, match="suspicious_min must be between"):
                ls.report("2026-03-01", "2026-03-08", suspicious_min=value)
            with pytest.raises(QueryError, match="suspicious_min must be between"):
                ls.query({"date_range": ["2026-03-01", "2026-03-08"], "suspicious_min": value})
    assert "suspicious_min must be between" in cli_message(filled, {"--suspicious-min": "1e308"})


def cli_message(db: str, flags: dict[str, str]) -> str:
    argv = {"--from": "2026-03-01", "--to": "2026-03-08", **flags}
    result = runner.invoke(app, ["report", *[x for kv in argv.items() for x in kv], "--db", db, "--format", "json"])
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    line = result.output.strip()
    assert line.count("\n") == 0 and line.startswith("error: ")
    return " ".join(line.removeprefix("error: ").split())


def test_cli_http_and_mcp_refuse_the_same_queries_with_the_same_words(filled: str) -> None:
    cli = [cli_message(filled, flags) for flags, _, _ in BAD]
    with leadstats.connect(filled, read_only=True) as ls, TestClient(
        create_app(ls, Settings(read_tokens=(READ,), rate_limit_per_minute=0))
    ) as http:
        headers = {"Authorization": f"Bearer {READ}"}
        web = []
        for _, params, _ in BAD:
            resp = http.get("/api/v1/report", params={"from": "2026-03-01", "to": "2026-03-08", **params},
                            headers=headers)
            assert resp.status_code == 400, resp.text
            web.append(resp.json()["error"]["message"])
        posted = []
        for _, _, doc in BAD:
            resp = http.post("/api/v1/query", json={"date_range": ["2026-03-01", "2026-03-08"], **doc},
                             headers=headers)
            assert resp.status_code == 400, resp.text
            posted.append(resp.json()["error"]["message"])

    async def ask_mcp() -> list[str]:
        params = StdioServerParameters(command=sys.executable, args=["-m", "leadstats", "mcp", "--db", filled])
        out = []
        async with Client(params, read_timeout_seconds=60) as client:
            for _, _, doc in BAD:
                result = await client.call_tool("lead_stats", {"date_range": ["2026-03-01", "2026-03-08"], **doc})
                assert result.is_error
                out.append(result.content[0].text)  # type: ignore[union-attr]
        return out

    mcp = asyncio.run(ask_mcp())
    for words, web_words, post_words, tool_words, (_, _, doc) in zip(cli, web, posted, mcp, BAD, strict=True):
        assert " ".join(web_words.split()) == words == " ".join(post_words.split())
        if "validation error for lead_statsArguments" in tool_words:
            # the MCP tool's input schema (enums for bucket and dimensions) refuses before the service does;
            # it names the field
            assert next(iter(doc)) in tool_words
            continue
        assert tool_words.endswith(words), (tool_words, words)  # MCP prefixes the code: "invalid_query (bucket): ..."


@pytest.mark.parametrize(
    ("env", "variable"),
    [
        ({"LEADSTATS_RATE_LIMIT_PER_MINUTE": "abc"}, "LEADSTATS_RATE_LIMIT_PER_MINUTE"),
        ({"LEADSTATS_MAX_BODY_BYTES": "-1"}, "LEADSTATS_MAX_BODY_BYTES"),
        ({"LEADSTATS_TZ": "Mars/Base"}, "LEADSTATS_TZ"),
        ({"LEADSTATS_K_ANONYMITY": "0"}, "LEADSTATS_K_ANONYMITY"),
        ({"LEADSTATS_HTTP_ATTEMPTS": "many"}, "LEADSTATS_HTTP_ATTEMPTS"),
    ],
)
def test_bad_settings_exit_2_with_one_line_naming_the_variable(filled: str, env: dict[str, str],
                                                               variable: str) -> None:
    for argv in (["serve", "--db", filled, "--port", "1"], ["report", "--from", "2026-03-01", "--to", "2026-03-02",
                                                            "--db", filled], ["info", "--db", filled]):
        result = runner.invoke(app, argv, env=env)
        assert result.exit_code == 2, result.output
        assert result.output.strip().count("\n") == 0 and variable in result.output, result.output
        assert "Traceback" not in result.output


def test_serve_with_a_bad_zone_exits_before_listening(filled: str) -> None:
    proc = subprocess.run([sys.executable, "-m", "leadstats", "serve", "--db", filled, "--port", "18999"],
                          env={**os.environ, "LEADSTATS_TZ": "Mars/Base"}, capture_output=True, text=True,
                          timeout=60, check=False)
    assert proc.returncode == 2 and "LEADSTATS_TZ" in proc.stderr and "Traceback" not in proc.stderr
    assert proc.stderr.strip().count("\n") == 0


def test_a_damaged_store_file_is_one_line_naming_it_exit_1(filled: str) -> None:
    with open(filled, "r+b") as f:
        f.truncate(5000)
    for argv in (["report", "--from", "2026-03-01", "--to", "2026-03-02"], ["info"], ["summary"]):
        result = runner.invoke(app, [*argv, "--db", filled])
        assert result.exit_code == 1, result.output
        assert filled in result.output and result.output.strip().count("\n") == 0
        assert "Traceback" not in result.output and "_duckdb" not in result.output


@pytest.mark.parametrize(
    ("argv", "code"),
    [
        (["report", "--from", "2026-03-01", "--to", "2026-03-08", "--bucket", "7m"], 2),  # bad input
        (["report", "--from", "2026-03-01"], 2),  # bad usage (missing option)
        (["report", "--from", "2026-03-01", "--to", "2026-03-08", "--wat"], 2),  # unknown option
        (["summary", "--days", "0"], 2),
        (["summary", "--today", "23/11/2026"], 2),
        (["summary", "--format", "xml"], 2),
        (["insights", "focus", "--tz", "Mars/Base"], 2),
        (["import", "events", "/nonexistent/events.jsonl"], 2),
        (["report", "--from", "2026-03-01", "--to", "2026-03-08", "--db", "MISSING"], 1),  # the work failed
        (["summary", "--db", "MISSING"], 1),
        (["info", "--db", "MISSING"], 1),
        (["digest", "--db", "MISSING"], 1),
        (["export", "--for-ai", "--db", "MISSING"], 1),
        (["report", "--from", "2026-03-01", "--to", "2026-03-08"], 0),
        (["summary", "--today", "2026-03-08"], 0),
    ],
)
def test_one_exit_code_convention_across_commands(filled: str, tmp_path: Path, argv: list[str], code: int) -> None:
    argv = [str(tmp_path / "missing.duckdb") if a == "MISSING" else a for a in argv]
    if "--db" not in argv and argv[0] != "import":
        argv += ["--db", filled]
    elif argv[0] == "import":
        argv += ["--db", str(tmp_path / "new.duckdb")]
    result = runner.invoke(app, argv)
    assert result.exit_code == code, result.output
    assert "Traceback" not in result.output
    if "MISSING" in " ".join(argv) or code == 1:
        assert not (tmp_path / "missing.duckdb").exists()  # reading never creates a store


def test_summary_command_matches_the_python_and_http_summary(filled: str) -> None:
    result = runner.invoke(app, ["summary", "--days", "7", "--today", "2026-03-08", "--tz", "Asia/Kolkata",
                                 "--project", "Skyline", "--format", "json", "--db", filled])
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    with leadstats.connect(filled, read_only=True) as ls:
        assert summary(ls, days=7, today="2026-03-08", tz="Asia/Kolkata", project="Skyline") == doc  # ISO string
        with TestClient(create_app(ls, Settings(read_tokens=(READ,), rate_limit_per_minute=0))) as http:
            web = http.get("/api/v1/summary", params={"days": 7, "today": "2026-03-08", "tz": "Asia/Kolkata",
                                                      "project": "Skyline"},
                           headers={"Authorization": f"Bearer {READ}"}).json()
    assert web == doc and doc["metrics"]["primary"]["value"] == 20 and doc["project"] == "Skyline"
    table = runner.invoke(app, ["summary", "--today", "2026-03-08", "--format", "table", "--db", filled])
    # for people the table says "actual" where the JSON says primary (issue 15.7, docs/semantics.md)
    assert table.exit_code == 0 and "actual" in table.output and "hot_pct" in table.output


def test_readers_work_beside_another_read_only_process(filled: str) -> None:
    holder = subprocess.Popen(
        [sys.executable, "-c", "import duckdb, sys; c = duckdb.connect(sys.argv[1], read_only=True); print('ready',"
         " flush=True); sys.stdin.read()", filled],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "ready"
        for argv in (["report", "--from", "2026-03-01", "--to", "2026-03-08", "--format", "json"],
                     ["summary", "--today", "2026-03-08", "--format", "json"], ["info", "--format", "json"],
                     ["insights", "focus", "--from", "2026-03-01", "--to", "2026-03-08", "--format", "json"]):
            result = runner.invoke(app, [*argv, "--db", filled])
            assert result.exit_code == 0, (argv, result.output)
    finally:
        assert holder.stdin is not None
        holder.stdin.close()
        holder.wait(timeout=30)


def test_connect_never_creates_a_store_by_reading(tmp_path: Path) -> None:
    typo = tmp_path / "typo.duckdb"
    with pytest.raises(NotFound, match="no leadstats store"):
        leadstats.connect(str(typo)).report("2026-03-01", "2026-03-08")
    with pytest.raises(NotFound):
        leadstats.connect(str(typo), read_only=True)
    assert not typo.exists()
    with leadstats.connect(str(typo), create=True) as ls:  # explicit creation
        assert ls.report("2026-03-01", "2026-03-08").totals["received"] == 0
    assert typo.exists()
    fresh = tmp_path / "fresh.duckdb"
    with leadstats.connect(str(fresh)) as ls:  # ingest creates
        assert ls.ingest([{"event_id": "a", "event_type": "bot", "occurred_at": "2026-03-01T00:00:00Z"}]).accepted == 1
        assert ls.report("2026-03-01", "2026-03-08").totals["bot"] == 1
    assert fresh.exists()


def test_a_repeated_single_valued_parameter_is_a_400_naming_it(filled: str) -> None:
    with leadstats.connect(filled, read_only=True) as ls, TestClient(
        create_app(ls, Settings(read_tokens=(READ,), rate_limit_per_minute=0))
    ) as http:
        headers = {"Authorization": f"Bearer {READ}"}
        query: Any = [("from", "2026-03-01"), ("from", "2026-03-02"), ("to", "2026-03-08")]
        resp = http.get("/api/v1/report", params=query, headers=headers)
        assert resp.status_code == 400 and resp.json()["error"]["field"] == "from"
        assert "'from' is given 2 times" in resp.json()["error"]["message"]
        resp = http.get("/api/v1/insights/focus", params=[("tz", "UTC"), ("tz", "Asia/Kolkata")], headers=headers)
        assert resp.status_code == 400 and resp.json()["error"]["field"] == "tz"
        ok = http.get("/api/v1/report", params=[("from", "2026-03-01"), ("to", "2026-03-08"),
                                                ("filter", "project=Skyline"), ("filter", "event_type=primary")],
                      headers=headers)
        assert ok.status_code == 200 and ok.json()["totals"]["primary"] == 20  # filter repeats: ANDed
