"""Issue 16 over the wire: ``leadstats serve`` as a real process on 127.0.0.1 with a real DuckDB file.

DNS rebinding (foreign ``Host``), CSRF (cross-site ``Origin``, non-JSON media types), rate limits that
``X-Forwarded-For`` cannot dodge, the security headers, the header read timeout, and a client leaving
mid-upload (a 499, not a 500 with a traceback)."""

from __future__ import annotations

import math
import socket
import time
from collections.abc import Iterator

import httpx
import pytest

from servers import INGEST, LIMIT_PER_MINUTE, READ, ServerProcess, auth, events


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    tmp = tmp_path_factory.mktemp("sec")
    srv = ServerProcess(
        tmp / "sec.duckdb",
        tmp / "sec.log",
        env={"LEADSTATS_HEADER_TIMEOUT_SECONDS": "1"},  # the rate limit: limited_server
    )
    srv.start()
    yield srv
    assert srv.stop() == 0, srv.log.read_text()[-2000:]


@pytest.fixture(scope="module")
def http(server: ServerProcess) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url, timeout=60.0) as client:
        yield client


def test_foreign_host_is_refused_on_every_route(http: httpx.Client) -> None:
    for method, path in (("GET", "/healthz"), ("GET", "/"), ("GET", "/api/v1/schema"), ("POST", "/api/v1/events")):
        resp = http.request(method, path, headers={**auth(READ), "Host": "evil.example:8000"}, json=[])
        assert resp.status_code == 400, (path, resp.text)
        assert resp.json()["error"] == {
            "code": "invalid_host",
            "message": "Host 'evil.example:8000' is not served here (set LEADSTATS_ALLOWED_HOSTS)",
            "field": "host",
        }
    for host in ("localhost:1234", "127.0.0.1", "[::1]:8000"):
        assert http.get("/healthz", headers={"Host": host}).status_code == 200


def test_cross_site_writes_are_refused(http: httpx.Client, server: ServerProcess) -> None:
    batch = events("csrf", 2, project="csrf")
    for origin in ("http://evil.example", "null", "http://localhost:9999"):
        resp = http.post("/api/v1/events", json=batch, headers={**auth(INGEST), "Origin": origin})
        assert resp.status_code == 403 and resp.json()["error"]["field"] == "origin", resp.text
    # what a page can send without CORS preflight: text/plain, forms
    for ctype in ("text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x"):
        resp = http.post("/api/v1/events", content=b"[]", headers={**auth(INGEST), "Content-Type": ctype})
        assert resp.status_code == 415 and resp.json()["error"]["code"] == "unsupported_media_type", resp.text
    same = f"http://127.0.0.1:{server.port}"
    ok = http.post("/api/v1/events", json=batch, headers={**auth(INGEST), "Origin": same})
    assert ok.status_code == 200 and ok.json()["accepted"] == 2


def test_forwarded_for_does_not_dodge_the_rate_limit(limited_server: ServerProcess) -> None:
    """Token guesses from one client, each claiming another address in X-Forwarded-For, share one bucket
    of LIMIT_PER_MINUTE: the 401s stop at the burst plus what can have refilled in the time taken (a
    bound computed from the clock, so a slow machine cannot fail it), and every guess past it is a 429.
    Were the header trusted, every guess would have a fresh bucket and be a 401."""
    statuses: list[int] = []
    started = time.monotonic()
    with httpx.Client(base_url=limited_server.url, timeout=60.0) as client:
        for i in range(LIMIT_PER_MINUTE + 30):
            fake = f"10.{i // 65536 % 256}.{i // 256 % 256}.{i % 256}"
            resp = client.get("/api/v1/schema", headers={"Authorization": f"Bearer guess-{i}", "X-Forwarded-For": fake})
            statuses.append(resp.status_code)
    refilled = math.floor((time.monotonic() - started) * LIMIT_PER_MINUTE / 60)
    assert set(statuses) <= {401, 429}, statuses
    assert statuses[:LIMIT_PER_MINUTE] == [401] * LIMIT_PER_MINUTE, statuses  # the burst: a full bucket
    assert statuses.count(401) <= LIMIT_PER_MINUTE + refilled, (statuses, refilled)
    assert statuses.count(429) >= 30 - refilled, (statuses, refilled)


def test_security_headers(http: httpx.Client) -> None:
    for path in ("/", "/healthz", "/js/main.js", "/openapi.json"):
        resp = http.get(path)
        assert resp.status_code == 200
        csp = resp.headers["content-security-policy"]
        assert "script-src 'self';" in csp and "frame-ancestors 'none'" in csp and "style-src 'self';" in csp
        assert resp.headers["x-content-type-options"] == "nosniff"
        assert resp.headers["x-frame-options"] == "DENY"
        assert resp.headers["referrer-policy"] == "no-referrer"
    docs = http.get("/docs")
    docs_csp = docs.headers["content-security-policy"]  # served offline: no CDN, no inline script
    assert docs.status_code == 200 and "script-src 'self'" in docs_csp and "cdn" not in docs_csp
    assert "'unsafe-inline'" not in docs.headers["content-security-policy"].split("script-src")[1].split(";")[0]


def test_half_open_connections_are_closed(server: ServerProcess) -> None:
    """A connection that never finishes its headers is closed by the server (here after 1 s)."""
    silent = socket.create_connection(("127.0.0.1", server.port))
    trickle = socket.create_connection(("127.0.0.1", server.port))
    try:
        trickle.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n")
        for sock in (silent, trickle):
            sock.settimeout(30)
            assert sock.recv(1024) == b""  # closed by the server, long before the 30 s
    finally:
        silent.close()
        trickle.close()


def test_client_leaving_mid_upload_is_a_499_not_a_500(http: httpx.Client, server: ServerProcess) -> None:
    sock = socket.create_connection(("127.0.0.1", server.port))
    head = (
        f"POST /api/v1/events HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {INGEST}\r\n"
        "Content-Type: application/json\r\nContent-Length: 100000\r\n\r\n["
    )
    sock.sendall(head.encode())
    time.sleep(0.3)  # let the server start reading the body (the outcome does not depend on it)
    sock.close()
    deadline = time.monotonic() + 120  # only bounds a hang
    text = ""
    while time.monotonic() < deadline:
        text = httpx.get(f"{server.url}/metrics", headers=auth(READ)).text
        if 'route="/api/v1/events",status="499"' in text:
            break
        time.sleep(0.2)
    assert 'method="POST",route="/api/v1/events",status="499"' in text
    assert 'route="/api/v1/events",status="500"' not in text
    log = server.log.read_text()
    assert "Traceback" not in log and "unhandled error" not in log
