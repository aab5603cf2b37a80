"""Bearer tokens with two scopes, a per-token rate limit, and refusal of unknown query parameters.

- ``LEADSTATS_INGEST_TOKENS`` may only ``POST /api/v1/events``; ``LEADSTATS_READ_TOKENS`` may only
  read (reports, summary, schema, metrics). A token listed in both has both scopes.
- Tokens are compared with :func:`hmac.compare_digest` against every configured token (no early exit,
  so timing says nothing about which or how much matched) and never logged: logs name a token by
  its scope and position (``read#0``).
- Rate limit: a token bucket per token holding ``rate_limit_per_minute`` requests and refilling at
  that rate; failed authentications are limited per client address (IPv6 per /64), so guessing tokens
  is slow too. The client address is the socket's peer: ``X-Forwarded-For`` counts only when the server
  trusts the proxy it came from (``LEADSTATS_FORWARDED_ALLOW_IPS``, none by default).
  Beyond it: 429 with ``Retry-After`` seconds. ``0`` disables the limit.
- With no tokens configured and ``insecure_local`` set, every request is allowed (the CLI only allows
  that on a loopback address); with no tokens and no ``insecure_local`` everything protected is 401.
"""

from __future__ import annotations

import hmac
import ipaddress
import math
import threading
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Literal

from fastapi import Request, Security
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from ..errors import AuthError, ForbiddenError, QueryError, RateLimited
from ..settings import Settings

Scope = Literal["read", "ingest"]

bearer = HTTPBearer(
    auto_error=False,
    scheme_name="bearer",
    description="`Authorization: Bearer <token>`: an ingest token (LEADSTATS_INGEST_TOKENS) for "
    "POST /api/v1/events, a read token (LEADSTATS_READ_TOKENS) for everything else.",
)


@dataclass(frozen=True)
class Principal:
    """Who is calling, without the secret: ``label`` is safe to log."""

    label: str
    scopes: frozenset[str]
    key: str  # rate-limit bucket key


class RateLimiter:
    """Token buckets: ``per_minute`` requests of burst, refilled continuously at ``per_minute``/60 per s.

    Memory is bounded by ``max_keys`` buckets kept in least-recently-used order: a new key past the bound
    forgets only the bucket touched longest ago (by then usually refilled, so forgetting it changes
    nothing), never every bucket, so rotating client addresses cannot reset the others' limits.
    """

    def __init__(self, per_minute: int, max_keys: int = 10_000) -> None:
        self.per_minute = per_minute
        self.max_keys = max_keys
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._buckets)

    def hit(self, key: str) -> None:
        """Take one request from ``key``'s bucket or raise RateLimited with the seconds to wait."""
        if self.per_minute <= 0:
            return
        rate = self.per_minute / 60.0
        now = time.monotonic()
        with self._lock:
            tokens, last = self._buckets.get(key, (float(self.per_minute), now))
            tokens = min(float(self.per_minute), tokens + (now - last) * rate)
            if key not in self._buckets:
                while len(self._buckets) >= self.max_keys:
                    self._buckets.popitem(last=False)  # the least recently used bucket only
            self._buckets[key] = (tokens if tokens < 1.0 else tokens - 1.0, now)
            self._buckets.move_to_end(key)
            if tokens < 1.0:
                wait = max(1, math.ceil((1.0 - tokens) / rate))
                raise RateLimited(f"rate limit of {self.per_minute} requests per minute exceeded", retry_after=wait)


def client_key(address: str) -> str:
    """The rate-limit key of a client address: IPv6 clients by their /64 (one host usually holds a
    whole /64, so rotating inside it must not give fresh buckets), IPv4 by address."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return f"client:{address}"
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return f"client:{ip.ipv4_mapped}"
        return f"client:{ipaddress.ip_network(f'{ip}/64', strict=False)}"
    return f"client:{ip}"


class Authenticator:
    """Resolves a bearer token to a :class:`Principal` and applies the rate limit."""

    def __init__(self, settings: Settings, *, insecure_local: bool = False) -> None:
        tokens: dict[str, set[str]] = {}
        labels: dict[str, str] = {}
        for scope, configured in (("ingest", settings.ingest_tokens), ("read", settings.read_tokens)):
            for i, token in enumerate(configured):
                tokens.setdefault(token, set()).add(scope)
                labels.setdefault(token, f"{scope}#{i}")
        self._tokens = [(t.encode(), frozenset(s), labels[t]) for t, s in tokens.items()]
        self.open = insecure_local and not self._tokens
        self.limiter = RateLimiter(settings.rate_limit_per_minute)

    @property
    def configured(self) -> bool:
        return bool(self._tokens)

    def _match(self, presented: str) -> tuple[frozenset[str], str] | None:
        given = presented.encode("utf-8", "surrogateescape")
        found: tuple[frozenset[str], str] | None = None
        for token, scopes, label in self._tokens:  # always compare with every token
            if hmac.compare_digest(given, token) and found is None:
                found = (scopes, label)
        return found

    def authenticate(self, presented: str | None, scope: Scope, client: str) -> Principal:
        """The caller for ``scope``: 401 without a valid token, 403 with a token of the other scope,
        429 past the rate limit."""
        if self.open:
            principal = Principal("insecure-local", frozenset({"read", "ingest"}), "local")
        else:
            match = self._match(presented) if presented else None
            if match is None:
                self.limiter.hit(client_key(client))
                what = "missing" if not presented else "not valid"
                raise AuthError(f"bearer token {what}: send Authorization: Bearer <token>", field="authorization")
            scopes, label = match
            principal = Principal(label, scopes, f"token:{label}")
        self.limiter.hit(principal.key)
        if scope not in principal.scopes:
            raise ForbiddenError(
                f"this token cannot {scope}: use {'an ingest' if scope == 'ingest' else 'a read'} token",
                field="authorization",
            )
        return principal


def allowed_query_params(request: Request) -> frozenset[str]:
    """The query parameter names the matched route declares (cached on the route)."""
    route = request.scope.get("route")
    cached = getattr(route, "_leadstats_params", None)
    if cached is not None:
        return cached  # type: ignore[no-any-return]
    names: set[str] = set()
    stack = [getattr(route, "dependant", None)]
    while stack:
        dep = stack.pop()
        if dep is None:
            continue
        names.update(p.alias for p in dep.query_params)
        stack.extend(dep.dependencies)
    allowed = frozenset(names)
    if route is not None:
        route._leadstats_params = allowed  # type: ignore[union-attr]
    return allowed


def reject_unknown_params(request: Request) -> None:
    """400 for a query parameter the route does not declare (a typo must not be silently ignored)."""
    unknown = sorted(set(request.query_params) - allowed_query_params(request))
    if unknown:
        allowed = ", ".join(sorted(allowed_query_params(request))) or "none"
        raise QueryError(f"unknown query parameter(s): {', '.join(unknown)} (allowed: {allowed})", field=unknown[0])


def require(scope: Scope) -> Callable[..., Awaitable[Principal]]:
    """A FastAPI dependency: authenticate for ``scope``, rate-limit, refuse unknown query parameters."""

    async def dependency(
        request: Request, credentials: HTTPAuthorizationCredentials | None = Security(bearer)
    ) -> Principal:
        auth: Authenticator = request.app.state.auth
        client = request.client.host if request.client else "unknown"
        principal = auth.authenticate(credentials.credentials if credentials else None, scope, client)
        request.state.principal = principal
        reject_unknown_params(request)
        return principal

    dependency.__name__ = f"require_{scope}"
    return dependency


def open_route(request: Request) -> None:
    """Dependency for unauthenticated routes: still refuses unknown query parameters."""
    reject_unknown_params(request)


def principal_label(state: Any) -> str | None:
    """The log-safe caller label stored on a request's state, if any."""
    principal = getattr(state, "principal", None) if not isinstance(state, dict) else state.get("principal")
    return principal.label if isinstance(principal, Principal) else None
