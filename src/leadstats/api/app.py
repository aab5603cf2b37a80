"""The FastAPI app factory: routes, the one error handler, middleware, lifespan and extension hooks."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, AsyncExitStack, asynccontextmanager
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect

from .. import __version__
from ..errors import AuthError, LeadStatsError
from ..service import LeadStats
from ..settings import Settings
from .auth import Authenticator
from .docs import mount_docs
from .guard import GuardMiddleware
from .insights_routes import digest_schedule
from .insights_routes import router as insights_router
from .observability import Metrics, ObservabilityMiddleware
from .routes import json_response, router
from .writer import GroupCommitWriter

log = logging.getLogger("leadstats.api")
STATIC_DIR = Path(__file__).resolve().parent.parent / "web" / "static"

_STATUS_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    413: "too_large",
    415: "unsupported_media_type",
    422: "invalid_parameter",
    429: "rate_limited",
}

DESCRIPTION = """Lead statistics over HTTP: the Worker sends events, dashboards and agents read reports.

Auth: `Authorization: Bearer <token>`. Ingest tokens (`LEADSTATS_INGEST_TOKENS`) may only
`POST /api/v1/events`; read tokens (`LEADSTATS_READ_TOKENS`) may only read. `/healthz` and
`/openapi.json` are open. Errors are always `{"error": {"code", "message", "field"}}`.
See docs/http-api.md for curl examples and the Cloudflare Worker snippet."""


_TYPE_TAGS = frozenset({"str", "int", "float", "bool", "none", "list", "dict", "function-after", "function-before"})


def _where(loc: list[Any]) -> tuple[str | None, str]:
    """(the contract's field name, a readable path) from a pydantic location such as
    ``('body', 'dimensions', 'list[str]')`` or ``('body', 'date_range', 0)``: union-member tags
    (``list[str]``) are dropped, list indices kept (``date_range[0]``)."""
    if len(loc) < 2:
        return (str(loc[0]) if loc else None), ""
    field = str(loc[1])
    path = field
    for part in loc[2:]:
        if isinstance(part, int):
            path += f"[{part}]"
        elif "[" not in str(part) and str(part).lower() not in _TYPE_TAGS:
            path += f".{part}"
    return field, path


def _validation_message(exc: RequestValidationError) -> tuple[str, str | None, bool]:
    """(message, field, body_unparseable) for FastAPI's parameter/body validation errors; ``field`` is
    the parameter or top-level body field as the contract names it (``dimensions``, ``date_range``)."""
    errors = list(exc.errors())
    if not errors:
        return "invalid request", None, False
    first = errors[0]
    if first.get("type") == "json_invalid":
        return "request body is not valid JSON", "body", True
    loc = list(first.get("loc", ()))
    where = str(loc[0]) if loc else ""
    field, path = _where(loc)
    same = [e for e in errors if _where(list(e.get("loc", ())))[0] == field]
    words = " or ".join(dict.fromkeys(str(e.get("msg", "invalid")) for e in same))
    text = f"{where} {path}: {words}".replace(" :", ":").strip()
    rest = len(errors) - len(same)
    more = f" (and {rest} more)" if rest else ""
    return text + more, field, False


_UNPARSEABLE_BODY = "There was an error parsing the body"  # FastAPI's words for a non-UTF-8 or too-deep body


async def handle_disconnect(request: Request, exc: Exception) -> Response:
    """A client that left mid-upload: nothing to answer. Status 499 (nginx's "client closed request")
    goes to the access log and ``leadstats_http_requests_total``; no traceback, not a 500."""
    return json_response(
        {"error": {"code": "client_closed_request", "message": "the client disconnected", "field": None}}, 499
    )


async def handle_error(request: Request, exc: Exception) -> Response:
    """The one place errors become HTTP: ``{"error": {"code", "message", "field"}}``, never a traceback."""
    headers: dict[str, str] = {}
    if isinstance(exc, LeadStatsError):
        status, body = exc.http_status, exc.to_dict()
        retry_after = getattr(exc, "retry_after", None)  # RateLimited, StorageFull
        if retry_after is not None:
            headers["Retry-After"] = str(retry_after)
        if isinstance(exc, AuthError):
            headers["WWW-Authenticate"] = "Bearer"
    elif isinstance(exc, RequestValidationError):
        message, field, unparseable = _validation_message(exc)
        status = 400 if unparseable else 422
        body = {"code": "invalid_input" if unparseable else "invalid_parameter", "message": message, "field": field}
    elif isinstance(exc, HTTPException):
        status = exc.status_code
        detail = exc.detail if isinstance(exc.detail, str) else "request refused"
        if status == 404 and detail == "Not Found":
            detail = f"no route {request.method} {request.url.path}"
        body = {
            "code": _STATUS_CODES.get(status, "error"),
            "message": detail,
            "field": "body" if status == 413 else None,
        }
        if status == 400 and detail == _UNPARSEABLE_BODY:
            body = {
                "code": "invalid_input",
                "message": "request body is not valid JSON: not UTF-8, or nested too deeply",
                "field": "body",
            }
        headers.update(exc.headers or {})
    else:
        log.error("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
        status, body = (
            500,
            {"code": "internal_error", "message": "internal error (logged on the server)", "field": None},
        )
    response = json_response({"error": body}, status)
    response.headers.update(headers)
    return response


LifespanHook = Callable[[], AbstractAsyncContextManager[Any]]


def create_app(ls: LeadStats, settings: Settings | None = None, *, insecure_local: bool = False) -> FastAPI:
    """The leadstats HTTP API over ``ls``.

    ``app.state`` carries ``ls``, ``settings``, ``auth`` (an :class:`~leadstats.api.auth.Authenticator`
    that extensions can reuse), ``writer`` (the group-commit writer), ``metrics`` and
    ``lifespan_hooks``: a list of zero-argument callables returning async context managers, entered
    in order at startup and left at shutdown (before the writer drains).

    Extension points, applied in this order:
    1. :func:`leadstats.mcp.mount` (the MCP front end at /mcp);
    2. the dashboard: ``leadstats/web/static`` served at ``/`` when it holds an ``index.html``.

    >>> import leadstats
    >>> app = create_app(leadstats.connect(":memory:"), Settings(read_tokens=("r",)))
    >>> [p for p in sorted(app.openapi()["paths"]) if p.startswith("/api/v1/e") or p == "/api/v1/query"]
    ['/api/v1/events', '/api/v1/query']
    """
    settings = settings or ls.settings
    metrics = Metrics()
    writer = GroupCommitWriter(ls, on_commit=metrics.observe_commit)
    metrics.bind(ls, writer)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        writer.start()
        try:
            async with AsyncExitStack() as stack:
                for hook in list(app.state.lifespan_hooks):
                    await stack.enter_async_context(hook())
                yield
        finally:
            writer.close()  # graceful shutdown: every queued batch is committed and answered first

    app = FastAPI(
        title="leadstats",
        version=__version__,
        description=DESCRIPTION,
        lifespan=lifespan,
        redoc_url=None,
        docs_url=None,  # /docs is served from local assets by mount_docs (no CDN)
    )
    app.state.ls = ls
    app.state.settings = settings
    app.state.auth = Authenticator(settings, insecure_local=insecure_local)
    app.state.writer = writer
    app.state.metrics = metrics
    app.state.lifespan_hooks = []
    for exc_type in (LeadStatsError, RequestValidationError, HTTPException, Exception):
        app.add_exception_handler(exc_type, handle_error)
    app.add_exception_handler(ClientDisconnect, handle_disconnect)
    app.add_middleware(GuardMiddleware, allowed_hosts=settings.allowed_hosts)
    app.add_middleware(ObservabilityMiddleware, metrics=metrics, max_body_bytes=settings.max_body_bytes)
    app.include_router(router)
    mount_docs(app)  # /docs from the installed Swagger UI files (api/docs.py)
    app.include_router(insights_router)  # /api/v1/insights/* (docs/insights.md)
    app.state.lifespan_hooks.append(digest_schedule(ls, settings))  # LEADSTATS_DIGEST_CRON
    mount_extensions(app, ls, settings)
    return app


def mount_extensions(app: FastAPI, ls: LeadStats, settings: Settings) -> None:
    """MCP at ``/mcp``, then the static dashboard at ``/`` (last: it matches every path)."""
    from .. import mcp  # the MCP front end (a plain import: it is part of the package)

    mcp.mount(app, ls, settings)
    if (STATIC_DIR / "index.html").is_file():
        app.mount("/", StaticFiles(directory=STATIC_DIR, html=True), name="web")
