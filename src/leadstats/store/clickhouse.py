"""ClickHouse backends: one implementation over two drivers (a ClickHouse server via clickhouse-connect,
and chDB, the same engine in-process: see :mod:`leadstats.store.chdb`).

Layout (see docs/scale-out.md for the cluster version):

- ``leadstats_events``: MergeTree, ``PARTITION BY toYYYYMM(occurred_at)``, ordered by
  ``(toStartOfHour(occurred_at), event_type, occurred_at)`` so a report's window prunes whole
  granules; ``Enum8`` event types, ``LowCardinality`` dimension strings, ``DateTime64(6, 'UTC')`` times,
  a ``weight`` column (Analytics Engine ``_sample_interval``) and ``id_hash``, a MATERIALIZED
  ``cityHash64(event_id)``.
- ``leadstats_state``: small key/value state (ReplacingMergeTree read with ``argMax``, so exact
  without FINAL).

Idempotency: exact, by checking before inserting, under a single-writer lock. Each batch is deduplicated
by ``event_id`` in Arrow, its ids are staged in a Memory table, one query returns the stored ids whose
``id_hash`` is among the staged hashes (PREWHERE on the 8-byte hash column; ``event_id`` is read only for
matches), and the exact string comparison drops those rows in Arrow; only the rest is inserted. A batch
interrupted half-way heals on retry: the rows that landed are found by the same check. Reports therefore
read plain MergeTree (no FINAL, no merge-time deduplication): counts are exact once ``append`` returns.

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
from ..model.report import ReportQuery
from ..model.schema import ENGAGEMENT_LABELS, EVENT_COLUMNS, EVENT_TYPES
from ..model.timegrid import from_us
from ..query.compiler import Relation, compile_report
from ..query.dialect import CLICKHOUSE
from .base import AppendResult, GroupRows, ReportLimits

EVENTS = "leadstats_events"
STATE = "leadstats_state"
SCHEMA_VERSION = 1
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


def cluster_ddl(database: str = "leads", cluster: str = "{cluster}") -> list[str]:
    """Statements for a sharded, replicated cluster (printed in docs/scale-out.md).

    Each shard keeps ``leadstats_events_local`` (ReplicatedMergeTree); ``leadstats_events`` is a
    Distributed table over them, sharded by ``cityHash64(event_id)`` so an id always lands on the same
    shard, which keeps the check-before-insert exact across shards.
    """
    zk = "/clickhouse/tables/{shard}/" + database
    return [
        f"CREATE DATABASE IF NOT EXISTS {database} ON CLUSTER '{cluster}'",
        events_ddl(
            f"{database}.{EVENTS}_local", f"ReplicatedMergeTree('{zk}/{EVENTS}', '{{replica}}')", f"'{cluster}'"
        ),
        f"CREATE TABLE IF NOT EXISTS {database}.{EVENTS} ON CLUSTER '{cluster}' AS {database}.{EVENTS}_local\n"
        f"ENGINE = Distributed('{cluster}', {database}, {EVENTS}_local, cityHash64(event_id))",
        state_ddl(f"{database}.{STATE}_local", f"ReplicatedReplacingMergeTree('{zk}/{STATE}', '{{replica}}', updated)",
                  f"'{cluster}'"),
        f"CREATE TABLE IF NOT EXISTS {database}.{STATE} ON CLUSTER '{cluster}' AS {database}.{STATE}_local\n"
        f"ENGINE = Distributed('{cluster}', {database}, {STATE}_local, cityHash64(key))",
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
        prefix = f"{database}." if database else ""
        self._events = prefix + EVENTS
        self._state = prefix + STATE
        self._stage = prefix + stage_table
        self._relation = dataclasses.replace(RELATION, table=self._events)
        # Stores on the same tables in one process share the lock (and so the staging table).
        self._write_lock = write_lock or threading.Lock()
        self._last_state_version = 0
        if not read_only:
            self._create()

    # -- schema ----------------------------------------------------------------------------------
    def _create(self) -> None:
        if self.database:
            self._db.command(f"CREATE DATABASE IF NOT EXISTS {self.database}")
        self._db.command(events_ddl(self._events))
        self._db.command(state_ddl(self._state))
        self._db.command(f"CREATE TABLE IF NOT EXISTS {self._stage} (event_id String) ENGINE = Memory")
        if self.get_state("schema_version") is None:
            self.set_state("schema_version", str(SCHEMA_VERSION))

    def schema_version(self) -> int:
        value = self.get_state("schema_version")
        return int(value) if value else 0

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
            version = max(time.time_ns(), self._last_state_version + 1)
            self._last_state_version = version
            self._db.command(
                f"INSERT INTO {self._state} SELECT {{k:String}}, {{v:String}}, {{u:UInt64}}",
                {"k": key, "v": value, "u": version},
            )

    # -- writes ----------------------------------------------------------------------------------
    def append(self, batch: pa.Table) -> AppendResult:
        """Insert the rows whose ``event_id`` is new; see the module docstring for the scheme."""
        if self.read_only:
            raise StoreError("this store was opened read-only")
        n = batch.num_rows
        if n == 0:
            return AppendResult(0, 0)
        batch = first_per_id(batch.select(STORE_SCHEMA.names).cast(STORE_SCHEMA))
        with self._write_lock:
            existing = self._existing_ids(batch.select(["event_id"]))
            if len(existing):
                batch = batch.filter(pc.invert(pc.is_in(batch.column("event_id"), value_set=existing)))
            if batch.num_rows:
                weights = batch.column("weight")
                if weights.null_count:
                    batch = batch.set_column(
                        batch.schema.get_field_index("weight"), "weight", pc.fill_null(weights, 1)
                    )
                self._db.insert(self._events, batch)  # MergeTree sorts each part by its key itself
        return AppendResult(batch.num_rows, n - batch.num_rows)

    def delete(self, ids: list[str]) -> int:
        """Remove the events with these ids (a lightweight DELETE, visible to reads at once)."""
        if self.read_only:
            raise StoreError("this store was opened read-only")
        if not ids:
            return 0
        with self._write_lock:
            found = self._existing_ids(pa.table({"event_id": pa.array(ids, pa.string())}))
            gone = sorted(set(found.to_pylist()) & set(ids))
            if gone:
                self._db.command(f"TRUNCATE TABLE {self._stage}")
                self._db.insert(self._stage, pa.table({"event_id": pa.array(gone, pa.string())}))
                self._db.command(f"DELETE FROM {self._events} WHERE event_id IN (SELECT event_id FROM {self._stage})")
                self._db.command(f"TRUNCATE TABLE {self._stage}")
        return len(gone)

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
            self._db.command(f"TRUNCATE TABLE {self._stage}")
            self._db.insert(self._stage, pa.table({"event_id": pa.array(sorted(set(lead_ids)), pa.string())}))
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
            self._db.command(f"TRUNCATE TABLE {self._stage}")
            self._db.insert(self._stage, pa.table({"event_id": pa.array(sorted(set(lead_ids)), pa.string())}))
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

    def _existing_ids(self, ids: pa.Table) -> pa.Array:
        """Stored ids whose hash matches one of ``ids``: every stored duplicate, plus (rarely) a hash
        collision, which the caller's exact ``is_in`` on the strings ignores."""
        self._db.command(f"TRUNCATE TABLE {self._stage}")
        self._db.insert(self._stage, ids)
        # id_hash is evaluated first (PREWHERE): event_id is read only for the few matching rows.
        found = self._db.arrow(
            f"SELECT DISTINCT event_id FROM {self._events}"
            f" WHERE id_hash GLOBAL IN (SELECT cityHash64(event_id) FROM {self._stage})"
        )
        self._db.command(f"TRUNCATE TABLE {self._stage}")
        col = found.column("event_id") if found.num_columns else pa.chunked_array([], pa.string())
        return col.combine_chunks().cast(pa.string())

    # -- reads -----------------------------------------------------------------------------------
    def report_rows(self, query: ReportQuery, limits: ReportLimits | None = None) -> GroupRows:
        compiled = compile_report(query, self._relation, CLICKHOUSE)
        params = compiled.params
        assert isinstance(params, dict)
        return GroupRows(self._db.rows(compiled.sql, params), "events")

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
            f"SELECT sum(bytes_on_disk) FROM system.parts WHERE active AND database = {db} AND table = {{t:String}}",
            {"t": EVENTS, **({"d": self.database} if self.database else {})},
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
