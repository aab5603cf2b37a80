"""Rules as data (issue 10.3) and the contract additions that ride on them (issues 11.1, 11.12, 11.13,
16.14): the metric, rate, filter-operator and privacy registries, ``vpn_suspected``, ``rates``, null
filters in the CLI/URL spelling and strict filter values, checked in every front end on real stores."""

from __future__ import annotations

import asyncio
import csv
import io
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from mcp import Client
from typer.testing import CliRunner

import leadstats
from conftest import ev
from leadstats.api import create_app
from leadstats.cli import app
from leadstats.errors import QueryError
from leadstats.insights.privacy import group_size, is_shown, merge_small_groups, merge_top_list
from leadstats.mcp import build_server
from leadstats.model.filters import OPERATORS, parse_filter_expr
from leadstats.model.metrics import METRIC_NAMES
from leadstats.model.rates import RATE_NAMES, RATES, change_pct, rate_values, share_pct
from leadstats.model.schema import describe
from leadstats.service import LeadStats
from leadstats.settings import Settings

runner = CliRunner()
READ = {"Authorization": "Bearer r"}
WINDOW = ["2026-03-07", "2026-03-08"]
EVENTS = [
    ev("p1", "primary", "2026-03-07T04:30:00Z", project="Skyline", vpn=True, engagement_label="Hot",
       utm_campaign="brand", suspicion_score=80),
    ev("p2", "primary", "2026-03-07T04:40:00Z", project="Skyline", vpn=False, utm_campaign="mega"),
    ev("p3", "primary", "2026-03-07T05:40:00Z", project="Alpha", engagement_label="Very Hot"),
    ev("b1", "bot", "2026-03-07T05:41:00Z", project="Alpha", utm_campaign="brand"),
    ev("x1", "blocked", "2026-03-07T05:42:00Z", project="Dév MÜLLER"),
]


@pytest.fixture
def filled(db_path: str) -> Iterator[str]:
    with leadstats.connect(db_path) as ls:
        ls.ingest(EVENTS)
    yield db_path


@pytest.fixture
def http(tmp_path: Path) -> Iterator[TestClient]:
    """The HTTP app over its own store file with the same events (one process cannot open one DuckDB file
    both read-write and read-only, and the CLI and Python checks read ``filled``)."""
    service = leadstats.connect(str(tmp_path / "http.duckdb"))
    service.ingest(EVENTS)
    with TestClient(create_app(service, Settings(read_tokens=("r",), rate_limit_per_minute=0))) as c:
        yield c
    service.close()


def cli_json(db: str, *args: str) -> dict[str, Any]:
    result = runner.invoke(app, ["report", "--from", WINDOW[0], "--to", WINDOW[1], *args, "--format", "json",
                                 "--db", db])
    assert result.exit_code == 0, result.output
    return dict(json.loads(result.stdout))


def mcp_call(ls: LeadStats, name: str, args: dict[str, Any]) -> Any:
    async def go() -> Any:
        async with Client(build_server(ls, Settings(k_anonymity=1))) as client:
            return await client.call_tool(name, args)

    return asyncio.run(go())


# -- the registries ----------------------------------------------------------------------------------
def test_rates_are_defined_once_and_served_by_the_schema() -> None:
    doc = describe()
    assert [r["name"] for r in doc["rates"]] == list(RATE_NAMES) == [
        "actual_pct", "hot_pct", "bot_rate", "vpn_pct", "suspicious_pct"]
    assert {r["name"]: (r["numerator"], r["denominator"]) for r in doc["rates"]} == {
        "actual_pct": (["primary"], "received"), "hot_pct": (["hot"], "primary"),
        "bot_rate": (["bot", "blocked"], "received"), "vpn_pct": (["vpn"], "primary"),
        "suspicious_pct": (["suspicious"], "primary")}
    assert [o["symbol"] for o in doc["filter_operators"]] == ["=", "!=", "~="] and doc["filter_ops"] == [
        "is", "is_not", "contains"]
    assert [m["name"] for m in doc["metrics"]] == list(METRIC_NAMES)
    assert "vpn_suspected" in [d["name"] for d in doc["dimensions"]] and "vpn" not in [
        d["name"] for d in doc["dimensions"]]
    assert doc["renamed_dimensions"] == {"vpn": "vpn_suspected"}
    # a share and a change are two functions with two names
    assert share_pct(1, 3) == 33.33 and share_pct(1, 0) is None
    assert change_pct(3, 1) == 200.0 and change_pct(3, 0) is None and change_pct(None, 1) is None
    assert rate_values({"received": 0}) == dict.fromkeys(RATE_NAMES)
    assert all(r.formula.endswith("× 100") for r in RATES)


def test_every_operator_has_a_symbol_words_and_sql() -> None:
    assert {o.name for o in OPERATORS} == {"is", "is_not", "contains"}
    for op in OPERATORS:
        parsed = parse_filter_expr(f"project{op.symbol}Sky")
        assert parsed.op == op.name and op.words in parsed.describe()


# -- 11.1 vpn_suspected --------------------------------------------------------------------------------
def test_vpn_suspected_groups_true_false_null_in_python_cli_http_and_mcp(filled: str, http: TestClient) -> None:
    expected = {True: 1, False: 1, None: 3}
    with leadstats.connect(filled, read_only=True) as ls:
        rows = ls.report(*WINDOW, dimensions=["vpn_suspected"]).rows
        assert {r["vpn_suspected"]: r["received"] for r in rows} == expected
        assert sum(r["vpn"] for r in rows) == 1  # the metric keeps its own key
        only = ls.report(*WINDOW, filters=[["is", "vpn_suspected", [True]]]).totals
        assert only["received"] == only["vpn"] == 1
        tool = mcp_call(ls, "lead_stats", {"date_range": WINDOW, "dimensions": ["vpn_suspected"]})
        assert not tool.is_error
        assert {r["vpn_suspected"]: r["received"] for r in tool.structured_content["rows"]} == expected
        refused = mcp_call(ls, "lead_stats", {"date_range": WINDOW, "dimensions": ["vpn"]})
        assert refused.is_error and "vpn_suspected" in refused.content[0].text
        refused = mcp_call(ls, "lead_stats", {"date_range": WINDOW, "filters": [["is", "vpn", [True]]]})
        assert refused.is_error and "vpn_suspected" in refused.content[0].text
    doc = cli_json(filled, "--by", "vpn_suspected")
    assert {r["vpn_suspected"]: r["received"] for r in doc["rows"]} == expected
    for args in (["--by", "vpn"], ["--filter", "vpn=true"]):
        result = runner.invoke(app, ["report", "--from", WINDOW[0], "--to", WINDOW[1], *args, "--db", filled])
        assert result.exit_code == 2 and "vpn_suspected" in result.output, result.output
    got = http.get("/api/v1/report", params={"from": WINDOW[0], "to": WINDOW[1], "by": "vpn_suspected"}, headers=READ)
    assert {r["vpn_suspected"]: r["received"] for r in got.json()["rows"]} == expected
    for params in ({"by": "vpn"}, {"filter": "vpn=1"}):
        bad = http.get("/api/v1/report", params={"from": WINDOW[0], "to": WINDOW[1], **params}, headers=READ)
        assert bad.status_code == 400 and "vpn_suspected" in bad.json()["error"]["message"]
    bad = http.post("/api/v1/query", json={"date_range": WINDOW, "dimensions": ["vpn"]}, headers=READ)
    assert bad.status_code == 400 and "vpn_suspected" in bad.json()["error"]["message"]


# -- 11.12 rates ---------------------------------------------------------------------------------------
def test_rates_on_every_row_and_the_totals_in_every_front_end(filled: str, http: TestClient) -> None:
    with leadstats.connect(filled, read_only=True) as ls:
        plain = ls.report(*WINDOW, dimensions=["project"]).to_dict()
        assert "rates" not in plain["query"] and "hot_pct" not in plain["totals"]
        doc = ls.report(*WINDOW, dimensions=["project"], rates=True).to_dict()
        tool = mcp_call(ls, "lead_stats", {"date_range": WINDOW, "dimensions": ["project"], "rates": True})
    assert doc["query"]["rates"] is True
    totals = doc["totals"]
    assert (totals["actual_pct"], totals["hot_pct"], totals["bot_rate"], totals["vpn_pct"],
            totals["suspicious_pct"]) == (60.0, 66.67, 40.0, 33.33, 33.33)
    alpha = next(r for r in doc["rows"] if r["project"] == "Alpha")
    assert alpha["hot_pct"] == 100.0 and alpha["bot_rate"] == 50.0
    muller = next(r for r in doc["rows"] if r["project"] == "Dév MÜLLER")
    assert muller["hot_pct"] is None and muller["vpn_pct"] is None and muller["bot_rate"] == 100.0  # 0 primary
    assert list(doc["rows"][0])[-5:] == list(RATE_NAMES)  # after the counts
    assert tool.structured_content["totals"] == totals and tool.structured_content["query"]["rates"] is True
    assert cli_json(filled, "--by", "project", "--rates")["rows"] == doc["rows"]
    got = http.get("/api/v1/report", params={"from": WINDOW[0], "to": WINDOW[1], "by": "project", "rates": "true"},
                   headers=READ).json()
    posted = http.post("/api/v1/query", json={"date_range": WINDOW, "dimensions": ["project"], "rates": True},
                       headers=READ).json()
    for answer in (got, posted):
        assert answer["rows"] == doc["rows"] and answer["totals"] == totals and answer["query"]["rates"] is True
    text = http.get("/api/v1/report", params={"from": WINDOW[0], "to": WINDOW[1], "by": "project", "rates": "true",
                                              "format": "csv"}, headers=READ).text
    table = list(csv.reader(io.StringIO(text)))
    assert table[0] == ["project", *METRIC_NAMES, *RATE_NAMES]
    by_name = {row[0]: row for row in table[1:]}
    assert by_name["Dév MÜLLER"][-4] == "" and by_name["Alpha"][-4] == "100.0"  # hot_pct: null is empty
    cli_csv = runner.invoke(app, ["report", "--from", WINDOW[0], "--to", WINDOW[1], "--by", "project", "--rates",
                                  "--format", "csv", "--db", filled])
    assert cli_csv.exit_code == 0 and cli_csv.stdout == text
    table_out = runner.invoke(app, ["report", "--from", WINDOW[0], "--to", WINDOW[1], "--by", "project", "--rates",
                                    "--format", "table", "--db", filled])
    assert table_out.exit_code == 0, table_out.output  # (cell widths are the table's business, issue 15.3)


# -- 11.13 null filters --------------------------------------------------------------------------------
@pytest.mark.parametrize(("expr", "received"), [
    ("utm_campaign=", 2),  # p3 and x1 have no campaign
    ("utm_campaign=,brand", 4),
    ("utm_campaign!=", 3),
    ("utm_campaign!=,brand", 1),  # has a campaign, and not brand
])
def test_empty_filter_value_is_null_in_cli_and_http(filled: str, http: TestClient, expr: str, received: int) -> None:
    assert cli_json(filled, "--filter", expr)["totals"]["received"] == received
    got = http.get("/api/v1/report", params={"from": WINDOW[0], "to": WINDOW[1], "filter": expr}, headers=READ)
    assert got.status_code == 200 and got.json()["totals"]["received"] == received
    assert got.json()["query"]["filters"][0][2][0] is None


# -- 16.14 strict filter values ------------------------------------------------------------------------
@pytest.mark.parametrize(("expr", "words"), [
    ('project="abc', "unterminated quote"),
    ("event_type=lead", "'lead'.*primary, follow_up, test, blocked, bot"),
    ("engagement_label=Lukewarm", "'Lukewarm'.*Cold, Warm, Hot, Very Hot"),
])
def test_bad_filter_values_are_refused_in_every_front_end(filled: str, http: TestClient, expr: str,
                                                          words: str) -> None:
    with pytest.raises(QueryError, match=words):
        parse_filter_expr(expr)
    result = runner.invoke(app, ["report", "--from", WINDOW[0], "--to", WINDOW[1], "--filter", expr, "--db", filled])
    assert result.exit_code == 2, result.output
    got = http.get("/api/v1/report", params={"from": WINDOW[0], "to": WINDOW[1], "filter": expr}, headers=READ)
    assert got.status_code == 400 and got.json()["error"]["field"] == "filters"
    if "=" in expr and '"' not in expr:
        dim, value = expr.split("=")
        posted = http.post("/api/v1/query", json={"date_range": WINDOW, "filters": [["is", dim, [value]]]},
                           headers=READ)
        assert posted.status_code == 400 and value in posted.json()["error"]["message"]
        with leadstats.connect(filled, read_only=True) as ls:
            tool = mcp_call(ls, "lead_stats", {"date_range": WINDOW, "filters": [["is", dim, [value]]]})
        assert tool.is_error and value in tool.content[0].text


def test_enum_spellings_still_normalise() -> None:
    assert parse_filter_expr("event_type=Follow-Up").values == ("follow_up",)
    assert parse_filter_expr("engagement_label=very_hot,cold").values == ("Very Hot", "Cold")
    assert parse_filter_expr('project="a, b"').values == ("a, b",)


# -- the one privacy rule -----------------------------------------------------------------------------
def test_one_k_anonymity_rule_for_rows_segments_and_top_lists() -> None:
    assert group_size({"received": 7, "primary": 2}) == 7  # report rows: events
    assert group_size({"counts": {"received": 3}}) == 3  # insight segments
    assert group_size({"project": "x", "primary": 4, "hot": 1}) == 4  # top lists count actual leads
    assert not is_shown({"received": 4}, 5) and is_shown({"received": 5}, 5) and is_shown({"received": 0}, 1)
    rows = [{"city": "Pune", "received": 9}, {"city": "Ooty", "received": 4}]
    assert [r["city"] for r in merge_small_groups(rows, ["city"], 5, metrics=("received",))] == ["Pune", "other"]
    top = merge_top_list([{"project": "A", "primary": 5, "hot": 1}, {"project": "B", "primary": 4, "hot": 4}],
                         "project", 5)
    assert [t["project"] for t in top] == ["A", "other"] and top[1]["hot_pct"] == 100.0


# -- issue 10.4: the MCP front end -------------------------------------------------------------------
def test_mcp_front_end_is_a_plain_package_with_its_own_error_mapping() -> None:
    import mcp as sdk

    import leadstats.api.app as app_module
    import leadstats.mcp as front
    from leadstats.mcp.errors import tool_error
    from leadstats.mcp.tools import TOOLS

    front_dir = Path(front.__file__).parent
    assert Path(sdk.__file__).parent != front_dir  # `from mcp.server ...` inside leadstats.mcp reaches the SDK
    assert "importlib" not in Path(app_module.__file__).read_text()
    err = tool_error(QueryError("unknown dimension 'x'", field="dimensions"))
    assert str(err) == "invalid_query (dimensions): unknown dimension 'x'"
    assert [t.build.__name__.lstrip("_") for t in TOOLS] == [
        "lead_stats", "lead_summary", "focus_segments", "best_time_windows", "anomalies", "forecast"]
