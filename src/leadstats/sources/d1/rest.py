"""The D1 REST API as a source: ``d1://ACCOUNT_ID/DATABASE_ID``.

``POST {base}/accounts/{account}/d1/database/{database}/query`` with ``{"sql": ..., "params": [...]}`` and
a bearer token from ``CLOUDFLARE_API_TOKEN``; the answer is
``{"result": [{"results": [...], "success": true, "meta": {...}}], "success": true, "errors": [], ...}``.
``LEADSTATS_CLOUDFLARE_API_BASE`` (up to and including ``/client/v4``) overrides the base URL (tests point
it at a local server). Requests follow the one Cloudflare retry policy (:mod:`leadstats.cloudflare`: 429,
5xx and dropped connections retried with backoff, jitter and ``Retry-After``); the token never appears in
a message.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import httpx
import pyarrow as pa

from ...cloudflare import CloudflareClient, error_text
from ...errors import AuthError, InputError, UpstreamError
from ...settings import Settings
from ..mapping import quote_ident
from .readers import Page

TOKEN_ENV = "CLOUDFLARE_API_TOKEN"


class RestSource:
    """Reads through the D1 REST API; pages are smaller than a file's to keep each answer a few MB."""

    page_size = 5_000
    id_page_size = 50_000

    def __init__(self, account: str, database: str, token: str, *, base_url: str | None = None,
                 attempts: int | None = None, backoff_s: float | None = None, timeout_s: float = 60.0,
                 settings: Settings | None = None) -> None:
        self.account = account
        self.database = database
        self.label = f"d1://{account}/{database}"
        self._client = CloudflareClient(
            settings or Settings.from_env(), label=f"{self.label}: D1 API", token=token, base=base_url,
            timeout_s=timeout_s, attempts=attempts, backoff_s=backoff_s,
        )
        self.path = f"accounts/{account}/d1/database/{database}/query"
        self.url = self._client.url(self.path)

    @property
    def attempts(self) -> int:
        return self._client.attempts

    @attempts.setter
    def attempts(self, value: int) -> None:
        self._client.attempts = max(1, value)

    @property
    def retries(self) -> int:
        """How many requests were retried, for the run summary."""
        return self._client.retries

    @classmethod
    def from_url(cls, url: str, settings: Settings | None = None) -> RestSource:
        """``RestSource.from_url("d1://acc/db")`` with the token from ``CLOUDFLARE_API_TOKEN``."""
        settings = settings or Settings.from_env()
        parts = url[len("d1://"):].strip("/").split("/")
        if len(parts) != 2 or not all(parts):
            raise InputError(f"{url}: expected d1://ACCOUNT_ID/DATABASE_ID")
        token = settings.cloudflare_api_token
        if not token:
            raise AuthError(f"set {TOKEN_ENV} to an API token with D1 read access to import from {url}")
        return cls(parts[0], parts[1], token, settings=settings)

    # -- one query ----------------------------------------------------------------------------------
    def query(self, sql: str, params: Sequence[Any] = ()) -> list[dict[str, Any]]:
        """Run one statement and return its rows as dicts (retrying what can be retried)."""
        return self._rows(self._client.post(self.path, json={"sql": sql, "params": list(params)}))

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
    text = error_text(doc)
    return f": {text}" if text else ""
