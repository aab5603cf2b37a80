"""One HTTP client and one retry policy for every Cloudflare API leadstats calls.

Used by the Analytics Engine SQL API backend (``store/analytics_engine.py``) and the D1 REST source
(``sources/d1*/rest.py``). A small module of our own rather than a retry library: the policy is a dozen
lines, and owning it keeps the messages, the ``Retry-After`` rule and the test hook (``sleep``) in one place.

The policy:

- retried: a dropped or refused connection, a timeout, HTTP 429 and every 5xx;
- not retried: any other answer (401/403, 400 with an error envelope...), which goes back to the caller;
- delay before retry ``n`` (1-based): ``backoff_s * 2**(n-1)``, times a random jitter in ``[0.5, 1.5)``,
  at most 30 s; a ``Retry-After`` header (seconds or an HTTP date) raises it to what the server asks,
  up to 60 s;
- at most ``attempts`` tries (``LEADSTATS_HTTP_ATTEMPTS``, default 6); then an :class:`UpstreamError`
  whose message ends with the server's own words from Cloudflare's error envelope
  ``{"success": false, "errors": [{"code": 7500, "message": "..."}]}``.

The API base (``LEADSTATS_CLOUDFLARE_API_BASE``) means the same for every client: everything up to and
including ``/client/v4`` (default ``https://api.cloudflare.com/client/v4``); a bare origin such as
``http://127.0.0.1:8787`` is read as ``http://127.0.0.1:8787/client/v4``. The token never appears in a
message.

>>> api_base("http://127.0.0.1:8787"), api_base("https://api.cloudflare.com/client/v4/")
('http://127.0.0.1:8787/client/v4', 'https://api.cloudflare.com/client/v4')
>>> error_text({"success": False, "errors": [{"code": 7500, "message": "no such table: Leads"}]})
'no such table: Leads (code 7500)'
"""

from __future__ import annotations

import email.utils
import random
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

import httpx

from .errors import UpstreamError
from .settings import DEFAULT_CLOUDFLARE_API_BASE, Settings

MAX_DELAY_S = 30.0
MAX_RETRY_AFTER_S = 60.0


def api_base(value: str | None) -> str:
    """The one meaning of ``LEADSTATS_CLOUDFLARE_API_BASE``: the URL up to and including ``/client/v4``."""
    base = (value or DEFAULT_CLOUDFLARE_API_BASE).strip().rstrip("/")
    if urlsplit(base).path in ("", "/"):
        base += "/client/v4"
    return base


def error_text(doc: Any) -> str:
    """The server's words from Cloudflare's error envelope (``errors[].message`` with its code)."""
    if not isinstance(doc, Mapping):
        return ""
    errs = doc.get("errors") or ([{"message": doc["error"]}] if doc.get("error") else [])
    if not isinstance(errs, list):
        errs = [errs]
    texts = []
    for err in errs:
        if isinstance(err, Mapping):
            message = str(err.get("message") or "").strip()
            code = err.get("code")
            if message:
                texts.append(f"{message} (code {code})" if code is not None else message)
        elif err:
            texts.append(str(err))
    return "; ".join(texts)[:500]


def response_error(resp: httpx.Response) -> str:
    """``HTTP 500: <envelope messages>``, or the body's start when it is no envelope."""
    try:
        words = error_text(resp.json())
    except ValueError:
        words = resp.text.strip()[:300]
    return f"HTTP {resp.status_code}" + (f": {words}" if words else "")


def retry_after_s(value: str | None, now: datetime | None = None) -> float | None:
    """Seconds a ``Retry-After`` header asks for (delta seconds or an HTTP date), or None."""
    if not value:
        return None
    text = value.strip()
    try:
        return max(0.0, float(text))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


def backoff_delay(retry: int, backoff_s: float, retry_after: float | None, rand: Callable[[], float]) -> float:
    """Delay before retry number ``retry`` (1-based) under the policy in the module doc."""
    delay = min(MAX_DELAY_S, backoff_s * (2 ** (retry - 1)) * (0.5 + rand()))
    if retry_after is not None:
        delay = max(delay, min(retry_after, MAX_RETRY_AFTER_S))
    return delay


class CloudflareClient:
    """POSTs to ``{base}/{path}`` with a bearer token under the retry policy; counts its retries."""

    def __init__(
        self,
        settings: Settings,
        *,
        label: str,
        token: str | None = None,
        base: str | None = None,
        timeout_s: float = 60.0,
        attempts: int | None = None,
        backoff_s: float | None = None,
        transport: httpx.BaseTransport | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.label = label
        self.base = api_base(base or settings.cloudflare_api_base)
        self.attempts = max(1, attempts if attempts is not None else settings.http_attempts)
        self.backoff_s = backoff_s if backoff_s is not None else settings.http_backoff_s
        self.retries = 0
        self.delays: list[float] = []  # every wait, for run summaries and tests
        self._sleep = sleep
        self._rand = random.random
        headers = {"Authorization": f"Bearer {token if token is not None else settings.cloudflare_api_token or ''}"}
        self._http = httpx.Client(timeout=timeout_s, transport=transport, headers=headers)

    def url(self, path: str) -> str:
        return f"{self.base}/{path.lstrip('/')}"

    def post(self, path: str, **kwargs: Any) -> httpx.Response:
        """One request, retried as the policy says; a non-retryable answer is returned as it is."""
        url = self.url(path)
        last = ""
        for attempt in range(1, self.attempts + 1):
            retry_after: float | None = None
            try:
                resp = self._http.post(url, **kwargs)
            except httpx.TransportError as exc:
                last = f"connection failed ({type(exc).__name__})"
            else:
                if resp.status_code != 429 and resp.status_code < 500:
                    return resp
                last = response_error(resp)
                retry_after = retry_after_s(resp.headers.get("retry-after"))
            if attempt < self.attempts:
                delay = backoff_delay(attempt, self.backoff_s, retry_after, self._rand)
                self.retries += 1
                self.delays.append(delay)
                self._sleep(delay)
        raise UpstreamError(f"{self.label}: still failing after {self.attempts} attempts: {last}")

    def close(self) -> None:
        self._http.close()
