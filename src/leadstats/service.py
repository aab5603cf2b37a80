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
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa

from .errors import InputError
from .ingest.validate import RecordError, Validator
from .model import schema
from .model.report import ReportQuery, ReportResult
from .query.result import assemble
from .settings import Settings
from .store import AppendResult, Store, open_store


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

    @property
    def validator(self) -> Validator:
        if self._validator is None:
            self._validator = Validator()
        return self._validator

    # -- reports ---------------------------------------------------------------------------------
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
    ) -> ReportResult:
        """CONTRACT §3's Python form; returns a result whose ``to_dict()`` is the §4 document."""
        query = ReportQuery.create(
            start,
            end,
            timezone=timezone or self.settings.timezone,
            bucket=bucket,
            dimensions=dimensions,
            filters=filters,
            suspicious_min=suspicious_min,
        )
        return self.run(query)

    def query(self, doc: Mapping[str, Any]) -> ReportResult:
        """The JSON query form (HTTP ``POST /api/v1/query``, MCP ``lead_stats``)."""
        return self.run(ReportQuery.from_json(doc, default_timezone=self.settings.timezone))

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
        result.add(self.store.append(checked.good), checked.errors, checked.redacted)
        return result

    def ingest_table(self, table: pa.Table, rows: pa.Array | None = None) -> IngestResult:
        checked = self.validator.validate(table, rows)
        result = IngestResult()
        result.add(self.store.append(checked.good), checked.errors, checked.redacted)
        return result

    # -- lifecycle -------------------------------------------------------------------------------
    def close(self) -> None:
        self.store.close()

    def __enter__(self) -> LeadStats:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def connect(url: str | None = None, *, read_only: bool = False, settings: Settings | None = None) -> LeadStats:
    """Open a store by path or URL (default ``LEADSTATS_DB`` or ``./leadstats.duckdb``)."""
    settings = settings or Settings.from_env()
    return LeadStats(open_store(url or settings.db, read_only=read_only), settings)
