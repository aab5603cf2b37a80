"""The HTTP API in process (TestClient over the real app and a real DuckDB file): auth, ingest,
reports, summary, errors, limits, metrics, logs and the extension hooks."""

from __future__ import annotations

import csv
import io
import json
import logging
import math
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from datetime import date
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest
from fastapi.testclient import TestClient

import leadstats
from leadstats.api import app as app_module
from leadstats.api import create_app
from leadstats.api.writer import GroupCommitWriter
from leadstats.cli.serve import check_serve_config, is_loopback
from leadstats.errors import InputError
from leadstats.insights.summary import summary
from leadstats.service import LeadStats
from leadstats.settings import Settings

INGEST, READ, BOTH = "ingest-secret-1", "read-secret-1", "both-secret-1"
ING = {"Authorization": f"Bearer {INGEST}"}
R = {"Authorization": f"Bearer {READ}"}


def settings(**over: Any) -> Settings:
    base: dict[str, Any] = {
        "ingest_tokens": (INGEST, BOTH),
        "read_tokens": (READ, BOTH),
        "rate_limit_per_minute": 0,
    }
    return Settings(**{**base, **over})


def ev(i: int | str, when: str = "2025-06-01T10:00:00Z", kind: str = "primary", **f: Any) -> dict[str, Any]:
    return {"event_id": f"e{i}", "event_type": kind, "occurred_at": when, **f}


@pytest.fixture(scope="module")
def shared(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[TestClient, LeadStats]]:
    """One store and app for the tests that do not need their own settings (each app costs ~0.4 s).
    Tests keep apart by event ids, projects and time windows; seed() is idempotent."""
    service = leadstats.connect(str(tmp_path_factory.mktemp("api") / "shared.duckdb"), create=True)
    with TestClient(create_app(service, settings())) as c:
        yield c, service
    service.close()


@pytest.fixture
def client(shared: tuple[TestClient, LeadStats]) -> TestClient:
    return shared[0]


@pytest.fixture
def store(shared: tuple[TestClient, LeadStats]) -> LeadStats:
    return shared[1]


def stored(ls: LeadStats, project: str) -> int:
    """Events stored for ``project`` (tests on the shared store count their own project)."""
    return ls.report("1970-01-02", "2199-01-01", timezone="UTC", filters=[["is", "project", [project]]]).totals[
        "received"
    ]


def seed(client: TestClient) -> None:
    """March 2026 events for the report tests (nothing else in the shared store is in March 2026)."""
    events = [
        ev(1, "2026-03-07T10:05:00+05:30", project="Skyline", country="India", source="google", engagement_label="Hot"),
        ev(2, "2026-03-07T10:40:00+05:30", project="Skyline", country="US", source="meta", vpn=True),
        ev(3, "2026-03-07T11:10:00+05:30", "bot", project="Alpha, Phase 2", source="google"),
        ev(4, "2026-03-07T23:59:00+05:30", "follow_up", project="Alpha, Phase 2", suspicion_score=90),
        ev(5, "2026-03-08T00:00:00+05:30", project="Skyline"),
    ]
    doc = client.post("/api/v1/events", json=events, headers=ING).json()
    assert doc["accepted"] + doc["duplicates"] == 5


# -- auth ------------------------------------------------------------------------------------------
def test_open_routes_need_no_token(client: TestClient) -> None:
    assert client.get("/healthz").json()["status"] == "ok"
    assert client.get("/openapi.json").status_code == 200


@pytest.mark.parametrize(
    ("method", "path", "headers", "status"),
    [
        ("get", "/api/v1/schema", {}, 401),
        ("get", "/api/v1/schema", {"Authorization": "Bearer wrong"}, 401),
        ("get", "/api/v1/schema", {"Authorization": f"Basic {READ}"}, 401),
        ("get", "/api/v1/schema", ING, 403),
        ("get", "/metrics", ING, 403),
        ("post", "/api/v1/events", R, 403),
        ("post", "/api/v1/events", {}, 401),
        ("get", "/api/v1/schema", R, 200),
        ("get", "/api/v1/schema", {"Authorization": f"Bearer {BOTH}"}, 200),
        ("post", "/api/v1/events", {"Authorization": f"Bearer {BOTH}"}, 200),
    ],
)
def test_scopes(client: TestClient, method: str, path: str, headers: dict[str, str], status: int) -> None:
    kwargs: dict[str, Any] = {"headers": headers}
    if method == "post":
        kwargs["json"] = [ev("scope")]
    resp = getattr(client, method)(path, **kwargs)
    assert resp.status_code == status
    if status == 401:
        assert resp.headers["www-authenticate"] == "Bearer"
        assert resp.json()["error"]["code"] == "unauthorized"
    if status == 403:
        assert resp.json()["error"] == {
            "code": "forbidden",
            "message": resp.json()["error"]["message"],
            "field": "authorization",
        }


def test_no_tokens_means_everything_protected_is_refused(ls: LeadStats) -> None:
    with TestClient(create_app(ls, Settings(rate_limit_per_minute=0))) as c:
        assert c.get("/api/v1/schema").status_code == 401
        assert c.get("/healthz").status_code == 200


def test_insecure_local_serves_without_tokens_but_not_when_tokens_exist(ls: LeadStats) -> None:
    with TestClient(create_app(ls, Settings(rate_limit_per_minute=0), insecure_local=True)) as c:
        assert c.get("/api/v1/schema").status_code == 200
        assert c.post("/api/v1/events", json=[ev("x")]).json()["accepted"] == 1
    with TestClient(create_app(ls, settings(), insecure_local=True)) as c:
        assert c.get("/api/v1/schema").status_code == 401


def test_serve_refuses_unsafe_configs() -> None:
    with pytest.raises(InputError, match="no tokens"):
        check_serve_config(Settings(), "127.0.0.1", insecure_local=False)
    with pytest.raises(InputError, match="loopback"):
        check_serve_config(Settings(), "0.0.0.0", insecure_local=True)
    check_serve_config(Settings(), "::1", insecure_local=True)
    check_serve_config(settings(), "0.0.0.0", insecure_local=False)
    assert is_loopback("localhost") and is_loopback("127.0.0.2") and not is_loopback("10.0.0.1")


def test_rate_limit_per_token_with_retry_after(ls: LeadStats) -> None:
    """3 a minute: the first 3 pass, then a 429 before more pass than can have refilled meanwhile (at
    3/60 per second, counted from the clock, so a slow machine cannot fail it)."""

    def until_limited(send: Any) -> tuple[list[int], Any, int]:
        started, codes = time.monotonic(), []
        while not codes or (codes[-1] != 429 and len(codes) < 50):
            resp = send()
            codes.append(resp.status_code)
        return codes, resp, math.floor((time.monotonic() - started) * 3 / 60)

    with TestClient(create_app(ls, settings(rate_limit_per_minute=3))) as c:
        codes, limited, refilled = until_limited(lambda: c.get("/api/v1/schema", headers=R))
        assert codes[:3] == [200] * 3 and codes[-1] == 429 and len(codes) - 1 <= 3 + refilled, codes
        assert set(codes[:-1]) == {200}
        assert int(limited.headers["retry-after"]) >= 1
        assert limited.json()["error"]["code"] == "rate_limited"
        # another token has its own bucket
        assert c.post("/api/v1/events", json=[ev("rl")], headers=ING).status_code == 200
        # failed authentications are limited per client too
        codes, _, refilled = until_limited(lambda: c.get("/api/v1/schema", headers={"Authorization": "Bearer guess"}))
        assert codes[:3] == [401] * 3 and codes[-1] == 429 and len(codes) - 1 <= 3 + refilled, codes
        assert set(codes[:-1]) == {401}


# -- ingest ----------------------------------------------------------------------------------------
def test_partial_acceptance_and_redelivery(client: TestClient, store: LeadStats) -> None:
    p = {"project": "t-partial"}
    batch = [ev("p1", **p), {"event_id": "bad", "event_type": "primary"}, 7, ev("p2", **p), ev("p2", **p)]
    first = client.post("/api/v1/events", json=batch, headers=ING)
    assert first.status_code == 200
    assert first.json() == {
        "accepted": 2,
        "duplicates": 1,
        "rejected": [
            {"index": 1, "event_id": "bad", "field": "occurred_at", "error": "is required"},
            {"index": 2, "event_id": None, "field": "record", "error": "is not a JSON object"},
        ],
    }
    again = client.post("/api/v1/events", json=[ev("p1", **p), ev("p2", **p), ev("p3", **p)], headers=ING).json()
    assert (again["accepted"], again["duplicates"]) == (1, 2)
    assert stored(store, "t-partial") == 3


def test_ndjson_body(client: TestClient, store: LeadStats) -> None:
    p = {"project": "t-ndjson"}
    body = "\n".join([json.dumps(ev("n1", **p)), "", "{not json", json.dumps(ev("n2", kind="bot", **p))]) + "\n"
    resp = client.post(
        "/api/v1/events", content=body, headers={**ING, "Content-Type": "application/x-ndjson; charset=utf-8"}
    )
    assert resp.status_code == 200
    doc = resp.json()
    assert doc["accepted"] == 2
    assert doc["rejected"] == [{"index": 1, "event_id": None, "field": "record", "error": "is not valid JSON"}]
    assert stored(store, "t-ndjson") == 2


@pytest.mark.parametrize(
    ("body", "ctype", "needle"),
    [
        (b"[1,", "application/json", "not valid JSON"),
        (b'{"event_id": "x"}', "application/json", "JSON array"),
        (b"", "application/json", "empty"),
        (b"\xff\xfe[]", "application/json", "UTF-8"),
        (b"garbage\nmore garbage\n", "application/x-ndjson", "JSON Lines"),
    ],
)
def test_unparseable_body_is_400(client: TestClient, body: bytes, ctype: str, needle: str) -> None:
    resp = client.post("/api/v1/events", content=body, headers={**ING, "Content-Type": ctype})
    assert resp.status_code == 400
    error = resp.json()["error"]
    assert error["code"] == "invalid_input" and error["field"] == "body" and needle in error["message"]


def test_limits_are_413(ls: LeadStats) -> None:
    with TestClient(create_app(ls, settings(max_events_per_request=3, max_body_bytes=2_000))) as c:
        many = c.post("/api/v1/events", json=[ev(i) for i in range(4)], headers=ING)
        assert many.status_code == 413 and "limit is 3" in many.json()["error"]["message"]
        big = c.post("/api/v1/events", json=[ev(1, referer="x" * 3_000)], headers=ING)
        assert big.status_code == 413 and big.json()["error"]["code"] == "too_large"

        def chunks() -> Iterator[bytes]:  # no Content-Length: the limit is counted while reading
            yield b"["
            for i in range(50):
                yield json.dumps(ev(i)).encode() + b","
            yield b"1]"

        assert c.post("/api/v1/events", content=chunks(), headers=ING).status_code == 413
        assert c.post("/api/v1/events", json=[ev(1)], headers=ING).status_code == 200
    assert ls.store.count() == 1


def test_empty_array_is_ok(client: TestClient) -> None:
    assert client.post("/api/v1/events", json=[], headers=ING).json() == {
        "accepted": 0,
        "duplicates": 0,
        "rejected": [],
    }


def test_group_commit_answers_each_request_with_its_own_counts(ls: LeadStats) -> None:
    writer = GroupCommitWriter(ls)
    try:
        futures = []
        for r in range(20):  # request r: 50 new ids, 10 ids shared with request r-1, one bad record
            ids = [f"g{r}-{k}" for k in range(50)] + [f"g{r - 1}-{k}" for k in range(10)]
            lines = [json.dumps(ev(i)) for i in ids] + ['{"event_id": "bad"}']
            futures.append(writer.submit(pa.array([f"{s}" for s in lines])))
        results = [f.result(timeout=60) for f in futures]
    finally:
        writer.close()
    assert results[0].accepted == 60 and results[0].duplicates == 0  # g-1-* are new for request 0
    for res in results[1:]:
        assert (res.accepted, res.duplicates, len(res.rejected)) == (50, 10, 1)
        assert res.rejected[0].row == 60
    assert ls.store.count() == 60 + 19 * 50
    assert writer.commits < 20  # requests queued behind a commit were committed together


def test_http_lead_id_is_stored_hashed_like_every_other_path(shared: tuple[TestClient, LeadStats]) -> None:
    """Issue 16.17: the HTTP writer goes through the one pipeline, which stores lead_id's HMAC."""
    from leadstats.ingest.pipeline import hash_lead_id

    client, service = shared
    body = [ev("lid-http-1", lead_id="lead-77"), ev("lid-http-2", kind="follow_up", lead_id="lead-77")]
    assert client.post("/api/v1/events", json=body, headers=ING).json()["accepted"] == 2
    service.ingest([ev("lid-py-1", kind="follow_up", lead_id="lead-77")])
    rows = service.store.execute(  # type: ignore[attr-defined]
        "SELECT DISTINCT lead_id FROM events WHERE event_id LIKE 'elid-%'")
    assert rows == [(hash_lead_id(service.lead_id_secret(), "lead-77"),)]


# -- reports ---------------------------------------------------------------------------------------
def test_report_matches_the_engine(client: TestClient, store: LeadStats) -> None:
    seed(client)
    params = {"from": "2026-03-07", "to": "2026-03-08", "tz": "Asia/Kolkata", "bucket": "60m", "by": "project"}
    resp = client.get("/api/v1/report", params=params, headers=R)
    assert resp.status_code == 200 and resp.headers["content-type"] == "application/json"
    doc = resp.json()
    expected = store.report("2026-03-07", "2026-03-08", timezone="Asia/Kolkata", bucket="60m", dimensions="project")
    assert doc["rows"] == expected.to_dict()["rows"] and doc["totals"] == expected.totals
    assert doc["query"]["bucket"] == "60m" and doc["totals"]["received"] == 4
    assert doc["meta"]["backend"] == "duckdb"


def test_report_filters_repeatable_and_csv_quoted(client: TestClient) -> None:
    seed(client)
    base = [("from", "2026-03-07"), ("to", "2026-03-09")]
    one = client.get("/api/v1/report", params=[*base, ("filter", 'project="Alpha, Phase 2",Skyline')], headers=R)
    assert one.json()["totals"]["received"] == 5
    two = client.get(
        "/api/v1/report",
        params=[*base, ("filter", 'project="Alpha, Phase 2",Skyline'), ("filter", "source!=google")],
        headers=R,
    )
    assert two.json()["totals"]["received"] == 3  # source null counts as "not google"
    assert len(two.json()["query"]["filters"]) == 2
    contains = client.get("/api/v1/report", params=[*base, ("filter", "project~=phase")], headers=R)
    assert contains.json()["totals"]["received"] == 2


def test_report_csv_download(client: TestClient, store: LeadStats) -> None:
    seed(client)
    params = {"from": "2026-03-07", "to": "2026-03-08", "bucket": "30m", "by": "project", "format": "csv"}
    resp = client.get("/api/v1/report", params=params, headers=R)
    assert resp.status_code == 200
    assert resp.headers["content-type"].startswith("text/csv")
    assert resp.headers["content-disposition"] == 'attachment; filename="leadstats-report_2026-03-07_2026-03-08.csv"'
    expected = store.report("2026-03-07", "2026-03-08", bucket="30m", dimensions="project").to_csv()
    assert resp.text == expected
    rows = list(csv.DictReader(io.StringIO(resp.text)))
    assert rows[0]["project"] == "Skyline" and {r["project"] for r in rows} == {"Skyline", "Alpha, Phase 2"}


def test_report_csv_streams_many_rows(client: TestClient) -> None:
    events = [ev(f"csv{i}", f"2026-03-01T00:{i % 60:02d}:00Z", city=f"c{i}") for i in range(4_500)]
    doc = client.post("/api/v1/events", json=events, headers=ING).json()
    assert doc["accepted"] + doc["duplicates"] == 4_500
    params = {"from": "2026-03-01", "to": "2026-03-02", "tz": "UTC", "by": "city", "format": "csv"}
    with client.stream("GET", "/api/v1/report", params=params, headers=R) as resp:
        text = "".join(resp.iter_text())
    lines = text.splitlines()
    assert lines[0].startswith("city,received") and len(lines) == 4_501 and lines.count(lines[0]) == 1


def test_post_query_equals_get_report(client: TestClient) -> None:
    seed(client)
    body = {
        "date_range": ["2026-03-07", "2026-03-08"],
        "timezone": "Asia/Kathmandu",
        "bucket": "60m",
        "dimensions": ["source"],
        "filters": [["is", "project", ["Skyline"]]],
        "suspicious_min": 40,
    }
    posted = client.post("/api/v1/query", json=body, headers=R)
    assert posted.status_code == 200
    got = client.get(
        "/api/v1/report",
        params={
            "from": "2026-03-07",
            "to": "2026-03-08",
            "tz": "Asia/Kathmandu",
            "bucket": "60m",
            "by": "source",
            "filter": "project=Skyline",
            "suspicious_min": "40",
        },
        headers=R,
    )
    assert posted.json()["rows"] == got.json()["rows"] and posted.json()["query"] == got.json()["query"]
    assert posted.json()["rows"][0]["bucket_start"] == "2026-03-07T10:00:00+05:45"  # 10:05 IST = 10:20 NPT


def test_schema_and_summary(client: TestClient, store: LeadStats) -> None:
    seed(client)
    schema = client.get("/api/v1/schema", headers=R).json()
    assert "project" in [d["name"] for d in schema["dimensions"]] and "30m" in schema["buckets"]
    resp = client.get("/api/v1/summary", params={"days": 2, "tz": "Asia/Kolkata", "today": "2026-03-08"}, headers=R)
    assert resp.status_code == 200
    assert resp.json() == summary(store, days=2, tz="Asia/Kolkata", today=date(2026, 3, 8))
    assert resp.json()["metrics"]["received"]["value"] == 4
    one = client.get("/api/v1/summary", params={"project": "Skyline", "today": "2026-03-08"}, headers=R).json()
    assert one["project"] == "Skyline" and one["metrics"]["primary"]["value"] == 2


# -- errors ----------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("path", "params", "status", "field"),
    [
        ("/api/v1/report", {"from": "2026-03-07", "to": "2026-03-08", "bogus": "1"}, 400, "bogus"),
        ("/api/v1/report", {"from": "2026-03-07", "to": "2026-03-08", "bucket": "7m"}, 400, "bucket"),
        ("/api/v1/report", {"from": "2026-03-07", "to": "2026-03-08", "tz": "Mars/Base"}, 400, "timezone"),
        ("/api/v1/report", {"from": "2026-03-08", "to": "2026-03-07"}, 400, None),
        ("/api/v1/report", {"from": "1970-01-01", "to": "2199-01-01", "bucket": "15m"}, 400, None),
        ("/api/v1/report", {"from": "2026-03-07", "to": "2026-03-08", "by": "email"}, 400, "dimensions"),
        ("/api/v1/report", {"from": "2026-03-07", "to": "2026-03-08", "filter": "nope"}, 400, "filters"),
        ("/api/v1/report", {"from": "2026-03-07", "to": "2026-03-08", "format": "xml"}, 422, "format"),
        ("/api/v1/report", {"from": "2026-03-07", "to": "x", "suspicious_min": "lots"}, 422, "suspicious_min"),
        ("/api/v1/report", {"from": "2026-03-07"}, 422, "to"),
        ("/api/v1/report", {"from": "0001-01-01", "to": "0001-01-02"}, 400, None),
        ("/api/v1/report", {"from": "0001-01-01T00:00:00+14:00", "to": "2026-01-01"}, 400, None),
        (
            "/api/v1/report",
            {"from": "2026-03-07", "to": "2026-03-08", "suspicious_min": "1e308"},
            422,
            "suspicious_min",
        ),
        ("/api/v1/summary", {"today": "0001-01-01"}, 400, "today"),
        ("/api/v1/summary", {"days": "0"}, 422, "days"),
        ("/api/v1/summary", {"days": "week"}, 422, "days"),
        ("/api/v1/summary", {"tz": "Nowhere/Land"}, 400, "timezone"),
        ("/api/v1/summary", {"when": "today"}, 400, "when"),
        ("/api/v1/schema", {"verbose": "1"}, 400, "verbose"),
        ("/metrics", {"x": "1"}, 400, "x"),
    ],
)
def test_bad_requests(client: TestClient, path: str, params: dict[str, str], status: int, field: str | None) -> None:
    resp = client.get(path, params=params, headers=R)
    assert resp.status_code == status, resp.text
    error = resp.json()["error"]
    assert set(error) == {"code", "message", "field"} and error["message"]
    if field:
        assert error["field"] == field
    assert "Traceback" not in resp.text


def test_unknown_param_refused_on_open_route(client: TestClient) -> None:
    assert client.get("/healthz", params={"deep": "1"}).status_code == 400


@pytest.mark.parametrize(
    ("body", "status"),
    [
        ({"date_range": ["2026-03-07"]}, 422),
        ({"date_range": ["2026-03-07", "2026-03-08"], "colour": "red"}, 422),
        ({"date_range": ["2026-03-07", "2026-03-08"], "bucket": "7m"}, 400),
        ({"date_range": ["2026-03-07", "2026-03-08"], "filters": [["like", "project", ["x"]]]}, 400),
        ({"timezone": "UTC"}, 400),
        ({"date_range": ["0001-01-01", "0001-01-02"]}, 400),
        ({"date_range": ["2026-03-07", "2026-03-08"], "suspicious_min": -1e308}, 422),
        ([1, 2], 422),
    ],
)
def test_bad_json_queries(client: TestClient, body: Any, status: int) -> None:
    resp = client.post("/api/v1/query", json=body, headers=R)
    assert resp.status_code == status, resp.text
    assert "error" in resp.json()


def test_unparseable_query_body_is_400(client: TestClient) -> None:
    resp = client.post("/api/v1/query", content=b'{"date_range": [', headers={**R, "Content-Type": "application/json"})
    assert resp.status_code == 400 and resp.json()["error"]["code"] == "invalid_input"


def test_unknown_route_and_method(client: TestClient) -> None:
    resp = client.get("/api/v1/nothing-here", headers=R)
    assert resp.status_code == 404 and resp.json()["error"]["code"] == "not_found"
    assert client.delete("/api/v1/events", headers=ING).status_code == 405


def test_unexpected_errors_are_500_without_traceback(
    ls: LeadStats, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(app_module, "STATIC_DIR", tmp_path)  # no dashboard mount in front of /boom
    app = create_app(ls, settings())

    @app.get("/boom")
    def boom() -> None:
        raise RuntimeError("secret internals")

    with TestClient(app, raise_server_exceptions=False) as c:
        resp = c.get("/boom")
    assert resp.status_code == 500
    assert resp.json() == {
        "error": {"code": "internal_error", "message": "internal error (logged on the server)", "field": None}
    }


# -- operations ------------------------------------------------------------------------------------
def test_metrics(ls: LeadStats) -> None:
    client = TestClient(create_app(ls, settings()))
    with client:
        client.post("/api/v1/events", json=[ev(1), ev(1), {"x": 1}], headers=ING)
        client.get("/api/v1/schema", headers=R)
        text = client.get("/metrics", headers=R).text
    assert 'leadstats_ingested_events_total{result="accepted"} 1.0' in text
    assert 'leadstats_ingested_events_total{result="duplicate"} 1.0' in text
    assert 'leadstats_ingested_events_total{result="rejected"} 1.0' in text
    assert 'leadstats_http_requests_total{method="GET",route="/api/v1/schema",status="200"} 1.0' in text
    assert "leadstats_http_request_duration_seconds_bucket" in text
    assert "leadstats_ingest_commits_total 1.0" in text
    size = [line for line in text.splitlines() if line.startswith("leadstats_store_size_bytes ")]
    assert size and float(size[0].split()[1]) > 0


def test_access_log_is_json_without_secrets(client: TestClient, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger="leadstats.access"):
        client.get(
            "/api/v1/report", params={"from": "2026-03-07", "to": "2026-03-08", "filter": "city=Pune"}, headers=R
        )
        client.get("/api/v1/schema", headers={"Authorization": "Bearer not-a-real-token"})
    records = [r for r in caplog.records if r.name == "leadstats.access"]
    assert len(records) == 2
    fields = [r.fields for r in records]  # type: ignore[attr-defined]
    assert fields[0]["route"] == "/api/v1/report" and fields[0]["status"] == 200 and fields[0]["auth"] == "read#0"
    assert fields[1]["status"] == 401 and fields[1]["auth"] is None
    from leadstats.api.observability import JsonFormatter

    text = "\n".join(JsonFormatter().format(r) for r in records)
    assert json.loads(text.splitlines()[0])["path"] == "/api/v1/report"
    for secret in (READ, "not-a-real-token", "Pune", "testclient"):
        assert secret not in text


def test_lifespan_hooks_and_mcp_mount(ls: LeadStats, monkeypatch: pytest.MonkeyPatch) -> None:
    events: list[str] = []

    def mount(app: Any, service: LeadStats, conf: Settings) -> None:
        assert service is ls

        @asynccontextmanager
        async def hook() -> Any:
            events.append("start")
            yield
            events.append("stop")

        app.state.lifespan_hooks.append(hook)
        app.add_api_route("/mcp", lambda: {"mcp": True})

    monkeypatch.setattr("leadstats.mcp.mount", mount)  # the MCP front end's mount, imported normally
    with TestClient(create_app(ls, settings())) as c:
        assert c.get("/mcp").json() == {"mcp": True}
        assert events == ["start"]
    assert events == ["start", "stop"]


def test_dashboard_served_at_root_when_present(ls: LeadStats, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "index.html").write_text("<html>leadstats dashboard</html>")
    monkeypatch.setattr(app_module, "STATIC_DIR", tmp_path)
    with TestClient(create_app(ls, settings())) as c:
        assert "leadstats dashboard" in c.get("/").text
        assert c.get("/api/v1/schema", headers=R).status_code == 200  # API routes win over the mount
        assert c.get("/missing.js").status_code == 404
    empty = tmp_path / "empty"
    empty.mkdir()
    monkeypatch.setattr(app_module, "STATIC_DIR", empty)
    with TestClient(create_app(ls, settings())) as c:
        assert c.get("/").status_code == 404


def test_concurrent_requests_in_process(client: TestClient, store: LeadStats) -> None:
    def send(r: int) -> dict[str, Any]:
        batch = [ev(f"c{r}-{k}", f"2024-03-0{1 + k % 7}T10:00:00Z", project="t-conc") for k in range(200)]
        return client.post("/api/v1/events", json=batch, headers=ING).json()  # type: ignore[no-any-return]

    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(send, range(16)))
    assert all(r["accepted"] == 200 for r in results)
    assert stored(store, "t-conc") == 3_200
    report = client.get("/api/v1/report", params={"from": "2024-03-01", "to": "2024-03-08"}, headers=R).json()
    assert report["totals"]["received"] == 3_200


def test_fresh_store_closed_cleanly(tmp_path: Path) -> None:
    service = leadstats.connect(str(tmp_path / "c.duckdb"))
    with TestClient(create_app(service, settings())) as c:
        assert c.post("/api/v1/events", json=[ev(1)], headers=ING).json()["accepted"] == 1
    assert not c.app.state.writer.running  # type: ignore[attr-defined]
    service.close()
    with leadstats.connect(str(tmp_path / "c.duckdb")) as again:
        assert again.store.count() == 1
