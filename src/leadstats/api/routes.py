"""The HTTP routes: ingest, reports, query, schema, summary, metrics and health.

Handlers are thin: they pass parameters to the same service call the CLI makes (``ls.report`` /
``ls.query``), which decides defaults and refusals for every front end; blocking work (DuckDB,
validation) runs in the thread pool or on the writer thread, never on
the event loop, so reports keep answering while ingest runs.
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Callable
from datetime import date
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response, StreamingResponse
from prometheus_client import CONTENT_TYPE_LATEST

from .. import __version__
from ..errors import QueryError
from ..insights.summary import MAX_DAYS, summary
from ..model.report import ReportQuery, ReportResult
from ..service import SCORE_BOUND, LeadStats
from .auth import Principal, open_route, require
from .bodies import is_ndjson, split_events
from .schemas import (
    EXAMPLE_EVENT,
    DataSpan,
    ErrorResponse,
    Health,
    IngestResponse,
    QueryBody,
    ReportDocument,
    SchemaDocument,
    SummaryDocument,
)

MULTI_VALUED_PARAMS = frozenset({"filter"})


def single_valued_params(request: Request) -> None:
    """A parameter other than ``filter`` given twice (``from=..&from=..``) is a 400 naming it: taking
    the first or the last one silently would answer a question nobody asked."""
    seen: dict[str, int] = {}
    for key, _value in request.query_params.multi_items():
        seen[key] = seen.get(key, 0) + 1
    for key, count in seen.items():
        if count > 1 and key not in MULTI_VALUED_PARAMS:
            raise QueryError(f"query parameter {key!r} is given {count} times: give it once", field=key)


router = APIRouter(dependencies=[Depends(single_valued_params)])
CSV_CHUNK_ROWS = 2_000

ReadAuth = Annotated[Principal, Depends(require("read"))]
IngestAuth = Annotated[Principal, Depends(require("ingest"))]


def _errors(*codes: int) -> dict[int | str, dict[str, Any]]:
    words = {
        400: "Bad input: unknown parameter, bad query, unparseable body",
        401: "Missing or invalid bearer token",
        403: "Token lacks the scope for this route",
        413: "Body over the size limit or too many events",
        422: "A parameter or body field has the wrong type or shape",
        429: "Rate limit exceeded; see the Retry-After header",
    }
    out: dict[int | str, dict[str, Any]] = {}
    for code in codes:
        entry: dict[str, Any] = {"model": ErrorResponse, "description": words[code]}
        if code == 429:
            entry["headers"] = {"Retry-After": {"description": "Seconds to wait", "schema": {"type": "integer"}}}
        out[code] = entry
    return out


READ_ERRORS = _errors(400, 401, 403, 422, 429)


def json_response(doc: Any, status_code: int = 200) -> Response:
    """Serialize once, compactly (no jsonable_encoder pass: the documents are plain JSON types)."""
    body = json.dumps(doc, ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode()
    return Response(body, status_code=status_code, media_type="application/json")


def _json_result(result: ReportResult) -> Response:
    """A report, encoded from its columns (ReportResult.to_json): the same bytes as json_response."""
    body = result.to_json(separators=(",", ":")).encode()
    return Response(body, media_type="application/json")


def _ls(request: Request) -> LeadStats:
    return request.app.state.ls  # type: ignore[no-any-return]


# -- health ----------------------------------------------------------------------------------------
@router.get(
    "/healthz",
    tags=["operations"],
    summary="Liveness and store health (no token)",
    response_model=Health,
    responses={**_errors(400), 503: {"model": ErrorResponse, "description": "Store unavailable"}},
    dependencies=[Depends(open_route)],
)
async def healthz(request: Request) -> Response:
    ls = _ls(request)
    health = await run_in_threadpool(ls.health)  # raises StoreError (503) when the store is unusable
    writer = request.app.state.writer
    doc = {
        "status": "ok",
        "version": __version__,
        "backend": health.get("backend"),
        "writer": "running" if writer.running else "idle",
    }
    extra = getattr(request.app.state, "healthz_extra", None)  # leadstats serve: server + schedules
    if extra:
        doc.update(extra())
    if health.get("write_error"):  # reads still answer; writes are failing (e.g. a full disk)
        doc.update(status="degraded", write_error=health["write_error"])
    if health.get("wal_loss"):
        doc["wal_loss"] = health["wal_loss"]
    return json_response(doc, status_code=503 if doc["status"] != "ok" else 200)


# -- ingest ----------------------------------------------------------------------------------------
_NDJSON_EXAMPLE = "\n".join(json.dumps({**EXAMPLE_EVENT, "event_id": f"sub-{i}"}) for i in (1, 2)) + "\n"


@router.post(
    "/api/v1/events",
    tags=["ingest"],
    summary="Store events (JSON array or JSON Lines); partial acceptance; a 200 means durable",
    description=(
        "Send a JSON array of events (CONTRACT §1) as `application/json`, or one event per line as "
        "`application/x-ndjson`. At most `LEADSTATS_MAX_EVENTS_PER_REQUEST` (10,000) events and "
        "`LEADSTATS_MAX_BODY_BYTES` (5 MiB) per request, else 413. Good events are stored even when "
        "others are rejected; an `event_id` already stored (or repeated) counts as a duplicate and is not "
        "stored twice, so retrying a request is always safe. The 200 is sent after the transaction "
        "holding these events has committed. Requires an ingest token."
    ),
    response_model=IngestResponse,
    responses=_errors(400, 401, 403, 413, 422, 429),
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {
                    "schema": {"type": "array", "items": {"type": "object"}, "maxItems": 10_000},
                    "examples": {
                        "batch": {"summary": "A batch of events", "value": [EXAMPLE_EVENT]},
                        "minimal": {
                            "summary": "Only the required fields",
                            "value": [
                                {"event_id": "bot-1", "event_type": "bot", "occurred_at": "2026-03-07T04:42:00Z"}
                            ],
                        },
                    },
                },
                "application/x-ndjson": {
                    "schema": {"type": "string"},
                    "examples": {"lines": {"summary": "One event per line", "value": _NDJSON_EXAMPLE}},
                },
            },
        }
    },
)
async def ingest_events(request: Request, principal: IngestAuth) -> Response:
    settings = request.app.state.settings
    writer = request.app.state.writer
    chunks = [chunk async for chunk in request.stream()]  # the middleware enforces the byte limit
    # From here on the request costs bounded CPU work only (a slow upload is not waited for): the
    # writer's next validation pass waits for it to be submitted and takes it along (api/writer.py).
    with writer.receiving():
        lines = await run_in_threadpool(
            split_events,
            b"".join(chunks),
            ndjson=is_ndjson(request.headers.get("content-type")),
            max_events=settings.max_events_per_request,
        )
        if len(lines) == 0:
            return json_response({"accepted": 0, "duplicates": 0, "rejected": []})
        future = writer.submit(lines)
    result = await asyncio.wrap_future(future)
    return json_response(result.to_dict())


# -- reports ---------------------------------------------------------------------------------------
def _csv_filename(query: ReportQuery) -> str:
    doc = query.to_dict()
    return f"leadstats-report_{doc['from'][:10]}_{doc['to'][:10]}.csv"


async def _until_disconnected(request: Request, cancel: threading.Event) -> None:
    """Set ``cancel`` when the client goes away, so the engine stops working for nobody."""
    while not cancel.is_set():
        if await request.is_disconnected():
            cancel.set()
            return
        await asyncio.sleep(0.2)


async def _answer(request: Request, run: Callable[[threading.Event], ReportResult], fmt: str) -> Response:
    """Run a report off the event loop; ``run(cancel)`` is stopped if the client disconnects."""
    cancel = threading.Event()
    watcher = asyncio.create_task(_until_disconnected(request, cancel))
    reading = request.app.state.writer.reading  # the writer holds back while reports run

    def run_first(cancel: threading.Event) -> ReportResult:
        with reading():
            return run(cancel)

    try:
        if fmt == "csv":
            result = await run_in_threadpool(run_first, cancel)
            return StreamingResponse(
                result.csv_chunks(CSV_CHUNK_ROWS),
                media_type="text/csv; charset=utf-8",
                headers={"Content-Disposition": f'attachment; filename="{_csv_filename(result.query)}"'},
            )
        # run and encode in one worker-thread hop: the event loop only sends bytes
        return await run_in_threadpool(lambda: _json_result(run_first(cancel)))
    finally:
        cancel.set()
        watcher.cancel()


_REPORT_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {
        "model": ReportDocument,
        "description": "The report (CONTRACT §4); with format=csv the same rows as CSV, as a download",
        "content": {
            "text/csv": {
                "schema": {"type": "string"},
                "example": "bucket_start,project,received,submissions,primary,follow_up,test,blocked,bot,vpn,"
                "suspicious,hot\n2026-03-07T10:00:00+05:30,Skyline,12,10,7,3,0,1,1,1,2,3\n",
            }
        },
    },
    **READ_ERRORS,
}


@router.get(
    "/api/v1/report",
    tags=["reports"],
    summary="Counts by time bucket and dimensions (the CLI's options as query parameters)",
    response_model=None,
    responses=_REPORT_RESPONSES,
)
async def report(
    request: Request,
    principal: ReadAuth,
    start: Annotated[
        str,
        Query(
            alias="from",
            description="Start (inclusive): a date (local midnight in tz) or an ISO 8601 instant",
            examples=["2026-03-01"],
        ),
    ],
    end: Annotated[str, Query(alias="to", description="End (exclusive), same forms as from", examples=["2026-03-08"])],
    tz: Annotated[
        str | None, Query(description="IANA timezone (default Asia/Kolkata)", examples=["Asia/Kolkata"])
    ] = None,
    bucket: Annotated[
        str | None,
        Query(description="15m 30m 60m|1h 2h 3h 4h 6h 12h 1d 1w 1mo; omit for none", examples=["60m"]),
    ] = None,
    by: Annotated[str | None, Query(description="Dimensions, comma-separated", examples=["project,country"])] = None,
    filters: Annotated[
        list[str],
        Query(
            alias="filter",
            description="Repeatable, ANDed: DIM=V1,V2 (is one of), DIM!=V (is none of), DIM~=V (contains); "
            'a value with a comma is CSV-quoted: project="Alpha, Phase 2",Skyline; an empty value is null: '
            "utm_campaign= (no campaign), utm_campaign=,brand (none or brand), utm_campaign!= (has one)",
            examples=[["source=google,meta"]],
        ),
    ] = [],  # noqa: B006 (FastAPI copies defaults)
    suspicious_min: Annotated[
        float | None,
        Query(ge=-SCORE_BOUND, le=SCORE_BOUND, description="Suspicion threshold (default 40)", examples=[40]),
    ] = None,
    rates: Annotated[
        bool, Query(description="Add the five rates of CONTRACT §2 to every row and the totals", examples=[True])
    ] = False,
    fmt: Annotated[
        Literal["json", "csv"], Query(alias="format", description="json (default) or csv", examples=["csv"])
    ] = "json",
) -> Response:
    ls = _ls(request)
    return await _answer(
        request,
        lambda cancel: ls.report(start, end, timezone=tz, bucket=bucket, dimensions=by, filters=filters,
                                 suspicious_min=suspicious_min, rates=rates, cancel=cancel),
        fmt,
    )


@router.post(
    "/api/v1/query",
    tags=["reports"],
    summary="The JSON report query (CONTRACT §3), same answer as GET /api/v1/report",
    response_model=None,
    responses={200: {"model": ReportDocument, "description": "The report (CONTRACT §4)"}, **READ_ERRORS},
)
async def query(request: Request, principal: ReadAuth, body: QueryBody) -> Response:
    ls, doc = _ls(request), body.to_query_doc()
    return await _answer(request, lambda cancel: ls.query(doc, cancel=cancel), "json")


@router.get(
    "/api/v1/schema",
    tags=["reports"],
    summary="Dimensions, metrics, buckets and filter operators",
    response_model=SchemaDocument,
    responses=READ_ERRORS,
)
async def schema(request: Request, principal: ReadAuth) -> Response:
    return json_response(_ls(request).schema())


@router.get(
    "/api/v1/data-span",
    tags=["reports"],
    summary="When the stored events begin and end (to say where the data is when a window is empty)",
    response_model=DataSpan,
    responses=READ_ERRORS,
)
async def data_span(
    request: Request,
    principal: ReadAuth,
    tz: Annotated[
        str | None, Query(description="IANA timezone (default Asia/Kolkata)", examples=["Asia/Kolkata"])
    ] = None,
) -> Response:
    ls = _ls(request)
    return json_response(await run_in_threadpool(lambda: ls.data_span_doc(tz)))


@router.get(
    "/api/v1/summary",
    tags=["reports"],
    summary="KPIs for the last N full local days against the N days before",
    response_model=SummaryDocument,
    responses=READ_ERRORS,
)
async def summary_route(
    request: Request,
    principal: ReadAuth,
    days: Annotated[int, Query(ge=1, le=MAX_DAYS, description="Window length in days", examples=[7])] = 7,
    tz: Annotated[
        str | None, Query(description="IANA timezone (default Asia/Kolkata)", examples=["Asia/Kolkata"])
    ] = None,
    project: Annotated[str | None, Query(description="Only this project", examples=["Skyline"])] = None,
    today: Annotated[
        date | None,
        Query(description="First local day not counted (default: today in tz)", examples=["2026-03-08"]),
    ] = None,
) -> Response:
    ls = _ls(request)
    doc = await run_in_threadpool(lambda: summary(ls, days=days, tz=tz, project=project, today=today))
    return json_response(doc)


# -- operations ------------------------------------------------------------------------------------
@router.get(
    "/metrics",
    tags=["operations"],
    summary="Prometheus metrics (read token)",
    response_class=Response,
    responses={
        200: {"content": {"text/plain": {"schema": {"type": "string"}, "example": "leadstats_store_events 1.2e+07\n"}}},
        **READ_ERRORS,
    },
)
async def metrics(request: Request, principal: ReadAuth) -> Response:
    body = await run_in_threadpool(request.app.state.metrics.render)
    return Response(body, media_type=CONTENT_TYPE_LATEST)
