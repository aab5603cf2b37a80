"""The MCP server, driven by the official SDK client over stdio (``leadstats mcp``) and streamable HTTP
(``/mcp`` in the HTTP app, read token)."""

from __future__ import annotations

import asyncio
import json
import os
import socket
import sys
import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx
import httpx2
import pytest
import uvicorn
from mcp import Client, StdioServerParameters
from mcp.client.streamable_http import streamable_http_client

from leadstats.api import create_app
from leadstats.insights.privacy import merge_top_list as _merge_top
from leadstats.model.schema import describe
from leadstats.settings import Settings
from test_insights_demo import BURST, HOT, LOW, TZ, demo_db, open_demo

TOOLS = {"lead_stats", "lead_summary", "focus_segments", "best_time_windows", "anomalies", "forecast"}
QUERY = {"date_range": ["2026-02-23", "2026-03-02"], "timezone": TZ, "bucket": "1d", "dimensions": ["project"],
         "filters": [["is", "source", ["google", "meta"]]], "suspicious_min": 40}


def stdio() -> Client:
    # The whole environment, so the server runs the same leadstats as the test (PYTHONPATH included).
    params = StdioServerParameters(command=sys.executable, args=["-m", "leadstats", "mcp", "--db", demo_db()],
                                   env=dict(os.environ))
    return Client(params, read_timeout_seconds=60)


def data(result: Any) -> dict[str, Any]:
    assert not result.is_error, result.content
    return dict(result.structured_content)


SMALL = {"date_range": ["2026-02-24T03:00:00+05:30", "2026-02-24T05:00:00+05:30"], "timezone": TZ,
         "bucket": "60m", "dimensions": ["city", "utm_campaign"]}


def check_small_groups(doc: dict[str, Any]) -> None:
    """Groups under k=5 events reach the agent only merged into "other", and the sums still hold."""
    with open_demo() as ls:
        raw = ls.query(SMALL).to_dict()
    assert any(r["received"] < 5 for r in raw["rows"])  # the raw report has tiny groups ...
    others = [r for r in doc["rows"] if r["city"] == "other"]
    assert others and all(r["utm_campaign"] == "other" for r in others)
    assert all(r["received"] >= 5 for r in doc["rows"] if r["city"] != "other")  # ... the agent sees none
    for metric in ("received", "primary", "hot"):
        assert sum(r[metric] for r in doc["rows"]) == raw["totals"][metric] == doc["totals"][metric]
    assert doc["meta"]["k_anonymity"]["rows_after"] < doc["meta"]["k_anonymity"]["rows_before"]


def test_stdio_tools_schema_resource_lead_stats_and_k_anonymity() -> None:
    async def session() -> None:
        async with stdio() as client:
            tools = {t.name: t for t in (await client.list_tools()).tools}
            assert set(tools) == TOOLS
            for tool in tools.values():
                assert len(tool.description or "") > 150 and tool.input_schema["type"] == "object"
                assert tool.annotations is not None and tool.annotations.read_only_hint
            props = tools["lead_stats"].input_schema["properties"]
            assert props["date_range"]["minItems"] == 2 and props["date_range"]["maxItems"] == 2
            assert "utm_campaign" in json.dumps(props["dimensions"]) and "is_not" in json.dumps(props["filters"])
            assert tools["lead_stats"].input_schema["required"] == ["date_range"]

            doc = data(await client.call_tool("lead_stats", QUERY))
            with open_demo() as ls:
                expected = ls.query(QUERY).to_dict()
            assert doc["query"] == expected["query"] and doc["rows"] == expected["rows"]
            assert doc["totals"] == expected["totals"] and doc["meta"]["k_anonymity"]["k"] == 5

            bad = await client.call_tool("lead_stats", {**QUERY, "timezone": "Mars/Olympus"})
            assert bad.is_error and "timezone" in bad.content[0].text
            bad = await client.call_tool("lead_stats", {**QUERY, "dimensions": ["lead_id"]})
            assert bad.is_error  # identities are not a dimension: the schema refuses them

            small = data(await client.call_tool("lead_stats", SMALL))
            check_small_groups(small)

            resource = await client.read_resource("leadstats://schema")
            schema = json.loads(resource.contents[0].text)
            assert [d["name"] for d in schema["dimensions"]] == [d["name"] for d in describe()["dimensions"]]
            assert schema["metric_names"][:3] == ["received", "submissions", "primary"]

    asyncio.run(session())


def test_summary_top_lists_fold_small_groups() -> None:
    rows = [{"country": "IN", "primary": 40, "hot": 10}, {"country": "QA", "primary": 2, "hot": 2},
            {"country": "NZ", "primary": 1, "hot": 0}]
    assert _merge_top(rows, "country", 5)[1] == {"country": "other", "primary": 3, "previous_primary": None,
                                                 "change_pct": None, "hot": 2, "hot_pct": 66.67}


@pytest.fixture(scope="module")
def http_url() -> Iterator[str]:
    ls = open_demo()
    api = create_app(ls, Settings(read_tokens=("mcp-read",), ingest_tokens=("mcp-ingest",)))
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(api, host="127.0.0.1", port=port, log_level="warning", lifespan="on"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 120  # only bounds a hang
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    assert server.started, "uvicorn did not start"
    yield f"http://127.0.0.1:{port}/mcp"
    server.should_exit = True
    thread.join(timeout=10)
    ls.close()


def test_http_mcp_behind_the_read_token(http_url: str) -> None:
    async def session() -> None:
        http = httpx2.AsyncClient(headers={"Authorization": "Bearer mcp-read"}, timeout=60)
        async with http, Client(streamable_http_client(http_url, http_client=http)) as client:
            assert {t.name for t in (await client.list_tools()).tools} == TOOLS
            focus = data(await client.call_tool("focus_segments", {"date_from": "2026-01-05",
                                                                   "date_to": "2026-02-23"}))
            assert [i["label"] for i in focus["items"]] == [f"utm_campaign={LOW}", f"utm_campaign={HOT}"]
            found = data(await client.call_tool("anomalies", {"date_from": "2026-02-23", "date_to": "2026-03-02",
                                                              "limit": 3}))
            assert len(found["anomalies"]) == 3 and len(found["incidents"]) == 1
            assert f"project {BURST['project']}" in found["incidents"][0]["headline"]
            summary = data(await client.call_tool("lead_summary", {"days": 7, "tz": TZ, "today": "2026-03-02"}))
            with open_demo() as ls:
                totals = ls.report("2026-02-23", "2026-03-02", timezone=TZ).totals
            assert summary["metrics"]["primary"]["value"] == totals["primary"]
            windows = data(await client.call_tool("best_time_windows", {"date_to": "2026-03-02", "top": 3}))
            assert len(windows["top_ad_slots"]) == 3 and "slots" not in windows
            fc = data(await client.call_tool("forecast", {"date_to": "2026-03-02", "metric": "received"}))
            assert fc["metric"] == "received" and len(fc["daily"]["points"]) == 7

    asyncio.run(session())
    init = {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {}}
    assert httpx.post(http_url, json=init).status_code == 401
    denied = httpx.post(http_url, json=init, headers={"Authorization": "Bearer mcp-ingest"})
    assert denied.status_code == 403 and denied.json()["error"]["code"] == "forbidden"
