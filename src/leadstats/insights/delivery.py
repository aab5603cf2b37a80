"""Getting the digest to people: e-mail, Slack or webhook, a file; the optional LLM prose; the schedule.

Targets (``--send URL`` or ``LEADSTATS_DIGEST_SEND``):

- ``smtp://user:pass@host:587?to=a@example.com,b@example.com&from=leads@example.com`` (STARTTLS when
  the server offers it; ``smtps://`` for TLS from the start; ``starttls=0`` to never upgrade). The mail
  has a text part (Markdown), an HTML part and the JSON document attached.
- ``slack://hooks.slack.com/services/T000/B000/XXXX``: a Slack incoming webhook (posted over https;
  over plain http only to a loopback host, for local relays and tests). Body ``{"text": markdown}``.
- ``https://...`` (or ``http://`` on loopback): a generic webhook, body ``{"text": markdown, "digest": doc}``.
- ``file:///path/brief.md`` or a plain path: the format follows the extension (``.json``, ``.html``,
  ``.md``) or ``--format``.

LLM (optional): with ``LEADSTATS_LLM_BASE_URL`` (an OpenAI-compatible API root, e.g.
``http://127.0.0.1:8080/v1``) and ``LEADSTATS_LLM_MODEL`` the structured brief is sent to
``{base}/chat/completions``; the reply becomes ``llm.text`` and a Summary section. Any error or timeout
leaves the deterministic brief as it is (``llm.error`` says why).
"""

from __future__ import annotations

import ipaddress
import json
import logging
import smtplib
import ssl
import threading
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from email.message import EmailMessage
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, unquote, urlsplit

import httpx

from ..errors import InputError, UpstreamError
from ..model.timegrid import zone
from .digest import build_digest, render_html, render_markdown
from .privacy import is_shown

if TYPE_CHECKING:
    from ..service import LeadStats
    from ..settings import Settings

log = logging.getLogger("leadstats.digest")
FORMATS = ("markdown", "json", "html")
LLM_TIMEOUT_S = 30.0
LLM_SYSTEM = (
    "You write a short weekly brief for a real-estate marketing lead. You get a JSON digest of lead "
    "statistics (aggregates only). Write 4-6 plain sentences: what changed, what to do first and why, "
    "citing the numbers exactly as given. Do not invent numbers, segments or causes."
)


def render(doc: Mapping[str, Any], fmt: str) -> str:
    """The digest in ``markdown``, ``json`` or ``html``."""
    if fmt == "json":
        return json.dumps(doc, ensure_ascii=False, indent=2) + "\n"
    if fmt == "html":
        return render_html(doc)
    if fmt == "markdown":
        return render_markdown(doc)
    raise InputError(f"unknown format {fmt!r}: use markdown, json or html", field="format")


def redact(url: str) -> str:
    """The target without its password or webhook secret path, for logs and reports."""
    parts = urlsplit(url)
    if not parts.scheme or len(parts.scheme) == 1:
        return url
    host = parts.hostname or ""
    if parts.port:
        host += f":{parts.port}"
    user = f"{unquote(parts.username)}:***@" if parts.username else ""
    path = parts.path if parts.scheme in ("smtp", "smtps", "file") else ("/***" if parts.path.strip("/") else "")
    return f"{parts.scheme}://{user}{host}{path}"


def _is_loopback(host: str | None) -> bool:
    if not host:
        return False
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def send(doc: Mapping[str, Any], target: str, *, fmt: str = "markdown", timeout: float = 30.0) -> dict[str, Any]:
    """Deliver the digest to ``target`` (see module doc); returns ``{"target", "via", ...}``."""
    parts = urlsplit(target)
    scheme = parts.scheme.lower()
    if scheme in ("smtp", "smtps"):
        return _send_mail(doc, target, timeout)
    if scheme in ("slack", "http", "https"):
        if scheme == "http" and not _is_loopback(parts.hostname):
            raise InputError("webhooks use https:// (plain http only to a loopback host)", field="send")
        secure = scheme == "https" or (scheme == "slack" and not _is_loopback(parts.hostname))
        url = ("https" if secure else "http") + target[len(scheme):]
        body: dict[str, Any] = {"text": render_markdown(doc)}
        if scheme != "slack":
            body["digest"] = doc
        try:
            response = httpx.post(url, json=body, timeout=timeout)
        except httpx.HTTPError as exc:
            raise UpstreamError(f"webhook {redact(target)} failed: {type(exc).__name__}", field="send") from None
        if response.status_code >= 300:
            raise UpstreamError(f"webhook {redact(target)} answered HTTP {response.status_code}", field="send")
        return {"target": redact(target), "via": "slack" if scheme == "slack" else "webhook",
                "status": response.status_code}
    if scheme in ("", "file") or len(scheme) == 1:  # a plain path (a Windows drive letter is no scheme)
        path = Path(unquote(parts.path) if scheme == "file" else target)
        ext = {".json": "json", ".html": "html", ".htm": "html", ".md": "markdown"}.get(path.suffix.lower(), fmt)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(render(doc, ext), encoding="utf-8")
        return {"target": str(path), "via": "file", "format": ext}
    raise InputError(f"unknown delivery target {redact(target)}: use smtp://, slack://, https:// or a file path",
                     field="send")


def _send_mail(doc: Mapping[str, Any], target: str, timeout: float) -> dict[str, Any]:
    parts = urlsplit(target)
    query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
    recipients = [a.strip() for a in query.get("to", "").split(",") if a.strip()]
    if not recipients or not parts.hostname:
        raise InputError("smtp:// needs a host and ?to=address[,address]", field="send")
    sender = query.get("from") or f"leadstats@{parts.hostname}"
    msg = EmailMessage()
    msg["Subject"] = query.get("subject") or str(doc["title"])
    msg["From"] = sender
    msg["To"] = ", ".join(recipients)
    msg.set_content(render_markdown(doc))
    msg.add_alternative(render_html(doc), subtype="html")
    msg.add_attachment(json.dumps(doc, ensure_ascii=False, indent=2).encode(), maintype="application",
                       subtype="json", filename="digest.json")
    tls = parts.scheme.lower() == "smtps"
    port = parts.port or (465 if tls else 587)
    try:
        client: smtplib.SMTP = (smtplib.SMTP_SSL(parts.hostname, port, timeout=timeout) if tls
                                else smtplib.SMTP(parts.hostname, port, timeout=timeout))
        with client:
            client.ehlo()
            if not tls and query.get("starttls", "1") != "0" and client.has_extn("starttls"):
                client.starttls(context=ssl.create_default_context())
                client.ehlo()
            if parts.username:
                client.login(unquote(parts.username), unquote(parts.password or ""))
            client.send_message(msg, from_addr=sender, to_addrs=recipients)
    except (OSError, smtplib.SMTPException) as exc:
        raise UpstreamError(f"e-mail via {redact(target)} failed: {type(exc).__name__}: {exc}", field="send") \
            from None
    return {"target": redact(target), "via": "smtp", "recipients": len(recipients)}


# -- optional LLM prose ----------------------------------------------------------------------------


def llm_payload(doc: Mapping[str, Any], k: int) -> dict[str, Any]:
    """What the model sees: the brief without per-slot detail, groups under ``k`` leads dropped."""
    return {
        "title": doc["title"], "timezone": doc["timezone"], "window": doc["window"], "kpis": doc["kpis"],
        "actions": doc["actions"],
        "focus": [{k2: i[k2] for k2 in ("label", "action", "reason")}
                  for i in doc["focus"].get("items", []) if is_shown(i, k)],
        "top_projects": [p for p in doc.get("top_projects", []) if is_shown(p, k)],
        "top_countries": [c for c in doc.get("top_countries", []) if is_shown(c, k)],
        "peak_hours": doc["windows"].get("peak_hours", []),
        "incidents": [i["headline"] for i in doc["anomalies"].get("incidents", [])],
        "forecast_next_7_days": doc["forecast"].get("next_7_days"),
    }


def add_llm_summary(doc: dict[str, Any], settings: Settings, *, timeout: float = LLM_TIMEOUT_S) -> dict[str, Any]:
    """Ask the configured model for prose; on any failure keep the brief as is (``llm.error``)."""
    if not (settings.llm_base_url and settings.llm_model):
        doc["llm"] = {"used": False}
        return doc
    url = settings.llm_base_url.rstrip("/") + "/chat/completions"
    headers = {"Authorization": f"Bearer {settings.llm_api_key}"} if settings.llm_api_key else {}
    body = {"model": settings.llm_model, "temperature": 0.2, "messages": [
        {"role": "system", "content": LLM_SYSTEM},
        {"role": "user", "content": json.dumps(llm_payload(doc, settings.k_anonymity), ensure_ascii=False)},
    ]}
    try:
        response = httpx.post(url, json=body, headers=headers, timeout=timeout)
        response.raise_for_status()
        text = response.json()["choices"][0]["message"]["content"]
        if not isinstance(text, str) or not text.strip():
            raise ValueError("empty reply")
    except Exception as exc:  # any failure at all: the deterministic brief stands
        log.warning("LLM summary skipped: %s", type(exc).__name__)
        doc["llm"] = {"used": False, "model": settings.llm_model, "error": f"{type(exc).__name__}: {exc}"[:300]}
        return doc
    doc["llm"] = {"used": True, "model": settings.llm_model, "text": text.strip()}
    return doc


def make_digest(ls: LeadStats, settings: Settings, *, period: str = "week", to: Any = None,
                tz: str | None = None, project: str | None = None) -> dict[str, Any]:
    """The digest plus the optional LLM prose: what the CLI and the scheduler send."""
    return add_llm_summary(build_digest(ls, period=period, to=to, tz=tz, project=project), settings)


# -- schedule --------------------------------------------------------------------------------------


def cron_period(expr: str, tz_name: str) -> str:
    """``day`` when the cron fires more often than every six days, else ``week``."""
    from croniter import croniter

    it = croniter(expr, datetime.now(zone(tz_name)))
    first = it.get_next(datetime)
    second = it.get_next(datetime)
    return "day" if second - first < timedelta(days=6) else "week"


def start_digest_scheduler(ls: LeadStats, settings: Settings) -> Callable[[], None]:
    """Send the digest on ``LEADSTATS_DIGEST_CRON`` (read in the report timezone) to
    ``LEADSTATS_DIGEST_SEND``; returns a function that stops the schedule. Without a cron it does nothing.

    Each run covers the whole local days before the firing time (``--to`` = that day): a weekly cron
    sends the last 7 days, a more frequent one the last day.
    """
    from croniter import croniter

    expr = settings.digest_cron
    if not expr:
        return lambda: None
    if not croniter.is_valid(expr):
        raise InputError(f"LEADSTATS_DIGEST_CRON {expr!r} is not a cron expression", field="digest_cron")
    tz = zone(settings.timezone)
    period = cron_period(expr, settings.timezone)
    target = settings.digest_send
    stop = threading.Event()

    def run_once(fired: datetime) -> None:
        doc = make_digest(ls, settings, period=period, to=fired.date(), tz=settings.timezone)
        if target is None:
            log.warning("digest built for %s but LEADSTATS_DIGEST_SEND is not set", doc["to"])
            return
        info = send(doc, target)
        log.info("digest sent", extra={"fields": {"to": doc["to"], "period": period, **info}})

    def loop() -> None:
        it = croniter(expr, datetime.now(tz))
        while not stop.is_set():
            fire = it.get_next(datetime)
            while not stop.is_set():
                wait = (fire - datetime.now(tz)).total_seconds()
                if wait <= 0:
                    break
                stop.wait(min(wait, 30.0))
            if stop.is_set():
                return
            try:
                run_once(fire)
            except Exception:  # one failed send must not end the schedule
                log.exception("scheduled digest failed")

    thread = threading.Thread(target=loop, name="leadstats-digest", daemon=True)
    thread.start()
    log.info("digest schedule started", extra={"fields": {"cron": expr, "period": period,
                                                          "target": redact(target) if target else None}})

    def stop_schedule() -> None:
        stop.set()
        thread.join(timeout=10)

    return stop_schedule
