"""``GET /api/v1/insights/{focus,windows,anomalies,forecast}`` (read token) and the digest schedule hook.

Each route calls the same function as ``leadstats insights ...`` and the MCP tools, in the thread pool,
and returns its JSON document unchanged (fields in docs/insights.md). Query parameters use the CLI's
names: ``from``, ``to``, ``tz``, plus ``limit`` / ``weeks`` / ``top`` / ``metric`` where they apply;
an unknown parameter is a 400 like everywhere else in the API.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import TYPE_CHECKING, Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response

from .auth import Principal, require
from .routes import READ_ERRORS, json_response, single_valued_params

if TYPE_CHECKING:
    from ..service import LeadStats
    from ..settings import Settings

router = APIRouter(prefix="/api/v1/insights", tags=["insights"], dependencies=[Depends(single_valued_params)])
ReadAuth = Annotated[Principal, Depends(require("read"))]
From = Annotated[str | None, Query(alias="from", description="Start: date (local midnight) or ISO instant",
                                   examples=["2026-02-01"])]
To = Annotated[str | None, Query(alias="to", description="End (exclusive): date or ISO instant",
                                 examples=["2026-03-01"])]
Tz = Annotated[str | None, Query(description="IANA timezone (default Asia/Kolkata)", examples=["Asia/Kolkata"])]
_OBJECT: dict[int | str, dict[str, Any]] = {200: {"content": {"application/json": {"schema": {"type": "object"}}}}}


async def _run(request: Request, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Response:
    ls = request.app.state.ls
    doc = await run_in_threadpool(lambda: fn(ls, *args, **kwargs))
    return json_response(doc)


@router.get("/focus", summary="Segments to scale, fix or pause, ranked by impact (default: last 28 days)",
            responses={**_OBJECT, **READ_ERRORS})
async def focus_route(request: Request, principal: ReadAuth, start: From = None, end: To = None, tz: Tz = None,
                      limit: Annotated[int, Query(ge=1, le=200, description="Most segments")] = 10) -> Response:
    from ..insights import focus

    return await _run(request, focus, start, end, tz=tz, limit=limit)


@router.get("/windows", summary="Expected actual and hot leads per weekday x hour; peak and junk hours",
            responses={**_OBJECT, **READ_ERRORS})
async def windows_route(
    request: Request, principal: ReadAuth, start: From = None, end: To = None, tz: Tz = None,
    weeks: Annotated[int, Query(ge=1, le=52, description="History in weeks when `from` is absent")] = 8,
    top: Annotated[int, Query(ge=1, le=168, description="How many top ad slots")] = 10,
    slots: Annotated[bool, Query(description="Include all 168 weekday-hour slots")] = True,
) -> Response:
    from ..insights import best_windows

    return await _run(request, best_windows, start, end, tz=tz, weeks=weeks, top=top, include_slots=slots)


@router.get("/anomalies", summary="Unusual hours and days against the same slot in previous weeks",
            responses={**_OBJECT, **READ_ERRORS})
async def anomalies_route(request: Request, principal: ReadAuth, start: From = None, end: To = None, tz: Tz = None,
                          limit: Annotated[int, Query(ge=1, le=1000, description="Most anomalies")] = 100,
                          ) -> Response:
    from ..insights import anomalies

    return await _run(request, anomalies, start, end, tz=tz, limit=limit)


@router.get("/forecast", summary="Next 7 days by day and the next day by hour, with intervals and MAPE",
            responses={**_OBJECT, **READ_ERRORS})
async def forecast_route(
    request: Request, principal: ReadAuth, start: From = None, end: To = None, tz: Tz = None,
    metric: Annotated[Literal["primary", "received", "submissions", "hot", "follow_up", "bot"],
                      Query(description="What to forecast")] = "primary",
) -> Response:
    from ..insights import forecast

    return await _run(request, forecast, end, start=start, tz=tz, metric=metric)


def digest_schedule(ls: LeadStats, settings: Settings) -> Callable[[], AbstractAsyncContextManager[None]]:
    """A lifespan hook: the ``LEADSTATS_DIGEST_CRON`` schedule runs while the server does."""

    @asynccontextmanager
    async def hook() -> AsyncIterator[None]:
        from ..insights.delivery import start_digest_scheduler

        stop = start_digest_scheduler(ls, settings)
        try:
            yield
        finally:
            await run_in_threadpool(stop)

    return hook
