"""chDB vs DuckDB on the three reference queries, in one run, over the same generated events.

    .venv/bin/python benchmarks/bench_backends.py                      # 10M events, both backends
    .venv/bin/python benchmarks/bench_backends.py --events 1000000     # smaller
    .venv/bin/python benchmarks/bench_backends.py --events 100000000 --backends chdb --queries Q1 --no-naive

Q1: 30 days, IST, 30m buckets, no dimensions. Q2: 30 days, IST, 1d x project x country. Q3: 90 days,
IST, 60m x source. Each query runs through the same service path a user calls (compile, execute,
assemble the §4 document); the figure is the median of ``--repeat`` runs after one warm-up. The naive
baseline is hand-written DuckDB SQL with ICU time zones (``AT TIME ZONE`` + ``time_bucket``) over the
DuckDB store's events table.

Data: ``--events`` events over ``--days`` days ending 2026-06-01 UTC, generated with numpy in time order,
1M-event Arrow batches written straight through ``Store.append`` (validation is skipped: the
generator emits valid rows in STORE_SCHEMA; the append itself, with its exact dedupe, is timed).
"""

from __future__ import annotations

import argparse
import os
import shutil
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
PROJECTS = ["Skyline", "Alpha, Phase 2", "Riverside", "Greens", "Metro Heights", "Lakeview", "Orchid", "Summit"]
COUNTRIES = ["IN", "IN", "IN", "IN", "US", "AE", "GB", "SG", "NP", "CA"]
SOURCES = ["google", "meta", "direct", "bing", "linkedin", "referral"]
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


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--events", type=int, default=10_000_000)
    ap.add_argument("--days", type=int, default=90)
    ap.add_argument("--batch", type=int, default=1_000_000)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--backends", default="duckdb,chdb")
    ap.add_argument("--queries", default="Q1,Q2,Q3")
    ap.add_argument("--no-naive", action="store_true")
    ap.add_argument("--dedupe-cost", action="store_true", help="time appends with and without the id check")
    ap.add_argument("--dir", default=None, help="work directory (default: a temporary one, removed)")
    args = ap.parse_args(argv)
    where = args.dir or tempfile.mkdtemp(prefix="leadstats-bench-")
    os.makedirs(where, exist_ok=True)
    wanted = {k: v for k, v in queries().items() if k in args.queries.split(",")}
    results: dict[str, dict[str, float]] = {}
    print(f"{args.events:,} events over {args.days} days, batches of {args.batch:,}, median of {args.repeat};"
          f" load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    try:
        for kind in args.backends.split(","):
            store = open_backend(kind, where)
            t0 = time.perf_counter()
            for batch in generate(args.events, args.days, args.batch):
                store.append(batch)
            load_s = time.perf_counter() - t0
            path = os.path.join(where, "bench.duckdb" if kind == "duckdb" else "bench.chdb")
            print(f"{kind:7s} load {load_s:7.1f} s ({args.events / load_s:,.0f} events/s incl. dedupe),"
                  f" {disk_bytes(path) / 2**20:,.0f} MiB on disk, {store.count():,} events", flush=True)
            if args.dedupe_cost:
                dedupe_cost(store, args.events)
            service = LeadStats(store)
            results[kind] = {}
            for name, q in wanted.items():
                results[kind][name] = median_ms(lambda q=q, service=service: service.run(q), args.repeat)
            if kind == "duckdb" and not args.no_naive:
                results["naive duckdb"] = {}
                for name, q in wanted.items():
                    sql, params = naive_sql(name, q)
                    execute: Callable[..., Any] = store.execute  # type: ignore[attr-defined]
                    results["naive duckdb"][name] = median_ms(partial(execute, sql, params), args.repeat)
            store.close()
        names = list(wanted)
        print(f"\nload average at the end: {os.getloadavg()[0]:.1f}")
        print("\nmedian ms      " + "".join(f"{n:>10s}" for n in names))
        for kind, row in results.items():
            print(f"{kind:14s} " + "".join(f"{row[n]:10.1f}" for n in names))
        base = results.get("duckdb")
        if base:
            for kind, row in results.items():
                if kind != "duckdb":
                    print(f"{kind + ' / duckdb':22s} " + "".join(f"{row[n] / base[n]:8.2f}x" for n in names))
    finally:
        if args.dir is None:
            shutil.rmtree(where, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
