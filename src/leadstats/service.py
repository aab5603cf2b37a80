"""The one service every front end calls: CLI, HTTP API, dashboard, MCP and digest.

>>> import leadstats
>>> ls = leadstats.connect(":memory:")
>>> ls.ingest([{"event_id": "e1", "event_type": "primary", "occurred_at": "2026-03-07T05:00:00Z"}]).accepted
1
>>> ls.report("2026-03-07", "2026-03-08", bucket="1d").totals["primary"]
1
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

import pyarrow as pa

from .errors import InputError, LeadStatsError, NotFound, QueryError, StoreError
from .ingest.validate import RecordError, Validator
from .model import schema
from .model.report import ReportQuery, ReportResult, parse_filter_expr
from .model.timegrid import zone
from .query.result import assemble
from .settings import Settings
from .store import AppendResult, Store, open_store
from .store.url import local_path, parse_url


@dataclass
class IngestResult:
    accepted: int = 0
    duplicates: int = 0
    rejected: list[RecordError] = field(default_factory=list)

    def add(self, appended: AppendResult, errors: Sequence[RecordError] = ()) -> None:
        self.accepted += appended.accepted
        self.duplicates += appended.duplicates
        self.rejected.extend(errors)

    def add_result(self, other: IngestResult) -> None:
        self.accepted += other.accepted
        self.duplicates += other.duplicates
        self.rejected.extend(other.rejected)

    def to_dict(self) -> dict[str, Any]:
        return {
            "accepted": self.accepted,
            "duplicates": self.duplicates,
            "rejected": [e.to_dict() for e in self.rejected],
        }


class LeadStats:
    """A store plus the report engine. Thread-safe: reads run concurrently, writes are serialized."""

    def __init__(self, store: Store, settings: Settings | None = None) -> None:
        self.store = store
        self.settings = settings or Settings.from_env()
        self._validator: Validator | None = None

    @property
    def validator(self) -> Validator:
        if self._validator is None:
            self._validator = Validator()
        return self._validator

    # -- reports ---------------------------------------------------------------------------------
    # Every front end asks through report() (keyword form: CLI, HTTP GET, Python) or query() (JSON
    # form: HTTP POST, MCP), so defaults (time zone from Settings, suspicious_min from the model) and
    # every refusal are decided here and in model/, once, with the same words for every front end.
    def report(
        self,
        start: Any,
        end: Any,
        *,
        timezone: str | None = None,
        bucket: str | None = None,
        dimensions: str | Sequence[str] | None = None,
        filters: Any = None,
        suspicious_min: Any = None,
        **options: Any,
    ) -> ReportResult:
        """CONTRACT §3's Python form; returns a result whose ``to_dict()`` is the §4 document.

        ``filters`` takes the JSON form (``[["is", "country", ["IN"]]]``) or the CLI/URL expressions
        (``["country=IN", "source!=direct"]``); further ``options`` go to :meth:`ReportQuery.create`."""
        return self.run(self.build_query(start, end, timezone=timezone, bucket=bucket, dimensions=dimensions,
                                         filters=filters, suspicious_min=suspicious_min, **options))

    def query(self, doc: Mapping[str, Any]) -> ReportResult:
        """The JSON query form (HTTP ``POST /api/v1/query``, MCP ``lead_stats``)."""
        return self.run(self.build_json_query(doc))

    def build_query(self, start: Any, end: Any, *, timezone: str | None = None, filters: Any = None,
                    **options: Any) -> ReportQuery:
        """The validated query :meth:`report` would run (for front ends that need it before running)."""
        if isinstance(filters, (list, tuple)) and filters and all(isinstance(f, str) for f in filters):
            filters = [parse_filter_expr(f) for f in filters]
        return _checked(_refused_as_query_error(
            lambda: ReportQuery.create(start, end, timezone=timezone or self.settings.timezone, filters=filters,
                                       **options)
        ))

    def build_json_query(self, doc: Mapping[str, Any]) -> ReportQuery:
        return _checked(
            _refused_as_query_error(lambda: ReportQuery.from_json(doc, default_timezone=self.settings.timezone))
        )

    def timezone(self, tz: str | None = None) -> str:
        """``tz`` checked, or the configured default (``LEADSTATS_TZ``): the one place it is resolved."""
        name = tz or self.settings.timezone
        zone(name)
        return name

    def run(self, query: ReportQuery) -> ReportResult:
        started = time.perf_counter()
        grouped = self.store.report_rows(query)
        result = assemble(query, grouped.rows, {"backend": self.store.backend})
        result.meta["elapsed_ms"] = round((time.perf_counter() - started) * 1000, 2)
        return result

    def schema(self) -> dict[str, Any]:
        return schema.describe()

    def health(self) -> dict[str, Any]:
        return self.store.health()

    # -- ingest ----------------------------------------------------------------------------------
    def ingest(self, records: Iterable[Mapping[str, Any]]) -> IngestResult:
        """Validate and store event dicts; bad ones are reported by index (0-based), good ones kept."""
        lines = []
        for i, rec in enumerate(records):
            if not isinstance(rec, Mapping):
                lines.append("null")
                continue
            try:
                lines.append(json.dumps(rec, default=str))
            except (TypeError, ValueError) as exc:
                raise InputError(f"record {i}: cannot be encoded: {exc}") from None
        return self.ingest_json_texts(lines, start_index=0)

    def ingest_json_texts(self, texts: Sequence[str], *, start_index: int = 0) -> IngestResult:
        rows = pa.array(range(start_index, start_index + len(texts)), pa.int64())
        return self.ingest_json_lines(pa.array(texts, pa.string()), rows)

    def ingest_json_lines(self, lines: pa.Array, rows: pa.Array) -> IngestResult:
        """Validate and store JSON object texts; ``rows`` numbers them for error messages."""
        checked = self.validator.validate_json_lines(lines, rows)
        result = IngestResult()
        result.add(self.store.append(checked.good), checked.errors)
        return result

    def ingest_table(self, table: pa.Table, rows: pa.Array | None = None) -> IngestResult:
        checked = self.validator.validate(table, rows)
        result = IngestResult()
        result.add(self.store.append(checked.good), checked.errors)
        return result

    # -- lifecycle -------------------------------------------------------------------------------
    def close(self) -> None:
        self.store.close()

    def __enter__(self) -> LeadStats:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def connect(
    url: str | None = None, *, read_only: bool = False, create: bool = False, settings: Settings | None = None
) -> LeadStats:
    """Open a store by path or URL (default ``LEADSTATS_DB`` or ``./leadstats.duckdb``).

    A local store (DuckDB or chDB path) that does not exist is never created by reading, so a typo never
    reports zeros from a new empty file: a report on it raises :class:`NotFound` (``read_only=True``
    raises at once); the first write (``ingest``, imports) creates it, and ``create=True`` creates it now.
    A file that is not a readable store is a :class:`StoreError` naming it."""
    settings = settings or Settings.from_env()
    target = url or settings.db
    path = local_path(target)
    if path is not None and not create and not os.path.exists(path):
        if read_only:
            raise NotFound(missing_store_message(path))
        return LeadStats(PendingStore(target, path, settings), settings)
    return LeadStats(_open(target, path, read_only, settings), settings)


def missing_store_message(path: str) -> str:
    return f"no leadstats store at {path}: import events first, pass --db, or connect(..., create=True)"


def _open(target: str, path: str | None, read_only: bool, settings: Settings) -> Store:
    try:
        return open_store(target, read_only=read_only, settings=settings)
    except (LeadStatsError, ImportError):
        raise
    except Exception as exc:  # the engine's own error for a damaged file: one line naming the file
        raise StoreError(f"cannot open the store {path or target}: {_first_line(exc)}") from None


class PendingStore:
    """A local store that does not exist yet: reads refuse (:class:`NotFound`, never zeros from a new
    empty file) and the first write creates it (``ingest``, imports). Once it exists, it is the store."""

    def __init__(self, url: str, path: str, settings: Settings) -> None:
        self.url, self.path, self._settings = url, path, settings
        self.backend = parse_url(url).scheme
        self.read_only = False
        self._store: Store | None = None

    def _real(self, *, create: bool) -> Store:
        if self._store is None:
            if not create and not os.path.exists(self.path):
                raise NotFound(missing_store_message(self.path))
            self._store = _open(self.url, self.path, False, self._settings)
        return self._store

    # reads: refused while the store does not exist
    def report_rows(self, query: ReportQuery) -> Any:
        return self._real(create=False).report_rows(query)

    def count(self) -> int:  # an honest 0 (a server's /healthz before its first event), not a report
        if self._store is None and not os.path.exists(self.path):
            return 0
        return self._real(create=False).count()

    def health(self) -> dict[str, Any]:
        return self._real(create=False).health()

    def scan(self, batch_size: int = 100_000, after: str | None = None) -> Any:
        return self._real(create=False).scan(batch_size, after)

    # what a writer asks before its first write: nothing is stored yet
    def stored_ids(self, ids: list[str]) -> set[str]:
        return self._store.stored_ids(ids) if self._store is not None else set()

    def get_state(self, key: str) -> str | None:
        return self._store.get_state(key) if self._store is not None else None

    # writes create it
    def append(self, batch: pa.Table) -> AppendResult:
        return self._real(create=True).append(batch)

    def set_state(self, key: str, value: str) -> None:
        self._real(create=True).set_state(key, value)

    @property
    def opened(self) -> Store | None:
        """The real store once it exists and is open."""
        return self._store

    def __getattr__(self, name: str) -> Any:  # backend-specific extras (schema_version, ...)
        if name == "_store":
            raise AttributeError(name)
        if self._store is not None:
            return getattr(self._store, name)
        if name.startswith("_"):
            raise AttributeError(name)
        return getattr(self._real(create=False), name)

    def close(self) -> None:
        if self._store is not None:
            self._store.close()


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return (text[0] if text else type(exc).__name__)[:300]


_T = TypeVar("_T")
SCORE_BOUND = 1e9  # suspicion scores are 0..100; a threshold beyond this is a typo, refused by every front end


def _checked(query: ReportQuery) -> ReportQuery:
    if not -SCORE_BOUND <= query.suspicious_min <= SCORE_BOUND:
        raise QueryError(
            f"suspicious_min must be between -1e9 and 1e9 (scores are 0..100), got {query.suspicious_min:g}",
            field="suspicious_min",
        )
    return query


def _refused_as_query_error(build: Callable[[], _T]) -> _T:
    """Build a query; a date or number beyond what Python or the engine can hold (year 1, 1e308) is
    bad input (a QueryError, 400 on HTTP, exit 2 in the CLI), never a server error or a traceback."""
    try:
        return build()
    except (OverflowError, ValueError) as exc:
        raise QueryError(f"a date or number is out of range ({exc})") from None
