"""leadstats against hand-written SQL on the three reference queries, in one run, over the same events.

    .venv/bin/python benchmarks/bench_backends.py                      # 10M events: leadstats on DuckDB vs peers
    .venv/bin/python benchmarks/bench_backends.py --events 1000000     # smaller
    .venv/bin/python benchmarks/bench_backends.py --backends duckdb,chdb   # also leadstats on chDB
    .venv/bin/python benchmarks/bench_backends.py --events 100000000 --backends chdb --queries Q1 --no-naive

Q1: 30 days, IST, 30m buckets, no dimensions. Q2: 30 days, IST, 1d x project x country (about 165,000
rows with the default 60 projects x 110 countries). Q3: 90 days, IST, 60m x source. Each leadstats figure
is the same service call a user makes plus ``.to_dict()`` (compile, execute, assemble, the §4 document);
the figure is the median of ``--repeat`` warm runs after one warm-up. Peers, measured in the same run:
- ``chdb sql``: hand-written ClickHouse SQL (``toStartOfInterval``/``toStartOfDay``/``toStartOfHour`` in
  Asia/Kolkata, ``countIf``) over a chDB MergeTree ``ORDER BY occurred_at`` holding the same events, the
  answer fetched as Arrow and turned into Python rows (``to_pylist``), the work a caller of it pays;
- ``naive duckdb``: hand-written DuckDB SQL with ICU time zones (``AT TIME ZONE`` + ``time_bucket``) over
  the DuckDB store's events table, fetched as tuples.
The ratio lines divide leadstats by ``chdb sql`` (issue 13's targets: Q1 <= 0.10, Q2 and Q3 <= 0.50).
``--paired`` alternates leadstats (DuckDB) and the peer run by run, query by query, so both figures of
a ratio are taken under the same load on a shared machine (the peer must be loaded already: run once
without it first). ``--imports N`` adds file import rates (validation + dedupe + append) for N events, ``--memory`` the
peak memory of each query in a fresh process, ``--json`` the HTTP API's answer (the JSON text written from
the columns, ``to_json``, against ``json.dumps`` of ``to_dict()``).

Data: ``--events`` events over ``--days`` days ending 2026-06-01 UTC, generated with numpy in time order,
1M-event Arrow batches written straight through ``Store.append`` (validation is skipped: the
generator emits valid rows in STORE_SCHEMA; the append itself, with its exact dedupe, is timed).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from functools import partial
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from leadstats.ingest.validate import STORE_SCHEMA
from leadstats.model.report import ReportQuery
from leadstats.service import LeadStats
from leadstats.store.base import Store

sys.path.insert(0, os.path.dirname(__file__))
from common import median_ms  # noqa: E402

END = datetime(2026, 6, 1, tzinfo=UTC)
US = 1_000_000
# Wide enough that Q2 is a big answer (a report's cost should follow its rows, not its events).
PROJECTS = ["Skyline", "Alpha, Phase 2", "Riverside", "Greens", "Metro Heights", "Lakeview", "Orchid", "Summit",
            *(f"Project {i:02d}" for i in range(52))]
COUNTRIES = ["IN"] * 20 + ["US", "AE", "GB", "SG", "NP", "CA"] + [f"X{i:02d}" for i in range(84)]
SOURCES = ["google", "meta", "direct", "bing", "linkedin", "referral", *(f"partner{i}" for i in range(6))]
TYPES = ["primary", "follow_up", "test", "blocked", "bot"]
TYPE_P = [0.62, 0.2, 0.02, 0.06, 0.1]
LABELS = ["Cold", "Warm", "Hot", "Very Hot"]


def _pick(rng: np.random.Generator, values: list[str], n: int, null_share: float = 0.0) -> pa.Array:
    idx = rng.integers(0, len(values), n)
    arr = pa.array(np.array(values, dtype=object)[idx], pa.string())
    if null_share:
        arr = pc.if_else(pa.array(rng.random(n) < null_share), pa.nulls(n, pa.string()), arr)
    return arr


def generate(n: int, days: int, batch: int, seed: int = 1) -> Iterator[pa.Table]:
    """``n`` events in time order, ``batch`` at a time, in STORE_SCHEMA."""
    rng = np.random.default_rng(seed)
    end_us = int(END.timestamp()) * US
    span = days * 86_400 * US
    start_us = end_us - span
    for first in range(0, n, batch):
        m = min(batch, n - first)
        lo = start_us + span * first // n
        hi = start_us + span * (first + m) // n
        ts = np.sort(rng.integers(lo, hi, m, dtype=np.int64))
        ids = pc.binary_join_element_wise("b", pc.cast(pa.array(np.arange(first, first + m)), pa.string()), "")
        cols: dict[str, pa.Array] = {name: pa.nulls(m, STORE_SCHEMA.field(name).type) for name in STORE_SCHEMA.names}
        cols.update(
            event_id=ids,
            event_type=pa.array(np.array(TYPES, dtype=object)[rng.choice(5, m, p=TYPE_P)], pa.string()),
            occurred_at=pa.array(ts, pa.timestamp("us")),
            project=_pick(rng, PROJECTS, m),
            source=_pick(rng, SOURCES, m, 0.05),
            country=_pick(rng, COUNTRIES, m, 0.03),
            engagement_label=_pick(rng, LABELS, m, 0.3),
            vpn=pa.array(rng.random(m) < 0.08),
            suspicion_score=pa.array(np.round(rng.random(m) * 100, 1)),
            weight=pa.array(np.ones(m, dtype=np.int64)),
        )
        yield pa.Table.from_pydict(cols, schema=STORE_SCHEMA)


def open_backend(kind: str, where: str) -> Store:
    if kind == "duckdb":
        from leadstats.store.duckdb import DuckDBStore

        return DuckDBStore(os.path.join(where, "bench.duckdb"))
    from leadstats.store.chdb import ChDBStore

    return ChDBStore(os.path.join(where, "bench.chdb"))


def disk_bytes(path: str) -> int:
    if os.path.isfile(path):
        return os.path.getsize(path)
    return sum(os.path.getsize(os.path.join(d, f)) for d, _, fs in os.walk(path) for f in fs)


def queries() -> dict[str, ReportQuery]:
    d30, d90 = "2026-05-02", "2026-03-03"
    return {
        "Q1": ReportQuery.create(d30, "2026-06-01", timezone="Asia/Kolkata", bucket="30m"),
        "Q2": ReportQuery.create(d30, "2026-06-01", timezone="Asia/Kolkata", bucket="1d",
                                 dimensions=["project", "country"]),
        "Q3": ReportQuery.create(d90, "2026-06-01", timezone="Asia/Kolkata", bucket="60m", dimensions=["source"]),
    }


NAIVE_METRICS = """count(*), count(*) FILTER (WHERE event_type IN ('primary','follow_up')),
 count(*) FILTER (WHERE event_type = 'primary'), count(*) FILTER (WHERE event_type = 'follow_up'),
 count(*) FILTER (WHERE event_type = 'test'), count(*) FILTER (WHERE event_type = 'blocked'),
 count(*) FILTER (WHERE event_type = 'bot'), count(*) FILTER (WHERE event_type = 'primary' AND vpn),
 count(*) FILTER (WHERE event_type = 'primary' AND suspicion_score >= 40),
 count(*) FILTER (WHERE event_type = 'primary' AND engagement_label IN ('Hot','Very Hot'))"""


def naive_sql(name: str, q: ReportQuery) -> tuple[str, list[Any]]:
    """Hand-written DuckDB with ICU: what one would write without leadstats' integer offsets."""
    local = "(occurred_at AT TIME ZONE 'UTC') AT TIME ZONE 'Asia/Kolkata'"
    width = {"Q1": "INTERVAL 30 MINUTE", "Q2": "INTERVAL 1 DAY", "Q3": "INTERVAL 60 MINUTE"}[name]
    dims = {"Q1": "", "Q2": ", project, country", "Q3": ", source"}[name]
    bound = "to_timestamp({} / 1e6)::TIMESTAMP"
    sql = (f"SELECT time_bucket({width}, {local}) AS b{dims}, {NAIVE_METRICS} FROM events"
           f" WHERE occurred_at >= {bound.format('$1')} AND occurred_at < {bound.format('$2')} GROUP BY ALL")
    return sql, [q.grid.start_us, q.grid.end_us]


CH_METRICS = """count(), countIf(event_type IN ('primary','follow_up')), countIf(event_type = 'primary'),
 countIf(event_type = 'follow_up'), countIf(event_type = 'test'), countIf(event_type = 'blocked'),
 countIf(event_type = 'bot'), countIf(event_type = 'primary' AND vpn),
 countIf(event_type = 'primary' AND suspicion_score >= 40),
 countIf(event_type = 'primary' AND engagement_label IN ('Hot','Very Hot'))"""
PEER_COLUMNS = ["occurred_at", "event_type", "project", "source", "country", "engagement_label", "vpn",
                "suspicion_score"]


class ChdbPeer:
    """Hand-written ClickHouse SQL over a chDB MergeTree ordered by time: what one would write by hand."""

    def __init__(self, where: str) -> None:
        from chdb import session

        self.session = session.Session(os.path.join(where, "peer.chdb"))
        self.session.query(
            "CREATE TABLE IF NOT EXISTS ev (occurred_at DateTime64(6, 'UTC'), event_type LowCardinality(String),"
            " project Nullable(String), source Nullable(String), country Nullable(String),"
            " engagement_label Nullable(String), vpn Nullable(Bool), suspicion_score Nullable(Float64))"
            " ENGINE = MergeTree ORDER BY occurred_at"
        )

    def load(self, batch: pa.Table) -> None:
        part = batch.select(PEER_COLUMNS)  # noqa: F841 (read by name in the SQL below)
        self.session.query("INSERT INTO ev SELECT * FROM Python(part)")

    def sql(self, name: str, q: ReportQuery) -> str:
        key = {"Q1": "toStartOfInterval(occurred_at, INTERVAL 30 MINUTE, 'Asia/Kolkata')",
               "Q2": "toStartOfDay(occurred_at, 'Asia/Kolkata')",
               "Q3": "toStartOfHour(occurred_at, 'Asia/Kolkata')"}[name]
        dims = {"Q1": "", "Q2": ", project, country", "Q3": ", source"}[name]
        lo, hi = (datetime.fromtimestamp(us / US, UTC).strftime("%Y-%m-%d %H:%M:%S")
                  for us in (q.grid.start_us, q.grid.end_us))
        return (f"SELECT {key} AS b{dims}, {CH_METRICS} FROM ev"
                f" WHERE occurred_at >= toDateTime64('{lo}', 6, 'UTC') AND occurred_at < toDateTime64('{hi}', 6, 'UTC')"
                f" GROUP BY b{dims} ORDER BY b")

    def run(self, sql: str) -> list[dict[str, Any]]:
        return self.session.query(sql, "ArrowTable").to_pylist()  # type: ignore[no-any-return]


def peak_rss_mb(path: str, q: ReportQuery) -> float:
    """One report in a fresh process; its own peak resident memory (VmHWM)."""
    doc = q.to_dict()
    code = (
        "import leadstats;"
        f"ls = leadstats.connect({path!r}, read_only=True);"
        f"ls.report({doc['from']!r}, {doc['to']!r}, timezone={doc['timezone']!r}, bucket={doc['bucket']!r},"
        f" dimensions={doc['dimensions']!r}).to_dict();"
        "print([l.split()[1] for l in open('/proc/self/status') if l.startswith('VmHWM')][0])"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return int(out.stdout.strip()) / 1024


def dedupe_cost(store: Store, n: int) -> None:
    """What the exact idempotency costs on a loaded store: appends with the check vs a bare insert."""
    fresh = next(generate(1_000_000, 1, 1_000_000, seed=9))
    fresh = fresh.set_column(0, "event_id", pc.binary_join_element_wise("new", fresh.column("event_id"), ""))
    one = fresh.slice(0, 1).set_column(0, "event_id", pa.array(["single"]))
    old = next(generate(n, 90, 1_000_000))  # the first million, all stored already

    def run(label: str, fn: Callable[[], Any]) -> None:
        t = time.perf_counter()
        out = fn()
        print(f"  {label:44s} {(time.perf_counter() - t) * 1000:9.1f} ms  {out}", flush=True)

    print(f"dedupe cost on {store.backend} holding {store.count():,} events:")
    run("append 1 new event (check + insert)", lambda: store.append(one))
    run("append 1M stored events (all duplicates)", lambda: store.append(old))
    run("append 1M new events (check + insert)", lambda: store.append(fresh))
    if hasattr(store, "_db"):
        again = fresh.set_column(0, "event_id", pc.binary_join_element_wise("raw", fresh.column("event_id"), ""))
        run("bare insert of 1M events (no check)", lambda: store._db.insert(store._events, again))  # type: ignore[attr-defined]


def load_store(kind: str, where: str, args: argparse.Namespace) -> Store:
    """The backend's store in ``where``, loaded with the generated events unless it already holds them."""
    store = open_backend(kind, where)
    if store.count() == args.events:
        print(f"{kind:7s} reused: {store.count():,} events already loaded", flush=True)
        return store
    t0 = time.perf_counter()
    for batch in generate(args.events, args.days, args.batch):
        store.append(batch)
    load_s = time.perf_counter() - t0
    path = os.path.join(where, "bench.duckdb" if kind == "duckdb" else "bench.chdb")
    print(f"{kind:7s} load {load_s:7.1f} s ({args.events / load_s:,.0f} events/s incl. dedupe),"
          f" {disk_bytes(path) / 2**20:,.0f} MiB on disk, {store.count():,} events", flush=True)
    return store


def measure_peer(where: str, args: argparse.Namespace, wanted: dict[str, ReportQuery]) -> dict[str, float]:
    peer = ChdbPeer(where)
    held = peer.session.query("SELECT count() FROM ev", "ArrowTable").column(0)[0].as_py()
    if held != args.events:
        peer.session.query("TRUNCATE TABLE ev")
        t0 = time.perf_counter()
        for batch in generate(args.events, args.days, args.batch):
            peer.load(batch)
        print(f"chdb sql (peer) load {time.perf_counter() - t0:7.1f} s (bare INSERT, no dedupe)", flush=True)
    return {name: median_ms(partial(peer.run, peer.sql(name, q)), args.repeat) for name, q in wanted.items()}


def measure_paired(service: LeadStats, where: str, args: argparse.Namespace,
                   wanted: dict[str, ReportQuery]) -> tuple[dict[str, float], dict[str, float]]:
    """leadstats and the chDB peer run alternately, query by query (one warm-up each, then ``--repeat``
    pairs), so both see the same load on a shared machine; returns both medians per query."""
    peer = ChdbPeer(where)
    ours: dict[str, float] = {}
    theirs: dict[str, float] = {}
    for name, q in wanted.items():
        sql = peer.sql(name, q)
        service.run(q).to_dict()
        peer.run(sql)
        a: list[float] = []
        b: list[float] = []
        for _ in range(args.repeat):
            t = time.perf_counter()
            service.run(q).to_dict()
            a.append((time.perf_counter() - t) * 1000)
            t = time.perf_counter()
            peer.run(sql)
            b.append((time.perf_counter() - t) * 1000)
        ours[name], theirs[name] = statistics.median(a), statistics.median(b)
    peer.session.close()  # one chDB session at a time in a process (a later --backends chdb opens its own)
    return ours, theirs


def print_table(results: dict[str, dict[str, float]], names: list[str]) -> None:
    print(f"\nload average at the end: {os.getloadavg()[0]:.1f}")
    print("\nmedian ms                " + "".join(f"{n:>10s}" for n in names))
    for kind, row in results.items():
        print(f"{kind:24s} " + "".join(f"{row[n]:10.1f}" for n in names))
    peer = results.get("chdb sql (peer)")
    if peer:
        for kind, row in results.items():
            if kind.startswith("leadstats"):
                print(f"{kind + ' / chdb sql':32s} " + "".join(f"{row[n] / peer[n]:8.2f}x" for n in names))
        print(f"{'targets (issue 13)':32s} " + "".join(
            f"{'<= 0.10x' if n == 'Q1' else '<= 0.50x':>9s}" for n in names))


def print_imports(n: int) -> None:
    """File imports (validation + dedupe + append) and re-imports (all duplicates), each in a fresh process,
    against DuckDB's bare ``CREATE TABLE AS SELECT * FROM read_*`` of the same file (bench_import.py)."""
    import bench_import

    print(f"\nimports of {n:,} events (leadstats import events: validation + dedupe + append):")
    with tempfile.TemporaryDirectory() as tmp:
        bench_import.report(n, bench_import.make_files(n, tmp), tmp, runs=1, kinds=bench_import.KINDS)
    print("targets (issue 13): parquet >= 1,000,000/s, jsonl >= 300,000/s, re-import >= 2,000,000/s (2 cores)")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--events", type=int, default=10_000_000)
    ap.add_argument("--days", type=int, default=90)
    ap.add_argument("--batch", type=int, default=1_000_000)
    ap.add_argument("--repeat", type=int, default=7)
    ap.add_argument("--backends", default="duckdb", help="leadstats backends to measure (duckdb,chdb)")
    ap.add_argument("--queries", default="Q1,Q2,Q3")
    ap.add_argument("--no-naive", action="store_true")
    ap.add_argument("--no-peer", action="store_true", help="skip the hand-written chDB peer")
    ap.add_argument("--imports", type=int, default=0, help="also measure file imports of this many events")
    ap.add_argument("--memory", action="store_true", help="peak memory of each query in a fresh process")
    ap.add_argument("--dedupe-cost", action="store_true", help="time appends with and without the id check")
    ap.add_argument("--paired", action="store_true",
                    help="run leadstats on DuckDB and the chDB peer alternately, query by query (same load)")
    ap.add_argument("--json", action="store_true",
                    help="also time the HTTP API's answer: the JSON text from the columns (to_json) against"
                         " json.dumps of to_dict()")
    ap.add_argument("--dir", default=None, help="work directory, kept and reused (default: a temporary one)")
    args = ap.parse_args(argv)
    where = args.dir or tempfile.mkdtemp(prefix="leadstats-bench-")
    os.makedirs(where, exist_ok=True)
    wanted = {k: v for k, v in queries().items() if k in args.queries.split(",")}
    results: dict[str, dict[str, float]] = {}
    print(f"{args.events:,} events over {args.days} days, batches of {args.batch:,}, median of {args.repeat};"
          f" load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores;"
          f" {datetime.now(UTC):%Y-%m-%d}")
    try:
        for kind in args.backends.split(","):
            store = load_store(kind, where, args)
            if args.dedupe_cost:
                dedupe_cost(store, args.events)
            service = LeadStats(store)
            if args.paired and kind == "duckdb" and not args.no_peer:
                (results[f"leadstats {kind}"], results["chdb sql (peer)"]) = measure_paired(
                    service, where, args, wanted)
            else:
                results[f"leadstats {kind}"] = {
                    name: median_ms(lambda q=q, service=service: service.run(q).to_dict(), args.repeat)
                    for name, q in wanted.items()
                }
            if args.json:
                results[f"leadstats {kind} to_json"] = {
                    name: median_ms(lambda q=q, service=service: service.run(q).to_json((",", ":")), args.repeat)
                    for name, q in wanted.items()
                }
                results[f"leadstats {kind} json.dumps"] = {
                    name: median_ms(lambda q=q, service=service: json.dumps(
                        service.run(q).to_dict(), ensure_ascii=False, separators=(",", ":")), args.repeat)
                    for name, q in wanted.items()
                }
            for name, q in wanted.items():
                print(f"  {kind} {name}: {len(service.run(q).rows):,} rows", flush=True)
            if kind == "duckdb" and not args.no_naive:
                execute: Callable[..., Any] = store.execute  # type: ignore[attr-defined]
                results["naive duckdb"] = {
                    name: median_ms(partial(execute, *naive_sql(name, q)), args.repeat) for name, q in wanted.items()
                }
            store.close()
            if kind == "duckdb" and args.memory:
                path = os.path.join(where, "bench.duckdb")
                print("peak memory of one report in a fresh process (VmHWM): " + ", ".join(
                    f"{name} {peak_rss_mb(path, q):,.0f} MB" for name, q in wanted.items()), flush=True)
        if not args.no_peer and "chdb sql (peer)" not in results:
            results["chdb sql (peer)"] = measure_peer(where, args, wanted)
        print_table(results, list(wanted))
        if args.imports:
            print_imports(args.imports)
    finally:
        if args.dir is None:
            shutil.rmtree(where, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
