"""Routes for the server's own local clients (:mod:`leadstats.remote`), and the local credential.

``leadstats serve`` makes a new credential at every start and writes it, with its URL, into
``<store>.server.json`` (mode 0600, see :mod:`leadstats.discovery`). That credential has both scopes
(read and ingest), is not rate-limited (it is the operator's own CLI), and is the only one accepted by
the store routes below (besides a configured token listed with both scopes, for clients that name the
server by URL: ``--db http://HOST:PORT`` with ``LEADSTATS_SERVER_TOKEN``), which importers need beyond
the public API:

- ``POST /api/v1/store/ingest``: an Arrow IPC stream of records (CSV, Parquet, D1, AE rows), or of
  JSON texts in ``__leadstats_json``, plus a ``__leadstats_row`` column numbering them; validated here
  by the same validator as a local import;
  the answer is the ingest document with ``index`` = the caller's row number;
- ``POST /api/v1/store/append``: already validated rows (Arrow IPC), appended with the store's dedupe;
- ``POST /api/v1/store/stored-ids``: which of a JSON list of ids are stored;
- ``GET|PUT /api/v1/store/state``: the small key/value state (import watermarks);
- ``GET /api/v1/store/health``: what ``leadstats info`` prints;
- ``POST /api/v1/store/delete``, ``/replace``, ``/primary-leads``, ``/lead-events``: what the D1
  importer's per-table exports need (remove or replace stored events, look up stored leads).
"""

from __future__ import annotations

import hmac
import json
from typing import Any

import pyarrow as pa
import pyarrow.ipc as ipc
from fastapi import APIRouter, Depends, FastAPI, Request, Security
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response
from fastapi.security import HTTPAuthorizationCredentials
from starlette.routing import Mount

from ..errors import ForbiddenError, InputError
from ..settings import Settings
from .auth import Authenticator, Principal, Scope, bearer, reject_unknown_params
from .routes import json_response

ROWS_COLUMN = "__leadstats_row"
JSON_COLUMN = "__leadstats_json"
LOCAL = Principal("local", frozenset({"read", "ingest"}), "local")


class LocalAuthenticator(Authenticator):
    """The configured tokens plus this start's local credential (both scopes, no rate limit)."""

    def __init__(self, settings: Settings, *, insecure_local: bool = False, local_token: str) -> None:
        super().__init__(settings, insecure_local=insecure_local)
        self.local_token = local_token.encode()

    def is_local(self, presented: str | None) -> bool:
        return presented is not None and hmac.compare_digest(presented.encode("utf-8", "surrogateescape"),
                                                             self.local_token)

    def authenticate(self, presented: str | None, scope: Scope, client: str) -> Principal:
        if self.is_local(presented):
            return LOCAL
        return super().authenticate(presented, scope, client)


async def require_local(
    request: Request, credentials: HTTPAuthorizationCredentials | None = Security(bearer)
) -> Principal:
    auth: Authenticator = request.app.state.auth
    presented = credentials.credentials if credentials else None
    if isinstance(auth, LocalAuthenticator) and auth.is_local(presented):
        principal = LOCAL
    else:
        client = request.client.host if request.client else "unknown"
        principal = auth.authenticate(presented, "ingest", client)  # 401 / 403 / 429 as everywhere
        if "read" not in principal.scopes:
            raise ForbiddenError(
                "the store routes need the server's local credential or a token with both scopes"
                " (listed in LEADSTATS_INGEST_TOKENS and LEADSTATS_READ_TOKENS)",
                field="authorization",
            )
    request.state.principal = principal
    reject_unknown_params(request)
    return principal


router = APIRouter(prefix="/api/v1/store", tags=["local"], dependencies=[Depends(require_local)],
                   include_in_schema=False)


async def _arrow(request: Request) -> pa.Table:
    body = b"".join([chunk async for chunk in request.stream()])
    try:
        return ipc.open_stream(pa.py_buffer(body)).read_all()
    except (pa.ArrowInvalid, OSError) as exc:
        raise InputError(f"request body is not an Arrow IPC stream: {exc}", field="body") from None


@router.post("/ingest")
async def ingest_table(request: Request) -> Response:
    table = await _arrow(request)
    rows = table.column(ROWS_COLUMN) if ROWS_COLUMN in table.column_names else None
    if rows is not None:
        table = table.drop_columns([ROWS_COLUMN])
    ls = request.app.state.ls
    numbers = rows.combine_chunks() if rows is not None else pa.array(range(1, table.num_rows + 1), pa.int64())
    if JSON_COLUMN in table.column_names:  # JSON texts, validated as a JSON Lines import would
        lines = table.column(JSON_COLUMN).combine_chunks()
        result = await run_in_threadpool(ls.ingest_json_lines, lines, numbers)
    else:
        result = await run_in_threadpool(ls.ingest_table, table, numbers)
    return json_response(result.to_dict())


@router.post("/append")
async def append(request: Request) -> Response:
    table = await _arrow(request)
    result = await run_in_threadpool(request.app.state.ls.copy_rows, table)
    return json_response({"accepted": result.accepted, "duplicates": result.duplicates})


@router.post("/replace")
async def replace(request: Request) -> Response:
    table = await _arrow(request)
    result = await run_in_threadpool(request.app.state.ls.replace_rows, table)
    return json_response({"accepted": result.accepted, "duplicates": result.duplicates})


async def _json_strings(request: Request, what: str) -> list[str]:
    try:
        values = json.loads(await request.body())
    except ValueError:
        values = None
    if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
        raise InputError(f"send a JSON list of {what}", field="body")
    return values


@router.post("/delete")
async def delete(request: Request) -> Response:
    ids = await _json_strings(request, "event ids")
    gone = await run_in_threadpool(request.app.state.ls.delete_events, ids)
    return json_response({"deleted": gone})


@router.post("/primary-leads")
async def primary_leads(request: Request, prefix: str) -> Response:
    leads = await _json_strings(request, "stored lead ids")
    found = await run_in_threadpool(request.app.state.ls.stored_primary_leads, leads, prefix)
    return json_response({"leads": sorted(found)})


@router.post("/lead-events")
async def lead_events(request: Request, prefix: str) -> Response:
    leads = await _json_strings(request, "stored lead ids")
    table = await run_in_threadpool(request.app.state.ls.stored_lead_events, leads, prefix)
    sink = pa.BufferOutputStream()
    with ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    return Response(sink.getvalue().to_pybytes(), media_type="application/vnd.apache.arrow.stream")


@router.post("/stored-ids")
async def stored_ids(request: Request) -> Response:
    try:
        ids = json.loads(await request.body())
    except ValueError:
        raise InputError("send a JSON list of event ids", field="body") from None
    if not isinstance(ids, list) or not all(isinstance(i, str) for i in ids):
        raise InputError("send a JSON list of event ids", field="body")
    found = await run_in_threadpool(request.app.state.ls.stored_ids, ids)
    return json_response({"stored": sorted(found)})


@router.get("/state")
async def get_state(request: Request, key: str) -> Response:
    value = await run_in_threadpool(request.app.state.ls.get_state, key)
    return json_response({"key": key, "value": value})


@router.put("/state")
async def set_state(request: Request) -> Response:
    try:
        doc: Any = json.loads(await request.body())
    except ValueError:
        doc = None
    if not isinstance(doc, dict) or not isinstance(doc.get("key"), str) or not isinstance(doc.get("value"), str):
        raise InputError('send {"key": "...", "value": "..."}', field="body")
    await run_in_threadpool(request.app.state.ls.set_state, doc["key"], doc["value"])
    return json_response({"key": doc["key"], "value": doc["value"]})


@router.get("/health")
async def store_health(request: Request) -> Response:
    doc = await run_in_threadpool(request.app.state.ls.health)
    return json_response(doc)


def attach_local(app: FastAPI, settings: Settings, *, insecure_local: bool, local_token: str) -> None:
    """Accept ``local_token`` everywhere and serve the store routes (before the dashboard's catch-all)."""
    app.state.auth = LocalAuthenticator(settings, insecure_local=insecure_local, local_token=local_token)
    before = len(app.router.routes)
    app.include_router(router)
    added = app.router.routes[before:]
    del app.router.routes[before:]
    mounts = [i for i, r in enumerate(app.router.routes) if isinstance(r, Mount) and r.path in ("", "/")]
    at = mounts[0] if mounts else len(app.router.routes)
    app.router.routes[at:at] = added
