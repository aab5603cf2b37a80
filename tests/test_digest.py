"""The digest: its numbers match the reports, its actions cite them, and it reaches people.

Delivery runs against real local servers on 127.0.0.1: an SMTP server (aiosmtpd), a webhook receiver and
an OpenAI-compatible stub (both ``http.server``). Nothing leaves the machine.
"""

from __future__ import annotations

import copy
import email
import json
import socket
import threading
import time
from collections.abc import Iterator
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from leadstats.api import create_app
from leadstats.cli import app
from leadstats.errors import InputError, UpstreamError
from leadstats.insights import render_html, render_markdown, send, start_digest_scheduler
from leadstats.insights.delivery import add_llm_summary
from leadstats.insights.summary import RATIOS
from leadstats.model.schema import METRIC_NAMES
from leadstats.service import LeadStats
from leadstats.settings import Settings
from test_insights_demo import BURST, HOT, LOW, TZ, demo_db, open_demo, week_digest

TO = "2026-03-02"


@pytest.fixture(scope="module")
def digest() -> dict[str, Any]:
    return week_digest()  # built once for both test files


def test_kpis_are_the_report_numbers(digest: dict[str, Any]) -> None:
    kpis = digest["kpis"]
    assert set(kpis) == {*METRIC_NAMES, *RATIOS}
    with open_demo() as ls:
        now = ls.report("2026-02-23", TO, timezone=TZ).totals
        before = ls.report("2026-02-16", "2026-02-23", timezone=TZ).totals
    for name in METRIC_NAMES:
        block = kpis[name]
        assert (block["value"], block["previous"], block["change"]) == (now[name], before[name],
                                                                         now[name] - before[name])
    assert kpis["hot_pct"]["value"] == round(100 * now["hot"] / now["primary"], 2)
    assert kpis["bot_rate"]["value"] == round(100 * (now["bot"] + now["blocked"]) / now["received"], 2)
    assert kpis["bot"]["change_pct"] > 50  # the burst doubled the week's bots
    assert digest["window"] == {"from": "2026-02-23T00:00:00+05:30", "to": "2026-03-02T00:00:00+05:30",
                                "first_day": "2026-02-23", "last_day": "2026-03-01"}


def test_actions_say_what_to_do_with_numbers(digest: dict[str, Any]) -> None:
    actions = digest["actions"]
    assert 3 <= len(actions) <= 5
    titles = [a["title"] for a in actions]
    assert titles[0].startswith("Investigate the spike") and BURST["project"] in titles[0]
    assert f"Pause or rework campaign {LOW}" in titles and f"Scale campaign {HOT}" in titles
    assert any(a["category"] == "team" for a in actions) and any(a["category"] == "timing" for a in actions)
    for action in actions:
        assert action["numbers"] and any(ch.isdigit() for ch in action["detail"])
    pause = next(a for a in actions if a["title"].startswith("Pause"))
    focus_item = next(i for i in digest["focus"]["items"] if i["label"] == f"utm_campaign={LOW}")
    assert pause["numbers"]["actual_leads"] == focus_item["counts"]["primary"]
    assert f"{focus_item['counts']['primary']:,} actual leads" in pause["detail"]
    assert digest["llm"] == {"used": False}
    assert digest["forecast"]["daily"]["points"][0]["date"] == TO


def test_markdown_and_html(digest: dict[str, Any]) -> None:
    md = render_markdown(digest)
    assert md.startswith("# Lead brief: 2026-02-23 to 2026-03-01")
    for section in ("Recommended actions", "Key numbers", "Focus list", "Best time windows", "Anomalies",
                    "Forecast"):
        assert f"## {section}" in md
    assert f"| Actual leads | {digest['kpis']['primary']['value']:,} |" in md
    page = render_html({**digest, "title": "<script>x</script>"})
    assert "<script>x</script>" not in page and "&lt;script&gt;" in page and "<h2>Key numbers</h2>" in page


def test_cli_digest_json_and_bad_period() -> None:
    runner = CliRunner()
    result = runner.invoke(app, ["digest", "--period", "day", "--to", TO, "--format", "json", "--db", demo_db()])
    assert result.exit_code == 0, result.output
    doc = json.loads(result.output)
    assert doc["period"] == "day" and doc["window"]["first_day"] == "2026-03-01"
    assert doc["kpis"]["received"]["value"] > 0 and 1 <= len(doc["actions"]) <= 5
    bad = runner.invoke(app, ["digest", "--period", "month", "--db", demo_db()])
    assert bad.exit_code == 2 and "week or day" in bad.output


# -- delivery --------------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Inbox:
    def __init__(self) -> None:
        self.messages: list[Message] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802 (aiosmtpd hook)
        self.messages.append(email.message_from_bytes(envelope.content))
        self.rcpt = list(envelope.rcpt_tos)
        return "250 OK"


def _auth(server: Any, session: Any, envelope: Any, mechanism: str, data: Any) -> AuthResult:
    ok = isinstance(data, LoginPassword) and (data.login, data.password) == (b"brief", b"s3cret/pass")
    return AuthResult(success=ok)


def test_smtp_delivery_with_login(digest: dict[str, Any]) -> None:
    inbox = Inbox()
    port = free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port, authenticator=_auth, auth_require_tls=False)
    controller.start()
    try:
        url = f"smtp://brief:s3cret%2Fpass@127.0.0.1:{port}?to=lead@example.com,ops@example.com&from=bot@example.com"
        info = send(digest, url)
        assert info["via"] == "smtp" and info["recipients"] == 2 and "s3cret" not in json.dumps(info)
        with pytest.raises(UpstreamError):  # wrong password: a clear error, no traceback, no secret
            send(digest, f"smtp://brief:wrong@127.0.0.1:{port}?to=lead@example.com", timeout=2)
    finally:
        controller.stop()
    (msg,) = inbox.messages
    assert inbox.rcpt == ["lead@example.com", "ops@example.com"]
    assert msg["Subject"] == digest["title"] and msg["From"] == "bot@example.com"
    parts = {p.get_content_type(): p for p in msg.walk() if not p.is_multipart()}
    assert "## Recommended actions" in parts["text/plain"].get_payload(decode=True).decode()
    assert "<h1>" in parts["text/html"].get_payload(decode=True).decode()
    attached = json.loads(parts["application/json"].get_payload(decode=True))
    assert attached["kpis"] == digest["kpis"]
    with pytest.raises(InputError):
        send(digest, f"smtp://127.0.0.1:{port}")  # no recipient


class Receiver:
    """A local HTTP server: records webhook posts, and plays an OpenAI-compatible chat API."""

    def __init__(self) -> None:
        self.posts: list[tuple[str, dict[str, Any], dict[str, str]]] = []
        self.mode = "ok"
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:  # noqa: N802 (http.server hook)
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                outer.posts.append((self.path, body, dict(self.headers)))
                if outer.mode == "slow":
                    time.sleep(2)
                if outer.mode == "fail":
                    self.send_response(500)
                    self.end_headers()
                    return
                reply = b"ok"
                if self.path.endswith("/chat/completions"):
                    reply = json.dumps({"choices": [{"message": {"role": "assistant",
                                                                 "content": "Bots spiked on Friday night."}}]}).encode()
                self.send_response(200)
                self.send_header("Content-Length", str(len(reply)))
                self.end_headers()
                self.wfile.write(reply)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.server.shutdown()


def test_webhook_slack_and_file_delivery(digest: dict[str, Any], receiver: Receiver, tmp_path: Path) -> None:
    info = send(digest, f"http://127.0.0.1:{receiver.port}/hooks/brief")
    assert info == {"target": f"http://127.0.0.1:{receiver.port}/***", "via": "webhook", "status": 200}
    path, body, _ = receiver.posts[-1]
    assert path == "/hooks/brief" and body["digest"]["kpis"] == digest["kpis"] and "# Lead brief" in body["text"]
    send(digest, f"slack://127.0.0.1:{receiver.port}/services/T1/B2/XYZ")  # loopback: plain http
    path, body, _ = receiver.posts[-1]
    assert path == "/services/T1/B2/XYZ" and set(body) == {"text"}
    receiver.mode = "fail"
    with pytest.raises(UpstreamError, match="HTTP 500"):
        send(digest, f"http://127.0.0.1:{receiver.port}/hooks/brief")
    with pytest.raises(InputError, match="https"):
        send(digest, "http://example.com/hook")  # plain http only to loopback
    out = send(digest, str(tmp_path / "briefs" / "week.html"))
    assert out["format"] == "html" and (tmp_path / "briefs" / "week.html").read_text().startswith("<!doctype html>")
    send(digest, f"file://{tmp_path}/week.json")
    assert json.loads((tmp_path / "week.json").read_text())["actions"] == digest["actions"]


def test_llm_prose_is_added_and_any_failure_falls_back(digest: dict[str, Any], receiver: Receiver) -> None:
    settings = Settings(llm_base_url=f"http://127.0.0.1:{receiver.port}/v1", llm_model="brief-model",
                        llm_api_key="sk-test")
    doc = add_llm_summary(copy.deepcopy(digest), settings)
    assert doc["llm"] == {"used": True, "model": "brief-model", "text": "Bots spiked on Friday night."}
    assert "## Summary\n\nBots spiked on Friday night." in render_markdown(doc)
    path, body, headers = receiver.posts[-1]
    assert path == "/v1/chat/completions" and body["model"] == "brief-model"
    assert headers["Authorization"] == "Bearer sk-test"
    sent = json.loads(body["messages"][1]["content"])
    assert sent["kpis"] == digest["kpis"] and sent["actions"] == digest["actions"]
    assert doc["actions"] == digest["actions"]  # the model adds prose, never changes the brief
    receiver.mode = "fail"
    failed = add_llm_summary(copy.deepcopy(digest), settings)
    assert failed["llm"]["used"] is False and "500" in failed["llm"]["error"]
    assert render_markdown(failed) == render_markdown(digest)
    receiver.mode = "slow"
    slow = add_llm_summary(copy.deepcopy(digest), settings, timeout=0.5)
    assert slow["llm"]["used"] is False and "Timeout" in slow["llm"]["error"]


def test_serve_sends_the_digest_on_its_cron(ls: LeadStats, tmp_path: Path) -> None:
    ls.ingest([{"event_id": f"e{i}", "event_type": "primary", "occurred_at": "2026-02-20T06:00:00Z",
                "project": "Skyline", "engagement_label": "Hot"} for i in range(12)])
    target = tmp_path / "brief.md"
    settings = Settings(read_tokens=("r",), digest_cron="* * * * * */1", digest_send=str(target), timezone=TZ)
    with TestClient(create_app(ls, settings)):
        deadline = time.monotonic() + 120  # only bounds a hang
        while not target.exists() and time.monotonic() < deadline:
            time.sleep(0.2)
    text = target.read_text()
    assert text.startswith("# Lead brief: ") and "compared with the day before" in text  # every second: daily
    with pytest.raises(InputError, match="cron"):
        start_digest_scheduler(ls, Settings(digest_cron="every monday"))
    assert start_digest_scheduler(ls, Settings()) is not None  # no cron: a no-op stop
