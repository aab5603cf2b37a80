"""Prometheus metrics, structured JSON access logs and the request-body size limit.

Metrics (``GET /metrics``, read scope) live in a registry per app, so several apps in one process
(tests) do not collide:

- ``leadstats_http_requests_total{method,route,status}`` and
  ``leadstats_http_request_duration_seconds{method,route}``: ``route`` is the route template
  (``/api/v1/report``), never the raw path, so label cardinality stays bounded;
- ``leadstats_ingested_events_total{result="accepted|duplicate|rejected"}``;
- ``leadstats_ingest_redacted_values_total{field}``: e-mail/phone-shaped values stored as ``[redacted]``;
- status ``499`` in ``leadstats_http_requests_total``: the client disconnected before the answer;
- ``leadstats_ingest_commits_total``, ``leadstats_ingest_commit_requests`` /
  ``leadstats_ingest_commit_events`` / ``leadstats_ingest_commit_seconds`` (group-commit histograms),
  ``leadstats_ingest_queue_events``;
- ``leadstats_store_size_bytes``, ``leadstats_store_events``, ``leadstats_store_rows`` (read at scrape).

Access log: one JSON object per request on the ``leadstats.access`` logger with method, path (no query
string: filter values stay out of logs), route, status, duration, response bytes and the caller's
token *label* (``read#0``), never the token, the client address or any event field.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, Metric
from prometheus_client.registry import Collector
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ..ingest.pii import DIMENSIONS as PII_DIMENSIONS
from ..service import LeadStats
from .auth import principal_label
from .writer import CommitStats, GroupCommitWriter

access_log = logging.getLogger("leadstats.access")
_LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class Metrics:
    """The app's Prometheus registry and instruments."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.requests = Counter("leadstats_http_requests", "HTTP requests", ["method", "route", "status"], registry=r)
        self.latency = Histogram(
            "leadstats_http_request_duration_seconds",
            "HTTP request latency until the response is sent",
            ["method", "route"],
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self.events = Counter("leadstats_ingested_events", "Events received by result", ["result"], registry=r)
        self.commits = Counter("leadstats_ingest_commits", "Group commits (store transactions)", registry=r)
        self.commit_requests = Histogram(
            "leadstats_ingest_commit_requests",
            "Requests answered by one group commit",
            buckets=(1, 2, 4, 8, 16, 32, 64, 128),
            registry=r,
        )
        self.commit_events = Histogram(
            "leadstats_ingest_commit_events",
            "Events validated in one group commit",
            buckets=(1, 10, 100, 1_000, 5_000, 10_000, 25_000, 50_000, 100_000),
            registry=r,
        )
        self.commit_seconds = Histogram(
            "leadstats_ingest_commit_seconds", "Validate + append + commit time", buckets=_LATENCY_BUCKETS, registry=r
        )

    def bind(self, ls: LeadStats, writer: GroupCommitWriter) -> None:
        """Gauges read at scrape time: queue depth and store size."""
        Gauge("leadstats_ingest_queue_events", "Events waiting for the writer", registry=self.registry).set_function(
            lambda: writer.queued_events
        )
        cache: dict[str, Any] = {"at": 0.0, "health": {}}

        def health(key: str) -> float:
            now = time.monotonic()
            if now - cache["at"] > 1.0:  # one store query per scrape, not one per gauge
                try:
                    cache["health"] = ls.health()
                except Exception:
                    cache["health"] = {}
                cache["at"] = now
            return float(cache["health"].get(key, float("nan")))

        def reader(key: str) -> Callable[[], float]:
            return lambda: health(key)

        self.registry.register(_RedactionCollector(ls))
        for name, key, text in (
            ("leadstats_store_size_bytes", "size_bytes", "Store file size in bytes"),
            ("leadstats_store_events", "events", "Events stored (sum of weights)"),
            ("leadstats_store_rows", "rows", "Rows in the events table"),
        ):
            Gauge(name, text, registry=self.registry).set_function(reader(key))

    def observe_commit(self, stats: CommitStats) -> None:
        self.commits.inc()
        self.commit_requests.observe(stats.requests)
        self.commit_events.observe(stats.events)
        self.commit_seconds.observe(stats.seconds)
        self.events.labels("accepted").inc(stats.accepted)
        self.events.labels("duplicate").inc(stats.duplicates)
        self.events.labels("rejected").inc(stats.rejected)

    def render(self) -> bytes:
        return generate_latest(self.registry)


class _RedactionCollector(Collector):
    """``leadstats_ingest_redacted_values_total{field}``: dimension values replaced by the PII marker
    (ingest/pii.py) since start, read from the service's validator at scrape time."""

    def __init__(self, ls: LeadStats) -> None:
        self.ls = ls

    def collect(self) -> Iterable[Metric]:
        family = CounterMetricFamily(
            "leadstats_ingest_redacted_values",
            "Dimension values shaped like an e-mail or phone number, stored as [redacted]",
            labels=["field"],
        )
        totals = dict(self.ls.validator.redacted_totals)
        for name in PII_DIMENSIONS:
            family.add_metric([name], float(totals.get(name, 0)))
        yield family


class ObservabilityMiddleware:
    """Pure ASGI (streams pass through untouched): metrics, access log, body size limit.

    The size limit raises Starlette's ``HTTPException(413)`` from ``receive``: FastAPI lets that one
    through its body parsing (any other exception there becomes a 400), and the app's one error
    handler renders it."""

    def __init__(self, app: ASGIApp, metrics: Metrics, max_body_bytes: int) -> None:
        self.app = app
        self.metrics = metrics
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500
        sent = 0
        limit = self.max_body_bytes
        received = 0
        declared = _content_length(scope)

        async def limited_receive() -> Message:
            nonlocal received
            if declared is not None and declared > limit:
                raise HTTPException(413, f"request body of {declared} bytes is over the {limit}-byte limit")
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise HTTPException(413, f"request body is over the {limit}-byte limit")
            return message

        async def counting_send(message: Message) -> None:
            nonlocal status, sent
            if message["type"] == "http.response.start":
                status = int(message["status"])
            elif message["type"] == "http.response.body":
                sent += len(message.get("body", b""))
            await send(message)

        try:
            await self.app(scope, limited_receive, counting_send)
        finally:
            elapsed = time.perf_counter() - started
            route = getattr(scope.get("route"), "path", None) or "unmatched"
            method = scope.get("method", "")
            self.metrics.requests.labels(method, route, str(status)).inc()
            self.metrics.latency.labels(method, route).observe(elapsed)
            if access_log.isEnabledFor(logging.INFO):
                access_log.info(
                    "request",
                    extra={
                        "fields": {
                            "method": method,
                            "path": scope.get("path", ""),
                            "route": route,
                            "status": status,
                            "duration_ms": round(elapsed * 1000, 2),
                            "bytes_in": received,
                            "bytes_out": sent,
                            "auth": principal_label(scope.get("state") or {}),
                        }
                    },
                )


def _content_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", ()):
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


class JsonFormatter(logging.Formatter):
    """One JSON object per line: ``ts``, ``level``, ``logger``, ``message`` and any ``fields``."""

    def format(self, record: logging.LogRecord) -> str:
        doc: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        fields = getattr(record, "fields", None)
        if isinstance(fields, dict):
            doc.update(fields)
        if record.exc_info and record.exc_info[0] is not None:
            doc["error"] = f"{record.exc_info[0].__name__}: {record.exc_info[1]}"
            doc["traceback"] = self.formatException(record.exc_info)
        return json.dumps(doc, ensure_ascii=False, default=str)


def configure_logging(level: str = "info") -> None:
    """JSON logs on stderr for leadstats and uvicorn (uvicorn's own access log stays off)."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for name in ("uvicorn", "uvicorn.error"):
        logging.getLogger(name).handlers[:] = []
        logging.getLogger(name).propagate = True
    logging.getLogger("uvicorn.access").disabled = True
