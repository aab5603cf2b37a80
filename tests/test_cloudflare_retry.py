"""One retry policy for every Cloudflare client: a real HTTP server on 127.0.0.1 speaking the Cloudflare
shapes (429 with ``Retry-After``, 500 with the error envelope), in front of the AE SQL API backend and the
D1 REST source. Waits are recorded through the client's ``sleep`` hook, so nothing depends on timing."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from leadstats.cloudflare import CloudflareClient, api_base, backoff_delay, retry_after_s
from leadstats.errors import UpstreamError
from leadstats.settings import Settings
from leadstats.sources.d1.rest import RestSource
from leadstats.store.analytics_engine import AnalyticsEngineStore

ACCOUNT = "acc123"
TOKEN = "cf-test-token"
ENVELOPE_500 = {"success": False, "errors": [{"code": 10001, "message": "upstream exploded, retry later"}]}
ENVELOPE_429 = {"success": False, "errors": [{"code": 971, "message": "Please wait and consider throttling"}]}


class FakeCloudflare:
    """Answers queued statuses first, then a good answer in the AE or D1 shape; records every path."""

    def __init__(self) -> None:
        self.fail_with: list[tuple[int, dict[str, str]]] = []
        self.paths: list[str] = []
        self.lock = threading.Lock()


def make_handler(cf: FakeCloudflare) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:
            pass

        def send(self, status: int, doc: dict[str, Any], headers: dict[str, str]) -> None:
            body = json.dumps(doc).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            for k, v in headers.items():
                self.send_header(k, v)
            self.end_headers()
            self.wfile.write(body)

        def do_POST(self) -> None:  # noqa: N802
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            with cf.lock:
                cf.paths.append(self.path)
                status, headers = cf.fail_with.pop(0) if cf.fail_with else (200, {})
            if self.headers.get("Authorization") != f"Bearer {TOKEN}":
                self.send(401, {"success": False, "errors": [{"code": 10000, "message": "Authentication error"}]}, {})
            elif status != 200:
                self.send(status, ENVELOPE_429 if status == 429 else ENVELOPE_500, headers)
            elif self.path.endswith("/analytics_engine/sql"):
                self.send(200, {"meta": [{"name": "n", "type": "UInt64"}], "data": [{"n": "7"}], "rows": 1}, {})
            else:
                self.send(200, {"success": True, "errors": [], "result": [{"success": True, "results": [{"x": 1}]}]},
                          {})

    return Handler


@pytest.fixture
def cloudflare() -> Iterator[tuple[FakeCloudflare, str]]:
    cf = FakeCloudflare()
    server = ThreadingHTTPServer(("127.0.0.1", 0), make_handler(cf))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield cf, f"http://127.0.0.1:{server.server_address[1]}/client/v4"
    server.shutdown()
    server.server_close()


def clients(base: str, waits: list[float], attempts: int = 4) -> tuple[AnalyticsEngineStore, RestSource]:
    settings = Settings(cloudflare_api_token=TOKEN, cloudflare_api_base=base, http_attempts=attempts,
                        http_backoff_s=0.2)
    ae = AnalyticsEngineStore(f"ae://{ACCOUNT}/lead_submissions", settings=settings)
    d1 = RestSource(ACCOUNT, "db456", TOKEN, settings=settings)
    for client in (ae._http, d1._client):  # record waits instead of sleeping
        client._sleep = waits.append
    return ae, d1


def test_both_clients_retry_429_with_retry_after_and_500_then_succeed(cloudflare: tuple[FakeCloudflare, str]) -> None:
    cf, base = cloudflare
    waits: list[float] = []
    ae, d1 = clients(base, waits)
    cf.fail_with = [(429, {"Retry-After": "7"}), (500, {})]
    assert ae.count() == 7
    assert len(waits) == 2 and waits[0] >= 7.0 and 0.2 <= waits[1] < 0.2 * 2 * 1.5 + 1e-9  # Retry-After honoured
    assert ae._http.retries == 2
    waits.clear()
    cf.fail_with = [(429, {"Retry-After": "3"}), (503, {})]
    assert d1.query("SELECT 1 AS x") == [{"x": 1}]
    assert len(waits) == 2 and waits[0] >= 3.0 and d1.retries == 2
    assert all(p.startswith("/client/v4/accounts/acc123/") for p in cf.paths)  # one meaning of the API base
    ae.close()
    d1.close()


@pytest.mark.parametrize("which", ["ae", "d1"])
def test_bounded_attempts_and_the_servers_words_in_the_final_message(
    cloudflare: tuple[FakeCloudflare, str], which: str
) -> None:
    cf, base = cloudflare
    waits: list[float] = []
    ae, d1 = clients(base, waits, attempts=3)
    cf.fail_with = [(500, {})] * 5
    with pytest.raises(UpstreamError) as info:
        ae.count() if which == "ae" else d1.query("SELECT 1")
    message = info.value.message
    assert "still failing after 3 attempts" in message and "HTTP 500" in message
    assert "upstream exploded, retry later (code 10001)" in message
    assert TOKEN not in message
    assert len(cf.paths) == 3 and len(waits) == 2  # bounded: no wait after the last attempt
    ae.close()
    d1.close()


def test_auth_errors_are_not_retried(cloudflare: tuple[FakeCloudflare, str]) -> None:
    _cf, base = cloudflare
    settings = Settings(cloudflare_api_token="wrong", cloudflare_api_base=base)
    ae = AnalyticsEngineStore(f"ae://{ACCOUNT}/lead_submissions", settings=settings)
    with pytest.raises(UpstreamError, match="refused the token"):
        ae.count()
    assert ae._http.retries == 0
    ae.close()


def test_policy_pieces() -> None:
    # one meaning for the base: up to and including /client/v4; a bare origin gets it appended
    assert api_base("http://127.0.0.1:9") == api_base("http://127.0.0.1:9/client/v4/") == "http://127.0.0.1:9/client/v4"
    assert retry_after_s("12") == 12.0 and retry_after_s("soon") is None and retry_after_s(None) is None
    assert retry_after_s("Wed, 21 Oct 2015 07:28:00 GMT") == 0.0  # a date in the past: no extra wait
    assert backoff_delay(1, 1.0, None, lambda: 0.0) == 0.5 and backoff_delay(3, 1.0, None, lambda: 0.999) < 6.0
    assert backoff_delay(10, 1.0, None, lambda: 0.5) == 30.0  # capped
    assert backoff_delay(1, 0.1, 500.0, lambda: 0.5) == 60.0  # Retry-After honoured up to 60 s
    client = CloudflareClient(Settings(), label="x", token="t")
    assert client.url("accounts/a/d1") == "https://api.cloudflare.com/client/v4/accounts/a/d1"
    client.close()
