"""The service over HTTP: what ``connect()`` returns while ``leadstats serve`` holds the store.

:class:`RemoteLeadStats` has the public methods of :class:`leadstats.service.LeadStats` that front ends
and importers use (``report``, ``query``, ``run``, ``schema``, ``health``, ``ingest``,
``ingest_json_texts``, ``ingest_json_lines``, ``ingest_table``, ``validator``, ``store``, ``settings``,
``close``), so the CLI, the Python API, importers, insights and the stdio MCP server work unchanged
on a store a server holds:

- reports: the query is validated here exactly as locally, then sent to ``POST /api/v1/query``; the
  answer is the same §4 document the server's API gives;
- imports: JSON texts stream through ``POST /api/v1/events`` (JSON Lines) in batches bounded by the
  server's event and byte limits; rejected records come back by index and are mapped to the caller's
  row numbers, so ``FILE:LINE: field: reason`` messages are the same; tables (CSV, Parquet, D1, AE)
  go as Arrow IPC to ``POST /api/v1/store/ingest`` and are validated there by the same validator;
  re-sent events are duplicates (idempotency is the store's, as locally);
- errors: the server's ``{"error": {"code", "message", "field"}}`` becomes the same
  :class:`~leadstats.errors.LeadStatsError` subclass and message; a server that stops answering is one
  :class:`~leadstats.errors.StoreError` line.

``open_service`` picks local or remote (see docs/deployment.md).
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import sys
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import pyarrow as pa
import pyarrow.ipc as ipc

from . import discovery
from .discovery import Advert
from .errors import InputError, LeadStatsError, StoreError
from .ingest.validate import RecordError
from .model.report import ReportQuery, ReportResult
from .service import IngestResult, LeadStats
from .settings import Settings
from .store import AppendResult, open_store, parse_url

ROWS_COLUMN = "__leadstats_row"
JSON_COLUMN = "__leadstats_json"  # JSON texts to validate as JSON Lines (instead of record columns)
RATE_LIMIT_RETRIES = 5
TIMEOUT_S = 300.0
#: a request body stays under this share of the server's byte limit (headroom for framing)
BODY_SHARE = 0.8


class ServerFound(Exception):  # noqa: N818 - control flow, never shown
    """Raised while waiting for a store lock when a server starts advertising the store."""

    def __init__(self, advert: Advert) -> None:
        super().__init__(advert.url)
        self.advert = advert


def _error_classes() -> dict[str, type[LeadStatsError]]:
    out: dict[str, type[LeadStatsError]] = {}
    stack: list[type[LeadStatsError]] = [LeadStatsError]
    while stack:
        cls = stack.pop()
        out.setdefault(cls.code, cls)
        stack.extend(cls.__subclasses__())
    return out


def error_from_response(status: int, body: Any) -> LeadStatsError:
    """The LeadStatsError the server raised, rebuilt from its error JSON (same class, same message)."""
    err = body.get("error") if isinstance(body, Mapping) else None
    if not isinstance(err, Mapping):
        return StoreError(f"the leadstats server answered {status} without an error document")
    code, message, field = str(err.get("code") or "error"), str(err.get("message") or ""), err.get("field")
    cls = _error_classes().get(code)
    if cls is None:
        exc: LeadStatsError = LeadStatsError(message, field=field)
        exc.code, exc.http_status = code, status
        return exc
    if cls.__init__ is not LeadStatsError.__init__:
        try:
            exc = cls(message)
        except TypeError:
            exc = LeadStatsError(message, field=field)
        exc.field = field
        return exc
    return cls(message, field=field)


class _Client:
    """HTTP to the advertised server, re-reading the advertisement once if the server restarted."""

    def __init__(self, store_path: str, advert: Advert) -> None:
        import httpx

        self.store_path = store_path
        self.advert = advert
        self._http = httpx.Client(timeout=TIMEOUT_S)

    def _headers(self, extra: Mapping[str, str] | None) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.advert.token}", **(extra or {})}

    def request(
        self,
        method: str,
        path: str,
        *,
        content: bytes | None = None,
        json_body: Any = None,
        params: Any = None,
        headers: Mapping[str, str] | None = None,
        raw: bool = False,
    ) -> Any:
        """The JSON answer (``raw``: the body's bytes); a server error is raised as the same error."""
        import httpx

        for attempt in (0, 1):
            try:
                response = self._http.request(
                    method,
                    self.advert.url + path,
                    content=content,
                    json=json_body,
                    params=params,
                    headers=self._headers(headers),
                )
            except httpx.TransportError as exc:
                if attempt == 0 and self._refresh():
                    continue
                raise StoreError(self._down(f"{type(exc).__name__}")) from None
            if response.status_code == 401 and attempt == 0 and self._refresh():
                continue  # the server restarted with a new credential
            break
        waits = 0
        while response.status_code == 429 and waits < RATE_LIMIT_RETRIES:  # a public token's rate limit
            waits += 1
            time.sleep(min(60.0, float(response.headers.get("Retry-After") or 1)))
            try:
                response = self._http.request(method, self.advert.url + path, content=content, json=json_body,
                                              params=params, headers=self._headers(headers))
            except httpx.TransportError as exc:
                raise StoreError(self._down(f"{type(exc).__name__}")) from None
        if raw and response.status_code < 400:
            return response.content
        try:
            doc = response.json()
        except ValueError:
            doc = None
        if response.status_code >= 400:
            raise error_from_response(response.status_code, doc)
        return doc

    def _refresh(self) -> bool:
        """Re-read the advertisement: True when a live server (maybe a new one) now advertises the store."""
        if self.store_path.startswith(("http://", "https://")):
            return False  # named by URL: nothing to re-read
        try:
            current = discovery.read_advert(self.store_path)
        except StoreError:
            return False
        if current is None or current == self.advert or discovery.probe(current) is not None:
            return False
        self.advert = current
        return True

    def _down(self, why: str) -> str:
        return (
            f"{self.advert.describe()} holding {self.store_path} stopped answering ({why}): restart"
            " `leadstats serve`; what it acknowledged is stored"
        )

    def close(self) -> None:
        self._http.close()


def _ipc(table: pa.Table) -> bytes:
    sink = io.BytesIO()
    with ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    return sink.getvalue()


class RemoteStore:
    """The store calls importers make (``append``, ``stored_ids``, state), over the server's local routes."""

    read_only = False

    def __init__(self, client: _Client) -> None:
        self._client = client
        self.backend = client.advert.backend
        self.path = client.store_path

    def append(self, batch: pa.Table) -> AppendResult:
        accepted = duplicates = 0
        for part in _slices(batch, self._client.advert):
            doc = self._client.request(
                "POST", "/api/v1/store/append", content=_ipc(part),
                headers={"Content-Type": "application/vnd.apache.arrow.stream"},
            )
            accepted += int(doc["accepted"])
            duplicates += int(doc["duplicates"])
        return AppendResult(accepted, duplicates)

    def stored_ids(self, ids: list[str]) -> set[str]:
        found: set[str] = set()
        step = 20_000
        for start in range(0, len(ids), step):
            doc = self._client.request("POST", "/api/v1/store/stored-ids", json_body=ids[start : start + step])
            found.update(doc["stored"])
        return found

    def get_state(self, key: str) -> str | None:
        value = self._client.request("GET", "/api/v1/store/state", params={"key": key})["value"]
        return None if value is None else str(value)

    def set_state(self, key: str, value: str) -> None:
        self._client.request("PUT", "/api/v1/store/state", json_body={"key": key, "value": value})

    def delete(self, ids: list[str]) -> int:
        return int(self._client.request("POST", "/api/v1/store/delete", json_body=ids)["deleted"])

    def replace(self, batch: pa.Table) -> AppendResult:
        doc = self._client.request("POST", "/api/v1/store/replace", content=_ipc(batch),
                                   headers={"Content-Type": "application/vnd.apache.arrow.stream"})
        return AppendResult(int(doc["accepted"]), int(doc["duplicates"]))

    def primary_lead_ids(self, lead_ids: list[str], id_prefix: str) -> set[str]:
        doc = self._client.request("POST", "/api/v1/store/primary-leads", json_body=lead_ids,
                                   params={"prefix": id_prefix})
        return set(doc["leads"])

    def lead_events(self, lead_ids: list[str], id_prefix: str) -> pa.Table:
        body = self._client.request("POST", "/api/v1/store/lead-events", json_body=lead_ids,
                                    params={"prefix": id_prefix}, raw=True)
        return ipc.open_stream(pa.py_buffer(body)).read_all()

    def count(self) -> int:
        return int(self.health().get("events", 0))

    def health(self) -> dict[str, Any]:
        doc = self._client.request("GET", "/api/v1/store/health")
        return dict(doc)

    def report_rows(self, query: ReportQuery, limits: Any = None) -> Any:
        raise StoreError("a remote store answers whole reports: call LeadStats.run")

    def scan(self, batch_size: int = 100_000, after: str | None = None) -> Iterator[pa.Table]:
        raise StoreError(self._needs_the_file("copying the store"))

    def optimize(self) -> None:
        raise StoreError(self._needs_the_file("optimize"))

    def _needs_the_file(self, what: str) -> str:
        advert = self._client.advert
        return (
            f"{what} needs {self.path} to itself, and {advert.describe()} holds it: stop the server"
            f" (kill -TERM {advert.pid}), run this, start it again"
        )

    def close(self) -> None:
        pass


def _slices(table: pa.Table, advert: Advert) -> Iterator[pa.Table]:
    """Bounded batches: at most the server's events per request, and bodies under its byte limit."""
    n = table.num_rows
    if n == 0:
        return
    per_row = max(1.0, table.nbytes / n)
    budget = advert.max_body_bytes * BODY_SHARE
    step = max(1, min(advert.max_events_per_request, int(budget / (per_row * 1.2))))
    for start in range(0, n, step):
        yield table.slice(start, step)


class RemoteLeadStats(LeadStats):
    """A :class:`~leadstats.service.LeadStats` whose store is held by a ``leadstats serve`` process.

    Every method front ends call is overridden to use the server's routes; a service method added
    later and not overridden here still works through :class:`RemoteStore` (validated here, appended
    there)."""

    def __init__(self, store_path: str, advert: Advert, settings: Settings | None = None) -> None:
        self._client = _Client(store_path, advert)
        super().__init__(RemoteStore(self._client), settings or Settings.from_env())  # type: ignore[arg-type]

    @property
    def advert(self) -> Advert:
        return self._client.advert

    # -- reports: report() and query() are the service's own (defaults and refusals decided there) --
    def run(self, query: ReportQuery, *, cancel: threading.Event | None = None) -> ReportResult:
        """The server runs it, under its own report limits (a client going away stops it there)."""
        doc = self._client.request("POST", "/api/v1/query", json_body=query.to_dict())
        return ReportResult(query, list(doc["rows"]), dict(doc["totals"]), dict(doc.get("meta") or {}))

    # -- ingest: ingest() and ingest_json_texts() are the service's own; JSON texts go to the server --
    def ingest_json_lines(self, lines: pa.Array, rows: pa.Array) -> IngestResult:
        """Stream JSON texts through ``POST /api/v1/events`` (JSON Lines) in bounded batches."""
        texts = [(t or "null").replace("\n", " ").strip() or "null" for t in lines.to_pylist()]
        numbers = rows.to_pylist()
        result = IngestResult()
        limit_events = self.advert.max_events_per_request
        budget = int(self.advert.max_body_bytes * BODY_SHARE)
        start = 0
        while start < len(texts):
            end, size = start, 0
            while end < len(texts) and end - start < limit_events:
                length = len(texts[end].encode("utf-8")) + 1
                if end > start and size + length > budget:
                    break
                size += length
                end += 1
            body = ("\n".join(texts[start:end]) + "\n").encode("utf-8")
            try:
                doc = self._client.request(
                    "POST", "/api/v1/events", content=body, headers={"Content-Type": "application/x-ndjson"}
                )
            except InputError as exc:
                if exc.field != "body":
                    raise
                # no line of this batch is JSON at all: the route refuses the whole body, while a local
                # import rejects each line; the store route validates them one by one as locally
                part = pa.table({JSON_COLUMN: pa.array(texts[start:end], pa.string()),
                                 ROWS_COLUMN: pa.array(numbers[start:end], pa.int64())})
                doc = self._client.request(
                    "POST", "/api/v1/store/ingest", content=_ipc(part),
                    headers={"Content-Type": "application/vnd.apache.arrow.stream"},
                )
                result.add_result(_ingest_result(doc, None))
            else:
                result.add_result(_ingest_result(doc, numbers[start:end]))
            start = end
        return result

    def ingest_table(self, table: pa.Table, rows: pa.Array | None = None) -> IngestResult:
        """Send a table (CSV, Parquet, D1, AE rows) as Arrow IPC; the server validates it as locally."""
        n = table.num_rows
        numbers = rows if rows is not None else pa.array(range(1, n + 1), pa.int64())
        table = table.append_column(ROWS_COLUMN, pa.chunked_array([numbers]).cast(pa.int64())
                                    if not isinstance(numbers, pa.ChunkedArray) else numbers.cast(pa.int64()))
        result = IngestResult()
        for part in _slices(table, self.advert):
            doc = self._client.request(
                "POST", "/api/v1/store/ingest", content=_ipc(part),
                headers={"Content-Type": "application/vnd.apache.arrow.stream"},
            )
            result.add_result(_ingest_result(doc, None))
        return result

    # -- lifecycle -------------------------------------------------------------------------------
    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> RemoteLeadStats:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _ingest_result(doc: Mapping[str, Any], numbers: list[Any] | None) -> IngestResult:
    """An IngestResult from the API's answer; ``numbers`` maps a request index back to the caller's row."""
    rejected = []
    for item in doc.get("rejected", []):
        index = int(item["index"])
        row = int(numbers[index]) if numbers is not None else index
        rejected.append(RecordError(row, item.get("event_id"), str(item.get("field")), str(item.get("error"))))
    return IngestResult(int(doc.get("accepted", 0)), int(doc.get("duplicates", 0)), rejected)


# -- choosing local or remote ------------------------------------------------------------------------
def local_path(url: str) -> str | None:
    """The file (DuckDB) or directory (chDB) a store URL names, when it is local and not in memory."""
    parsed = parse_url(url)
    if parsed.scheme in ("duckdb", "chdb") and parsed.path != ":memory:":
        return parsed.path
    return None


def _tell_once() -> Any:
    told: list[bool] = []

    def tell(message: str) -> None:
        if not told:
            told.append(True)
            print(message, file=sys.stderr, flush=True)

    return tell


def open_service(url: str, *, read_only: bool = False, settings: Settings | None = None) -> LeadStats:
    """A client of the server advertised beside the store, else the store opened here.

    While this process waits for the store's lock (another process writes it), a server that starts
    advertising the store meanwhile is noticed and used."""
    settings = settings or Settings.from_env()
    if url.startswith(("http://", "https://")):
        return RemoteLeadStats(url, server_by_url(url, settings.server_token), settings)
    path = local_path(url)
    if path is None:
        store = open_store(url, read_only=read_only, settings=settings)
        if store.backend == "clickhouse" and not read_only:
            store = GuardedStore(store)  # type: ignore[assignment]
        return LeadStats(store, settings)
    advert = discovery.find_server(path)
    if advert is not None:
        return RemoteLeadStats(path, advert, settings)
    try:
        return open_local(url, read_only=read_only, settings=settings, waiting=_switch_when_served(path))
    except ServerFound as found:
        return RemoteLeadStats(path, found.advert, settings)


INGEST_SERVER_KEY = "ingest_server"
HEARTBEAT_S = 30.0


class GuardedStore:
    """A shared (ClickHouse) table written directly: refuses to append while the table's one ingest
    process (a ``leadstats serve`` that recorded itself in the table's state, heartbeat within
    ``3 * HEARTBEAT_S``) is alive, since two writers racing on one new id could both store it
    (docs/deployment.md#clickhouse). Everything else is the store's own."""

    def __init__(self, store: Any) -> None:
        self._store = store
        self._checked = False

    def __getattr__(self, name: str) -> Any:
        return getattr(self._store, name)

    def check(self) -> None:
        raw = self._store.get_state(INGEST_SERVER_KEY)
        if not raw:
            return
        try:
            doc = json.loads(raw)
            age = time.time() - float(doc["heartbeat"])
        except (ValueError, KeyError, TypeError):
            return
        if age <= 3 * HEARTBEAT_S:
            raise StoreError(
                f"this table's ingest process is leadstats serve on {doc.get('host')} (pid {doc.get('pid')},"
                f" {doc.get('url')}): write through it with --db {doc.get('url')} and LEADSTATS_SERVER_TOKEN,"
                " so no event is stored twice (docs/deployment.md#clickhouse)"
            )

    def append(self, batch: pa.Table) -> AppendResult:
        if not self._checked:
            self.check()
            self._checked = True
        return self._store.append(batch)  # type: ignore[no-any-return]


def record_ingest_server(store: Any, advert: Advert) -> Callable[[], None]:
    """For a shared table: record this server as its ingest process and keep a heartbeat; returns stop."""
    import socket
    import threading

    stop = threading.Event()

    def beat() -> None:
        doc = {"url": advert.url, "host": socket.gethostname(), "pid": advert.pid,
               "started_at": advert.started_at, "heartbeat": time.time()}
        store.set_state(INGEST_SERVER_KEY, json.dumps(doc))

    beat()

    def loop() -> None:
        while not stop.wait(HEARTBEAT_S):
            with contextlib.suppress(Exception):  # a missed beat only lets direct writers in sooner
                beat()

    thread = threading.Thread(target=loop, name="leadstats-ingest-heartbeat", daemon=True)
    thread.start()

    def stop_beating() -> None:
        stop.set()
        thread.join(timeout=10)
        store.set_state(INGEST_SERVER_KEY, "")

    return stop_beating


def server_by_url(url: str, token: str | None) -> Advert:
    """A server named by URL (``--db http://HOST:PORT``): the one ingest process of a ClickHouse table,
    or any server reached from another host. ``token`` needs both scopes (``LEADSTATS_SERVER_TOKEN``)."""
    import httpx

    base = url.rstrip("/")
    try:
        response = httpx.get(f"{base}/healthz", timeout=discovery.PROBE_TIMEOUT_S * 3)
        doc = response.json()
    except (httpx.HTTPError, ValueError) as exc:
        raise StoreError(f"no leadstats server answers at {base} ({type(exc).__name__})") from None
    if response.status_code != 200 or not isinstance(doc, dict):
        raise StoreError(f"{base}/healthz answered {response.status_code}: not a healthy leadstats server")
    server = doc.get("server") or {}
    return Advert(
        url=base,
        pid=int(server.get("pid") or 0),
        started_at=str(server.get("started_at") or ""),
        token=token or "",
        store=base,
        backend=str(doc.get("backend") or "remote"),
        max_events_per_request=int(server.get("max_events_per_request") or 10_000),
        max_body_bytes=int(server.get("max_body_bytes") or 5 * 1024 * 1024),
    )


def _switch_when_served(path: str) -> Any:
    tell = _tell_once()

    def waiting(message: str) -> None:
        advert = discovery.live_server(path)
        if advert is not None:
            raise ServerFound(advert)
        tell(message)

    return waiting


def open_local(
    url: str, *, read_only: bool = False, settings: Settings | None = None, waiting: Any = None
) -> LeadStats:
    """Open the store in this process (what ``leadstats serve`` does), never as a client."""
    settings = settings or Settings.from_env()
    parsed = parse_url(url)
    if parsed.scheme == "duckdb":
        from .store.duckdb import DuckDBStore

        store = DuckDBStore(parsed.path, read_only=read_only, waiting=waiting)
        store.set_memory_limit(settings.memory_limit)
        return LeadStats(store, settings)
    if parsed.scheme == "chdb" and parsed.path != ":memory:":
        # chDB directories follow the DuckDB rule: one process at a time, the next one waits (saying so)
        from .store.duckdb import StoreLock

        os.makedirs(os.path.dirname(os.path.abspath(parsed.path)) or ".", exist_ok=True)
        lock = StoreLock(parsed.path, exclusive=True, waiting=waiting)
        try:
            held = open_store(url, read_only=read_only, settings=settings)
        except BaseException:
            lock.release()
            raise
        close = held.close

        def close_and_unlock() -> None:
            try:
                close()
            finally:
                lock.release()

        held.close = close_and_unlock  # type: ignore[method-assign]
        return LeadStats(held, settings)
    return LeadStats(open_store(url, read_only=read_only, settings=settings), settings)


def is_remote(ls: Any) -> bool:
    return isinstance(ls, RemoteLeadStats)


__all__ = ["RemoteLeadStats", "RemoteStore", "error_from_response", "is_remote", "open_local", "open_service"]
