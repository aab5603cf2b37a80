"""Import Workers Analytics Engine exports: the output of the AE SQL API (CONTRACT §5).

Accepted files: ``FORMAT JSON`` (``{"meta": [...], "data": [...], "rows": N}``; ``data`` rows may be
objects or, as in ``JSONCompact``, arrays in ``meta`` order), ``FORMAT JSONEachRow`` (one object per line)
and a plain JSON array of objects. Numbers may arrive as strings (``"_sample_interval": "10"``).

Weights: AE samples, and a row stands for ``_sample_interval`` events. Each row is stored once with
``weight = _sample_interval``; every metric of the store is a sum of weights, so counts equal
``SUM(_sample_interval)`` exactly.

Event ids: AE rows carry none, so one is derived from the row's content:
``ae:<first 32 hex of SHA-256 over timestamp, index1, _sample_interval and every non-empty blob and
non-zero double>:<n>``, where ``n`` counts identical rows within one export (1, 2, ...). Two identical data
points in one export stay two events; re-importing the same or an overlapping export gives the same ids,
so nothing is added twice. Limits (see docs/importing.md): identical data points must be either all in an
export or all outside it (true for any export bounded by time, since identical points share their
timestamp; not for one cut by ``LIMIT``), and AE must return the same sampled rows each time.

A FORMAT JSON export cut by a ``LIMIT`` (``rows`` < ``rows_before_limit_at_least``) is refused. Data points
of another shape in the dataset (page views: no known ``event_type`` blob and no primary flag) are
skipped and counted in the summary line; they do not fail the import.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import IO, Any

import pyarrow as pa

from ..errors import InputError
from ..ingest.validate import RecordError
from ..model.schema import EVENT_TYPES
from ..service import LeadStats
from .mapping import AE_COLUMNS, AEMapping

BATCH = 50_000
_STRING_FIELDS = (
    "project", "source", "referer", "cta", "phone_country_code", "utm_source", "utm_medium", "utm_campaign",
    "utm_term", "utm_content", "engagement_label", "country", "city", "region",
)


@dataclass
class AEImportReport:
    path: str
    rows: int = 0
    accepted: int = 0
    duplicates: int = 0
    events: int = 0  # sum of _sample_interval over the rows read (what the rows stand for)
    not_leads: int = 0  # data points of another shape (page views...): no event type and no primary flag
    errors: list[RecordError] = field(default_factory=list)

    def error_lines(self) -> Iterator[str]:
        for err in self.errors:
            yield f"{self.path}: row {err.row}: {err.field}: {err.message}"

    def summary(self) -> str:
        other = (f", skipped {self.not_leads:,} non-lead data points (no event type, no primary flag)"
                 if self.not_leads else "")
        return (f"{self.path}: read {self.rows:,} rows standing for {self.events:,} events, imported"
                f" {self.accepted:,} rows, skipped {self.duplicates:,} already stored{other},"
                f" rejected {len(self.errors):,}")


def _number(value: Any) -> float | None:
    if value is None or value == "":
        return None
    try:
        out = float(value)
    except (TypeError, ValueError):
        return None
    return out if math.isfinite(out) else None


def parse_timestamp(value: Any) -> datetime | None:
    """AE's ``'2026-03-07 10:15:00'`` (UTC), ISO 8601 with ``Z``/offset, or Unix seconds."""
    if value is None or value == "":
        return None
    if isinstance(value, (int, float)) or (isinstance(value, str) and value.strip().replace(".", "", 1).isdigit()):
        try:
            return datetime.fromtimestamp(float(value), UTC)
        except (OverflowError, OSError, ValueError):
            return None
    try:
        when = datetime.fromisoformat(str(value).strip())
    except ValueError:
        return None
    return when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)


def _canonical(column: str, value: Any) -> str | None:
    """The text a column contributes to the event id; None for an empty blob or a zero double."""
    if value is None:
        return None
    if column.startswith("double") or column == "_sample_interval":
        num = _number(value)
        if num is None:
            return str(value)
        return None if num == 0 and column.startswith("double") else repr(num)
    if column == "timestamp":
        when = parse_timestamp(value)
        return when.isoformat() if when else str(value)
    text = str(value)
    return text if text != "" else None


def row_digest(row: dict[str, Any]) -> str:
    """The content part of an AE event id (see the module doc)."""
    parts = []
    for column in AE_COLUMNS:
        text = _canonical(column, row.get(column))
        if text is not None:
            parts.append(f"{column}={text}")
    return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()[:32]


def _rows(path: str) -> Iterator[tuple[int, Any]]:
    """``(row number, row)`` from any of the accepted layouts; rows are dicts (or lists before meta)."""
    try:
        fh: IO[str] = open(path, encoding="utf-8")  # noqa: SIM115 - closed below
    except OSError as exc:
        raise InputError(f"{path}: {exc.strerror or exc}") from None
    with fh:
        first = ""
        for line in fh:
            if line.strip():
                first = line
                break
        if not first:
            return  # an empty JSONEachRow export: no rows
        try:
            head = json.loads(first)
        except ValueError:
            head = None
        if isinstance(head, dict) and not ({"meta", "data"} & set(head)):
            yield 1, head  # JSONEachRow
            for n, line in enumerate(fh, 2):
                if not line.strip():
                    continue
                try:
                    yield n, json.loads(line)
                except ValueError:
                    yield n, None
            return
        fh.seek(0)
        try:
            doc = json.load(fh)
        except ValueError as exc:
            raise InputError(f"{path}: not AE SQL API output (FORMAT JSON or JSONEachRow): {exc}") from None
    if isinstance(doc, list):
        yield from enumerate(doc, 1)
        return
    if not isinstance(doc, dict) or not isinstance(doc.get("data"), list):
        raise InputError(f"{path}: no \"data\" list: expected FORMAT JSON or FORMAT JSONEachRow output")
    _refuse_cut(path, doc)
    names = [m.get("name") for m in doc.get("meta") or [] if isinstance(m, dict)]
    for n, row in enumerate(doc["data"], 1):
        yield n, dict(zip(names, row, strict=False)) if isinstance(row, list) else row


def _refuse_cut(path: str, doc: dict[str, Any]) -> None:
    """A FORMAT JSON answer cut by a LIMIT (``rows`` < ``rows_before_limit_at_least``) is refused, as the
    live Analytics Engine backend refuses it: importing it would store a silently partial window."""
    held = len(doc["data"])
    rows = _number(doc.get("rows"))
    before = _number(doc.get("rows_before_limit_at_least"))
    if before is not None and before > min(held, rows if rows is not None else held):
        raise InputError(
            f"{path}: the export holds {held:,} of at least {int(before):,} rows (cut by a LIMIT): export a"
            " shorter window or raise the LIMIT; nothing was imported"
        )


_LEAD_TYPES = frozenset(t.lower() for t in EVENT_TYPES)


def is_lead_point(row: dict[str, Any], cols: dict[str, str | None]) -> bool:
    """False for data points of another shape in the same dataset (page views...): no known event type
    and no primary flag. Such points are skipped and counted, not rejected."""
    type_col, flag_col = cols.get("event_type"), cols.get("primary_flag")
    event_type = str(row.get(type_col) or "").strip().lower().replace("-", "_") if type_col else ""
    flag = str(row.get(flag_col) or "").strip() if flag_col else ""
    return event_type in _LEAD_TYPES or flag != ""


class _Batch:
    def __init__(self, mapping: AEMapping) -> None:
        self.cols = mapping.columns
        self.rows: list[int] = []
        self.values: dict[str, list[Any]] = {f: [] for f in ("event_id", "event_type", "occurred_at", "vpn",
                                                             "suspicion_score", "weight", "lead_id",
                                                             *_STRING_FIELDS)}

    def get(self, row: dict[str, Any], name: str) -> Any:
        column = self.cols.get(name)
        return row.get(column) if column else None

    def add(self, n: int, row: dict[str, Any], event_id: str) -> str | None:
        """Add one row; returns an error (field, message) text instead when it has no time or type."""
        when = parse_timestamp(self.get(row, "occurred_at"))
        if when is None:
            return f"occurred_at\tcannot read {self.cols.get('occurred_at')} {self.get(row, 'occurred_at')!r}"
        event_type = str(self.get(row, "event_type") or "").strip().lower() or None
        if event_type is None:
            flag = str(self.get(row, "primary_flag") or "").strip()
            num = _number(flag)
            event_type = "primary" if num == 1 else "follow_up" if num == 0 and flag != "" else None
            if event_type is None:
                return (f"event_type\t{self.cols.get('event_type')} is empty and {self.cols.get('primary_flag')}"
                        f" is not 1 or 0 ({flag!r})")
        v = self.values
        self.rows.append(n)
        v["event_id"].append(event_id)
        v["event_type"].append(event_type)
        v["occurred_at"].append(when.isoformat().replace("+00:00", "Z"))
        for name in _STRING_FIELDS:
            value = self.get(row, name)
            v[name].append(None if value is None else str(value))
        vpn = _number(self.get(row, "vpn"))
        v["vpn"].append(None if vpn is None else "true" if vpn != 0 else "false")
        score = self.get(row, "suspicion_score")
        v["suspicion_score"].append(None if score is None else str(score))
        weight = self.get(row, "weight")
        v["weight"].append("1" if weight in (None, "") else str(weight))
        lead = self.get(row, "lead_id")
        v["lead_id"].append(None if lead in (None, "") else str(lead))
        return None

    def table(self) -> pa.Table:
        """The rows as columns; ``lead_id`` raw (the ingest pipeline hashes it)."""
        return pa.table({k: pa.array(vals, pa.string()) for k, vals in self.values.items()})


def import_ae(ls: LeadStats, path: str, mapping: AEMapping | None = None) -> AEImportReport:
    """Import one AE SQL API export into ``ls``; rows are weighted by ``_sample_interval``."""
    mapping = mapping or AEMapping()
    report = AEImportReport(path)
    seen: Counter[str] = Counter()
    batch = _Batch(mapping)

    def flush() -> None:
        nonlocal batch
        if batch.rows:
            result = ls.ingest_table(batch.table(), pa.array(batch.rows, pa.int64()))
            report.accepted += result.accepted
            report.duplicates += result.duplicates
            report.errors.extend(result.rejected)
        batch = _Batch(mapping)

    for n, row in _rows(path):
        report.rows += 1
        if not isinstance(row, dict):
            report.errors.append(RecordError(n, None, "record", "is not a JSON object"))
            continue
        if not is_lead_point(row, mapping.columns):
            report.not_leads += 1
            continue
        weight = _number(row.get(mapping.columns.get("weight") or "_sample_interval"))
        report.events += int(weight) if weight and weight >= 1 else 1
        digest = row_digest(row)
        seen[digest] += 1
        event_id = f"ae:{digest}:{seen[digest]}"
        problem = batch.add(n, row, event_id)
        if problem:
            fld, _, msg = problem.partition("\t")
            report.errors.append(RecordError(n, event_id, fld, msg))
        if len(batch.rows) >= BATCH:
            flush()
    flush()
    report.errors.sort(key=lambda e: e.row)
    return report
