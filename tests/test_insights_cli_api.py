"""The insight front ends: ``leadstats insights ...`` and ``GET /api/v1/insights/*`` on the demo store."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from leadstats.api import create_app
from leadstats.cli import app
from leadstats.insights import focus
from leadstats.settings import Settings
from test_insights_demo import HOT, LOW, TZ, demo_db, open_demo

READ = "read-token-for-tests"
R = {"Authorization": f"Bearer {READ}"}
runner = CliRunner()


def cli(*args: str) -> tuple[int, str]:
    result = runner.invoke(app, [*args, "--db", demo_db()])
    return result.exit_code, result.output


@pytest.fixture(scope="module")
def client() -> Iterator[TestClient]:
    ls = open_demo()
    with TestClient(create_app(ls, Settings(read_tokens=(READ,), ingest_tokens=("ingest-x",)))) as c:
        yield c
    ls.close()


def test_cli_focus_json_is_the_library_document() -> None:
    code, out = cli("insights", "focus", "--from", "2026-01-05", "--to", "2026-02-23", "--format", "json")
    assert code == 0, out
    doc = json.loads(out)
    assert [i["label"] for i in doc["items"]] == [f"utm_campaign={LOW}", f"utm_campaign={HOT}"]
    with open_demo() as ls:
        assert doc == json.loads(json.dumps(focus(ls, "2026-01-05", "2026-02-23", tz=TZ)))


def test_cli_tables_and_errors() -> None:
    code, out = cli("insights", "focus", "--to", "2026-03-02", "--format", "table")
    assert code == 0 and "pause" in out and LOW in out and "segments tested" in out
    code, out = cli("insights", "windows", "--to", "2026-03-02", "--format", "table")
    assert code == 0 and "Top ad slots" in out and "peak" in out
    code, out = cli("insights", "anomalies", "--from", "2026-02-23", "--to", "2026-03-02", "--format", "table")
    assert code == 0 and "high" in out and "Skyline Residences" in out
    code, out = cli("insights", "forecast", "--to", "2026-03-02", "--format", "table")
    assert code == 0 and "Next 7 days" in out and "MAPE" in out
    code, out = cli("insights", "focus", "--format", "xml")
    assert code == 2 and "table or json" in out
    code, out = cli("insights", "anomalies", "--tz", "Mars/Olympus")
    assert code == 2 and "timezone" in out


def test_cli_forecast_and_windows_json() -> None:
    code, out = cli("insights", "forecast", "--to", "2026-02-23", "--metric", "received", "--format", "json")
    doc = json.loads(out)
    assert code == 0 and doc["metric"] == "received" and len(doc["daily"]["points"]) == 7
    code, out = cli("insights", "windows", "--to", "2026-02-23", "--weeks", "4", "--top", "3", "--format", "json")
    doc = json.loads(out)
    assert code == 0 and doc["weeks"] == 4 and len(doc["top_ad_slots"]) == 3


def test_http_routes_need_a_read_token(client: TestClient) -> None:
    for name in ("focus", "windows", "anomalies", "forecast"):
        assert client.get(f"/api/v1/insights/{name}").status_code == 401
        response = client.get(f"/api/v1/insights/{name}", headers={"Authorization": "Bearer ingest-x"})
        assert response.status_code == 403


def test_http_focus_and_anomalies(client: TestClient) -> None:
    doc = client.get("/api/v1/insights/focus", params={"from": "2026-01-05", "to": "2026-02-23"}, headers=R).json()
    assert [(i["label"], i["action"]) for i in doc["items"]] == [
        (f"utm_campaign={LOW}", "pause"), (f"utm_campaign={HOT}", "scale")]
    doc = client.get("/api/v1/insights/anomalies", params={"from": "2026-02-23", "to": "2026-03-02", "limit": 5},
                     headers=R).json()
    assert len(doc["anomalies"]) == 5 and doc["anomaly_count"] > 5 and len(doc["incidents"]) == 1


def test_http_windows_forecast_and_bad_parameters(client: TestClient) -> None:
    doc = client.get("/api/v1/insights/windows", params={"to": "2026-03-02", "slots": "false"}, headers=R).json()
    assert "slots" not in doc and len(doc["by_hour"]) == 24 and len(doc["by_weekday"]) == 7
    doc = client.get("/api/v1/insights/forecast", params={"to": "2026-03-02", "metric": "hot"}, headers=R).json()
    assert doc["metric"] == "hot" and doc["hourly"]["points"][0]["start"] == "2026-03-02T00:00:00+05:30"
    bad = client.get("/api/v1/insights/forecast", params={"metric": "revenue"}, headers=R)
    assert bad.status_code == 422 and bad.json()["error"]["field"] == "metric"
    bad = client.get("/api/v1/insights/focus", params={"form": "2026-01-01"}, headers=R)
    assert bad.status_code == 400 and "form" in bad.json()["error"]["message"]
    bad = client.get("/api/v1/insights/focus", params={"from": "2026-03-02", "to": "2026-03-01"}, headers=R)
    assert bad.status_code == 400 and bad.json()["error"]["code"] == "invalid_query"
    spec = client.get("/openapi.json").json()["paths"]
    assert {f"/api/v1/insights/{n}" for n in ("focus", "windows", "anomalies", "forecast")} <= set(spec)
