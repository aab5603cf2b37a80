"""Browser-facing defences on every route: Host and Origin checks, and the security headers.

- **Host (DNS rebinding).** A page on ``evil.example`` whose name is re-pointed at 127.0.0.1 reaches a
  loopback server with ``Host: evil.example``. Requests are served only for the names in
  ``LEADSTATS_ALLOWED_HOSTS`` (``name``, ``name:port``, ``*.example.com``; ``*`` = any); when none are
  configured and the server listens on a loopback address, only ``localhost`` and loopback addresses
  are served; other refusals are ``400 invalid_host``.
- **Origin (CSRF).** A request that can change something (any method but GET, HEAD and OPTIONS) carrying
  an ``Origin`` of another site (or ``null``) is ``403 forbidden``: only the server's own origin (the
  ``Host`` it was reached by) and the configured host names may send one. Non-browser clients send no
  ``Origin`` and are not affected. Ingest also requires a JSON media type (``api/bodies.py``).
- **Headers.** Every response carries ``Content-Security-Policy`` (scripts and styles only from the
  server itself; the offline ``/docs`` page, ``api/docs.py``, sends its own, as strict),
  ``X-Content-Type-Options: nosniff``, ``X-Frame-Options: DENY`` (and CSP
  ``frame-ancestors 'none'``), ``Referrer-Policy: no-referrer`` and ``Cross-Origin-Opener-Policy``.
"""

from __future__ import annotations

import ipaddress
import json
from collections.abc import Iterable
from urllib.parse import urlsplit

from starlette.types import ASGIApp, Message, Receive, Scope, Send

SAFE_METHODS: frozenset[str] = frozenset({"GET", "HEAD", "OPTIONS"})
LOOPBACK_NAMES: tuple[str, ...] = ("localhost",)

#: The dashboard needs no inline script: only files served by leadstats itself. ``style-src-attr``
#: allows ``style="..."`` attributes (the heatmap's colour variable), not ``<style>`` elements.
CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; style-src-attr 'unsafe-inline'; "
    "img-src 'self' data:; connect-src 'self'; font-src 'self'; manifest-src 'self'; "
    "base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)
HEADERS: tuple[tuple[bytes, bytes], ...] = (
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"no-referrer"),
    (b"cross-origin-opener-policy", b"same-origin"),
)


def _split_host(value: str) -> tuple[str, str | None]:
    """``(hostname, port)`` of a Host header or an origin's netloc, lower case, brackets kept off."""
    value = value.strip().lower()
    if value.startswith("["):
        end = value.find("]")
        host, rest = value[1:end], value[end + 1 :]
        return host, rest[1:] if rest.startswith(":") else None
    host, sep, port = value.rpartition(":")
    return (host, port) if sep and port.isdigit() else (value, None)


def is_loopback_host(host: str) -> bool:
    """True for ``localhost`` and loopback IP addresses (127.0.0.0/8, ::1)."""
    if host in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def host_allowed(host_header: str, allowed: Iterable[str], server_host: str | None) -> bool:
    """Whether a request with this ``Host`` may be served.

    >>> host_allowed("evil.example:8000", (), "127.0.0.1"), host_allowed("localhost:8000", (), "127.0.0.1")
    (False, True)
    >>> host_allowed("api.example.com", ("*.example.com",), "10.0.0.2"), host_allowed("x.org", (), "10.0.0.2")
    (True, True)
    """
    name, port = _split_host(host_header)
    rules = tuple(allowed)
    if not rules:
        return not (server_host and is_loopback_host(server_host)) or is_loopback_host(name)
    for rule in rules:
        r_name, r_port = _split_host(rule)
        named = r_name == "*" or r_name == name or (r_name.startswith("*.") and name.endswith(r_name[1:]))
        if named and (r_port is None or r_port == port):
            return True
    return False


def origin_allowed(origin: str, host_header: str, allowed: Iterable[str]) -> bool:
    """Whether a write from a page of ``origin`` is same-site: the origin is the host the request was
    sent to, or a configured host name (``*`` does not count: it lets any Host in, not any site)."""
    if origin.strip().lower() == "null":
        return False
    netloc = urlsplit(origin.strip()).netloc.lower()
    if netloc and netloc == host_header.strip().lower():
        return True
    if not _split_host(netloc)[0]:
        return False
    return any(rule != "*" and host_allowed(netloc, (rule,), None) for rule in allowed)


def _error(status: int, code: str, message: str, field: str | None) -> tuple[int, bytes]:
    body = json.dumps({"error": {"code": code, "message": message, "field": field}}, separators=(",", ":"))
    return status, body.encode()


class GuardMiddleware:
    """Pure ASGI: refuses foreign ``Host`` and cross-site ``Origin``, adds the security headers."""

    def __init__(self, app: ASGIApp, allowed_hosts: Iterable[str] = ()) -> None:
        self.app = app
        self.allowed_hosts = tuple(allowed_hosts)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {k: v for k, v in scope.get("headers", ()) if k in (b"host", b"origin")}
        host = headers.get(b"host", b"").decode("latin-1")
        server = scope.get("server")
        refusal = None
        if host and not host_allowed(host, self.allowed_hosts, server[0] if server else None):
            refusal = _error(
                400, "invalid_host", f"Host {host!r} is not served here (set LEADSTATS_ALLOWED_HOSTS)", "host"
            )
        elif b"origin" in headers and scope.get("method", "GET") not in SAFE_METHODS:
            origin = headers[b"origin"].decode("latin-1")
            if not origin_allowed(origin, host, self.allowed_hosts):
                refusal = _error(403, "forbidden", f"cross-site request from Origin {origin!r} refused", "origin")
        if refusal is not None:
            status, body = refusal
            await send(
                {
                    "type": "http.response.start",
                    "status": status,
                    "headers": [
                        (b"content-type", b"application/json"),
                        (b"content-length", str(len(body)).encode()),
                        (b"content-security-policy", CSP.encode()),
                        *HEADERS,
                    ],
                }
            )
            await send({"type": "http.response.body", "body": body})
            return
        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = _add_headers(message.get("headers", ()), CSP)
            await send(message)

        await self.app(scope, receive, with_headers)


def _add_headers(existing: Iterable[tuple[bytes, bytes]], csp: str) -> list[tuple[bytes, bytes]]:
    out = list(existing)
    present = {k.lower() for k, _ in out}
    for name, value in ((b"content-security-policy", csp.encode()), *HEADERS):
        if name not in present:
            out.append((name, value))
    return out


