"""The D1 REST API as a source: ``d1://ACCOUNT_ID/DATABASE_ID``.

``POST {base}/accounts/{account}/d1/database/{database}/query`` with ``{"sql": ..., "params": [...]}`` and
a bearer token from ``CLOUDFLARE_API_TOKEN``; the answer is
``{"result": [{"results": [...], "success": true, "meta": {...}}], "success": true, "errors": [], ...}``.
``LEADSTATS_CLOUDFLARE_API_BASE`` overrides the base URL (tests point it at a local server). 429 and 5xx
answers and dropped connections are retried with exponential backoff (``Retry-After`` is honoured); the
token never appears in a message.
"""

from __future__ import annotations

import contextlib
import os
import random
import time
from collections.abc import Sequence
from typing import Any

import httpx
import pyarrow as pa

from ...errors import AuthError, InputError, UpstreamError
from ..mapping import quote_ident
from .readers import Page

DEFAULT_BASE = "https://api.cloudflare.com/client/v4"
BASE_ENV = "LEADSTATS_CLOUDFLARE_API_BASE"
TOKEN_ENV = "CLOUDFLARE_API_TOKEN"
BACKOFF_ENV = "LEADSTATS_HTTP_BACKOFF_S"


class RestSource:
    """Reads through the D1 REST API; pages are smaller than a file's to keep each answer a few MB."""

    page_size = 5_000
    id_page_size = 50_000

    def __init__(self, account: str, database: str, token: str, *, base_url: str | None = None,
                 attempts: int = 6, backoff_s: float | None = None, timeout_s: float = 60.0) -> None:
        self.account = account
        self.database = database
        base = (base_url or os.environ.get(BASE_ENV) or DEFAULT_BASE).rstrip("/")
        self.url = f"{base}/accounts/{account}/d1/database/{database}/query"
        self.label = f"d1://{account}/{database}"
        self.attempts = max(1, attempts)
        env_backoff = os.environ.get(BACKOFF_ENV)
        self.backoff_s = backoff_s if backoff_s is not None else float(env_backoff) if env_backoff else 0.5
        self.retries = 0  # how many requests were retried, for the run summary
        self._client = httpx.Client(
            timeout=timeout_s, headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
        )

    @classmethod
    def from_url(cls, url: str) -> RestSource:
        """``RestSource.from_url("d1://acc/db")`` with the token from ``CLOUDFLARE_API_TOKEN``."""
        parts = url[len("d1://"):].strip("/").split("/")
        if len(parts) != 2 or not all(parts):
            raise InputError(f"{url}: expected d1://ACCOUNT_ID/DATABASE_ID")
        token = os.environ.get(TOKEN_ENV, "").strip()
        if not token:
            raise AuthError(f"set {TOKEN_ENV} to an API token with D1 read access to import from {url}")
        return cls(parts[0], parts[1], token)

    # -- one query ----------------------------------------------------------------------------------
    def query(self, sql: str, params: Sequence[Any] = ()) -> list[dict[str, Any]]:
        """Run one statement and return its rows as dicts (retrying what can be retried)."""
        body = {"sql": sql, "params": list(params)}
        last = ""
        for attempt in range(self.attempts):
            if attempt:
                self.retries += 1
            try:
                resp = self._client.post(self.url, json=body)
            except httpx.TransportError as exc:
                last = f"connection failed ({type(exc).__name__})"
                self._sleep(attempt, None)
                continue
            if resp.status_code == 429 or resp.status_code >= 500:
                last = f"HTTP {resp.status_code}"
                self._sleep(attempt, resp.headers.get("retry-after"))
                continue
            return self._rows(resp)
        raise UpstreamError(f"{self.label}: D1 API still failing after {self.attempts} attempts: {last}")

    def _sleep(self, attempt: int, retry_after: str | None) -> None:
        if attempt + 1 >= self.attempts:
            return
        delay = self.backoff_s * (2**attempt) * (0.5 + random.random())
        if retry_after:
            with contextlib.suppress(ValueError):
                delay = max(delay, min(float(retry_after), 60.0))
        time.sleep(delay)

    def _rows(self, resp: httpx.Response) -> list[dict[str, Any]]:
        try:
            doc = resp.json()
        except ValueError:
            doc = None
        if resp.status_code in (401, 403):
            raise AuthError(f"{self.label}: the D1 API refused the token (HTTP {resp.status_code}){_errors(doc)}")
        if not isinstance(doc, dict):
            raise UpstreamError(f"{self.label}: D1 API answered HTTP {resp.status_code} without JSON")
        if resp.status_code >= 400 or not doc.get("success", False):
            raise UpstreamError(f"{self.label}: D1 API error (HTTP {resp.status_code}){_errors(doc)}")
        result = doc.get("result")
        if not isinstance(result, list) or not result or not isinstance(result[0], dict):
            raise UpstreamError(f"{self.label}: D1 API answer has no result")
        first = result[0]
        if first.get("success") is False:
            raise UpstreamError(f"{self.label}: D1 query failed{_errors(first)}")
        rows = first.get("results") or []
        if not isinstance(rows, list):
            raise UpstreamError(f"{self.label}: D1 API answer has no results list")
        return rows

    # -- the D1Source protocol ----------------------------------------------------------------------
    def table_columns(self, table: str) -> list[str] | None:
        try:
            rows = self.query("SELECT name FROM pragma_table_info(?)", [table])
        except UpstreamError:  # should the table-valued pragma be refused, ask the plain pragma
            rows = self.query(f"PRAGMA table_info({quote_ident(table)})")
        return [str(r["name"]) for r in rows] or None

    def page(self, sql: str, params: Sequence[Any]) -> Page:
        rows = self.query(sql, params)
        if not rows:
            return Page(pa.array([], pa.string()), 0, None)
        return Page(pa.array([r["j"] for r in rows], pa.string()), len(rows), rows[-1]["k"])

    def close(self) -> None:
        self._client.close()


def _errors(doc: Any) -> str:
    if not isinstance(doc, dict):
        return ""
    errs = doc.get("errors") or ([{"message": doc["error"]}] if doc.get("error") else [])
    texts = [str(e.get("message", e)) if isinstance(e, dict) else str(e) for e in errs if e]
    return (": " + "; ".join(texts)[:500]) if texts else ""
