"""The D1 importer: reads each table in pages through a source, hands rows to the ingest pipeline."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.compute as pc

from ...errors import InputError, LeadStatsError
from ...ingest.pipeline import LEAD_ID_SECRET_KEY
from ...model.schema import EVENT_COLUMNS
from ...service import LeadStats
from ..mapping import D1_REQUIRED, D1_TABLES, D1Mapping
from ..prefetch import prefetch
from .pertable import SUBMISSIONS_WITHOUT_LEADS, SubmissionFiller
from .readers import D1Source, Page, open_source
from .sql import (
    TABLE_ORDER,
    TablePlan,
    count_sql,
    keys_sql,
    page_sql,
    plan_table,
    primary_ids_sql,
    rows_by_keys_sql,
    transform_sql,
)
from .threads import Writer

SECRET_KEY = LEAD_ID_SECRET_KEY
MAX_ERRORS_KEPT = 1000
_CHUNK = 16_384  # rows per Arrow chunk: lets DuckDB spread a page over its threads
_PREFIX = re.compile(r"^[A-Za-z0-9_.-]{1,40}$")

class IncompleteImport(LeadStatsError):
    """The source holds more rows than the import read: never a silent exit 0."""

    code = "incomplete_import"
    http_status = 500
    exit_code = 1


Progress = Callable[[str, int], None]  # (table, rows just stored) after each page, before its watermark


@dataclass(frozen=True)
class RowError:
    """One skipped source row. ``value`` is the unreadable value of ``column`` (a time or a flag)."""

    table: str
    key: Any
    column: str
    value: str | None
    message: str

    def line(self) -> str:
        shown = "" if self.value is None else f" {self.value!r}"
        return f"{self.table} {self.key}: {self.column}{shown}: {self.message}"

    def to_dict(self) -> dict[str, Any]:
        return {"table": self.table, "key": self.key, "column": self.column, "value": self.value,
                "error": self.message}


@dataclass
class TableStats:
    read: int = 0
    accepted: int = 0
    duplicates: int = 0
    skipped: int = 0
    superseded: int = 0  # LeadSubmissions: legacy-lead events replaced; Leads: rows with a stored primary
    removed: int = 0  # stored legacy-lead events removed because their primary submission arrived
    completed: int = 0  # submissions given their lead's values from the store (per-table exports)
    cleared: int = 0  # rows whose EngagementLabel/VpnSuspected/SuspicionScore was unreadable and left empty


@dataclass
class D1ImportReport:
    """What one import run did, per table, plus the rows it had to skip."""

    source: str
    full: bool = False
    tables: dict[str, TableStats] = field(default_factory=dict)
    errors: list[RowError] = field(default_factory=list)
    error_count: int = 0
    notes: list[str] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def read(self) -> int:
        return sum(t.read for t in self.tables.values())

    @property
    def accepted(self) -> int:
        """Net new events: stored minus the legacy-lead events their primary submissions replaced."""
        return sum(t.accepted - t.removed for t in self.tables.values())

    @property
    def duplicates(self) -> int:
        return sum(t.duplicates for t in self.tables.values())

    def add_error(self, err: RowError) -> None:
        self.error_count += 1
        if len(self.errors) < MAX_ERRORS_KEPT:
            self.errors.append(err)

    def summary(self) -> str:
        rate = f", {self.read / self.seconds:,.0f} rows/s" if self.seconds > 0 and self.read else ""
        extra = ""
        replaced = sum(t.removed for t in self.tables.values())
        kept_out = sum(t.superseded - t.removed for t in self.tables.values())  # Leads rows, by any table name
        if replaced:
            extra += f", {replaced:,} legacy-lead events replaced by their primary submissions"
        if kept_out:
            extra += f", Leads rows with a stored primary submission: {kept_out:,} superseded"
        return (f"{self.source}: read {self.read:,} rows, imported {self.accepted:,} events, skipped"
                f" {self.duplicates:,} already stored, {self.error_count:,} unreadable{extra}"
                f" ({self.seconds:.1f}s{rate})")

    def to_dict(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "full": self.full,
            "read": self.read,
            "accepted": self.accepted,
            "duplicates": self.duplicates,
            "error_count": self.error_count,
            "errors": [e.to_dict() for e in self.errors],
            "tables": {k: vars(v) for k, v in self.tables.items()},
            "notes": self.notes,
            "seconds": round(self.seconds, 3),
        }


def lead_id_secret(ls: LeadStats) -> bytes:
    """The store's HMAC key for ``lead_id`` (kept for callers of the old name: ``ls.lead_id_secret()``)."""
    return ls.lead_id_secret()


@dataclass
class _Job:
    plan: TablePlan
    stats: TableStats
    good: pa.Table | None
    count: int
    last_key: Any
    lead_rows: pa.Table | None = None  # transformed Leads rows whose values complete stored submissions


class _Run:
    """One import: the source, the store, the DuckDB that transforms pages, and the running report."""

    def __init__(self, ls: LeadStats, source: D1Source, mapping: D1Mapping, *, full: bool, prefix: str,
                 progress: Progress | None) -> None:
        self.ls, self.source, self.mapping = ls, source, mapping
        self.full, self.prefix, self.progress = full, prefix, progress
        self.report = D1ImportReport(source.label, full=full)
        self.con = duckdb.connect(":memory:")
        self.con.execute("SET TimeZone = 'UTC'")
        self.legacy_stored = ls.get_state(self.state_key("legacy")) == "1"
        self.subs_alone = ls.get_state(self.state_key(SUBMISSIONS_WITHOUT_LEADS)) == "1"
        self.has_leads = self.has_subs = True  # set by run(): which of the two tables the source has
        self.filler = SubmissionFiller(ls, prefix)
        self.short: list[str] = []

    def state_key(self, table: str) -> str:
        return f"import:{self.prefix}:{table}"

    def watermark(self, table: str) -> Any:
        raw = self.ls.get_state(self.state_key(table))
        return None if raw is None else json.loads(raw)

    def save_watermark(self, table: str, key: Any) -> None:
        old = self.watermark(table) if self.full else None
        if old is not None:
            try:
                if key <= old:
                    return
            except TypeError:
                pass
        self.ls.set_state(self.state_key(table), json.dumps(key))

    def pages(self, sql_for: Callable[[Any], str], after: Any, limit: int) -> Iterator[Page]:
        while True:
            params = ([after] if after is not None else []) + [limit]
            page = self.source.page(sql_for(after), params)
            if page.count == 0:
                return
            yield page
            if page.count < limit:
                return
            after = page.last_key

    # -- legacy leads need to know which leads have a primary submission ----------------------------
    def primary_ids(self, have: dict[str, list[str] | None], after: Any) -> pa.Array:
        """JSON texts of the LeadIds after ``after`` that have a primary submission."""
        chunks: list[pa.Array] = []
        if primary_ids_sql(self.mapping, have, None) is not None:
            limit = int(getattr(self.source, "id_page_size", 1_000_000))
            for page in self.pages(lambda a: primary_ids_sql(self.mapping, have, a) or "", after, limit):
                chunks.append(_tokens(page.lines))
        return pa.concat_arrays(chunks) if chunks else pa.array([], pa.string())

    def legacy_pages(self, plan: TablePlan, primary: pa.Array, after: Any, stats: TableStats) -> Iterator[Page]:
        """Pages of Leads rows without a primary submission, in the source or already stored (a
        per-table export of LeadSubmissions imported before): scan the keys, then fetch only those rows."""
        by_keys = rows_by_keys_sql(plan)
        # A source with a LeadSubmissions table says itself which leads have a primary submission; one
        # without it (a per-table export of Leads) is completed by what the store holds.
        check_store = not self.has_subs and self.ls.get_state(self.state_key("LeadSubmissions")) is not None
        for keys in self.pages(lambda a: keys_sql(plan, a), after, self.source.page_size):
            tokens = _tokens(keys.lines)
            legacy = pc.filter(tokens, pc.invert(pc.is_in(tokens, value_set=primary)))
            if check_store and len(legacy):
                raw = {_raw_identity(t): t for t in legacy.to_pylist()}
                stored = self.ls.primary_lead_ids(list(raw), f"{self.prefix}:LeadSubmissions:")
                if stored:
                    stats.superseded += len(stored)
                    legacy = pc.filter(legacy, pc.invert(pc.is_in(legacy, pa.array([raw[x] for x in stored]))))
            lines = pa.array([], pa.string())
            if len(legacy):
                ids = "[" + ",".join(legacy.to_pylist()) + "]"
                lines = self.source.page(by_keys, [ids, len(legacy)]).lines
            yield Page(lines, keys.count, keys.last_key)

    # -- one page ----------------------------------------------------------------------------------
    def transform(self, page: Page, sql: str, stats: TableStats) -> pa.Table | None:
        """One page as event columns plus ``__key``, ``__lead_raw`` and the unreadable-row columns."""
        stats.read += page.count
        if not len(page.lines):
            return None
        self.con.register("__page", pa.Table.from_batches(
            pa.table({"j": page.lines}).to_batches(max_chunksize=_CHUNK)))
        try:
            return self.con.sql(sql).to_arrow_table()
        finally:
            self.con.unregister("__page")

    def readable(self, plan: TablePlan, out: pa.Table | None, stats: TableStats) -> pa.Table | None:
        """The rows of a transformed page whose time and type can be read; the others are reported."""
        if out is None:
            return None
        bad_mask = pc.is_valid(out.column("__err_col"))
        if out.num_rows and pc.any(bad_mask).as_py():
            bad = out.filter(bad_mask)
            for key, col, val in zip(bad.column("__key").to_pylist(), bad.column("__err_col").to_pylist(),
                                     bad.column("__err_val").to_pylist(), strict=True):
                if plan.flag_column and col == plan.flag_column:
                    msg = "must be 1 (primary) or 0 (follow-up)"
                elif val is None:
                    msg = "is empty: the row has no time"
                else:
                    msg = "cannot be read as a time"
                self.report.add_error(RowError(plan.actual, _key(key), col, None if val is None else val[:80], msg))
                stats.skipped += 1
            out = out.filter(pc.invert(bad_mask))
        stats.cleared += int(pc.sum(out.column("__dropped_attr").cast(pa.int64())).as_py() or 0)
        if not out.num_rows:
            return None
        return out.select([c for c in EVENT_COLUMNS if c in out.column_names] + ["__key", "__lead_raw"])

    def legacy_only(self, good: pa.Table, primary_raw: set[str], stats: TableStats) -> pa.Table | None:
        """The Leads rows without a primary submission in the source or the store (see legacy_pages)."""
        raw = [str(x) for x in good.column("__lead_raw").to_pylist()]
        stored = self.ls.primary_lead_ids([x for x in raw if x not in primary_raw], f"{self.prefix}:LeadSubmissions:")
        stats.superseded += len(stored)
        keep = pa.array([x not in primary_raw and x not in stored for x in raw])
        out = good.filter(keep)
        return out if out.num_rows else None

    def replaced(self, good: pa.Table) -> list[str]:
        """Stored legacy-lead events (``d1:Leads:<LeadId>``) of the leads whose primary submission is in
        this page: the submission replaces them, as if both tables had been imported together."""
        if not self.legacy_stored:
            return []
        leads = pc.unique(good.column("__lead_raw")).drop_null().to_pylist()
        return sorted(self.ls.stored_ids([f"{self.prefix}:Leads:{x}" for x in leads]))

    def write(self, job: _Job) -> None:
        """Writer thread: validate and store one page, then record its watermark (never before)."""
        if job.lead_rows is not None and job.lead_rows.num_rows:
            job.stats.completed += self.filler.stored_submissions(job.lead_rows)
        if job.good is not None and job.good.num_rows:
            events = job.good.drop_columns(["__key", "__lead_raw"])
            subs = job.plan.table == "LeadSubmissions"
            if subs and not self.has_leads and not self.subs_alone:
                self.ls.set_state(self.state_key(SUBMISSIONS_WITHOUT_LEADS), "1")  # before the rows
                self.subs_alone = True
            if job.plan.table == "Leads" and not self.legacy_stored:
                self.ls.set_state(self.state_key("legacy"), "1")  # before the rows: a crash stays safe
                self.legacy_stored = True
            # The one ingest pipeline: validate, hash lead_id, first per id, stored ids, append.
            checked = self.ls.check_table(events, pa.array(range(events.num_rows), pa.int64()))
            if subs and not self.has_leads and self.legacy_stored:
                checked.good, done = self.filler.from_legacy_events(checked.good, events.column("lead_id"))
                job.stats.completed += done
            result = self.ls.commit(checked)[0]
            if subs:  # after the submissions: a crash in between re-reads this page and removes them then
                removed = self.ls.delete_events(self.replaced(job.good))
                job.stats.removed += removed
                job.stats.superseded += removed
            if result.rejected:
                keys = job.good.column("__key")
                for rec in result.rejected:
                    job.stats.skipped += 1
                    column = job.plan.time_column if rec.field == "occurred_at" else rec.field
                    self.report.add_error(RowError(job.plan.actual, _key(keys[rec.row].as_py()), column, None,
                                                   rec.message))
            job.stats.accepted += result.accepted
            job.stats.duplicates += result.duplicates
        if self.progress:
            self.progress(job.plan.actual, job.count)
        self.save_watermark(job.plan.table, job.last_key)

    # -- one table ---------------------------------------------------------------------------------
    def import_table(self, plan: TablePlan, have: dict[str, list[str] | None], writer: Writer[_Job]) -> None:
        stats = self.report.tables.setdefault(plan.actual, TableStats())
        after = None if self.full else self.watermark(plan.table)
        sql = transform_sql(plan, self.mapping, self.prefix)
        # Submissions stored earlier from a source without Leads: read every Leads row, to complete them.
        complete = plan.table == "Leads" and self.ls.get_state(self.state_key(SUBMISSIONS_WITHOUT_LEADS)) == "1"
        primary = self.primary_ids(have, after) if plan.table == "Leads" else pa.array([], pa.string())
        if plan.table == "Leads" and not complete:
            pages = prefetch(self.legacy_pages(plan, primary, after, stats), depth=2, name="d1-reader")
        else:
            pages = prefetch(self.pages(lambda a: page_sql(plan, a), after, self.source.page_size), depth=2,
                             name="d1-reader")
        primary_raw = {_raw_identity(t) for t in primary.to_pylist()} if complete else set()
        expected = self.count_rows(plan, after)
        read_before = stats.read
        for page in pages:
            rows = self.transform(page, sql, stats)
            good = self.readable(plan, rows, stats)
            if complete and good is not None:
                good = self.legacy_only(good, primary_raw, stats)
            writer.put(_Job(plan, stats, good, page.count, page.last_key, rows if complete else None))
        if expected is not None and stats.read - read_before < expected:
            self.short.append(f"{plan.actual}: the source holds {expected:,} rows"
                              f"{' after the watermark' if after is not None else ''}, the import read"
                              f" {stats.read - read_before:,}")

    def count_rows(self, plan: TablePlan, after: Any) -> int | None:
        """How many rows the source holds after ``after`` (read before the pages, so rows written during
        the import can only add to what is read)."""
        sql = count_sql(plan, after)
        page = self.source.page(sql, ([after] if after is not None else []) + [1])
        return None if page.last_key is None else int(page.last_key)

    def run(self) -> D1ImportReport:
        started = time.perf_counter()
        have = {self.mapping.table(t): self.source.table_columns(self.mapping.table(t)) for t in D1_TABLES}
        self.has_leads = have.get(self.mapping.table("Leads")) is not None
        self.has_subs = have.get(self.mapping.table("LeadSubmissions")) is not None
        plans = []
        for table in TABLE_ORDER:
            plan = plan_table(table, self.mapping, have)
            actual = self.mapping.table(table)
            if plan is None:
                self.report.notes.append(f"no table {actual} in the source: skipped")
                continue
            cols = set(have[actual] or ())
            lacking = [c for c in (self.mapping.column(table, r) for r in D1_REQUIRED[table]) if c not in cols]
            if lacking:
                raise InputError(f"{self.source.label}: table {actual} has no column {', '.join(map(str, lacking))}"
                                 " (use --mapping to name the columns of your deployment)")
            if plan.missing:
                self.report.notes.append(f"{actual}: no column {', '.join(plan.missing)}: read as empty")
            plans.append(plan)
        writer = Writer(self.write)
        try:
            for plan in plans:
                self.import_table(plan, have, writer)
        finally:
            writer.close()
        if self.short:
            raise IncompleteImport(f"{self.source.label}: rows were lost while reading: " + "; ".join(self.short)
                                   + ". What was read is stored; nothing was counted twice. Please report this"
                                   " source's shape (table definitions) so it can be read in full.")
        for name, stats in self.report.tables.items():
            if stats.removed:
                self.report.notes.append(f"{name}: {stats.removed} primary submissions replaced the legacy-lead"
                                         " events stored for their leads (each lead still counts once)")
            elif stats.superseded:
                self.report.notes.append(f"Leads rows with a stored primary submission: {stats.superseded}"
                                         " superseded (not counted as legacy leads)")
            if stats.completed:
                self.report.notes.append(f"{name}: {stats.completed} submissions took their lead's values from the"
                                         " store (per-table exports), as one whole import would give them")
            if stats.cleared:
                self.report.notes.append(f"{name}: {stats.cleared} rows had an unreadable EngagementLabel,"
                                         " VpnSuspected or SuspicionScore, left empty")
        self.report.seconds = time.perf_counter() - started
        return self.report

    def close(self) -> None:
        self.con.close()


def _tokens(lines: pa.Array) -> pa.Array:
    """``'[123]\\n'`` -> ``'123'``: the JSON text of the only element of one-element arrays."""
    return pc.utf8_slice_codeunits(pc.utf8_rtrim_whitespace(lines), 1, -1)


def _raw_identity(token: str) -> str:
    """A key token (JSON text) as the LeadId text the transform reads: ``'5'`` -> ``5``, ``'"a"'`` -> ``a``."""
    value = json.loads(token)
    return value if isinstance(value, str) else str(value)


def _key(value: Any) -> Any:
    """Keys come back from JSON as text; show integer keys as integers."""
    if isinstance(value, str) and value.lstrip("-").isdigit():
        return int(value)
    return value


def import_d1(
    ls: LeadStats,
    source: str | D1Source,
    *,
    mapping: D1Mapping | None = None,
    full: bool = False,
    prefix: str = "d1",
    page_size: int | None = None,
    progress: Progress | None = None,
) -> D1ImportReport:
    """Import new rows of a D1 database into ``ls`` (all rows with ``full=True``); see the module doc.

    ``source`` is a SQLite file, a ``.sql`` dump, ``d1://ACCOUNT/DATABASE`` or an open :class:`D1Source`.
    ``prefix`` starts every event id and names the watermarks: give each D1 database imported into the
    same store its own prefix.
    """
    if not _PREFIX.match(prefix):
        raise InputError(f"prefix {prefix!r}: use 1-40 letters, digits, '.', '_' or '-'")
    mapping = mapping or D1Mapping()
    owned = isinstance(source, str)
    src = open_source(source, mapping, page_size=page_size) if isinstance(source, str) else source
    if page_size and not owned:
        src.page_size = page_size
    run = _Run(ls, src, mapping, full=full, prefix=prefix, progress=progress)
    try:
        return run.run()
    finally:
        run.close()
        if owned:
            src.close()
