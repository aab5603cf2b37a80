"""Jobs ``leadstats serve`` runs on a schedule: the D1 sync and the digest, so one process is a deployment.

- ``LEADSTATS_SYNC_D1_SOURCE`` (a SQLite file, a ``.sql`` dump or dump directory, or ``d1://ACCOUNT/DB``)
  is imported with :func:`leadstats.sources.d1.import_d1`, the library function behind
  ``leadstats sync d1``, every ``LEADSTATS_SYNC_D1_EVERY`` (a duration such as ``30s``/``5m``/``1h``, or
  a cron expression read in ``LEADSTATS_TZ``; default ``5m``), with ``LEADSTATS_SYNC_D1_PREFIX`` and
  ``LEADSTATS_SYNC_D1_MAPPING`` as ``--prefix`` and ``--mapping``. The first run starts at once.
- ``LEADSTATS_DIGEST_CRON`` sends the digest to ``LEADSTATS_DIGEST_SEND`` (as before).

Each job runs on its own thread; a failed run is logged, recorded as ``last_error`` and retried at the
next tick. ``status()`` (in ``/healthz`` under ``schedules``) and the ``leadstats_schedule_*`` gauges in
``/metrics`` give each job's last run, next run, last error and run/failure counts.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from fastapi.concurrency import run_in_threadpool
from prometheus_client import CollectorRegistry, Gauge

from ..errors import InputError, LeadStatsError

if TYPE_CHECKING:
    from ..service import LeadStats
    from ..settings import Settings

log = logging.getLogger("leadstats.schedules")
_DURATION = re.compile(r"\s*(\d+(?:\.\d+)?)\s*(s|sec|m|min|h|d)?\s*")
_UNITS = {"s": 1, "sec": 1, "m": 60, "min": 60, "h": 3600, "d": 86400}


def _iso(at: datetime | None) -> str | None:
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ") if at else None


@dataclass
class Timing:
    """Either every ``seconds`` (first run at start) or a cron expression in ``tz``."""

    text: str
    seconds: float | None = None
    cron: str | None = None
    tz: str = "UTC"

    @classmethod
    def parse(cls, text: str, tz: str, what: str) -> Timing:
        m = _DURATION.fullmatch(text)
        if m and float(m.group(1)) > 0:
            return cls(text, seconds=float(m.group(1)) * _UNITS[m.group(2) or "s"], tz=tz)
        from croniter import croniter

        if croniter.is_valid(text):
            return cls(text, cron=text, tz=tz)
        raise InputError(f"{what} {text!r}: use a duration (30s, 5m, 1h) or a cron expression", field=what)

    def first(self, now: datetime) -> datetime:
        return now if self.seconds is not None else self.after(now)

    def after(self, at: datetime) -> datetime:
        if self.seconds is not None:
            return at + timedelta(seconds=self.seconds)
        from croniter import croniter

        from ..model.timegrid import zone

        nxt: datetime = croniter(self.cron, at.astimezone(zone(self.tz))).get_next(datetime)
        return nxt


@dataclass
class Job:
    name: str
    timing: Timing
    run: Callable[[datetime], str]  # returns a one-line outcome for the log
    runs: int = 0
    failures: int = 0
    last_run: datetime | None = None
    last_ok: datetime | None = None
    last_error: str | None = None
    last_outcome: str | None = None
    next_run: datetime | None = None
    running: bool = False
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def status(self) -> dict[str, Any]:
        with self._lock:
            return {
                "schedule": self.timing.text,
                "last_run": _iso(self.last_run),
                "last_ok": _iso(self.last_ok),
                "last_error": self.last_error,
                "last_outcome": self.last_outcome,
                "next_run": _iso(self.next_run),
                "runs": self.runs,
                "failures": self.failures,
                "running": self.running,
            }

    def tick(self, fired: datetime) -> None:
        with self._lock:
            self.running = True
            self.last_run = datetime.now(UTC)
        try:
            outcome = self.run(fired)
        except Exception as exc:  # noqa: BLE001 - one failed run must not end the schedule
            message = exc.message if isinstance(exc, LeadStatsError) else f"{type(exc).__name__}: {exc}"
            log.warning("scheduled %s failed: %s", self.name, message)
            with self._lock:
                self.failures += 1
                self.last_error = message
        else:
            log.info("scheduled %s: %s", self.name, outcome)
            with self._lock:
                self.last_ok = datetime.now(UTC)
                self.last_error = None
                self.last_outcome = outcome
        finally:
            with self._lock:
                self.runs += 1
                self.running = False


class Scheduler:
    """The server's jobs, one thread each, stopped (after the run in progress) at shutdown."""

    def __init__(self, jobs: list[Job]) -> None:
        self.jobs = jobs
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []

    def status(self) -> dict[str, Any]:
        return {job.name: job.status() for job in self.jobs}

    def start(self) -> None:
        self._stop.clear()
        for job in self.jobs:
            thread = threading.Thread(target=self._loop, args=(job,), name=f"leadstats-{job.name}", daemon=True)
            thread.start()
            self._threads.append(thread)
            log.info("schedule started", extra={"fields": {"job": job.name, "every": job.timing.text}})

    def _loop(self, job: Job) -> None:
        fire = job.timing.first(datetime.now(UTC))
        while not self._stop.is_set():
            with job._lock:
                job.next_run = fire
            while not self._stop.is_set():
                wait = (fire - datetime.now(UTC)).total_seconds()
                if wait <= 0:
                    break
                self._stop.wait(min(wait, 30.0))
            if self._stop.is_set():
                return
            job.tick(fire)
            fire = job.timing.after(fire)
            now = datetime.now(UTC)
            if fire < now:  # a run longer than the interval: skip the missed ticks, do not pile up
                fire = job.timing.after(now) if job.timing.cron else now
        with job._lock:
            job.next_run = None

    def stop(self, timeout: float = 60.0) -> None:
        self._stop.set()
        deadline = time.monotonic() + timeout
        for thread in self._threads:
            thread.join(timeout=max(0.0, deadline - time.monotonic()))
        self._threads.clear()

    def hook(self) -> Callable[[], AbstractAsyncContextManager[None]]:
        """A lifespan hook (``app.state.lifespan_hooks``): the jobs run while the server does."""

        @asynccontextmanager
        async def lifespan() -> AsyncIterator[None]:
            self.start()
            try:
                yield
            finally:
                await run_in_threadpool(self.stop)

        return lifespan

    def register_metrics(self, registry: CollectorRegistry) -> None:
        gauges = [
            ("leadstats_schedule_last_run_timestamp_seconds", "When the job last started (Unix time)", "last_run"),
            ("leadstats_schedule_last_success_timestamp_seconds", "When the job last succeeded", "last_ok"),
            ("leadstats_schedule_next_run_timestamp_seconds", "When the job runs next", "next_run"),
        ]
        for name, text, attr in gauges:
            gauge = Gauge(name, text, ["job"], registry=registry)
            for job in self.jobs:
                gauge.labels(job=job.name).set_function(_stamp(job, attr))
        for name, text, attr in (
            ("leadstats_schedule_runs", "Runs of the job since the server started", "runs"),
            ("leadstats_schedule_failures", "Failed runs since the server started", "failures"),
            ("leadstats_schedule_last_run_failed", "1 if the job's last run failed, else 0", "failed"),
        ):
            gauge = Gauge(name, text, ["job"], registry=registry)
            for job in self.jobs:
                gauge.labels(job=job.name).set_function(_number(job, attr))


def _stamp(job: Job, attr: str) -> Callable[[], float]:
    def read() -> float:
        at = getattr(job, attr)
        return at.timestamp() if at else float("nan")

    return read


def _number(job: Job, attr: str) -> Callable[[], float]:
    def read() -> float:
        if attr == "failed":
            return 1.0 if job.last_error else 0.0
        return float(getattr(job, attr))

    return read


# -- the jobs --------------------------------------------------------------------------------------
def sync_d1_job(ls: LeadStats, settings: Settings) -> Job | None:
    source = settings.sync_d1_source
    if not source:
        return None
    from ..sources.d1 import import_d1
    from ..sources.mapping import load_mapping

    timing = Timing.parse(settings.sync_d1_every or "5m", settings.timezone, "LEADSTATS_SYNC_D1_EVERY")
    maps = load_mapping(settings.sync_d1_mapping)  # a bad mapping file refuses the start, not the first tick
    prefix = settings.sync_d1_prefix

    def run(fired: datetime) -> str:
        report = import_d1(ls, source, mapping=maps.d1, prefix=prefix)
        outcome = (f"imported {report.accepted:,} events, {report.duplicates:,} already stored,"
                   f" {report.error_count:,} unreadable, {report.seconds:.1f}s")
        if report.error_count:
            first = report.errors[0].line() if report.errors else ""
            raise InputError(f"{report.error_count:,} unreadable rows ({outcome}); first: {first}")
        return outcome

    return Job("sync_d1", timing, run)


def digest_job(ls: LeadStats, settings: Settings) -> Job | None:
    expr = settings.digest_cron
    if not expr:
        return None
    from croniter import croniter

    from ..insights.delivery import cron_period, make_digest, send

    if not croniter.is_valid(expr):
        raise InputError(f"LEADSTATS_DIGEST_CRON {expr!r} is not a cron expression", field="digest_cron")
    period = cron_period(expr, settings.timezone)
    target = settings.digest_send

    def run(fired: datetime) -> str:
        from ..model.timegrid import zone

        local = fired.astimezone(zone(settings.timezone))
        doc = make_digest(ls, settings, period=period, to=local.date(), tz=settings.timezone)
        if target is None:
            raise InputError(f"digest built for {doc['to']} but LEADSTATS_DIGEST_SEND is not set")
        info = send(doc, target)
        return f"sent the {period} digest to {doc['to']} ({info.get('status', 'ok')})"

    return Job("digest", Timing(expr, cron=expr, tz=settings.timezone), run)


def build_scheduler(ls: LeadStats, settings: Settings) -> Scheduler:
    jobs = [job for job in (sync_d1_job(ls, settings), digest_job(ls, settings)) if job is not None]
    return Scheduler(jobs)
