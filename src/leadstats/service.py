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
import logging
import os
import secrets
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence, Set
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, TypeVar

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from .errors import InputError, LeadStatsError, NotFound, QueryError, StoreError
from .ingest.pipeline import (
    LEAD_ID_SECRET_KEY,
    CheckedBatch,
    attribute,
    first_mask,
    first_per_id,
    hash_lead_id,
    owners,
    with_hashed_lead_id,
)
from .ingest.validate import STORE_SCHEMA, RecordError, Validator
from .model import schema
from .model.report import ReportQuery, ReportResult, parse_filter_expr
from .model.timegrid import from_us, zone
from .query.result import assemble
from .settings import Settings
from .store import AppendResult, Store, open_store
from .store.base import EditableStore, MaskedStore, OrderedStore, ReportLimits, SpannedStore
from .store.url import local_path, parse_url

log = logging.getLogger("leadstats.ingest")


@dataclass
class IngestResult:
    accepted: int = 0
    duplicates: int = 0
    rejected: list[RecordError] = field(default_factory=list)
    redacted: int = 0  # good records with a value replaced by the PII marker (ingest/pii.py)

    def add(self, appended: AppendResult, errors: Sequence[RecordError] = (), redacted: int = 0) -> None:
        self.accepted += appended.accepted
        self.duplicates += appended.duplicates
        self.rejected.extend(errors)
        self.redacted += redacted

    def add_result(self, other: IngestResult) -> None:
        self.accepted += other.accepted
        self.duplicates += other.duplicates
        self.rejected.extend(other.rejected)
        self.redacted += other.redacted

    def to_dict(self) -> dict[str, Any]:
        doc: dict[str, Any] = {
            "accepted": self.accepted,
            "duplicates": self.duplicates,
            "rejected": [e.to_dict() for e in self.rejected],
        }
        if self.redacted:
            doc["redacted"] = self.redacted
        return doc


class LeadStats:
    """A store plus the report engine. Thread-safe: reads run concurrently, writes are serialized."""

    def __init__(self, store: Store, settings: Settings | None = None) -> None:
        self.store = store
        self.settings = settings or Settings.from_env()
        self._validator: Validator | None = None
        self._secret: bytes | None = None
        self._secret_lock = threading.Lock()
        # Reports share the engine with ingest and health: at most this many run at once.
        self._report_slots = threading.BoundedSemaphore(max(self.settings.report_concurrency, 1))

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
        cancel: threading.Event | None = None,
        **options: Any,
    ) -> ReportResult:
        """CONTRACT §3's Python form; returns a result whose ``to_dict()`` is the §4 document.

        ``filters`` takes the JSON form (``[["is", "country", ["IN"]]]``) or the CLI/URL expressions
        (``["country=IN", "source!=direct"]``); further ``options`` go to :meth:`ReportQuery.create`
        (``rates=True`` adds the five rates); ``cancel`` stops the engine when set (see :meth:`run`)."""
        return self.run(self.build_query(start, end, timezone=timezone, bucket=bucket, dimensions=dimensions,
                                         filters=filters, suspicious_min=suspicious_min, **options), cancel=cancel)

    def query(self, doc: Mapping[str, Any], *, cancel: threading.Event | None = None) -> ReportResult:
        """The JSON query form (HTTP ``POST /api/v1/query``, MCP ``lead_stats``)."""
        return self.run(self.build_json_query(doc), cancel=cancel)

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

    def run(self, query: ReportQuery, *, cancel: threading.Event | None = None) -> ReportResult:
        """Answer a query within the report limits (``Settings.report_*``); ``cancel`` stops it early."""
        started = time.perf_counter()
        limits = ReportLimits(self.settings.report_max_rows, self.settings.report_timeout_s, cancel)
        if not self._report_slots.acquire(timeout=limits.timeout_s or None):
            raise StoreError(f"{self.settings.report_concurrency} reports are running already; retry shortly")
        try:
            grouped = self.store.report_rows(query, limits)
        finally:
            self._report_slots.release()
        if limits.max_rows and len(grouped.rows) > limits.max_rows:
            raise limits.too_many(len(grouped.rows))
        result = assemble(query, grouped.rows, {"backend": self.store.backend})
        result.meta["elapsed_ms"] = round((time.perf_counter() - started) * 1000, 2)
        return result

    def schema(self) -> dict[str, Any]:
        return schema.describe()

    def health(self) -> dict[str, Any]:
        return self.store.health()

    # -- ingest: the one pipeline (validate -> hash lead_id -> first per id -> stored ids -> append) --
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
        return self.commit(self.check_json([lines], [rows]))[0]

    def ingest_table(self, table: pa.Table, rows: pa.Array | None = None) -> IngestResult:
        """Validate and store records given as columns (any Arrow types; see ``Validator.validate``)."""
        return self.commit(self.check_table(table, rows))[0]

    def ingest_rows(self, table: pa.Table) -> IngestResult:
        """Store rows already in store schema and valid by construction (the demo): every pipeline
        step but validation runs (``lead_id`` hashed, first occurrence per id, stored-id check)."""
        good = table.select(STORE_SCHEMA.names).cast(STORE_SCHEMA)
        good = self._hashed(good)
        return self.commit(CheckedBatch(good, [good.num_rows], [[]], [good.num_rows]))[0]

    def check_json(self, parts: Sequence[pa.Array], rows: Sequence[pa.Array] | None = None) -> CheckedBatch:
        """Step 1 for JSON texts: validate one or more parts in one pass (the HTTP writer passes one part
        per request), hash ``lead_id``; ``rows[i]`` numbers part ``i``'s records (default 0-based)."""
        sizes = [len(p) for p in parts]
        lines = parts[0] if len(parts) == 1 else pa.concat_arrays([p.cast(pa.string()) for p in parts])
        positions = pa.array(np.arange(sum(sizes), dtype=np.int64))
        result = self.validator.validate_json_lines(lines, positions)
        checked = attribute(result, sizes, list(rows) if rows is not None else None)
        checked.good = self._hashed(checked.good)
        return checked

    def check_table(self, table: pa.Table, rows: pa.Array | None = None) -> CheckedBatch:
        """Step 1 for columns: validate, hash ``lead_id``; ``rows`` numbers the records (default 1-based)."""
        result = self.validator.validate(table, rows)
        good = self._hashed(result.good)
        return CheckedBatch(good, [good.num_rows], [result.errors], [table.num_rows], [result.redacted])

    def check_new(self, records: pa.Table | pa.Array, rows: pa.Array) -> CheckedBatch:
        """Step 1 for bulk imports (one part; ``records`` a table as for :meth:`check_table` or JSON texts
        as for :meth:`check_json`): records whose ``event_id`` is stored already are still checked, and a bad
        one is refused exactly as anywhere else, but the good ones are only counted (``stored``: duplicates)
        and never normalized, screened for personal data, hashed or sent to the store, so a re-import does
        the least work. Columns are looked up before validation (the stored rows get the checks only,
        no output rows); JSON texts after it (the ids are inside the text).

        Nothing depends on the look-up being current: an id stored after it is still found by the store's
        own check inside the append."""
        if isinstance(records, pa.Table):
            stored = self._stored_mask(_raw_ids(records))
            if not stored.any():
                return self.check_table(records, rows)
            old = pa.array(stored)
            new = pa.array(~stored)
            bad = self.validator.validate(records.filter(old), rows.filter(old), errors_only=True).errors
            checked = (self.check_table(records.filter(new), rows.filter(new)) if not stored.all()
                       else CheckedBatch(STORE_SCHEMA.empty_table(), [0], [[]], [0], [0]))
            errors = sorted([*checked.errors[0], *bad], key=lambda e: e.row)
            known = int(stored.sum()) - len(bad)
            return CheckedBatch(checked.good, checked.counts, [errors], [len(records)], checked.redacted, [known])
        result = self.validator.validate_json_lines(records, rows)
        stored = self._stored_mask(result.good.column("event_id").combine_chunks())
        good, redacted = result.good, result.redacted
        if stored.any():
            good = good.filter(pa.array(~stored))
            if redacted:  # only the records that go on to the store count as redacted
                refused = pa.array([e.row for e in result.errors], pa.int64())
                good_rows = pc.filter(rows, pc.invert(pc.is_in(rows, value_set=refused)))
                dropped = set(pc.filter(good_rows, pa.array(stored)).to_pylist())
                redacted = sum(1 for row in result.redacted_rows if row not in dropped)
        good = self._hashed(good)
        return CheckedBatch(good, [good.num_rows], [result.errors], [len(records)], [redacted], [int(stored.sum())])

    def _stored_mask(self, ids: pa.Array) -> np.ndarray:
        """Which ids (exact text; null: no) are stored, as a numpy mask. Only a store that answers for a
        whole column at once is asked (DuckDB); for the others (one round trip per id list) nothing is
        known here and the store's own check in the append finds every duplicate, as before."""
        store = self._backend(create=False)
        if not isinstance(store, MaskedStore) or not len(ids):
            return np.zeros(len(ids), dtype=bool)
        return pc.fill_null(store.stored_mask(ids), False).to_numpy(zero_copy_only=False)

    def _backend(self, *, create: bool) -> Store | None:
        """The store, or the real one behind a :class:`PendingStore` (created first when ``create``;
        None while it does not exist)."""
        if isinstance(self.store, PendingStore):
            return self.store.writable() if create else self.store.opened
        return self.store

    def commit(self, checked: CheckedBatch) -> list[IngestResult]:
        """Step 2: first occurrence per id, stored-id check, one append; one result per part."""
        good, counts, errors = checked.good, checked.counts, checked.errors
        if checked.parts == 1:  # the store checks stored ids inside its own transaction
            new = first_mask(good.column("event_id"))
            repeated = int((~new).sum())
            appended = self.store.append(good if not repeated else good.filter(pa.array(new)))
            duplicates = appended.duplicates + repeated + checked.stored_in(0)
            return [IngestResult(appended.accepted, duplicates, errors[0], checked.redacted_in(0))]
        ids = good.column("event_id")
        new = first_mask(ids)
        # A MaskedStore (DuckDB) tells which ids it had already from inside the append's transaction: one
        # look-up, and exact; for the others the ids are looked up first.
        told = good.num_rows > 0 and isinstance(self._backend(create=True), MaskedStore)
        if not told and good.num_rows:
            _drop_stored(ids, new, self.store.stored_ids(ids.to_pylist()))
        appended = self.store.append(good.filter(pa.array(new)))
        if told:
            _drop_stored(ids, new, appended.stored or frozenset())
        accepted = np.bincount(owners(counts)[new], minlength=len(counts)).astype(np.int64)
        shortfall = int(accepted.sum()) - appended.accepted
        if shortfall:  # another writer in this process stored some of these ids in between
            log.warning("ingest: %d ids were stored concurrently by another writer", shortfall)
            for i in reversed(range(len(counts))):
                take = min(shortfall, int(accepted[i]))
                accepted[i] -= take
                shortfall -= take
        return [
            IngestResult(int(acc), count - int(acc) + checked.stored_in(i), errs, checked.redacted_in(i))
            for i, (acc, count, errs) in enumerate(zip(accepted, counts, errors, strict=True))
        ]

    def warm_up(self) -> None:
        """Run the validator once (country table, query plan) so the first real batch is not slow."""
        self.validator.validate_json_lines(pa.array(["{}"]), pa.array([0], pa.int64()))

    def lead_id_secret(self) -> bytes:
        """The store's HMAC key for ``lead_id``, made once (32 random bytes) and kept in its state."""
        with self._secret_lock:
            if self._secret is None:
                value = self.store.get_state(LEAD_ID_SECRET_KEY)
                if not value:
                    value = secrets.token_hex(32)
                    self.store.set_state(LEAD_ID_SECRET_KEY, value)
                self._secret = bytes.fromhex(value)
            return self._secret

    def _hashed(self, good: pa.Table) -> pa.Table:
        column = good.column("lead_id")
        if column.null_count == len(column):
            return good
        return with_hashed_lead_id(good, self.lead_id_secret())

    # -- store upkeep for sources and the CLI (nothing outside this file calls a store method) -------
    @property
    def backend(self) -> str:
        return self.store.backend

    @property
    def read_only(self) -> bool:
        return bool(self.store.read_only)

    def _editable(self, verb: str) -> EditableStore:
        if not isinstance(self.store, EditableStore):
            raise StoreError(f"the {self.store.backend} backend cannot {verb} events")
        return self.store

    def get_state(self, key: str) -> str | None:
        """Small key/value state kept with the data (import watermarks)."""
        return self.store.get_state(key)

    def set_state(self, key: str, value: str) -> None:
        self.store.set_state(key, value)

    def stored_ids(self, ids: Sequence[str]) -> set[str]:
        """Which of ``ids`` are stored (exact string comparison)."""
        return self.store.stored_ids(list(ids)) if ids else set()

    def delete_events(self, ids: Sequence[str]) -> int:
        """Remove stored events by id (rollups kept exact); how many were removed. Used by the D1
        importer when a late primary submission replaces a lead it had counted as legacy."""
        return int(self._editable("delete").delete(list(ids))) if ids else 0

    def primary_lead_ids(self, lead_ids: Sequence[str], id_prefix: str) -> set[str]:
        """Which of these raw lead identities have a stored primary event whose id starts with
        ``id_prefix`` (hashed here exactly as the pipeline stores them)."""
        raw = sorted(set(lead_ids))
        if not raw:
            return set()
        secret = self.lead_id_secret()
        by_hash = {hash_lead_id(secret, x): x for x in raw}
        return {by_hash[h] for h in self.stored_primary_leads(sorted(by_hash), id_prefix) if h in by_hash}

    def stored_primary_leads(self, stored_lead_ids: Sequence[str], id_prefix: str) -> set[str]:
        """:meth:`primary_lead_ids` for ``lead_id`` values as stored (hashed)."""
        if not stored_lead_ids or not isinstance(self.store, EditableStore):
            return set()
        return set(self.store.primary_lead_ids(list(stored_lead_ids), id_prefix))

    def lead_events(self, lead_ids: Sequence[str], id_prefix: str) -> pa.Table:
        """Stored rows (store form: ``lead_id`` hashed) of these raw lead identities whose event ids start
        with ``id_prefix``."""
        raw = sorted(set(lead_ids))
        if not raw:
            return STORE_SCHEMA.empty_table()
        secret = self.lead_id_secret()
        return self.stored_lead_events(sorted({hash_lead_id(secret, x) for x in raw}), id_prefix)

    def stored_lead_events(self, stored_lead_ids: Sequence[str], id_prefix: str) -> pa.Table:
        """:meth:`lead_events` for ``lead_id`` values as stored (hashed)."""
        if not stored_lead_ids or not isinstance(self.store, EditableStore):
            return STORE_SCHEMA.empty_table()
        return self.store.lead_events(list(stored_lead_ids), id_prefix)

    def replace_rows(self, batch: pa.Table) -> AppendResult:
        """Store rows in store form (``lead_id`` already hashed) over the stored rows of the same ids."""
        return self._editable("replace").replace(first_per_id(batch.select(STORE_SCHEMA.names).cast(STORE_SCHEMA)))

    def data_span(self) -> tuple[datetime, datetime] | None:
        """When the stored events begin and end (UTC ``occurred_at`` of the first and last), or None for
        an empty store or a backend that cannot tell cheaply (Analytics Engine). Front ends use it to say
        where the data is when a window is empty."""
        found = self.store.time_span() if isinstance(self.store, SpannedStore) else None
        if not found:
            return None
        return from_us(found[0]).replace(tzinfo=UTC), from_us(found[1]).replace(tzinfo=UTC)

    def data_span_doc(self, tz: str | None = None) -> dict[str, Any]:
        """:meth:`data_span` in local time: ``first``/``last`` (ISO instants in ``tz``) and
        ``first_day``/``last_day`` (local dates), all None for an empty store."""
        name = self.timezone(tz)
        span = self.data_span()
        doc: dict[str, Any] = {"timezone": name, "first": None, "last": None, "first_day": None, "last_day": None}
        if span is not None:
            first, last = (at.astimezone(zone(name)) for at in span)
            doc |= {"first": first.isoformat(), "last": last.isoformat(),
                    "first_day": first.date().isoformat(), "last_day": last.date().isoformat()}
        return doc

    def count(self) -> int:
        """Stored events (sum of weights)."""
        return self.store.count()

    def optimize(self) -> int:
        """Rewrite the events in time order; returns the event count. Refused where the backend keeps
        its own order."""
        if not isinstance(self.store, OrderedStore):
            raise StoreError(f"the {self.store.backend} backend keeps its own order; nothing to do")
        self.store.optimize()
        return self.store.count()

    def scan_rows(self, batch_size: int = 100_000, after: str | None = None) -> Iterator[pa.Table]:
        """Stored rows as Arrow tables in ``event_id`` order (for copying between stores)."""
        return iter(self.store.scan(batch_size, after=after))

    def copy_rows(self, batch: pa.Table) -> AppendResult:
        """Store rows scanned from another leadstats store as they are (already validated and hashed)."""
        return self.store.append(first_per_id(batch))

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
    A file that is not a readable store is a :class:`StoreError` naming it. While ``leadstats serve``
    holds the store, the answer is a client of that server (:mod:`leadstats.remote`, docs/deployment.md)."""
    from .remote import open_service

    settings = settings or Settings.from_env()
    target = url or settings.db
    path = local_path(target)
    if path is not None and not create and not os.path.exists(path):
        if read_only:
            raise NotFound(missing_store_message(path))
        return LeadStats(PendingStore(target, path, settings), settings)
    return open_service(target, read_only=read_only, settings=settings)


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
    def report_rows(self, query: ReportQuery, limits: ReportLimits | None = None) -> Any:
        return self._real(create=False).report_rows(query, limits)

    def count(self) -> int:  # an honest 0 (a server's /healthz before its first event), not a report
        if self._store is None and not os.path.exists(self.path):
            return 0
        return self._real(create=False).count()

    def health(self) -> dict[str, Any]:  # a server before its first event is healthy, with nothing stored
        if self._store is None and not os.path.exists(self.path):
            return {"backend": self.backend, "path": self.path, "rows": 0, "events": 0, "writable": True,
                    "created": False}
        return self._real(create=False).health()

    def scan(self, batch_size: int = 100_000, after: str | None = None) -> Any:
        return self._real(create=False).scan(batch_size, after)

    # what a writer asks before its first write: nothing is stored yet
    def stored_ids(self, ids: list[str]) -> set[str]:
        return self._store.stored_ids(ids) if self._store is not None else set()

    def get_state(self, key: str) -> str | None:
        return self._store.get_state(key) if self._store is not None else None

    # writes create it
    def writable(self) -> Store:
        """The real store, created if it does not exist yet."""
        return self._real(create=True)

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


def _drop_stored(ids: pa.ChunkedArray, new: np.ndarray, stored: Set[str]) -> None:
    """Clear ``new`` (in place) where the id is one of ``stored``."""
    if stored:
        found = pc.is_in(ids, value_set=pa.array(sorted(stored), pa.string()))
        new &= ~found.to_numpy(zero_copy_only=False)


def _raw_ids(table: pa.Table) -> pa.Array:
    """The ``event_id`` column as sent, as text (all null when absent or not text-like): an id that
    matches a stored one exactly is that stored id once validated (an id with spaces around it is refused)."""
    if "event_id" not in table.column_names:
        return pa.nulls(table.num_rows, pa.string())
    column = table.column("event_id").combine_chunks()
    if pa.types.is_string(column.type):
        return column
    try:
        return column.cast(pa.string())
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return pa.nulls(table.num_rows, pa.string())


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
