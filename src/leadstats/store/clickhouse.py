"""ClickHouse backends: one implementation over two drivers (a ClickHouse server via clickhouse-connect,
and chDB, the same engine in-process: see :mod:`leadstats.store.chdb`).

Layout (see docs/scale-out.md for the cluster version):

- ``leadstats_events``: MergeTree, ``PARTITION BY toYYYYMM(occurred_at)``, ordered by
  ``(toStartOfHour(occurred_at), event_type, occurred_at)`` so a report's window prunes whole
  granules; ``Enum8`` event types, ``LowCardinality`` dimension strings, ``DateTime64(6, 'UTC')`` times,
  a ``weight`` column (Analytics Engine ``_sample_interval``) and ``id_hash``, a MATERIALIZED
  ``cityHash64(event_id)``.
- ``leadstats_ids``: every stored ``event_id`` with its ``occurred_at``, MergeTree ``ORDER BY event_id``:
  the idempotency check's index (a batch's ids read only the granules that can hold them).
- ``leadstats_rollup_15m``: SummingMergeTree, one row per 15-minute UTC slot with every metric summed
  (``suspicious`` at the default threshold), plus ``event_rows`` and ``scored`` for the consistency
  check; ``leadstats_rollup_scores``: SummingMergeTree per (slot, suspicion score) of primary events,
  the exact histogram a report with another ``suspicious_min`` reads. Merges are lazy: both are read
  with ``sum()``. Every UTC offset is a multiple of 15 minutes, so slots compose exactly into any bucket
  of 15 minutes or more in any zone (the DuckDB store's rollup, on ClickHouse).
- The ids and both rollups are filled by materialized views on ``leadstats_events``: the same INSERT
  that stores a batch writes them. Deletes subtract from the rollups (negative rows) and delete from
  the ids table.
- ``leadstats_state``: small key/value state (ReplacingMergeTree read with ``argMax``, so exact
  without FINAL).

Idempotency: exact, by checking before inserting, under a single-writer lock. Each batch is deduplicated
by ``event_id`` in Arrow, its ids are staged in a Memory table, one query returns the staged ids found in
``leadstats_ids`` (exact string comparison, through that table's primary key: the cost follows the batch,
not the table), and Arrow drops those rows; only the rest is inserted. Reports therefore read plain
MergeTree (no FINAL, no merge-time deduplication): counts are exact once ``append`` returns.

ClickHouse has no multi-table transaction: a write interrupted between the events and the derived tables
leaves them out of step. Their row counts then differ (``count()`` of events and ids, ``sum(event_rows)``
of the rollup, ``sum(scored)`` against the score histogram); a chDB store checks that when it opens (one
process per directory), a server store before its first write and after any failed write, and a mismatch
rebuilds the derived tables from the events (also the migration from schema 1, which had none).

Reports are :func:`leadstats.query.compiler.compile_report` with the CLICKHOUSE dialect: integer
arithmetic per constant-offset segment, never ``toStartOfInterval`` (which is wrong for IST hours).
"""

from __future__ import annotations

import contextlib
import dataclasses
import re
import threading
import time
import uuid
from collections.abc import Iterator, Mapping
from datetime import UTC
from typing import Any, Protocol
from urllib.parse import parse_qsl, unquote, urlsplit

import pyarrow as pa
import pyarrow.compute as pc

from ..errors import StoreError
from ..ingest.pipeline import first_per_id
from ..ingest.validate import STORE_SCHEMA
from ..model.metrics import METRIC_NAMES
from ..model.report import ReportQuery
from ..model.schema import DEFAULT_SUSPICIOUS_MIN, ENGAGEMENT_LABELS, EVENT_COLUMNS, EVENT_TYPES
from ..model.timegrid import from_us
from ..query.compiler import Relation, compile_report, metric_conditions
from ..query.dialect import CLICKHOUSE
from ..query.rollup import SLOT_US, at_threshold, rollup_eligible
from .base import AppendResult, GroupRows, ReportLimits

EVENTS = "leadstats_events"
STATE = "leadstats_state"
IDS = "leadstats_ids"
ROLLUP = "leadstats_rollup_15m"
SCORES = "leadstats_rollup_scores"
#: 1: events and state. 2: the ids index and the 15-minute rollups, filled by materialized views.
SCHEMA_VERSION = 2
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")
_LOW_CARD = {"project", "source", "cta", "utm_source", "utm_medium", "utm_campaign", "utm_term",
             "utm_content", "country", "region", "city", "phone_country_code"}


def _enum(values: tuple[str, ...]) -> str:
    return ", ".join(f"'{v}' = {i}" for i, v in enumerate(values, start=1))


def column_ddl() -> str:
    """The events table's column list (shared by the single-node and the cluster DDL)."""
    cols = []
    for name in EVENT_COLUMNS:
        if name == "event_id":
            cols.append("event_id String")
        elif name == "event_type":
            cols.append(f"event_type Enum8({_enum(EVENT_TYPES)})")
        elif name == "occurred_at":
            cols.append("occurred_at DateTime64(6, 'UTC') CODEC(Delta, ZSTD)")
        elif name == "engagement_label":
            cols.append(f"engagement_label Nullable(Enum8({_enum(ENGAGEMENT_LABELS)}))")
        elif name == "vpn":
            cols.append("vpn Nullable(Bool)")
        elif name == "suspicion_score":
            cols.append("suspicion_score Nullable(Float64)")
        elif name in _LOW_CARD:
            cols.append(f"{name} LowCardinality(Nullable(String))")
        else:
            cols.append(f"{name} Nullable(String)")
    cols.append("weight UInt32 DEFAULT 1")
    cols.append("id_hash UInt64 MATERIALIZED cityHash64(event_id)")
    return ",\n    ".join(cols)


def events_ddl(table: str = EVENTS, engine: str = "MergeTree", on_cluster: str | None = None) -> str:
    """``CREATE TABLE`` for the events table; ``engine`` may be a ReplicatedMergeTree(...) spelling."""
    cluster = f" ON CLUSTER {on_cluster}" if on_cluster else ""
    return (
        f"CREATE TABLE IF NOT EXISTS {table}{cluster} (\n    {column_ddl()}\n) ENGINE = {engine}\n"
        "PARTITION BY toYYYYMM(occurred_at)\n"
        "ORDER BY (toStartOfHour(occurred_at), event_type, occurred_at)"
    )


def state_ddl(table: str = STATE, engine: str = "ReplacingMergeTree(updated)", on_cluster: str | None = None) -> str:
    cluster = f" ON CLUSTER {on_cluster}" if on_cluster else ""
    return (
        f"CREATE TABLE IF NOT EXISTS {table}{cluster} (key String, value String, updated UInt64)"
        f" ENGINE = {engine} ORDER BY key"
    )


def _q(name: str) -> str:
    return f"`{name}`"


# Rows written straight into a derived table (rebuilds, delete corrections) are never dropped as a repeated
# block by a replicated table's insert deduplication: two equal correction blocks are two corrections.
_INSERT = "INSERT INTO {table} SETTINGS insert_deduplicate = 0 "


_SLOT = f"intDiv(toUnixTimestamp64Micro(occurred_at), {SLOT_US})"
_SCORED = "event_type = 'primary' AND suspicion_score IS NOT NULL"


def ids_ddl(table: str = IDS, engine: str = "MergeTree", on_cluster: str | None = None) -> str:
    """The idempotency index: one row per stored event, ordered by ``event_id``."""
    cluster = f" ON CLUSTER {on_cluster}" if on_cluster else ""
    return (
        f"CREATE TABLE IF NOT EXISTS {table}{cluster} (event_id String, occurred_at DateTime64(6, 'UTC'))"
        f" ENGINE = {engine} ORDER BY event_id"
    )


def rollup_ddl(table: str = ROLLUP, engine: str = "SummingMergeTree", on_cluster: str | None = None) -> str:
    """One row per 15-minute UTC slot (after merges): every metric, ``event_rows`` and ``scored``."""
    cluster = f" ON CLUSTER {on_cluster}" if on_cluster else ""
    cols = ", ".join(f"{_q(m)} Int64" for m in (*METRIC_NAMES, "event_rows", "scored"))
    return f"CREATE TABLE IF NOT EXISTS {table}{cluster} (slot Int64, {cols}) ENGINE = {engine} ORDER BY slot"


def scores_ddl(table: str = SCORES, engine: str = "SummingMergeTree", on_cluster: str | None = None) -> str:
    """Per slot and suspicion score, the (weighted) primary events with that score."""
    cluster = f" ON CLUSTER {on_cluster}" if on_cluster else ""
    return (
        f"CREATE TABLE IF NOT EXISTS {table}{cluster} (slot Int64, score Float64, hits Int64)"
        f" ENGINE = {engine} ORDER BY (slot, score)"
    )


def ids_select(source: str, where: str | None = None) -> str:
    return f"SELECT event_id, occurred_at FROM {source}" + (f" WHERE {where}" if where else "")


def rollup_select(source: str, where: str | None = None, sign: int = 1) -> str:
    """The slot rollup of ``source`` rows (``sign`` -1: the amounts to subtract for deleted rows), from
    the one metric registry at the default ``suspicious_min``."""
    neg = "-" if sign < 0 else ""
    conds = metric_conditions(_q, repr(DEFAULT_SUSPICIOUS_MIN))
    sums = [f"{neg}toInt64({'sum(weight)' if c is None else f'sumIf(weight, {c})'}) AS {_q(m)}"
            for m, c in conds.items()]
    sums += [f"{neg}toInt64(count()) AS event_rows", f"{neg}toInt64(sumIf(weight, {_SCORED})) AS scored"]
    filt = f" WHERE {where}" if where else ""
    return f"SELECT {_SLOT} AS slot, {', '.join(sums)} FROM {source}{filt} GROUP BY slot"


def scores_select(source: str, where: str | None = None, sign: int = 1) -> str:
    neg = "-" if sign < 0 else ""
    filt = f"{_SCORED} AND ({where})" if where else _SCORED
    return (
        f"SELECT {_SLOT} AS slot, assumeNotNull(suspicion_score) AS score, {neg}toInt64(sum(weight)) AS hits"
        f" FROM {source} WHERE {filt} GROUP BY slot, score"
    )


def views_ddl(events: str = EVENTS, prefix: str = "", suffix: str = "", on_cluster: str | None = None) -> list[str]:
    """The materialized views that fill the ids and rollups from every insert into ``events``."""
    cluster = f" ON CLUSTER {on_cluster}" if on_cluster else ""
    out = []
    for target, select in ((IDS, ids_select), (ROLLUP, rollup_select), (SCORES, scores_select)):
        out.append(
            f"CREATE MATERIALIZED VIEW IF NOT EXISTS {prefix}{target}{suffix}_mv{cluster}"
            f" TO {prefix}{target}{suffix} AS {select(events)}"
        )
    return out


def cluster_ddl(database: str = "leads", cluster: str = "{cluster}") -> list[str]:
    """Statements for a sharded, replicated cluster (printed in docs/scale-out.md).

    Each shard keeps ``leadstats_events_local`` (ReplicatedMergeTree) and its derived tables (ids,
    rollups), filled by materialized views on that shard; ``leadstats_events`` and the others are
    Distributed tables over them, sharded by ``cityHash64(event_id)`` so an id always lands on the same
    shard, which keeps the check-before-insert exact across shards. Rollup reads sum over all shards.
    """
    zk = "/clickhouse/tables/{shard}/" + database
    on = f"'{cluster}'"

    def dist(name: str, key: str) -> str:
        return (f"CREATE TABLE IF NOT EXISTS {database}.{name} ON CLUSTER {on} AS {database}.{name}_local\n"
                f"ENGINE = Distributed({on}, {database}, {name}_local, {key})")

    def replicated(name: str, engine: str = "MergeTree", args: str = "") -> str:
        return f"Replicated{engine}('{zk}/{name}', '{{replica}}'{args})"

    return [
        f"CREATE DATABASE IF NOT EXISTS {database} ON CLUSTER {on}",
        events_ddl(f"{database}.{EVENTS}_local", replicated(EVENTS), on),
        dist(EVENTS, "cityHash64(event_id)"),
        state_ddl(f"{database}.{STATE}_local", replicated(STATE, "ReplacingMergeTree", ", updated"), on),
        dist(STATE, "cityHash64(key)"),
        ids_ddl(f"{database}.{IDS}_local", replicated(IDS), on),
        dist(IDS, "cityHash64(event_id)"),
        rollup_ddl(f"{database}.{ROLLUP}_local", replicated(ROLLUP, "SummingMergeTree"), on),
        dist(ROLLUP, "slot"),
        scores_ddl(f"{database}.{SCORES}_local", replicated(SCORES, "SummingMergeTree"), on),
        dist(SCORES, "slot"),
        *views_ddl(f"{database}.{EVENTS}_local", f"{database}.", "_local", on),
    ]


def _dt64(us: int) -> str:
    return from_us(us).astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")


RELATION = Relation(
    EVENTS,
    "toUnixTimestamp64Micro(occurred_at)",
    "occurred_at",
    window_value=_dt64,
    window_type="DateTime64(6, 'UTC')",
    weight="weight",  # always: exact with several writers, and a UInt32 column of ones costs little
)
ROLLUP_RELATION = Relation(
    ROLLUP,
    f"slot * {SLOT_US}",
    "slot",
    window_value=lambda us: us // SLOT_US,
    window_type="Int64",
    rollup=True,
    columns={"suspicious": _q("suspicious")},  # every metric a column (see the compiler's Relation)
)


class Driver(Protocol):
    """The few calls the store needs from a ClickHouse connection."""

    def rows(self, sql: str, params: Mapping[str, Any] | None = None) -> list[tuple[Any, ...]]: ...

    def arrow(self, sql: str, params: Mapping[str, Any] | None = None) -> pa.Table: ...

    def command(self, sql: str, params: Mapping[str, Any] | None = None) -> None: ...

    def insert(self, table: str, data: pa.Table) -> None: ...

    def stream(self, sql: str, params: Mapping[str, Any] | None = None) -> Iterator[pa.RecordBatch]:
        """One query's result as Arrow record batches, without holding it all in memory."""
        ...

    def close(self) -> None: ...


def to_store_schema(table: pa.Table) -> pa.Table:
    """Cast a scanned table to ``STORE_SCHEMA`` (naive UTC timestamps, plain strings, int64 weight)."""
    cols = []
    for f in STORE_SCHEMA:
        col = table.column(f.name)
        if pa.types.is_timestamp(col.type) and col.type.tz is not None:
            col = col.cast(pa.timestamp("us", tz="UTC")).cast(pa.int64()).cast(pa.timestamp("us"))
        if pa.types.is_dictionary(col.type):
            col = col.cast(col.type.value_type)
        cols.append(col.cast(f.type))
    return pa.Table.from_arrays(cols, schema=STORE_SCHEMA)


class ClickHouseBase:
    """The store logic shared by ClickHouse servers and chDB; subclasses give a driver."""

    backend = "clickhouse"
    read_only = False
    #: Whether this process is the only one on these tables (chDB: one process per directory), so the
    #: derived tables can be checked, and rebuilt, when the store opens.
    exclusive = False

    def __init__(
        self,
        driver: Driver,
        *,
        location: str,
        stage_table: str,
        read_only: bool = False,
        database: str | None = None,
        write_lock: threading.Lock | None = None,
    ) -> None:
        self._db = driver
        self.location = location
        self.read_only = read_only
        if database is not None and not _NAME.match(database):
            raise StoreError(f"bad ClickHouse database name {database!r}: use letters, digits and _")
        self.database = database
        self._prefix = prefix = f"{database}." if database else ""
        self._events = prefix + EVENTS
        self._state = prefix + STATE
        self._ids = prefix + IDS
        self._rollup = prefix + ROLLUP
        self._scores = prefix + SCORES
        self._stage = prefix + stage_table
        self._relation = dataclasses.replace(RELATION, table=self._events)
        self._rollup_relation = dataclasses.replace(ROLLUP_RELATION, table=self._rollup)
        # Stores on the same tables in one process share the lock (and so the staging table).
        self._write_lock = write_lock or threading.Lock()
        self._last_state_version = 0
        self._verified = False  # the derived tables were found in step with the events (or rebuilt)
        if not read_only:
            self._create()
        # Schema 2 keeps the ids index and the rollups; a schema-1 store opened read-only has neither.
        try:
            self._derived = self.schema_version() >= 2
        except StoreError:  # nothing there yet (read-only): the first read names the problem
            self._derived = False

    # -- schema ----------------------------------------------------------------------------------
    def _create(self) -> None:
        if self.database:
            self._db.command(f"CREATE DATABASE IF NOT EXISTS {self.database}")
        self._db.command(events_ddl(self._events))
        self._db.command(state_ddl(self._state))
        self._db.command(f"CREATE TABLE IF NOT EXISTS {self._stage} (event_id String) ENGINE = Memory")
        self._db.command(ids_ddl(self._ids))
        self._db.command(rollup_ddl(self._rollup))
        self._db.command(scores_ddl(self._scores))
        for sql in views_ddl(self._events, self._prefix):
            self._db.command(sql)
        with self._write_lock:
            if self.schema_version() < SCHEMA_VERSION:
                # Migration 1 -> 2 (or a new store): fill the ids and rollups from the stored events once.
                self._rebuild_derived()
                self._put_state("schema_version", str(SCHEMA_VERSION))
            elif self.exclusive:
                self._ensure_consistent()

    def schema_version(self) -> int:
        value = self.get_state("schema_version")
        return int(value) if value else 0

    def _counts(self) -> tuple[int, ...]:
        row = self._db.rows(
            f"SELECT (SELECT count() FROM {self._events}), (SELECT count() FROM {self._ids}),"
            f" (SELECT sum(event_rows) FROM {self._rollup}), (SELECT sum(scored) FROM {self._rollup}),"
            f" (SELECT sum(hits) FROM {self._scores})"
        )
        return tuple(int(v or 0) for v in row[0])

    def _in_step(self) -> bool:
        events, ids, rollup_rows, scored, hits = self._counts()
        return events == ids == rollup_rows and scored == hits

    def _ensure_consistent(self) -> None:
        """Check the derived tables against the events (cheap counts); rebuild them if they differ.
        Caller holds the write lock."""
        if self._verified:
            return
        if not self._in_step():
            if not self.exclusive:
                # Another process's insert may be between the events and its views for an instant.
                time.sleep(1.0)
            if self.exclusive or not self._in_step():
                self._rebuild_derived()
        self._verified = True

    def _rebuild_derived(self) -> None:
        """Fill the ids and the rollups from the events (month by month: bounded memory). Caller holds the
        write lock."""
        for table in (self._ids, self._rollup, self._scores):
            self._db.command(f"TRUNCATE TABLE {table}")
        self._db.command(_INSERT.format(table=self._ids) + ids_select(self._events))
        months = [r[0] for r in self._db.rows(
            f"SELECT DISTINCT toYYYYMM(occurred_at) AS m FROM {self._events} ORDER BY m")]
        for month in months:
            where = f"toYYYYMM(occurred_at) = {int(month)}"
            self._db.command(_INSERT.format(table=self._rollup) + rollup_select(self._events, where))
            self._db.command(_INSERT.format(table=self._scores) + scores_select(self._events, where))
        self._verified = True

    def rebuild(self) -> None:
        """Rebuild the ids index and the rollups from the events (after editing the tables by hand)."""
        if self.read_only:
            raise StoreError("this store was opened read-only")
        with self._write_lock:
            self._rebuild_derived()

    # -- state -----------------------------------------------------------------------------------
    def get_state(self, key: str) -> str | None:
        rows = self._db.rows(
            f"SELECT argMax(value, updated) FROM {self._state} WHERE key = {{k:String}} GROUP BY key", {"k": key}
        )
        return None if not rows else str(rows[0][0])

    def set_state(self, key: str, value: str) -> None:
        if self.read_only:
            raise StoreError("this store was opened read-only")
        with self._write_lock:
            self._put_state(key, value)

    def _put_state(self, key: str, value: str) -> None:
        version = max(time.time_ns(), self._last_state_version + 1)
        self._last_state_version = version
        self._db.command(
            f"INSERT INTO {self._state} SELECT {{k:String}}, {{v:String}}, {{u:UInt64}}",
            {"k": key, "v": value, "u": version},
        )

    # -- writes ----------------------------------------------------------------------------------
    @contextlib.contextmanager
    def _writing(self) -> Iterator[None]:
        """The write lock, with the derived tables known to be in step; a failed write re-checks them."""
        if self.read_only:
            raise StoreError("this store was opened read-only")
        with self._write_lock:
            self._ensure_consistent()
            try:
                yield
            except BaseException:
                self._verified = False
                raise

    def append(self, batch: pa.Table) -> AppendResult:
        """Insert the rows whose ``event_id`` is new; see the module docstring for the scheme."""
        if self.read_only:
            raise StoreError("this store was opened read-only")
        n = batch.num_rows
        if n == 0:
            return AppendResult(0, 0)
        batch = first_per_id(batch.select(STORE_SCHEMA.names).cast(STORE_SCHEMA))
        with self._writing():
            existing = self._existing_ids(batch.select(["event_id"]))
            if len(existing):
                batch = batch.filter(pc.invert(pc.is_in(batch.column("event_id"), value_set=existing)))
            if batch.num_rows:
                weights = batch.column("weight")
                if weights.null_count:
                    batch = batch.set_column(
                        batch.schema.get_field_index("weight"), "weight", pc.fill_null(weights, 1)
                    )
                # MergeTree sorts each part by its key itself; the views write the ids and rollups.
                self._db.insert(self._events, batch)
        return AppendResult(batch.num_rows, n - batch.num_rows)

    def delete(self, ids: list[str]) -> int:
        """Remove the events with these ids (a lightweight DELETE, visible to reads at once), their counts
        from the rollups (negative rows, summed away by the merges) and their ids from the index."""
        if self.read_only:
            raise StoreError("this store was opened read-only")
        if not ids:
            return 0
        with self._writing():
            self._stage_ids(pa.table({"event_id": pa.array(sorted(set(ids)), pa.string())}))
            staged = f"(SELECT event_id FROM {self._stage})"
            gone = self._db.rows(f"SELECT count(DISTINCT event_id) FROM {self._ids} WHERE event_id GLOBAL IN {staged}")
            n = int(gone[0][0]) if gone else 0
            if n:
                # The index knows each event's time: only the hours that hold them are read (the events'
                # primary key starts with the hour). GLOBAL for a cluster's reads; a DELETE runs per table.
                def rows(glob: str) -> str:
                    return (f"toStartOfHour(occurred_at) {glob}IN (SELECT DISTINCT toStartOfHour(occurred_at)"
                            f" FROM {self._ids} WHERE event_id {glob}IN {staged}) AND event_id {glob}IN {staged}")

                minus = rows("GLOBAL ")
                self._db.command(_INSERT.format(table=self._rollup) + rollup_select(self._events, minus, sign=-1))
                self._db.command(_INSERT.format(table=self._scores) + scores_select(self._events, minus, sign=-1))
                self._db.command(f"DELETE FROM {self._events} WHERE {rows('')}")
                self._db.command(f"DELETE FROM {self._ids} WHERE event_id IN {staged}")
            self._db.command(f"TRUNCATE TABLE {self._stage}")
        return n

    def replace(self, batch: pa.Table) -> AppendResult:
        """Store ``batch`` over the stored rows of the same ids (a delete, then an insert: not atomic here)."""
        self.delete(batch.column("event_id").to_pylist())
        return self.append(batch)

    def lead_events(self, lead_ids: list[str], id_prefix: str) -> pa.Table:
        """Stored rows (store schema) of these leads (``lead_id`` as stored) whose ids start with ``id_prefix``."""
        cols = ", ".join(
            f"CAST({c} AS Nullable(String)) AS {c}" if c in ("event_type", "engagement_label") else c
            for c in EVENT_COLUMNS
        )
        with self._write_lock:  # the staging table is shared with append
            self._stage_ids(pa.table({"event_id": pa.array(sorted(set(lead_ids)), pa.string())}))
            table = self._db.arrow(
                f"SELECT {cols}, toInt64(weight) AS weight FROM {self._events} WHERE startsWith(event_id, {{p:String}})"
                f" AND lead_id IN (SELECT event_id FROM {self._stage}) ORDER BY event_id",
                {"p": id_prefix},
            )
            self._db.command(f"TRUNCATE TABLE {self._stage}")
        if not table.num_columns:
            return STORE_SCHEMA.empty_table()
        return to_store_schema(table)

    def primary_lead_ids(self, lead_ids: list[str], id_prefix: str) -> set[str]:
        """Which of ``lead_ids`` (as stored) have a stored primary event whose id starts with ``id_prefix``."""
        if not lead_ids:
            return set()
        with self._write_lock:  # the staging table is shared with append
            self._stage_ids(pa.table({"event_id": pa.array(sorted(set(lead_ids)), pa.string())}))
            rows = self._db.rows(
                f"SELECT DISTINCT lead_id FROM {self._events} WHERE event_type = 'primary'"
                " AND startsWith(event_id, {p:String})"
                f" AND lead_id IN (SELECT event_id FROM {self._stage})",
                {"p": id_prefix},
            )
            self._db.command(f"TRUNCATE TABLE {self._stage}")
        return {r[0] for r in rows}

    def stored_ids(self, ids: list[str]) -> set[str]:
        if not ids:
            return set()
        with self._write_lock:  # the staging table is shared with append
            found = self._existing_ids(pa.table({"event_id": pa.array(ids, pa.string())}))
        return set(found.to_pylist()) & set(ids)

    def _check_sql(self) -> str:
        """The idempotency check: which staged ids are stored."""
        if self._derived:
            return (f"SELECT DISTINCT event_id FROM {self._ids}"
                    f" WHERE event_id GLOBAL IN (SELECT event_id FROM {self._stage})")
        return (f"SELECT DISTINCT event_id FROM {self._events}"
                f" WHERE id_hash GLOBAL IN (SELECT cityHash64(event_id) FROM {self._stage})")

    def _stage_ids(self, ids: pa.Table) -> None:
        self._db.command(f"TRUNCATE TABLE {self._stage}")
        self._db.insert(self._stage, ids)

    def _existing_ids(self, ids: pa.Table) -> pa.Array:
        """Stored ids among ``ids``: through the ids index's primary key (only the granules that can hold
        them are read), or, on a schema-1 store opened read-only, by ``id_hash`` over all events (plus,
        rarely, a hash collision, which the caller's exact ``is_in`` on the strings ignores)."""
        self._stage_ids(ids)
        found = self._db.arrow(self._check_sql())
        self._db.command(f"TRUNCATE TABLE {self._stage}")
        col = found.column("event_id") if found.num_columns else pa.chunked_array([], pa.string())
        return col.combine_chunks().cast(pa.string())

    # -- reads -----------------------------------------------------------------------------------
    def _rollup_for(self, suspicious_min: float) -> Relation:
        return at_threshold(self._rollup_relation, self._scores, "hits", suspicious_min, quote=_q, zero="toInt64(0)")

    def report_rows(self, query: ReportQuery, limits: ReportLimits | None = None) -> GroupRows:
        if self._derived and rollup_eligible(query):
            rel, engine = self._rollup_for(query.suspicious_min), "rollup"
        else:
            rel, engine = self._relation, "events"
        compiled = compile_report(query, rel, CLICKHOUSE)
        params = compiled.params
        assert isinstance(params, dict)
        return GroupRows(self._db.rows(compiled.sql, params), engine)

    def count(self) -> int:
        rows = self._db.rows(f"SELECT sum(weight) FROM {self._events}")
        return int(rows[0][0] or 0) if rows else 0

    def time_span(self) -> tuple[int, int] | None:
        """First and last ``occurred_at`` (UTC microseconds), None for no events (min/max of the sort key)."""
        rows = self._db.rows(f"SELECT count(), toUnixTimestamp64Micro(min(occurred_at)), "
                             f"toUnixTimestamp64Micro(max(occurred_at)) FROM {self._events}")
        return (int(rows[0][1]), int(rows[0][2])) if rows and int(rows[0][0]) else None

    def health(self) -> dict[str, Any]:
        rows = self._db.rows(f"SELECT count(), sum(weight) FROM {self._events}")
        db = "{d:String}" if self.database else "currentDatabase()"
        size = self._db.rows(
            f"SELECT sum(bytes_on_disk) FROM system.parts WHERE active AND database = {db}"
            " AND table IN ({e:String}, {i:String}, {r:String}, {s:String})",
            {"e": EVENTS, "i": IDS, "r": ROLLUP, "s": SCORES, **({"d": self.database} if self.database else {})},
        )
        n, events = rows[0] if rows else (0, 0)
        return {
            "backend": self.backend,
            "path": self.location,
            "rows": int(n or 0),
            "events": int(events or 0),
            "schema_version": self.schema_version(),
            "size_bytes": int(size[0][0] or 0) if size else 0,
        }

    def scan(self, batch_size: int = 100_000, after: str | None = None) -> Iterator[pa.Table]:
        """Stored rows in ``event_id`` order, ``batch_size`` at a time.

        One streamed ``ORDER BY event_id`` query (ClickHouse sorts once, spilling to disk if it must),
        cut into bounded tables here; ``after`` resumes a copy (see ``leadstats migrate``).
        """
        cols = ", ".join(
            f"CAST({c} AS Nullable(String)) AS {c}" if c in ("event_type", "engagement_label") else c
            for c in EVENT_COLUMNS
        )
        where = "WHERE event_id > {after:String} " if after is not None else ""
        sql = f"SELECT {cols}, toInt64(weight) AS weight FROM {self._events} {where}ORDER BY event_id"
        pending: list[pa.RecordBatch] = []
        size = 0
        for rb in self._db.stream(sql, {"after": after} if after is not None else None):
            pending.append(rb)
            size += rb.num_rows
            while size >= batch_size:
                table = pa.Table.from_batches(pending)
                yield to_store_schema(table.slice(0, batch_size))
                rest = table.slice(batch_size)
                pending, size = rest.to_batches(), rest.num_rows
        if size:
            yield to_store_schema(pa.Table.from_batches(pending))

    def execute(self, sql: str, params: Mapping[str, Any] | None = None) -> list[tuple[Any, ...]]:
        """Read-only SQL for tools and tests (never exposed over HTTP)."""
        return self._db.rows(sql, params)

    def close(self) -> None:
        try:
            if not self.read_only and not self._stage.endswith(".leadstats_stage") and self._stage != "leadstats_stage":
                self._db.command(f"DROP TABLE IF EXISTS {self._stage}")
        except Exception:  # noqa: BLE001 - closing must not raise over a lost connection
            pass
        self._db.close()


# -- ClickHouse server -------------------------------------------------------------------------------
class ConnectDriver:
    """clickhouse-connect (HTTP). Any ``clickhouse_connect`` client works, including its chDB interface."""

    def __init__(self, client: Any) -> None:
        self.client = client

    def _wrap(self, exc: Exception) -> StoreError:
        return StoreError(f"ClickHouse: {str(exc).strip().splitlines()[0][:500]}")

    def rows(self, sql: str, params: Mapping[str, Any] | None = None) -> list[tuple[Any, ...]]:
        try:
            return [tuple(r) for r in self.client.query(sql, parameters=dict(params or {})).result_rows]
        except Exception as exc:  # noqa: BLE001 - driver errors become StoreError
            raise self._wrap(exc) from None

    def arrow(self, sql: str, params: Mapping[str, Any] | None = None) -> pa.Table:
        try:
            result: pa.Table = self.client.query_arrow(sql, parameters=dict(params or {}), use_strings=True)
            return result
        except Exception as exc:  # noqa: BLE001
            raise self._wrap(exc) from None

    def command(self, sql: str, params: Mapping[str, Any] | None = None) -> None:
        try:
            self.client.command(sql, parameters=dict(params) if params else None)
        except Exception as exc:  # noqa: BLE001
            raise self._wrap(exc) from None

    def insert(self, table: str, data: pa.Table) -> None:
        try:
            self.client.insert_arrow(table, data)
        except Exception as exc:  # noqa: BLE001
            raise self._wrap(exc) from None

    def stream(self, sql: str, params: Mapping[str, Any] | None = None) -> Iterator[pa.RecordBatch]:
        try:
            with self.client.query_arrow_stream(sql, parameters=dict(params or {}), use_strings=True) as stream:
                for block in stream:  # record batches (tables in older clickhouse-connect)
                    yield from block.to_batches() if isinstance(block, pa.Table) else [block]
        except StoreError:
            raise
        except Exception as exc:  # noqa: BLE001
            raise self._wrap(exc) from None

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.client.close()


_CLIENT_OPTIONS = {"connect_timeout", "send_receive_timeout", "compress", "verify", "ca_cert", "client_name"}


def client_from_url(url: str) -> Any:
    """``clickhouse://user:pass@host:8123/db`` (``clickhouses://`` for TLS) -> a clickhouse-connect client.

    Query parameters are client options (``connect_timeout``, ``send_receive_timeout``, ``compress``,
    ``verify``, ``ca_cert``, ``client_name``) or ClickHouse settings sent with every query, e.g.
    ``?distributed_foreground_insert=1`` for a writer on a Distributed table (see docs/scale-out.md).
    """
    import clickhouse_connect

    parts = urlsplit(url)
    secure = parts.scheme.lower() == "clickhouses"
    options: dict[str, Any] = {}
    # The compiled reports GROUP BY position: on by default since 22.7, made explicit for older servers
    # (where GROUP BY 1 would otherwise group by the constant).
    settings: dict[str, Any] = {"enable_positional_arguments": "1"}
    for key, value in parse_qsl(parts.query):
        if key in _CLIENT_OPTIONS:
            options[key] = float(value) if key.endswith("timeout") else value
        else:
            settings[key] = value
    database = parts.path.strip("/") or None
    try:
        return clickhouse_connect.get_client(
            host=parts.hostname or "localhost",
            port=parts.port or (8443 if secure else 8123),
            username=unquote(parts.username) if parts.username else None,
            password=unquote(parts.password) if parts.password else "",
            database=database,
            secure=secure,
            autogenerate_session_id=False,
            settings=settings,
            **options,
        )
    except Exception as exc:  # noqa: BLE001 - connection problems are store errors
        safe = f"{parts.scheme}://{parts.hostname}:{parts.port or ''}/{database or ''}"
        raise StoreError(f"cannot connect to ClickHouse at {safe}: {str(exc).splitlines()[0][:300]}") from None


class ClickHouseStore(ClickHouseBase):
    """A ClickHouse server (or cluster entry node): ``clickhouse://user:pass@host:8123/db``.

    ``client`` may be given instead of a URL (any clickhouse-connect client), e.g. for tests.
    """

    backend = "clickhouse"

    def __init__(
        self, url: str | None = None, *, client: Any = None, read_only: bool = False, database: str | None = None
    ) -> None:
        if client is None:
            if url is None:
                raise StoreError("ClickHouseStore needs a clickhouse:// URL or a client")
            client = client_from_url(url)
        parts = urlsplit(url or "clickhouse://client")
        location = f"{parts.scheme}://{parts.hostname or ''}{':' + str(parts.port) if parts.port else ''}{parts.path}"
        # A server has many clients: each writer stages its ids in a table of its own.
        stage = f"leadstats_stage_{uuid.uuid4().hex[:12]}"
        super().__init__(
            ConnectDriver(client), location=location, stage_table=stage, read_only=read_only, database=database
        )
