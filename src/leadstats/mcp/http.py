"""MCP over streamable HTTP at ``/mcp`` of the HTTP app, behind the read token."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any

from ..errors import LeadStatsError
from .server import build_server

if TYPE_CHECKING:
    from fastapi import FastAPI
    from starlette.types import ASGIApp, Receive, Scope, Send

    from ..service import LeadStats
    from ..settings import Settings


class Guarded:
    """The MCP endpoint behind the read token (an ASGI app, so Starlette passes scope/receive/send)."""

    def __init__(self, inner: ASGIApp, auth: Any) -> None:
        self.inner = inner
        self.auth = auth

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        from starlette.responses import JSONResponse

        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}
        header = headers.get("authorization", "")
        token = header[7:].strip() if header[:7].lower() == "bearer " else None
        client = scope.get("client") or ("unknown", 0)
        try:
            self.auth.authenticate(token, "read", client[0])
        except LeadStatsError as exc:
            extra = {"WWW-Authenticate": "Bearer"} if exc.http_status == 401 else {}
            retry = getattr(exc, "retry_after", None)
            if retry:
                extra["Retry-After"] = str(retry)
            response = JSONResponse({"error": exc.to_dict()}, exc.http_status, headers=extra)
            await response(scope, receive, send)
            return
        await self.inner(scope, receive, send)


def mount(app: FastAPI, ls: LeadStats, settings: Settings) -> None:
    """Serve MCP (streamable HTTP) at ``/mcp`` of the HTTP app, behind the read token.

    Called by :func:`leadstats.api.app.create_app`; the session manager runs in the app's lifespan.
    """
    from mcp.server.streamable_http_manager import StreamableHTTPASGIApp
    from mcp.server.transport_security import TransportSecuritySettings
    from starlette.routing import Route

    server = build_server(ls, settings)
    auth = app.state.auth
    # DNS-rebinding protection matters when no token guards the endpoint (--insecure-local on loopback).
    security = TransportSecuritySettings(
        enable_dns_rebinding_protection=bool(auth.open),
        allowed_hosts=["127.0.0.1:*", "localhost:*", "[::1]:*"],
        allowed_origins=["http://127.0.0.1:*", "http://localhost:*", "http://[::1]:*"],
    )
    server.streamable_http_app(streamable_http_path="/mcp", transport_security=security)
    inner = StreamableHTTPASGIApp(server.session_manager)
    app.router.routes.append(Route("/mcp", endpoint=Guarded(inner, auth), methods=["GET", "POST", "DELETE"],
                                   include_in_schema=False))

    @asynccontextmanager
    async def lifespan() -> AsyncIterator[None]:
        async with server.session_manager.run():
            yield

    app.state.lifespan_hooks.append(lifespan)
