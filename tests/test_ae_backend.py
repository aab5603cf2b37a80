"""Analytics Engine backend against a local stand-in of the AE SQL API.

The stand-in (this file run as a script, in a subprocess on 127.0.0.1) speaks the API's protocol: POST
``/client/v4/accounts/{account}/analytics_engine/sql``, a bearer token, raw SQL text in the body, a
``FORMAT JSON`` answer with ``meta``/``data``/``rows`` and 64-bit numbers as strings. It runs the SQL it
receives, unchanged, on chDB over an AE-shaped table (``timestamp``, ``index1``, ``blob1..20``,
``double1..20``, ``_sample_interval``) loaded with sampled rows, and it refuses what AE refuses: a second
SELECT (subqueries), JOIN, WITH, another table, and functions outside the list below.

The same events go into DuckDB with ``weight = _sample_interval``; every report must be equal.
"""

from __future__ import annotations

import json
import random
import re
import subprocess
import sys
from collections.abc import Iterator
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

ACCOUNT = "0123456789abcdef0123456789abcdef"
DATASET = "lead_submissions"
TOKEN = "test-token-ae"
# Functions the AE SQL reference lists that leadstats uses (plus count); anything else is refused.
AE_FUNCTIONS = {"sum", "count", "if", "intDiv", "toUInt32", "toDateTime", "toDayOfMonth", "lower", "lowerUTF8",
                "position"}
_KEYWORDS = {"IN", "AND", "OR", "NOT", "SELECT", "WHERE", "BY"}


# -- the stand-in ------------------------------------------------------------------------------------
def check_sql(sql: str, dataset: str) -> str | None:
    """Why Analytics Engine would refuse ``sql``, or None."""
    bare = re.sub(r"'(?:[^'\\]|\\.)*'", "''", sql)  # string literals cannot hide keywords
    words = re.findall(r"[A-Za-z_][A-Za-z0-9_]*", bare)
    upper = [w.upper() for w in words]
    if upper.count("SELECT") != 1:
        return "only one SELECT per query: subqueries are not supported"
    for banned in ("JOIN", "WITH", "UNION"):
        if banned in upper:
            return f"{banned} is not supported"
    tables = re.findall(r"\bFROM\s+([A-Za-z_][A-Za-z0-9_]*)", bare, re.IGNORECASE)
    if tables != [dataset]:
        return f"unknown table(s) {tables}: one dataset per query"
    for name in re.findall(r"([A-Za-z_][A-Za-z0-9_]*)\s*\(", bare):
        if name.upper() not in _KEYWORDS and name not in AE_FUNCTIONS:
            return f"unsupported function {name}"
    if not bare.rstrip().upper().endswith("FORMAT JSON"):
        return "expected FORMAT JSON"
    return None


def serve(data_dir: str, parquet: str) -> None:  # pragma: no cover - runs in the subprocess
    from chdb import session

    sess = session.Session(data_dir)
    blobs = ", ".join(f"blob{i} String" for i in range(1, 21))
    doubles = ", ".join(f"double{i} Float64" for i in range(1, 21))
    sess.query(
        f"CREATE TABLE {DATASET} (timestamp DateTime('UTC'), index1 String, {blobs}, {doubles},"
        " _sample_interval UInt32) ENGINE = MergeTree ORDER BY timestamp"
    )
    table = pq.read_table(parquet)
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    inserter = sess.send_insert(f"INSERT INTO {DATASET} ({', '.join(table.column_names)})", "ArrowStream")
    inserter.append(sink.getvalue().to_pybytes())
    inserter.finish()
    # Like AE: 64-bit numbers arrive as JSON strings; the service runs in UTC.
    sess.query("SET output_format_json_quote_64bit_integers = 1")
    sess.query("SET output_format_json_quote_64bit_floats = 1")
    sess.query("SET session_timezone = 'UTC'")
    path = f"/client/v4/accounts/{ACCOUNT}/analytics_engine/sql"

    class Handler(BaseHTTPRequestHandler):
        def _send(self, status: int, body: bytes, ctype: str = "application/json") -> None:
            self.send_response(status)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_POST(self) -> None:  # noqa: N802 - http.server's spelling
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0)).decode()
            if self.path != path:
                return self._send(404, b'{"success":false,"errors":[{"code":7003,"message":"No route"}]}')
            if self.headers.get("Authorization") != f"Bearer {TOKEN}":
                return self._send(401, b'{"success":false,"errors":[{"code":10000,"message":"Authentication error"}]}')
            reason = check_sql(body, DATASET)
            if reason:
                return self._send(422, reason.encode(), "text/plain")
            try:
                out = sess.query(body, "JSON")
            except Exception as exc:  # noqa: BLE001 - the client sees the engine's message
                return self._send(422, str(exc).encode(), "text/plain")
            return self._send(200, out.bytes())

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    print(f"PORT {server.server_address[1]}", flush=True)
    server.serve_forever()


if __name__ == "__main__" and sys.argv[1:2] == ["--serve"]:  # pragma: no cover
    serve(sys.argv[2], sys.argv[3])
    raise SystemExit(0)


# -- the tests ---------------------------------------------------------------------------------------
import pytest  # noqa: E402

import leadstats  # noqa: E402
from conftest_backends import document, random_events, random_query  # noqa: E402
from leadstats.cli import app  # noqa: E402
from leadstats.errors import QueryError, StoreError, UpstreamError  # noqa: E402
from leadstats.service import LeadStats  # noqa: E402
from leadstats.store.analytics_engine import AnalyticsEngineStore  # noqa: E402


def ae_rows(events: list[dict[str, Any]], rng: random.Random) -> tuple[pa.Table, list[dict[str, Any]]]:
    """AE data points for ``events`` (sampled: each stands for _sample_interval events) and their
    DuckDB twins (same facts, AE's view of nulls, weight = _sample_interval)."""
    cols: dict[str, list[Any]] = {"timestamp": [], "index1": [], "_sample_interval": []}
    for i in range(1, 21):
        cols[f"blob{i}"], cols[f"double{i}"] = [], []
    twins: list[dict[str, Any]] = []
    picks = events + [dict(e, event_id=e["event_id"] + "-again") for e in events[:15]]  # identical points
    for e in picks:
        weight = rng.choice([1, 1, 1, 2, 5, 10])
        blobs = {i: "" for i in range(1, 21)}
        for field, i in (("project", 1), ("source", 2), ("referer", 3), ("utm_campaign", 12), ("country", 16),
                         ("city", 17)):
            blobs[i] = e.get(field) or ""
        label = e.get("engagement_label")
        blobs[15] = rng.choice([label, label.lower(), label.upper()]) if label else ""
        et = e["event_type"]
        if et in ("primary", "follow_up") and rng.random() < 0.5:
            blobs[5] = "1" if et == "primary" else "0"  # old Worker rows: no blob20, the flag decides
        else:
            blobs[20] = et.upper() if rng.random() < 0.2 else et
        point = {"index1": e["event_id"].removesuffix("-again"), "_sample_interval": weight,
                 "timestamp": datetime.fromisoformat(e["occurred_at"].replace("Z", "+00:00"))}
        for i in range(1, 21):
            cols[f"blob{i}"].append(blobs[i])
            cols[f"double{i}"].append(0.0)
        cols["double2"][-1] = float(e.get("suspicion_score") or 0)
        cols["double8"][-1] = 1.0 if e.get("vpn") else 0.0
        for k, v in point.items():
            cols[k].append(v)
        twins.append({**e, "suspicion_score": float(e.get("suspicion_score") or 0), "vpn": bool(e.get("vpn")),
                      "weight": weight})
    # Data points that are no lead event (no type, an unknown type): AE holds them, reports skip them,
    # as `leadstats import ae` does; they have no DuckDB twin.
    for i, (b5, b20) in enumerate((("", ""), ("2", ""), ("", "spam"))):
        cols["timestamp"].append(datetime.fromisoformat(picks[i]["occurred_at"].replace("Z", "+00:00")))
        cols["index1"].append(f"junk{i}")
        cols["_sample_interval"].append(7)
        for j in range(1, 21):
            cols[f"blob{j}"].append({5: b5, 20: b20, 1: "Skyline"}.get(j, ""))
            cols[f"double{j}"].append(0.0)
    cols["timestamp"] = pa.array(cols["timestamp"], pa.timestamp("s", tz="UTC"))
    return pa.table(cols), twins


@pytest.fixture(scope="module")
def ae_world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, LeadStats]]:
    """(API base URL of a running stand-in, DuckDB twin of its data)."""
    tmp = tmp_path_factory.mktemp("ae")
    rng = random.Random(5)
    table, twins = ae_rows(random_events(rng, 500, whole_seconds=True), rng)
    pq.write_table(table, tmp / "points.parquet")
    proc = subprocess.Popen(
        [sys.executable, __file__, "--serve", str(tmp / "chdb"), str(tmp / "points.parquet")],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert line.startswith("PORT "), (line, proc.stderr.read() if proc.poll() is not None else "")
        twin = leadstats.connect(str(tmp / "twin.duckdb"))
        result = twin.ingest_table(pa.Table.from_pylist(twins))
        assert result.accepted == len(twins) and not result.rejected
        yield f"http://127.0.0.1:{line.split()[1]}", twin
        twin.close()
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def ae_store(base: str, url: str = f"ae://{ACCOUNT}/{DATASET}", token: str = TOKEN) -> LeadStats:
    return LeadStats(AnalyticsEngineStore(url, token=token, api_base=base))


def test_random_reports_equal_weighted_duckdb(ae_world: tuple[str, LeadStats]) -> None:
    base, twin = ae_world
    rng = random.Random(3)
    with ae_store(base) as ae:
        compared = 0
        for _ in range(45):
            q = random_query(rng)
            expected = document(twin, q)
            assert document(ae, q) == expected, q
            compared += len(expected["rows"])
        assert compared > 300


def test_weighted_totals_and_hand_checked_buckets(ae_world: tuple[str, LeadStats]) -> None:
    base, twin = ae_world
    with ae_store(base) as ae:
        assert ae.store.count() == twin.store.count() > 515  # sum of _sample_interval, not count()
        for bucket, tz in (("1mo", "America/New_York"), ("1w", "Asia/Kolkata"), ("15m", "Asia/Kathmandu"),
                           ("1d", "America/New_York")):
            q = {"date_range": ["2026-03-01", "2026-11-05"], "timezone": tz, "bucket": bucket,
                 "dimensions": ["event_type"] if bucket == "1d" else []}
            assert document(ae, q) == document(twin, q)
        health = ae.health()
        # health counts every data point, the junk ones too (reports skip them)
        assert health["backend"] == "analytics_engine" and health["rows"] == 518 and health["events"] > 515


def test_stand_in_speaks_like_ae_and_refuses_what_ae_refuses(ae_world: tuple[str, LeadStats]) -> None:
    base, _twin = ae_world
    store = AnalyticsEngineStore(f"ae://{ACCOUNT}/{DATASET}", token=TOKEN, api_base=base)
    raw = store.sql(f"SELECT sum(_sample_interval) AS n, toUInt32(timestamp) AS t FROM {DATASET} GROUP BY t")
    assert set(raw) >= {"meta", "data", "rows"} and isinstance(raw["data"][0]["n"], str)  # numbers as strings
    with pytest.raises(UpstreamError, match="returned 3 of"):  # a cut answer is never used
        store.sql(f"SELECT index1 FROM {DATASET} LIMIT 3")
    for bad in (f"SELECT count() FROM (SELECT 1 FROM {DATASET})", f"WITH 1 AS x SELECT x FROM {DATASET}",
                f"SELECT nullIf(blob1, '') FROM {DATASET}", "SELECT count() FROM other"):
        with pytest.raises(UpstreamError, match="HTTP 422"):
            store.sql(bad)
    store.close()
    with pytest.raises(UpstreamError, match="token"):
        ae_store(base, token="wrong").report("2026-03-01", "2026-03-02")


def test_read_only_and_mapping_errors(ae_world: tuple[str, LeadStats]) -> None:
    base, twin = ae_world
    with ae_store(base) as ae:
        with pytest.raises(StoreError, match="read-only"):
            ae.store.append(next(twin.store.scan(5)))
        with pytest.raises(StoreError, match="event_id"):
            next(iter(ae.store.scan()))
    with ae_store(base, url=f"ae://{ACCOUNT}/{DATASET}?city=none") as ae, pytest.raises(QueryError, match="city"):
        ae.report("2026-03-01", "2026-03-02", dimensions=["city"])
    for url in (f"ae://{ACCOUNT}/bad-name;drop", f"ae://{ACCOUNT}/{DATASET}?city=blob21",
                f"ae://{ACCOUNT}/{DATASET}?nope=blob1"):
        with pytest.raises(StoreError):
            AnalyticsEngineStore(url, token=TOKEN, api_base=base)


def test_url_env_and_cli(ae_world: tuple[str, LeadStats], monkeypatch: pytest.MonkeyPatch) -> None:
    from typer.testing import CliRunner

    base, twin = ae_world
    monkeypatch.delenv("CLOUDFLARE_API_TOKEN", raising=False)
    with pytest.raises(StoreError, match="CLOUDFLARE_API_TOKEN"):
        leadstats.connect(f"ae://{ACCOUNT}/{DATASET}")
    monkeypatch.setenv("CLOUDFLARE_API_TOKEN", TOKEN)
    monkeypatch.setenv("LEADSTATS_CLOUDFLARE_API_BASE", base)
    args = ["report", "--from", "2026-10-30", "--to", "2026-11-04", "--tz", "America/New_York", "--bucket", "60m",
            "--by", "project", "--filter", 'project="Alpha, Phase 2",Skyline', "--format", "json"]
    result = CliRunner().invoke(app, [*args, "--db", f"ae://{ACCOUNT}/{DATASET}"])
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert doc.pop("meta")["backend"] == "analytics_engine"
    expected = twin.report("2026-10-30", "2026-11-04", timezone="America/New_York", bucket="60m",
                           dimensions=["project"], filters=[["is", "project", ["Alpha, Phase 2", "Skyline"]]]).to_dict()
    expected.pop("meta")
    assert doc == expected and doc["rows"]


def test_check_sql_accepts_what_leadstats_sends() -> None:
    store = AnalyticsEngineStore(f"ae://{ACCOUNT}/{DATASET}", token="x", api_base="http://127.0.0.1:9")
    from leadstats.model.report import ReportQuery

    rng = random.Random(1)
    for _ in range(100):
        q = ReportQuery.from_json(random_query(rng))
        assert check_sql(store.compile(q) + " FORMAT JSON", DATASET) is None
    store.close()


def test_contains_is_utf8_and_literals_quote_as_documented(ae_world: tuple[str, LeadStats]) -> None:
    """Issue 11.7: ``contains`` on AE uses lowerUTF8 (``lower`` is ASCII only) and ``position(needle IN
    haystack)``; string literals are single-quoted with the quote doubled, booleans true/false."""
    base, twin = ae_world
    store = AnalyticsEngineStore(f"ae://{ACCOUNT}/{DATASET}", token="x", api_base="http://127.0.0.1:9")
    from leadstats.model.report import ReportQuery

    q = ReportQuery.create("2026-03-01", "2026-11-05", filters=[["contains", "project", ["DÉV Ü", "o'brien"]],
                                                                ["is", "vpn_suspected", [True]]])
    sql = store.compile(q)
    store.close()
    assert "position(lowerUTF8('DÉV Ü') IN lowerUTF8(blob1)) > 0" in sql and "lower(blob1)" not in sql
    assert "'o''brien'" in sql and "IN (true)" in sql
    with ae_store(base) as ae:
        for needle in ("DÉV Ü", "dév", "ü", "O'BRIEN \\"):
            doc = {"date_range": ["2026-03-01", "2026-11-05"], "dimensions": ["project", "vpn_suspected"],
                   "filters": [["contains", "project", [needle]]]}
            expected = document(twin, doc)
            assert expected["rows"], needle  # the stand-in data holds these projects
            assert document(ae, doc) == expected, needle
